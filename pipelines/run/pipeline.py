"""Run the asset graph for many territories in one Dagster run (what `qp-analytics materialize` does).

One run of the graph's job (pipelines.jobs) covers every selected territory, named in its settings, so any
selection costs one run and one event per asset; it is recorded on the project's instance (pipelines.instance),
where the UI shows it. The run works on a private copy of the warehouse, swapped in when it ends. In-process
by default; multiprocess or Celery on request.
"""

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pipelines.run.execution as execution
from pipelines.run.events import summarise
from pipelines.run.options import DEFAULT_OPTIONS, EXECUTORS, RunOptions, RunRequestError
from pipelines.run.summary import PUBLISHED_STEP, RunSummary
from pipelines.run.warehouse import commit_working_copy, remove_working_copy, warehouse_lock, working_copy
from qp_analytics.normalise.rows import unknown_files
from qp_analytics.publication.release import activate_release, exports_settled, exports_written, prune_releases
from qp_analytics.publication.releases import publishing
from qp_analytics.quality.suites import KeptValidator, validator_for_run
from qp_analytics.reading.territories import read_registry
from qp_analytics.report import report_folder
from qp_analytics.report.source import ReportError
from qp_analytics.report.writing import check_out_dir, discard_pending, pending_folder, swap_in
from qp_analytics.warehouse.database import Warehouse

# Every in-process run validates in a validator process (quality.validator_for_run), where GX's import (3–7 s)
# overlaps the run's other work (a full run at 1,400 territories: 40.0 s, against 44.8 s for session 8's code,
# which validated in the run's process; docs/scale-history.md). Each batch of frames is shared between the validator and
# copies of it forked for the batch, one per core. Until session 17, runs of more than 48 territories validated
# in the validator alone: the copies gained nothing there and took the peak of a full run at 1,400 to 944–1,010
# MiB (proportional sets). With GX's objects frozen out of the garbage collector's sight (quality._serve), a copy
# no longer touches (and so copies) all of them when it collects: at 1,400 the core checks 1.48 → 1.31 s, the
# marts' 0.81 → 0.60 s (two runs each way, in turn), the peak 926 → 936 MiB.
# This process's validator, kept between its runs: a process that runs several (a test session) imports GX once.
KEPT_VALIDATOR = KeptValidator()



