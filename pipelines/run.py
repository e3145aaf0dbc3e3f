"""Run the asset graph for many territories in one Dagster run (what `qp-analytics materialize` does).

One run of the graph's job (pipelines.jobs) covers every selected territory, named in its settings, so any
selection costs one run and one event per asset; it is recorded on the project's instance (pipelines.instance),
where the UI shows it. The run works on a private copy of the warehouse, swapped in when it ends. In-process
by default; multiprocess or Celery on request.
"""

import contextlib
import datetime as dt
import errno
import fcntl
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from qp_analytics.normalise.rows import unknown_files
from qp_analytics.publication.release import activate_release, prune_releases
from qp_analytics.publication.releases import publishing
from qp_analytics.quality.suites import Validator, validator_for_run
from qp_analytics.reading.territories import read_registry
from qp_analytics.warehouse.database import (
    Warehouse,
    access_lock_path,
    connect,
    ensure_tables,
    materialisation_lock_path,
)

EXECUTORS = ("in-process", "multiprocess", "celery")
# Runs of up to this many territories (a refresh) validate in a validator process (quality.validator_for_run),
# where GX's import (3–7 s) overlaps the run's other work. Larger runs validate in their own process: there
# the import is a small share of the run, and a second process holding GX and a copy of the rows validated
# added about 250 MiB to the peak (measured at 1,400: 962 MiB against 722). A small run that must validate
# every territory again (new suites, --reprocess) has that peak too.
VALIDATOR_UP_TO = 48
REPORT_STEP = "published__report"


class RunRequestError(Exception):
    """The run asked for cannot start (unknown territory, ...)."""


class RunFault(RunRequestError):
    """The run could not copy, lock or commit the warehouse (full disk, folder not writable...): it stopped with
    nothing changed. The message is one line: what, where, what to do. `qp-analytics materialize` exits 1."""


UNCHANGED = "nothing was changed: the warehouse and the published marts are as they were"
REASONS = {errno.ENOSPC: ("no space left on the device", "free space on that disk"),
           errno.EDQUOT: ("disk quota exceeded", "free space on that disk"),
           errno.EACCES: ("permission denied", "make the folder writable by this user"),
           errno.EPERM: ("operation not permitted", "make the folder writable by this user"),
           errno.EROFS: ("read-only file system", "mount it read-write or choose another --warehouse")}


def run_fault(doing: str, place: Path, exc: BaseException) -> RunFault:
    """One line for an OSError (or DuckDB's I/O error) met while doing something to the warehouse at place."""
    code = getattr(exc, "errno", None)
    if code in REASONS:
        reason, advice = REASONS[code]
    else:
        reason, advice = str(exc).strip().splitlines()[0], "check that folder and its disk"
    return RunFault(f"{doing} {place}: {reason}; {advice}, then run again ({UNCHANGED})")


