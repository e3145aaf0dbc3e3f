"""Run settings and progress reporting, as Dagster resources."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from dagster import ConfigurableResource


class QpSettings(ConfigurableResource):
    """Where the pipeline reads and writes. In `dagster dev` these come from QP_RAW_DIR, QP_WAREHOUSE and
    QP_MARTS_DIR (see .env); `qp-analytics materialize` sets them from its options."""

    raw_dir: str
    warehouse: str
    marts_dir: str
    as_of: str | None = None  # ISO date of the evaluation; None: the run's day
    # False: the marts release is written but `current` is moved by the caller once the warehouse is committed
    activate_release: bool = True

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @property
    def warehouse_path(self) -> Path:
        return Path(self.warehouse)

    def as_of_date(self) -> dt.date:
        return dt.date.fromisoformat(self.as_of) if self.as_of else dt.date.today()


class ProgressSink:
    """Receives (stage, done, total, territory_id) as a step works through its territories.

    The default does nothing (the steps also log to Dagster); the CLI passes one that prints."""

    def __init__(self, callback: Callable[[str, int, int, str], None] | None = None):
        self._callback = callback

    def __call__(self, stage: str, done: int, total: int, territory_id: str) -> None:
        if self._callback is not None:
            self._callback(stage, done, total, territory_id)
