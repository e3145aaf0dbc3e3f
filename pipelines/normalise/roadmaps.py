"""Normalise: each territory's feuille de route checked (staging) and loaded into typed, keyed tables (core)."""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
    ResourceParam,
    asset,
    asset_check,
    multi_asset,
)

from pipelines.metadata import definition_metadata, run_metadata
from pipelines.normalise.assets import accepted_keys, rejections_check, store_core
from pipelines.resources import ProgressSink, QpSettings, step_reporter
from pipelines.selection import territory_keys
from qp_analytics.normalise.rows import (
    ROADMAP_TABLES,
    normalise_roadmaps,
    parse_roadmaps,
    provenance_of,
    registry_index,
    rejection_rows,
    roadmap_sha256,
    roadmap_source,
)
from qp_analytics.reading.manifest import read_manifest
from qp_analytics.reading.territories import MissingFile
from qp_analytics.schema import TABLES
from qp_analytics.warehouse.database import Warehouse, ensure_tables, replace_rows
from qp_analytics.warehouse.incremental import fingerprint, record, to_process

ROADMAP_PARSES = "staging.roadmap_parses"
PARSE_STAGE, CORE_STAGE = "roadmap_parse", "roadmap_core"
BY_KEYS = "WHERE territory_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY territory_id"


@asset(
    key=["staging", "roadmap_parses"],
    group_name="staging",
    metadata=definition_metadata(ROADMAP_PARSES),
    kinds={"duckdb", "excel"},
)
def roadmap_parses(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                   progress: ResourceParam[ProgressSink]) -> MaterializeResult:
    """Each territory's roadmap (`roadmaps/<territory_id>.xlsx`, or its CSV exports) checked against the
    national template and normalised. A workbook that breaks the contract (or whose fiche names another
    intercommunalité than territories.csv) is recorded in staging.rejections
    with every problem (file, sheet, row, column) and the territory keeps its last good roadmap."""
    keys = territory_keys(context, settings)

    report = step_reporter(context.log, progress)

    current = {}  # territory -> fingerprint of its roadmap file(s) as they are now, and of its registry row
    sha256s = {}  # territory -> sha256 of its roadmap file(s), handed to the parse (not hashed twice)
    registry = registry_index(settings.raw_path)
    for tid in keys:
        try:
            path, fmt = roadmap_source(settings.raw_path, tid)
            if path is not None and fmt is not None:
                sha256s[tid] = roadmap_sha256(path, fmt, tid)
                current[tid] = fingerprint(PARSE_STAGE, str(path), fmt, sha256s[tid], registry.identity(tid))
        except (MissingFile, OSError):
            continue  # parse_roadmaps rejects it with the reason
    with warehouse.connect() as con:
        ensure_tables(con)
        todo = to_process(con, PARSE_STAGE, keys, current, ("roadmap",), everything=settings.reprocess)
    if len(todo) < len(keys):
        context.log.info(f"{len(keys) - len(todo)} roadmaps unchanged (same files, same sha256): not read again")
    result, absent = parse_roadmaps(settings.raw_path, todo, report, settings.workers, sha256s)
    for r in result.rejections:
        context.log.warning(f"{r.territory_id}: roadmap rejected ({len(r.problems)} problems): {r.problems[0]}")
    if absent:
        context.log.info(f"no roadmap file for: {', '.join(absent)}")
    rows = result.rows[ROADMAP_PARSES]
    done = {t: fingerprint(PARSE_STAGE, p, fmt, sha, registry.identity(t))
            for t, p, fmt, sha in rows.select("territory_id", "path", "format", "sha256").iter_rows()}
    with warehouse.transaction() as con:
        replace_rows(con, ROADMAP_PARSES, result.accepted, rows)
        replace_rows(con, "staging.rejections", todo, rejection_rows(result.rejections), " AND stage = 'roadmap'")
        record(con, PARSE_STAGE, done)
        metadata = run_metadata(con, ROADMAP_PARSES, result.accepted, without_roadmap=absent,
                                unchanged=len(keys) - len(todo), rejected=[r.territory_id for r in result.rejections])
    return MaterializeResult(metadata=metadata)


@multi_asset(
    specs=[
        AssetSpec(name.split("."), group_name="core", deps=[roadmap_parses], description=TABLES[name].description,
                  metadata=definition_metadata(name), kinds={"duckdb"})
        for name in ROADMAP_TABLES
    ],
)
def core_roadmaps(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse]):
    """The checked roadmaps normalised into typed tables (dates as DATE, amounts as DECIMAL(14,2)), each row
    keeping the workbook row it came from. All the tables of a territory are replaced together."""
    manifest = read_manifest(settings.raw_path)
    with warehouse.connect() as con:
        ensure_tables(con)
        keys = accepted_keys(con, territory_keys(context, settings), ("roadmap",))
        current = {t: fingerprint(CORE_STAGE, sha, path, provenance_of(manifest, settings.raw_path, path))
                   for t, sha, path in con.execute(f"SELECT territory_id, sha256, path FROM {ROADMAP_PARSES} {BY_KEYS}",
                                                   [keys]).fetchall()}
        todo = to_process(con, CORE_STAGE, keys, current, (), everything=settings.reprocess)
        parses = con.execute(f"SELECT * FROM {ROADMAP_PARSES} {BY_KEYS}", [todo]).pl()
    result = normalise_roadmaps(parses, settings.raw_path)
    yield from store_core(warehouse, CORE_STAGE, ROADMAP_TABLES, result, {t: current[t] for t in result.accepted},
                          unchanged=len(keys) - len(todo))


@asset_check(asset=roadmap_parses, description="Every territory's latest roadmap conforms to the template "
             "(no rejected workbook).")
def roadmaps_accepted(warehouse: ResourceParam[Warehouse]) -> AssetCheckResult:
    return rejections_check(warehouse, ("roadmap",))