@dataclass
class RunSummary:
    territories: list[str]
    as_of: dt.date
    seconds: float
    success: bool
    warehouse: Path
    loaded: dict[str, int] = field(default_factory=dict)  # table -> rows for the run's territories
    rejections: list[tuple[str, str, str]] = field(default_factory=list)  # (territory, stage, problem)
    stale_since: dict[str, str] = field(default_factory=dict)  # rejected territory -> last good read
    with_data: set[str] = field(default_factory=set)  # territories whose convention is loaded (this run or earlier)
    failures: list[str] = field(default_factory=list)  # failed steps (bugs, not bad input)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)  # checks failed with severity WARN: non-blocking, shown only
    without_roadmap: list[str] = field(default_factory=list)
    release: Path | None = None  # the marts release this run published
    release_unchanged: bool = False  # the marts were those of the current release: it stays, no new one
    unknown_files: list[str] = field(default_factory=list)  # raw files that belong to no known territory
    unchanged: dict[str, int] = field(default_factory=dict)  # what -> territories skipped (inputs unchanged)
    step_processes: int = 1  # distinct processes the steps ran in (other than this one when out of process)

    @property
    def exit_code(self) -> int:
        clean = (self.success and not self.rejections and not self.failures and not self.unknown_files
                 and not self.failed_quality)
        return 0 if clean else 1

    @property
    def data_failures(self) -> list[str]:
        """Failures that discard the run (all but the report's: it is drawn from marts already published)."""
        return [f for f in self.failures if not f.startswith(f"{REPORT_STEP}:")]

    @property
    def failed_quality(self) -> list[str]:
        """Great Expectations checks that failed a blocking expectation: the run's data is not trusted, nothing
        is kept. A check whose failures are all non-blocking (severity WARN) is a warning."""
        return [name for name, ok, _ in self.checks
                if not ok and name.endswith(":great_expectations") and name not in self.warned]

    def render(self) -> str:
        rejected = sorted({r[0] for r in self.rejections})
        ok = len(self.territories) - len(rejected)
        if self.data_failures:  # the counts below are those of the run's discarded copy
            lines = [f"Run FAILED after {self.seconds:.1f} s (as_of {self.as_of.isoformat()}): nothing of it is "
                     f"kept, {self.warehouse} is as it was; what the run had loaded:"]
        else:
            lines = [f"Materialised {ok}/{len(self.territories)} territories in {self.seconds:.1f} s "
                     f"(as_of {self.as_of.isoformat()}) into {self.warehouse}"]
        for table, n in self.loaded.items():
            lines.append(f"  {table:<34} {n:>7} rows")
        if self.without_roadmap:
            lines.append(f"  no roadmap loaded for {len(self.without_roadmap)}: {', '.join(self.without_roadmap)}")
        if any(self.unchanged.values()):
            lines.append("  unchanged since the last run, not read again: "
                         + ", ".join(f"{n} {what}" for what, n in self.unchanged.items()))
        passed = [c for c in self.checks if c[1]]
        failed = len(self.checks) - len(passed) - len(self.warned)
        lines.append(f"  checks: {len(passed)} passed, {failed} failed"
                     + (f", {len(self.warned)} with warnings" if self.warned else "")
                     + " (Great Expectations suites on every core table and mart, and input acceptance)")
        if self.step_processes > 1:
            lines.append(f"  steps ran in {self.step_processes} processes")
        for name, ok, detail in self.checks:
            if not ok:
                what = "WARNING (non-blocking)" if name in self.warned else "FAILED"
                lines.append(f"  check {what} {name}{(' — ' + detail) if detail else ''}")
        if rejected:
            lines.append(f"Rejected ({len(rejected)} territories; each keeps its last good data):")
            for tid in rejected:
                since = self.stale_since.get(tid)
                state = (f"stale: last good file read {since}" if since
                         else "its data loaded before is kept; the rejected file is left out" if tid in self.with_data
                         else "no data loaded yet")
                lines.append(f"  {tid} ({state})")
                for _, stage, problem in (r for r in self.rejections if r[0] == tid):
                    lines.append(f"    [{stage}] {problem}")
        if self.release and self.release_unchanged:
            lines.append(f"Marts unchanged: {self.release} stays the current release (query it with "
                         "`qp-analytics query`)")
        elif self.release:
            lines.append(f"Published marts: {self.release} (query them with `qp-analytics query`)")
        else:
            lines.append("Marts NOT published by this run: readers keep the previous publication")
        if self.unknown_files:
            lines.append(f"Files ignored ({len(self.unknown_files)}; they belong to no territory of territories.csv):")
            lines += [f"  {problem}" for problem in self.unknown_files]
        for failure in self.failures:
            lines.append(f"Step failed: {failure}")
        return "\n".join(lines)


