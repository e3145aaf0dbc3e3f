"""Normalise: each territory's feuille de route checked (staging) and loaded into typed, keyed tables (core)."""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    ResourceParam,
    asset,
    asset_check,
    multi_asset,
)

from pipelines.metadata import definition_metadata, run_metadata
from pipelines.normalise.assets import accepted_keys, rejections_check
from pipelines.partitions import territory_partitions
from pipelines.resources import ProgressSink, QpSettings
from qp_analytics.ingest import ROADMAP_TABLES, normalise_roadmaps, parse_roadmaps, rejection_rows
from qp_analytics.schema import TABLES
from qp_analytics.warehouse import connect, ensure_tables, replace_rows, transaction

ROADMAP_PARSES = "staging.roadmap_parses"
BY_KEYS = "WHERE territory_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY territory_id"


@asset(
    key=["staging", "roadmap_parses"],
    group_name="staging",
    partitions_def=territory_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata=definition_metadata(ROADMAP_PARSES),
    kinds={"duckdb", "excel"},
)
def roadmap_parses(context: AssetExecutionContext, settings: QpSettings,
                   progress: ResourceParam[ProgressSink]) -> MaterializeResult:
    """Each territory's roadmap (`roadmaps/<territory_id>.xlsx`, or its CSV exports) checked against the
    national template and normalised. A workbook that breaks the contract is recorded in staging.rejections
    with every problem (file, sheet, row, column) and the territory keeps its last good roadmap."""
    keys = list(context.partition_keys)

    def report(stage: str, done: int, total: int, tid: str) -> None:
        context.log.debug(f"{stage} {done}/{total} {tid}")
        progress(stage, done, total, tid)

    result, absent = parse_roadmaps(settings.raw_path, keys, report)
    for r in result.rejections:
        context.log.warning(f"{r.territory_id}: roadmap rejected ({len(r.problems)} problems): {r.problems[0]}")
    if absent:
        context.log.info(f"no roadmap file for: {', '.join(absent)}")
    with connect(settings.warehouse_path) as con, transaction(con):
        ensure_tables(con)
        replace_rows(con, ROADMAP_PARSES, result.accepted, result.rows[ROADMAP_PARSES])
        replace_rows(con, "staging.rejections", keys, rejection_rows(result.rejections), " AND stage = 'roadmap'")
        metadata = run_metadata(con, ROADMAP_PARSES, result.accepted, without_roadmap=absent,
                                rejected=[r.territory_id for r in result.rejections])
    return MaterializeResult(metadata=metadata)


@multi_asset(
    specs=[
        AssetSpec(name.split("."), group_name="core", deps=[roadmap_parses], description=TABLES[name].description,
                  metadata=definition_metadata(name), kinds={"duckdb"})
        for name in ROADMAP_TABLES
    ],
    partitions_def=territory_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def core_roadmaps(context: AssetExecutionContext, settings: QpSettings):
    """The checked roadmaps normalised into typed tables (dates as DATE, amounts as DECIMAL(14,2)), each row
    keeping the workbook row it came from. All the tables of a territory are replaced together."""
    with connect(settings.warehouse_path) as con:
        ensure_tables(con)
        keys = accepted_keys(con, list(context.partition_keys), ("roadmap",))
        parses = con.execute(f"SELECT * FROM {ROADMAP_PARSES} {BY_KEYS}", [keys]).pl()
        result = normalise_roadmaps(parses, settings.raw_path)
        with transaction(con):
            for name in ROADMAP_TABLES:
                replace_rows(con, name, result.accepted, result.rows[name])
        metadata = {name: run_metadata(con, name, result.accepted) for name in ROADMAP_TABLES}
    for name in ROADMAP_TABLES:
        yield MaterializeResult(asset_key=AssetKey(name.split(".")), metadata=metadata[name])


@asset_check(asset=roadmap_parses, description="Every territory's latest roadmap conforms to the template "
             "(no rejected workbook).")
def roadmaps_accepted(settings: QpSettings) -> AssetCheckResult:
    return rejections_check(settings, ("roadmap",))
