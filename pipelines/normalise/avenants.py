"""Normalise: the avenants (amendments) that extend each territory's convention."""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    ResourceParam,
    asset,
    asset_check,
)

from pipelines.metadata import definition_metadata, run_metadata
from pipelines.normalise.assets import rejections_check
from pipelines.partitions import territory_partitions
from pipelines.resources import ProgressSink, QpSettings
from qp_analytics.ingest import read_avenants, rejection_rows
from qp_analytics.warehouse import connect, ensure_tables, replace_rows, transaction

AVENANTS = "core.avenants"


@asset(
    key=["core", "avenants"],
    group_name="core",
    partitions_def=territory_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata=definition_metadata(AVENANTS),
    kinds={"duckdb", "pdf"},
)
def avenants(context: AssetExecutionContext, settings: QpSettings,
             progress: ResourceParam[ProgressSink]) -> MaterializeResult:
    """Each territory's avenants (`avenants/<territory_id>_avenant_<n>.txt|pdf`): number, months added or new
    end date, signature. A territory none of whose avenants can be read keeps its last good set."""
    keys = list(context.partition_keys)
    result = read_avenants(settings.raw_path, keys, progress)
    for r in result.rejections:
        context.log.warning(f"{r.territory_id}: avenants rejected: {'; '.join(r.problems)}")
    with connect(settings.warehouse_path) as con, transaction(con):
        ensure_tables(con)
        replace_rows(con, AVENANTS, result.accepted, result.rows[AVENANTS])
        replace_rows(con, "staging.rejections", keys, rejection_rows(result.rejections), " AND stage = 'avenant'")
        metadata = run_metadata(con, AVENANTS, result.accepted, rejected=[r.territory_id for r in result.rejections])
    return MaterializeResult(metadata=metadata)


@asset_check(asset=avenants, description="Every avenant file was read (no rejection).")
def avenants_accepted(settings: QpSettings) -> AssetCheckResult:
    return rejections_check(settings, ("avenant",))
