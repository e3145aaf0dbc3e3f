"""What a run hands its steps, as Dagster resources: its settings, the warehouse, the validator of its checks, and
progress reporting."""

import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext, ResourceDefinition, resource

from qp_analytics.report import report_folder
from qp_analytics.warehouse.database import Warehouse


class QpSettings(ConfigurableResource):
    """Where the pipeline reads and writes. In `dagster dev` these come from QP_RAW_DIR, QP_WAREHOUSE and
    QP_MARTS_DIR (see .env); `qp-analytics materialize` sets them from its options."""

    raw_dir: str
    warehouse: str
    marts_dir: str
    report_dir: str = ""  # the HTML report's folder; empty: `report` beside the marts folder (data/report)
    # the territories to work on; empty: the run's qp/territories tag, else all of them (pipelines.selection)
    territories: list[str] = []
    as_of: str | None = None  # ISO date of the evaluation; None: the run's day
    # False: the marts release is written but `current` is moved by the caller once the warehouse is committed
    activate_release: bool = True
    # True (the command line's in-process runs, which move `current` themselves): the release's exports are
    # written in a thread of the run's process while the report is drawn; the caller waits for them
    # (qp_analytics.publication.release.exports_written) before it commits the warehouse and moves `current`
    exports_later: bool = False
    # True: read and parse every territory again, even those whose files and code are unchanged
    reprocess: bool = False
    # worker processes for reading and parsing large batches; 0: QP_WORKERS, else one per core
    workers: int = 0

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @property
    def warehouse_path(self) -> Path:
        return Path(self.warehouse)

    @property
    def report_path(self) -> Path:
        return report_folder(self.marts_dir, self.report_dir)

    def as_of_date(self) -> dt.date:
        return dt.date.fromisoformat(self.as_of) if self.as_of else dt.date.today()


@resource(required_resource_keys={"settings"},
          description="The warehouse of the run's settings; each process connects to it file by file. An in-process "
                      "run of `qp-analytics materialize` hands its steps instead one held open on its private copy.")
def warehouse_of_settings(context: InitResourceContext) -> Warehouse:
    """The `warehouse` resource: a Warehouse at the settings' path, made in each process that runs steps (it
    follows whatever settings the run has: the definitions', a run config's, a test's)."""
    return Warehouse(context.resources.settings.warehouse_path)



# The `validator` resource of the definitions: none, the checks validate in their own process. An in-process run of
# `qp-analytics materialize` hands its checks the validator process it started (qp_analytics.quality.suites).
NO_VALIDATOR = ResourceDefinition.none_resource(
    description="Where the Great Expectations suites run: none given, in the check's own process.")


def progress_printer(echo: Callable[[str], None]) -> Callable[[str, int, int, str], None]:
    """Per-territory progress lines, thinned to about ten per stage on large runs."""

    def report(stage: str, done: int, total: int, tid: str) -> None:
        step = 1 if total <= 20 else max(1, total // 10)
        if done % step == 0 or done == total:
            echo(f"  {stage:<7} {done:>5}/{total:<5} {tid}")

    return report


def step_reporter(log: Any, progress: Callable[[str, int, int, str], None]
                  ) -> Callable[[str, int, int, str], None]:
    """A step's per-territory progress: to the progress sink, and to the Dagster log (debug) thinned like the
    printed lines (each Dagster log line is an event, stored: thousands of them cost seconds)."""
    to_log = progress_printer(log.debug)

    def report(stage: str, done: int, total: int, tid: str) -> None:
        to_log(stage, done, total, tid)
        progress(stage, done, total, tid)

    return report


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ProgressSink:
    """Receives (stage, done, total, territory_id) as a step works through its territories.

    The default prints nothing (the steps also log to Dagster), except when QP_PROGRESS=stderr: then steps
    running in other processes (multiprocess executor) print their progress to their standard error, which is
    the CLI's. The CLI's in-process runs pass a callback that prints."""

    def __init__(self, callback: Callable[[str, int, int, str], None] | None = None):
        self._callback = callback

    def __call__(self, stage: str, done: int, total: int, territory_id: str) -> None:
        if self._callback is None and os.environ.get("QP_PROGRESS") == "stderr":
            self._callback = progress_printer(_stderr)
        if self._callback is not None:
            self._callback(stage, done, total, territory_id)
