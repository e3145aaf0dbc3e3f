"""The same asset graph without partitions, for `qp-analytics materialize`: one run over a batch of territories.

The territories are named in the run's settings (`QpSettings.territories`); each step works through all of them
at once, exactly as a partition-range run does, but Dagster records one event per asset instead of one per asset
and territory. The jobs here run the batch on the multiprocess executor (steps in parallel processes on this
machine) or on Celery workers (steps on any machine that reaches the broker, the instance's PostgreSQL and the
project's folders). Not a code location of workspace.yaml: the UI shows the partitioned graph.
"""

from dagster import AssetSelection, Definitions, JobDefinition, define_asset_job, multiprocess_executor

from pipelines.definitions import ASSET_CHECKS, ASSETS, defs
from pipelines.partitions import without_partitions

BATCH_ASSETS = [without_partitions(a) for a in ASSETS]

batch_multiprocess = define_asset_job(
    "evaluation_batch_multiprocess", selection=AssetSelection.all(), executor_def=multiprocess_executor,
    description="Every asset for the settings' territories, steps in parallel processes.")
batch_defs = Definitions(assets=BATCH_ASSETS, asset_checks=ASSET_CHECKS, jobs=[batch_multiprocess],
                         resources=defs.resources)


def multiprocess_job() -> JobDefinition:
    """Rebuilt by name in each step's process (dagster.reconstructable)."""
    return batch_defs.resolve_job_def(batch_multiprocess.name)


def celery_job() -> JobDefinition:
    """Rebuilt by name on each Celery worker (dagster.reconstructable). Built here, not at import, so that only
    Celery runs import dagster_celery (every in-process run imports this module)."""
    from dagster_celery import celery_executor

    job = define_asset_job("evaluation_batch_celery", selection=AssetSelection.all(), executor_def=celery_executor,
                           description="Every asset for the settings' territories, steps on Celery workers.")
    return Definitions(assets=BATCH_ASSETS, asset_checks=ASSET_CHECKS, jobs=[job],
                       resources=defs.resources).resolve_job_def(job.name)
