"""The command line's run of the asset graph (`qp-analytics materialize`), one concern per module:

- pipeline: run_pipeline, a run from its request to the warehouse swapped in (or left as it was);
- options: RunOptions, what a run is asked to do, and RunRequestError / RunFault, how it refuses or stops;
- warehouse: the warehouse's lock, the run's working copy and its commit;
- execution: the steps in this process or out of it (multiprocess, Celery), the step start method;
- celery_watch: what a Celery run says while it waits for workers;
- events: a finished run's Dagster events read into its summary;
- summary: RunSummary, what the command line prints.
"""

from pipelines.run.execution import quiet_dagster_warnings, step_start_method
from pipelines.run.options import EXECUTORS, RunFault, RunOptions, RunRequestError
from pipelines.run.pipeline import run_pipeline
from pipelines.run.summary import RunSummary
from pipelines.run.warehouse import warehouse_lock

__all__ = ["EXECUTORS", "RunFault", "RunOptions", "RunRequestError", "RunSummary", "quiet_dagster_warnings",
           "run_pipeline", "step_start_method", "warehouse_lock"]