def run_pipeline(raw_dir: Path, warehouse: Path, marts_dir: Path, as_of: dt.date, territories: list[str],
                 echo: Callable[[str], None] = print, wait: bool = True,
                 options: RunOptions = DEFAULT_OPTIONS) -> RunSummary:
    """Materialise every asset for these territories (all when empty) in one run.

    The run works on a copy of the warehouse, swapped in when it ends: a run that is killed or whose steps
    fail leaves the warehouse as it was. Rejected inputs are not failures: the rest goes through."""
    if options.executor not in EXECUTORS:
        raise RunRequestError(f"unknown executor {options.executor!r}; expected one of {', '.join(EXECUTORS)}")
    from pipelines.instance import InstanceError, dagster_home, missing_extra, require_storage

    if options.executor == "celery":  # before the lock and the copy, and before anything is queued
        from pipelines.celery_presence import require_a_worker

        not_installed = missing_extra("the celery executor", ["dagster_celery", "dagster_postgres"])
        if not_installed:
            raise RunRequestError(not_installed)
        if not os.environ.get("DAGSTER_HOME"):
            raise RunRequestError("the celery executor needs the shared Dagster instance: set DAGSTER_HOME to the "
                                  "folder of a dagster.yaml on PostgreSQL (see docs/distributed.md)")
        missing = require_a_worker(options.celery_backend)  # no worker: its tasks would wait for ever
        if missing:
            raise RunRequestError(missing)
    try:
        require_storage(dagster_home())  # the instance the run records on, made on first use
    except InstanceError as exc:
        raise RunRequestError(str(exc)) from None
    reports = report_folder(marts_dir, options.report_dir)
    unusable = unusable_outputs(warehouse, marts_dir, reports)
    if unusable:
        raise RunRequestError(unusable)
    registry = [t.territory_id for t in read_registry(raw_dir)]
    unknown = [t for t in territories if t not in registry]
    if unknown:
        raise RunRequestError(f"unknown territory id(s): {', '.join(unknown)}; "
                              f"{raw_dir / 'territories.csv'} lists: {', '.join(registry)}")
    selected = list(dict.fromkeys(territories)) if territories else registry
    if not selected:
        raise RunRequestError(f"{raw_dir / 'territories.csv'} lists no territory")
    # GX imported in a process of its own, on another core, while this one sets the run up, reads and normalises
    apart = validator_for_run(options.executor == "in-process", kept=KEPT_VALIDATOR)
    # publishing: the release this run writes stays pending until it is made current; no pruning meanwhile takes
    # it for the orphan of a killed run
    with _pruned_after(marts_dir), apart as validator, warehouse_lock(warehouse, wait, echo), publishing(marts_dir):
        work = working_copy(warehouse)
        release_written: str | None = None  # the release this run wrote, until its report is in place
        try:
            echo(f"Materialising {len(selected)} territories (as_of {as_of.isoformat()}) from {raw_dir}"
                 + ("" if options.executor == "in-process" else f", {options.executor} executor"))
            started = time.perf_counter()
            # in process, the release's exports are written while the report is drawn (waited for below)
            settings = dict(raw_dir=str(raw_dir), warehouse=str(work), marts_dir=str(marts_dir),
                            as_of=as_of.isoformat(), activate_release=False, reprocess=options.reprocess,
                            workers=options.workers, report_dir=str(options.report_dir or ""),
                            exports_later=options.executor == "in-process")
            if options.executor == "in-process":
                with Warehouse(work).held_open() as shared:  # its steps share one open database, handed to them
                    summary = summarise(execution.materialize(settings, selected, echo, shared, validator), work,
                                        selected, as_of, started, warehouse)
            else:
                with execution.execute(settings, selected, options, echo) as result:
                    summary = summarise(result, work, selected, as_of, started, warehouse)
            release_written = summary.release.name if summary.release is not None else None
            summary.unknown_files = unknown_files(raw_dir, registry)
            if summary.release is not None and not (summary.data_failures or summary.failed_quality):
                try:
                    exports_written(summary.release)
                except Exception as exc:  # noqa: BLE001 (the disk, mostly: said as a failed step, nothing kept)
                    summary.failures.append(f"{PUBLISHED_STEP}: writing the exports of release "
                                            f"{summary.release.name} failed: {exc}")
            if summary.data_failures or summary.failed_quality:
                echo(f"{'A step' if summary.data_failures else 'A data quality check'} failed: {warehouse} and the "
                     "published marts are left as they were before this run")
                summary.release = None
            else:
                commit_working_copy(work, warehouse)
                if summary.release is not None:
                    activate_release(marts_dir, summary.release, prune=False)
                    # the report of the release, drawn beside the last one, takes its place now that it is current
                    drawn = pending_folder(reports, summary.release.name)
                    if drawn.is_dir():
                        swap_in(reports, drawn)
                    release_written = None
                if summary.failures:
                    echo("The HTML report was not written (see below); the warehouse and marts of this run are kept")
        finally:
            exports_settled()  # no thread left writing into the marts folder, however the run ended
            remove_working_copy(work)
            if release_written is not None:  # a report drawn for a release that was not made current: removed
                discard_pending(reports, release_written)
    return summary


def unusable_outputs(warehouse: Path, marts_dir: Path, report_dir: Path) -> str | None:
    """Why the run could not write where it is asked to, said before it starts (one line), else None: the warehouse
    a folder, the marts' folder or the report's a file, the report's a folder holding something else (the report
    replaces its whole folder). Found at the end, the run would have published its marts and failed its report,
    or stopped on a traceback."""
    if warehouse.is_dir():
        return f"{warehouse}: is a folder; the warehouse is a DuckDB file (created if absent): --warehouse"
    if marts_dir.exists() and not marts_dir.is_dir():
        return f"{marts_dir}: is not a folder; the marts are published in a folder (created if absent): --marts-dir"
    try:
        check_out_dir(report_dir, "--report-dir")  # the report's own rule, as the report step applies it
    except ReportError as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def _pruned_after(marts_dir: Path) -> Iterator[None]:
    """Prune the releases when the block ends, however (its locks released): old ones, and, if no other run is
    publishing, the orphans (this run's own release when it was not made current)."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a marts folder out of reach: the next run prunes
            prune_releases(marts_dir)