@contextlib.contextmanager
def warehouse_lock(warehouse: Path, wait: bool, echo: Callable[[str], None]) -> Iterator[None]:
    """One materialisation at a time per warehouse: a second one waits (or, with wait=False, refuses)."""
    lock_path = materialisation_lock_path(warehouse)  # also taken, shared, by every write connection to it
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fh = lock_path.open("a+")
    except OSError as exc:
        raise run_fault("cannot create the warehouse's lock file", lock_path, exc) from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            if not wait:
                raise RunRequestError(f"{warehouse} is being materialised by {holder}; try again when it ends "
                                      "(or let this run wait: without --no-wait)") from None
            echo(f"Waiting: {warehouse} is being materialised by {holder}…")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_working_copy(work: Path) -> None:
    """The copy, its WAL and the lock files its connections made."""
    for path in (work, work.with_name(work.name + ".wal"), access_lock_path(work), materialisation_lock_path(work)):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _working_copy(warehouse: Path) -> Path:
    """A private copy of the warehouse for the run; the published file is only replaced when the run ends.

    A copy that cannot be made (full disk, folder not writable) is removed, and RunFault says why."""
    work = warehouse.with_name(f".{warehouse.name}.run-{os.getpid()}")
    try:
        for leftover in warehouse.parent.glob(f".{warehouse.name}.run-*"):  # from runs that were killed
            leftover.unlink(missing_ok=True)
        if warehouse.exists():
            shutil.copyfile(warehouse, work)
            wal = warehouse.with_name(warehouse.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, work.with_name(work.name + ".wal"))
        else:  # the run creates the warehouse: its folder must take files
            work.touch()
            work.unlink()
    except OSError as exc:
        _remove_working_copy(work)
        raise run_fault(f"cannot copy the warehouse {warehouse} to the run's working copy", work, exc) from None
    return work


def _commit_working_copy(work: Path, warehouse: Path) -> None:
    """Swap the run's copy in for the warehouse, in one rename (or RunFault, the warehouse unchanged)."""
    try:
        with connect(work) as con:
            con.execute("CHECKPOINT")  # everything in the main file, no WAL to carry
        with open(work, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(work, warehouse)
    except (OSError, duckdb.IOException) as exc:
        raise run_fault(f"cannot commit the run's working copy {work} over the warehouse", warehouse, exc) from None
    warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)


@dataclass(frozen=True)
class RunOptions:
    """How to run: `executor` in-process (one process, steps in turn), multiprocess (steps in parallel
    processes) or celery (steps on Celery workers, instance from DAGSTER_HOME); `reprocess` reads and parses
    unchanged files again; `workers` processes for reading and parsing (0: one per core)."""

    executor: str = "in-process"
    report_dir: Path | None = None  # None: `report` beside the marts folder
    reprocess: bool = False
    workers: int = 0
    celery_broker: str | None = None
    celery_backend: str | None = None


def run_pipeline(raw_dir: Path, warehouse: Path, marts_dir: Path, as_of: dt.date, territories: list[str],
                 echo: Callable[[str], None] = print, wait: bool = True,
                 options: RunOptions = RunOptions()) -> RunSummary:
    """Materialise every asset for these territories (all when empty) in one run.

    The run works on a copy of the warehouse, swapped in when it ends: a run that is killed or whose steps
    fail leaves the warehouse as it was. Rejected inputs are not failures: the rest goes through."""
    if options.executor not in EXECUTORS:
        raise RunRequestError(f"unknown executor {options.executor!r}; expected one of {', '.join(EXECUTORS)}")
    if options.executor == "celery":  # before the lock and the copy, and before anything is queued
        from pipelines.celery_presence import require_a_worker

        if not os.environ.get("DAGSTER_HOME"):
            raise RunRequestError("the celery executor needs the shared Dagster instance: set DAGSTER_HOME to the "
                                  "folder of a dagster.yaml on PostgreSQL (see the README, 'Beyond one machine')")
        missing = require_a_worker(options.celery_backend)  # no worker: its tasks would wait for ever
        if missing:
            raise RunRequestError(missing)
    from pipelines.instance import InstanceError, dagster_home

    try:
        dagster_home()  # the instance the run records on, made on first use
    except InstanceError as exc:
        raise RunRequestError(str(exc)) from None
    registry = [t.territory_id for t in read_registry(raw_dir)]
    unknown = [t for t in territories if t not in registry]
    if unknown:
        raise RunRequestError(f"unknown territory id(s): {', '.join(unknown)}; "
                              f"{raw_dir / 'territories.csv'} lists: {', '.join(registry)}")
    selected = list(dict.fromkeys(territories)) if territories else registry
    if not selected:
        raise RunRequestError(f"{raw_dir / 'territories.csv'} lists no territory")
    # a refresh: GX imported in a process of its own, on another core, while this one sets the run up
    apart = validator_for_run(options.executor == "in-process" and len(selected) <= VALIDATOR_UP_TO)
    # publishing: the release this run writes stays pending until it is made current; no pruning meanwhile takes
    # it for the orphan of a killed run
    with _pruned_after(marts_dir), apart as validator, warehouse_lock(warehouse, wait, echo), publishing(marts_dir):
        work = _working_copy(warehouse)
        try:
            echo(f"Materialising {len(selected)} territories (as_of {as_of.isoformat()}) from {raw_dir}"
                 + ("" if options.executor == "in-process" else f", {options.executor} executor"))
            started = time.perf_counter()
            settings = dict(raw_dir=str(raw_dir), warehouse=str(work), marts_dir=str(marts_dir),
                            as_of=as_of.isoformat(), activate_release=False, reprocess=options.reprocess,
                            workers=options.workers, report_dir=str(options.report_dir or ""))
            if options.executor == "in-process":
                with Warehouse(work).held_open() as shared:  # its steps share one open database, handed to them
                    summary = _summarise(_materialize(settings, selected, echo, shared, validator), work, selected,
                                         as_of, started, warehouse)
            else:
                with _execute(settings, selected, options, echo) as result:
                    summary = _summarise(result, work, selected, as_of, started, warehouse)
            summary.unknown_files = unknown_files(raw_dir, registry)
            if summary.data_failures or summary.failed_quality:
                echo(f"{'A step' if summary.data_failures else 'A data quality check'} failed: {warehouse} and the "
                     "published marts are left as they were before this run")
                summary.release = None
            else:
                _commit_working_copy(work, warehouse)
                if summary.release is not None:
                    activate_release(marts_dir, summary.release, prune=False)
                if summary.failures:
                    echo("The HTML report was not written (see below); the warehouse and marts of this run are kept")
        finally:
            _remove_working_copy(work)
    return summary


