"""Normalise: each territory's feuille de route checked (staging) and loaded into typed, keyed tables (core)."""

from collections.abc import Iterator

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

from pipelines.metadata import definition_metadata
from pipelines.normalise.assets import by_keys, rejections_check
from pipelines.quality.checks import check_ahead
from pipelines.resources import ProgressSink, QpSettings, step_reporter
from pipelines.selection import territory_keys
from pipelines.stages import materialise, step_order
from qp_analytics.normalise.rows import (
    ROADMAP_TABLES,
    normalise_roadmaps,
    parse_roadmaps,
    provenance_of,
    registry_index,
    roadmap_sha256,
    roadmap_source,
)
from qp_analytics.reading.manifest import read_manifest
from qp_analytics.reading.territories import ListedFolder, MissingFile, RawFolderLinks
from qp_analytics.schema import TABLES
from qp_analytics.warehouse.database import Warehouse
from qp_analytics.warehouse.incremental import Stage, StageResult, fingerprint

ROADMAP_PARSES = "staging.roadmap_parses"
PARSE = Stage("roadmap_parse", (ROADMAP_PARSES,), rejects=("roadmap",))
CORE = Stage("roadmap_core", ROADMAP_TABLES, after=PARSE.rejects)  # a rejected workbook leaves its rows as they were


@asset(
    key=["staging", "roadmap_parses"],
    group_name="staging",
    metadata=definition_metadata(ROADMAP_PARSES),
    kinds={"duckdb", "excel"},
    op_tags=step_order("roadmap_parses"),
)
def roadmap_parses(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                   progress: ResourceParam[ProgressSink]) -> Iterator[MaterializeResult]:
    """Each territory's roadmap (`roadmaps/<territory_id>.xlsx`, or its CSV exports) checked against the
    national template and normalised. A workbook that breaks the contract (or whose fiche names another
    intercommunalité than territories.csv) is recorded in staging.rejections
    with every problem (file, sheet, row, column) and the territory keeps its last good roadmap."""
    keys = territory_keys(context, settings)
    report = step_reporter(context.log, progress)
    registry = registry_index(settings.raw_path)

    current = {}  # territory -> fingerprint of its roadmap file(s) as they are now, and of its registry row
    sha256s = {}  # territory -> sha256 of its roadmap file(s), handed to the parse (not hashed twice)
    sources = {}  # territory -> (path, format) of its roadmap, handed to the parse (not looked for twice)
    listed, links = ListedFolder(settings.raw_path / "roadmaps"), RawFolderLinks(settings.raw_path)
    for tid in keys:
        try:
            path, fmt = roadmap_source(settings.raw_path, tid, listed, links)
            if path is not None and fmt is not None:
                sources[tid] = path, fmt
                sha256s[tid] = roadmap_sha256(path, fmt, tid)
                current[tid] = fingerprint(PARSE.name, str(path), fmt, sha256s[tid], registry.identity(tid))
        except (MissingFile, OSError):
            continue  # parse_roadmaps rejects it with the reason

    def parse(todo: list[str], _: None) -> StageResult:
        result, absent = parse_roadmaps(settings.raw_path, todo, report, settings.workers, sha256s, sources)
        if absent:
            context.log.info(f"no roadmap file for: {', '.join(absent)}")
        result.notes["without_roadmap"] = absent
        return result

    def what_was_read(result: StageResult) -> dict[str, str]:  # the files read, which may have changed since hashed
        return {t: fingerprint(PARSE.name, path, fmt, sha, registry.identity(t)) for t, path, fmt, sha in
                result.rows[ROADMAP_PARSES].select("territory_id", "path", "format", "sha256").iter_rows()}

    yield from materialise(context, warehouse, PARSE, keys, reprocess=settings.reprocess, current=current,
                           compute=parse, processed=what_was_read)


@multi_asset(
    specs=[
        AssetSpec(name.split("."), group_name="core", deps=[roadmap_parses], description=TABLES[name].description,
                  metadata=definition_metadata(name), kinds={"duckdb"})
        for name in ROADMAP_TABLES
    ],
    op_tags=step_order("core_roadmaps"),
)
def core_roadmaps(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse]):
    """The checked roadmaps normalised into typed tables (dates as DATE, amounts as DECIMAL(14,2)), each row
    keeping the workbook row it came from. All the tables of a territory are replaced together; their checks
    start at once in the run's validator, while the conventions are parsed (check_ahead)."""
    manifest = read_manifest(settings.raw_path)
    links = RawFolderLinks(settings.raw_path)

    def parses_as_stored(con, ids: list[str]) -> dict[str, str]:  # the workbook, where it is and comes from
        return {t: fingerprint(CORE.name, sha, path, provenance_of(manifest, settings.raw_path, path, links))
                for t, sha, path in con.execute(
                    f"SELECT territory_id, sha256, path FROM {ROADMAP_PARSES} {by_keys(ids)}").fetchall()}

    def parses(con, todo: list[str]):
        return con.execute(f"SELECT * FROM {ROADMAP_PARSES} {by_keys(todo)}").pl()

    def normalise(todo: list[str], stored) -> StageResult:
        return normalise_roadmaps(stored, settings.raw_path)

    results = materialise(context, warehouse, CORE, territory_keys(context, settings), reprocess=settings.reprocess,
                          current=parses_as_stored, read=parses, compute=normalise)
    check_ahead(settings, warehouse, CORE.tables)
    yield from results


@asset_check(asset=roadmap_parses, description="Every territory's latest roadmap conforms to the template "
             "(no rejected workbook).")
def roadmaps_accepted(warehouse: ResourceParam[Warehouse]) -> AssetCheckResult:
    return rejections_check(warehouse, PARSE.rejects)
