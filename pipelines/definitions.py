"""The Dagster code location: assets, checks, sensor and resources (loaded by workspace.yaml)."""

from dagster import Definitions, EnvVar, in_process_executor

from pipelines.automation import raw_files_sensor, weekly_refresh
from pipelines.jobs import evaluation_refresh, evaluation_refresh_multiprocess
from pipelines.marts.assets import marts, published_marts
from pipelines.metadata import with_house_metadata
from pipelines.normalise.assets import convention_parses, conventions_accepted, core_conventions, territories
from pipelines.normalise.avenants import avenants, avenants_accepted
from pipelines.normalise.roadmaps import core_roadmaps, roadmap_parses, roadmaps_accepted
from pipelines.quality.checks import core_quality, marts_quality
from pipelines.reading.assets import convention_documents
from pipelines.report.assets import evaluation_report
from pipelines.resources import NO_VALIDATOR, ProgressSink, QpSettings, warehouse_of_settings

ASSETS = [with_house_metadata(a) for a in (convention_documents, convention_parses, territories, core_conventions,
                                            roadmap_parses, core_roadmaps, avenants, marts, published_marts,
                                            evaluation_report)]
ASSET_CHECKS = [conventions_accepted, roadmaps_accepted, avenants_accepted, core_quality, marts_quality]


def settings_from_env() -> QpSettings:
    return QpSettings(raw_dir=EnvVar("QP_RAW_DIR"), warehouse=EnvVar("QP_WAREHOUSE"),
                      marts_dir=EnvVar("QP_MARTS_DIR"))


defs = Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[evaluation_refresh, evaluation_refresh_multiprocess],
    schedules=[weekly_refresh],
    sensors=[raw_files_sensor],
    # the warehouse follows the run's settings, in each process that runs steps; no validator process: the checks
    # validate in their own (an in-process `qp-analytics materialize` run hands them its warehouse and validator)
    resources={"settings": settings_from_env(), "warehouse": warehouse_of_settings, "validator": NO_VALIDATOR,
               "progress": ProgressSink()},
    # By default a run's steps go one after another in the run's process: each step already spreads its reading
    # and parsing over the cores (qp_analytics.parallel), and a process per step costs seconds of imports.
    executor=in_process_executor,
)