@contextlib.contextmanager
def _pruned_after(marts_dir: Path) -> Iterator[None]:
    """Prune the releases when the block ends, however (its locks released): old ones, and, if no other run is
    publishing, the orphans (this run's own release when it was not made current)."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a marts folder out of reach: the next run prunes
            prune_releases(marts_dir)


def _materialize(settings: dict, selected: list[str], echo: Callable[[str], None], warehouse: Warehouse,
                 validator: Validator | None):
    """One in-process run of the graph's job over the selected territories, recorded on the project's instance;
    its steps use this warehouse (the run's copy, held open), its checks this validator (None: their own process)."""
    quiet_dagster_warnings()
    from pipelines.definitions import defs
    from pipelines.instance import project_instance
    from pipelines.jobs import evaluation_refresh
    from pipelines.resources import ProgressSink, QpSettings, progress_printer

    with project_instance(quiet=True) as instance:
        return defs.resolve_job_def(evaluation_refresh.name).execute_in_process(
            instance=instance,
            resources={"settings": QpSettings(**settings, territories=selected), "warehouse": warehouse,
                       "validator": validator, "progress": ProgressSink(progress_printer(echo))},
            tags=_run_tags(settings, selected),
            # the summary reports failures and checks; Dagster's own log lines would only repeat them
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            raise_on_error=False,
        )


def _run_tags(settings: dict, selected: list[str]) -> dict[str, str]:
    return {"qp/as_of": settings["as_of"], "qp/origin": "command line", "qp/territory_count": str(len(selected))}


@contextlib.contextmanager
def _execute(settings: dict, selected: list[str], options: RunOptions, echo: Callable[[str], None]
             ) -> Iterator[Any]:
    """One run of the graph's job on an out-of-process executor: steps in parallel processes (multiprocess) or
    on Celery workers, recorded on the project's instance (DAGSTER_HOME's, required for celery, where the workers
    share it). Settings travel as run config, so the workers need no environment of ours."""
    from dagster import execute_job, reconstructable

    quiet_dagster_warnings()
    from pipelines.executors import celery_job, multiprocess_job
    from pipelines.instance import project_instance

    run_config: dict = {
        "resources": {"settings": {"config": {**settings, "territories": selected}}},
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    if options.executor == "celery":
        run_config["execution"] = {"config": {k: v for k, v in (("broker", options.celery_broker),
                                                                 ("backend", options.celery_backend)) if v}}
        job = reconstructable(celery_job)
    else:
        run_config["execution"] = {"config": {"max_concurrent": max(2, options.workers),
                                              "start_method": step_start_method()}}
        job = reconstructable(multiprocess_job)
    with _environment({"QP_PROGRESS": "stderr"}), contextlib.ExitStack() as stack:
        instance = stack.enter_context(project_instance(quiet=True))
        token = uuid.uuid4().hex  # finds this run in the instance, which other runs may share
        if options.executor == "celery":
            stack.enter_context(_watch_celery_run(instance, token, options.celery_backend, echo))
        with execute_job(job, instance=instance, run_config=run_config,
                         tags={**_run_tags(settings, selected), INVOCATION_TAG: token}, raise_on_error=False) as result:
            yield result


def step_start_method() -> dict:
    """How the multiprocess executor starts each step's process: forked from a server that has imported the graph
    once (pipelines.step_server), unless this process's forkserver already serves the project's own workers (the
    validator, parsing: a test session, a long-lived process). Python keeps one forkserver per process, with the
    modules and environment of its start: the steps would get neither the graph nor QP_PROGRESS. Then each step
    starts Python anew (spawn, Dagster's default)."""
    from qp_analytics.parallel import forkserver_taken

    return {"spawn": {}} if forkserver_taken() else {"forkserver": {"preload_modules": ["pipelines.step_server"]}}


INVOCATION_TAG = "qp/invocation"
NOTICE_AFTER = 60.0  # seconds without a step started on a worker before saying so (then every 5 minutes)
WORKERS_GONE_AFTER = 60.0  # seconds since a worker last said it was alive, steps started, before saying so
PRESENCE_EVERY = 10.0  # seconds between two looks at the workers' presence records once steps started
NOTICE_AGAIN = 300.0  # seconds between two notices of the same kind


@contextlib.contextmanager
def _watch_celery_run(instance: Any, token: str, backend: str | None, echo: Callable[[str], None]
                      ) -> Iterator[None]:
    """While a Celery run (tagged with token) goes on, say when it waits for workers that are not there: no step
    started a minute after the run was created (the workers seen a moment ago may have stopped, or be busy with
    other runs); then, once steps started, no worker said it was alive for a minute (pipelines.celery_presence;
    only with a result backend that keeps records). Each notice is repeated every five minutes while it holds.
    Dagster's Celery executor waits for ever for tasks that no worker takes: this says why nothing moves."""
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
        since, notice = None, NOTICE_AFTER
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
                notice += NOTICE_AGAIN
        return False

    def while_steps_run() -> None:
        notice = WORKERS_GONE_AFTER
        while not done.wait(PRESENCE_EVERY):
            try:
                quiet = silence(str(backend))
            except Exception:  # the result backend out of reach for a moment: look again at the next beat
                continue
            if quiet is not None and quiet[0] < WORKERS_GONE_AFTER:
                notice = WORKERS_GONE_AFTER  # a worker is there: a later silence is told again
            if quiet is None or quiet[0] < notice:
                continue
            gone, worker = quiet
            echo(f"No Celery worker has said it was alive for {gone:.0f} s (the last one: {worker}), and this run "
                 "has steps left: they wait for a worker, started as the README says. If you stop this command "
                 "instead (kill it: Ctrl-C waits for the queued tasks), the warehouse and the published marts "
                 "stay as they were.")
            notice = gone + NOTICE_AGAIN

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


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """These environment variables for the run (inherited by step processes), restored afterwards."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def quiet_dagster_warnings() -> None:
    import warnings

    from dagster import BetaWarning, PreviewWarning

    # backfill_policy is "beta" in Dagster 1.13; a user of the CLI cannot act on that warning.
    warnings.simplefilter("ignore", BetaWarning)
    warnings.simplefilter("ignore", PreviewWarning)
    # dagster-celery registers its one task again for each step it submits, with the same code (Celery's
    # DuplicateTaskNameWarning, matched by its text so that Celery is not imported by the other executors)
    warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")


UNCHANGED_FROM = {"conventions": ["raw", "convention_documents"], "roadmaps": ["staging", "roadmap_parses"],
                  "avenant sets": ["core", "avenants"]}
SUMMARY_TABLES = ("raw.convention_documents", "core.territories", "core.conventions", "core.convention_commitments",
                  "core.convention_warnings", "core.roadmaps", "core.actions", "core.action_partners",
                  "core.funding_requests", "core.milestones", "core.governance_meetings", "core.good_practices",
                  "core.practice_reuse", "core.avenants")


def _innermost(error: Any) -> str:
    """The message of the user-code exception Dagster wrapped, not of the wrapper."""
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error is not None else "unknown error"


def _summarise(result, work: Path, selected: list[str], as_of: dt.date, started: float,
               warehouse: Path) -> RunSummary:
    from dagster import AssetCheckSeverity  # loaded already: the result is Dagster's

    summary = RunSummary(selected, as_of, time.perf_counter() - started, result.success, warehouse)
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE" and event.step_failure_data:
            summary.failures.append(f"{event.step_key}: {_innermost(event.step_failure_data.error)}")
    if not result.success and not summary.failures:
        # the run failed outside its steps (a step's process could not load the job, a resource did not start...):
        # a failure like a step's, so that nothing of the run is kept, with Dagster's reason
        errors = [_innermost(e.event_specific_data.error) for e in result.all_events
                  if getattr(getattr(e, "event_specific_data", None), "error", None) is not None]
        ended = [e.message for e in result.all_events if e.event_type_value == "RUN_FAILURE" and e.message]
        reasons = (list(dict.fromkeys(errors)) or ended[-1:]
                   or ["Dagster reports the run failed, with no step failed and no reason given"])
        summary.failures.append("run: " + "; ".join(reasons))
    summary.step_processes = len({e.pid for e in result.all_events if e.event_type_value == "STEP_START"})
    materialised = result.get_asset_materialization_events()
    for what, key in UNCHANGED_FROM.items():
        for e in materialised:
            if e.materialization.asset_key.path == key and "unchanged" in e.materialization.metadata:
                summary.unchanged[what] = int(e.materialization.metadata["unchanged"].value)
    published = [e for e in materialised if e.materialization.asset_key.path == ["published", "marts"]]
    if published:
        metadata = published[0].materialization.metadata
        summary.release = Path(str(metadata["release"].value))
        summary.release_unchanged = bool(metadata["unchanged_release"].value) if "unchanged_release" in metadata \
            else False
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            detail = ""
        elif "rejected_territories" in evaluation.metadata:
            detail = f"{evaluation.metadata['rejected_territories'].value} territories rejected"
        else:
            samples = evaluation.metadata["failing_samples"].value
            detail = "; ".join(f"{check} (e.g. {str(sample)[:160]})" for check, sample in samples.items())
        summary.checks.append((name, evaluation.passed, detail))
        if not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN:
            summary.warned.append(name)
    with connect(work) as con:
        ensure_tables(con)
        ids = [selected]
        for table in SUMMARY_TABLES:
            summary.loaded[table] = con.execute(
                f"SELECT count(*) FROM {table} WHERE territory_id IN (SELECT unnest(?::VARCHAR[]))", ids
            ).fetchone()[0]
        with_roadmap = {r[0] for r in con.execute(
            "SELECT territory_id FROM core.roadmaps WHERE territory_id IN (SELECT unnest(?::VARCHAR[]))", ids
        ).fetchall()}
        summary.without_roadmap = [t for t in selected if t not in with_roadmap]
        summary.rejections = con.execute(
            "SELECT territory_id, stage, problem FROM staging.rejections "
            "WHERE territory_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY territory_id, stage, problem_no", ids
        ).fetchall()
        for tid, since in con.execute("""
            SELECT territory_id, strftime(min(since), '%Y-%m-%d %H:%M UTC') FROM (
                SELECT r.territory_id, d.read_at AS since FROM staging.rejections r
                JOIN raw.convention_documents d USING (territory_id) WHERE r.stage IN ('read', 'parse')
                UNION ALL
                SELECT r.territory_id, p.parsed_at FROM staging.rejections r
                JOIN staging.roadmap_parses p USING (territory_id) WHERE r.stage = 'roadmap')
            GROUP BY territory_id""").fetchall():
            summary.stale_since[tid] = since
        summary.with_data = {r[0] for r in con.execute(
            "SELECT DISTINCT territory_id FROM core.conventions WHERE territory_id IN (SELECT unnest(?::VARCHAR[]))",
            ids).fetchall()}
    return summary
