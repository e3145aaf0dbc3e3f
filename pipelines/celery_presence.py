"""Whether a Celery worker is there to take the steps of a run.

With the SQLAlchemy broker of docs/distributed.md, Celery's remote control (`celery inspect ping`) cannot reach the
workers, and a run whose tasks no worker takes waits for ever: even Ctrl-C does not end it, since the executor
then waits for a worker to acknowledge the revoked tasks. So each worker started with deploy/celery's settings
says that it is alive in the result backend every 10 s (one record under a fixed task id, in a state of its
own, with the time by the worker's clock: the machines' clocks are expected to agree within seconds, as NTP
keeps them), and `qp-analytics materialize --executor celery` refuses to start, before queueing anything, when
no worker has said so in the last 30 s. While the run goes on, it says so when none has for a minute.
"""

import datetime as dt
import functools
import os
import threading
from typing import Any

PRESENCE_ID = "qp-analytics:worker-alive"  # the result backend's record the workers write
ALIVE = "ALIVE"  # its state: not a final one, so each write replaces the last (a SUCCESS would stay)
EVERY = 10.0  # seconds between two writes of a worker
FRESH = 30.0  # seconds since the last write within which a worker counts as there


def keep_saying_alive(app: Any, hostname: str, stop: threading.Event | None = None) -> threading.Event:
    """Write the record now (before the worker says it is ready), then every EVERY seconds until `stop` is set
    (returned; never, for a worker); a write that fails (database away for a moment) is tried at the next beat."""
    stop = stop or threading.Event()

    def say() -> None:
        try:
            app.backend.store_result(PRESENCE_ID, {"worker": hostname, "pid": os.getpid(),
                                                   "at": dt.datetime.now(dt.UTC).isoformat()}, ALIVE)
        except Exception:  # the worker must go on taking steps; the next beat tries again
            pass

    say()

    def beat() -> None:
        while not stop.wait(EVERY):
            say()

    threading.Thread(target=beat, name="qp-worker-alive", daemon=True).start()
    return stop


@functools.lru_cache(maxsize=4)
def _reader(backend: str) -> Any:
    """One Celery app per result backend to read the record with (a run looks every few seconds: one engine)."""
    from celery import Celery

    return Celery("qp-analytics-launcher", backend=backend, set_as_current=False)


def last_seen(backend: str) -> tuple[dt.datetime, str] | None:
    """When a worker last said it was alive in this result backend (UTC), and which; None if none ever did."""
    meta = _reader(backend).backend.get_task_meta(PRESENCE_ID, cache=False)
    said = meta.get("result")
    if meta.get("status") != ALIVE or not isinstance(said, dict) or "at" not in said:
        return None
    return dt.datetime.fromisoformat(said["at"]), str(said.get("worker", "?"))


def keeps_records(backend: str | None) -> bool:
    """Whether workers' presence can be read in this result backend (not in rpc://, the default, nor none)."""
    return bool(backend) and not str(backend).startswith("rpc")


def silence(backend: str) -> tuple[float, str] | None:
    """Seconds since a worker last said it was alive in this result backend (negative: dated ahead of this
    machine's clock), and which worker; None if none ever did."""
    seen = last_seen(backend)
    return None if seen is None else ((dt.datetime.now(dt.UTC) - seen[0]).total_seconds(), seen[1])


def require_a_worker(backend: str | None) -> str | None:
    """Why a Celery run cannot start now (no worker said it was alive in the last FRESH seconds, or the result
    backend is out of reach), or None. A backend that keeps no records (rpc://, the default) cannot tell:
    then None."""
    if not keeps_records(backend):
        return None
    try:
        quiet = silence(str(backend))
    except Exception as exc:  # the database refused or is away: say so, without the URL (it may hold a password)
        first = (str(exc).splitlines() or [""])[0][:200]
        return f"the Celery result backend cannot be read ({type(exc).__name__}{': ' + first if first else ''})"
    if quiet is not None and abs(quiet[0]) <= FRESH:  # either way: a time a little ahead is clocks a little apart
        return None
    last = ("no worker has ever said so there" if quiet is None else
            f"the last one, {quiet[1]}, {int(quiet[0])} s ago" if quiet[0] >= 0 else
            f"the last one, {quiet[1]}, dated {int(-quiet[0])} s ahead of this machine's clock: set the clocks right")
    return (f"no Celery worker is there to run the steps: none said it was alive in the last {FRESH:.0f} s ({last}). "
            "Start one as docs/distributed.md says, with the same QP_CELERY_BROKER and "
            "QP_CELERY_BACKEND, and run again; nothing was queued")
