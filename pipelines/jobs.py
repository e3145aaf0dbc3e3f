"""The jobs: every asset of the graph in one run, steps in turn in the run's process (the default), in parallel
processes, or on Celery workers. The UI, the schedule, the sensor and `qp-analytics materialize` run these."""

from dagster import AssetSelection, define_asset_job, multiprocess_executor

evaluation_refresh = define_asset_job(
    "evaluation_refresh", selection=AssetSelection.all(),
    description="Every asset: the territories' documents to the published marts and report, in one run (the "
                "territories of the run's settings or qp/territories tag, else every territory of territories.csv).")

# Steps in parallel processes. They share one DuckDB file and take its access lock in turn for as long as they
# hold a connection (qp_analytics.warehouse.database): writes are serialised by design.
evaluation_refresh_multiprocess = define_asset_job(
    "evaluation_refresh_multiprocess", selection=AssetSelection.all(), executor_def=multiprocess_executor,
    description="Every asset, steps in parallel processes (multiprocess executor).")
