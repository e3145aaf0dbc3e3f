"""What the multiprocess executor forks each step's process from (`materialize --executor multiprocess`).

Its forkserver imports this module once, when the run starts its first step (unless this process's forkserver
already serves the project's own workers: see pipelines.run.execution.step_start_method). Dagster's warnings are
quieted as in the run's own process (the steps inherit the filters), then the graph, the storage of Dagster's
instance (SQLAlchemy, Alembic: what each step's connection to the instance needs) and Great Expectations (the two
check steps) are imported. With Dagster's default start method, spawn, every step started Python and imported all
of it again: a run of the 14 territories took about 88 s here, against about 36 s forked from this server.
A module that fails to import here is imported by the step that needs it, which fails there if it must.
"""

import importlib

from pipelines.run.execution import quiet_dagster_warnings

quiet_dagster_warnings()  # before the graph's definitions are imported: they would warn

for _name in ("pipelines.executors", "great_expectations",
              # Dagster's own modules, not its API: should a version move one, each step imports it again
              "dagster._core.storage.root", "dagster._core.storage.sqlite_storage",
              "dagster._core.storage.event_log.sqlite", "dagster._core.storage.runs.sqlite",
              "dagster._core.storage.schedules.sqlite"):
    try:
        importlib.import_module(_name)
    except Exception:  # noqa: BLE001
        pass
