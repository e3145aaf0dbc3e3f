"""While a Celery run goes on, say when it waits for workers that are not there (Dagster's Celery executor waits
for ever for tasks no worker takes): this says why nothing moves."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

INVOCATION_TAG = "qp/invocation"  # a token tagging the run, which finds it in an instance other runs may share


@dataclass(frozen=True)
class WatchTimes:
    """When the watch speaks, in seconds."""

    notice_after: float = 60.0  # without a step started on a worker before saying so (then every notice_again)
    workers_gone_after: float = 60.0  # since a worker last said it was alive, steps started, before saying so
    presence_every: float = 10.0  # between two looks at the workers' presence records once steps started
    notice_again: float = 300.0  # between two notices of the same kind


@contextlib.contextmanager
def watch_celery_run(instance: Any, token: str, backend: str | None, echo: Callable[[str], None],
                     times: WatchTimes = WatchTimes()) -> Iterator[None]:
    """While a Celery run (tagged with token) goes on, say when it waits for workers that are not there: no step
    started a minute after the run was created (the workers seen a moment ago may have stopped, or be busy with
    other runs); then, once steps started, no worker said it was alive for a minute (pipelines.celery_presence;
    only with a result backend that keeps records). Each notice is repeated every five minutes while it holds
    (`times`: those delays)."""
    from dagster import DagsterEventType, RunsFilter

    from pipelines.celery_presence import keeps_records, silence

    done = threading.Event()

    def step_started() -> bool | None:
        """None while the run is not created yet; then whether a step of it has started."""
        records = instance.get_run_records(filters=RunsFilter(tags={INVOCATION_TAG: token}), limit=1)
        if not records:
            return None
        return bool(instance.get_records_for_run(records[0].dagster_run.run_id, of_type=DagsterEventType.STEP_START,
                                                 limit=1).records)

    def until_a_step_started() -> bool:
        """Whether a step started (False: the run ended first)."""
        since, notice = None, times.notice_after
        while not done.wait(1.0):
            try:
                started = step_started()
            except Exception:  # the instance's database out of reach for a moment: the run will say so
                continue
            if started:
                return True
            if started is None:
                continue
            since = since if since is not None else time.monotonic()  # counted from the run's creation
            waited = time.monotonic() - since
            if waited >= notice:
                echo(f"No Celery worker has started a step of this run after {waited:.0f} s: are the workers "
                     "still running, or busy with other runs? The run waits for one (a worker started as the "
                     "README says takes its steps).")
                notice += times.notice_again
        return False

    def while_steps_run() -> None:
        notice = times.workers_gone_after
        while not done.wait(times.presence_every):
            try:
                quiet = silence(str(backend))
            except Exception:  # the result backend out of reach for a moment: look again at the next beat
                continue
            if quiet is not None and quiet[0] < times.workers_gone_after:
                notice = times.workers_gone_after  # a worker is there: a later silence is told again
            if quiet is None or quiet[0] < notice:
                continue
            gone, worker = quiet
            echo(f"No Celery worker has said it was alive for {gone:.0f} s (the last one: {worker}), and this run "
                 "has steps left: they wait for a worker, started as the README says. If you stop this command "
                 "instead (kill it: Ctrl-C waits for the queued tasks), the warehouse and the published marts "
                 "stay as they were.")
            notice = gone + times.notice_again

    def watching() -> None:
        if until_a_step_started() and keeps_records(backend):
            while_steps_run()

    thread = threading.Thread(target=watching, name="qp-celery-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)  # a query to the instance that hangs must not hold the run's end
