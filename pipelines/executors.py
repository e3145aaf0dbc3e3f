"""The graph's job rebuilt by name in each step's process, for the out-of-process executors of
`qp-analytics materialize --executor` (dagster.reconstructable needs module-level functions)."""

from dagster import AssetSelection, Definitions, JobDefinition, define_asset_job

from pipelines.definitions import ASSET_CHECKS, ASSETS, defs
from pipelines.jobs import evaluation_refresh_multiprocess


def multiprocess_job() -> JobDefinition:
    """Rebuilt by name in each step's process (dagster.reconstructable)."""
    return defs.resolve_job_def(evaluation_refresh_multiprocess.name)


def celery_job() -> JobDefinition:
    """Rebuilt by name on each Celery worker (dagster.reconstructable). Built here, not at import, so that only
    Celery runs import dagster_celery."""
    from dagster_celery import celery_executor

    job = define_asset_job("evaluation_refresh_celery", selection=AssetSelection.all(), executor_def=celery_executor,
                           description="Every asset, steps on Celery workers.")
    return Definitions(assets=ASSETS, asset_checks=ASSET_CHECKS, jobs=[job],
                       resources=defs.resources).resolve_job_def(job.name)
