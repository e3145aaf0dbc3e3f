"""Normalise: conventions parsed (staging) and loaded into typed, keyed tables (core)."""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
    asset_check,
    multi_asset,
)

from pipelines.metadata import definition_metadata
from pipelines.reading.assets import READ, convention_documents
from pipelines.resources import ProgressSink, QpSettings, step_reporter
from pipelines.selection import territory_keys
from pipelines.stages import materialise, step_order
from qp_analytics.normalise.rows import (
    normalise_conventions,
    parse_documents,
    provenance_of,
    registry_index,
    registry_rows,
)
from qp_analytics.reading.manifest import read_manifest
from qp_analytics.reading.territories import RawFolderLinks, read_registry
from qp_analytics.schema import TABLES
from qp_analytics.warehouse.database import Warehouse, ensure_tables, id_list
from qp_analytics.warehouse.incremental import REJECTIONS, Stage, StageResult, fingerprint

PARSES = "staging.convention_parses"
CORE_CONVENTION_TABLES = ("core.conventions", "core.convention_commitments", "core.convention_field_sources",
                          "core.convention_warnings")
# Each stage leaves a territory rejected upstream as it is: its rows stay its last good data.
PARSE = Stage("convention_parse", (PARSES,), rejects=("parse",), after=READ.rejects)
CORE = Stage("convention_core", CORE_CONVENTION_TABLES, after=(*READ.rejects, *PARSE.rejects))
REGISTRY = Stage(None, ("core.territories",))  # read whole on every run: territories.csv is small


def by_keys(ids: list[str]) -> str:
    """The WHERE clause of these territories' rows, in territory order."""
    return f"WHERE territory_id IN (SELECT unnest({id_list(ids)})) ORDER BY territory_id"


@asset(
    key=["staging", "convention_parses"],
    group_name="staging",
    deps=[convention_documents],
    metadata=definition_metadata(PARSES),
    kinds={"duckdb"},
)
def convention_parses(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                      progress: ResourceParam[ProgressSink]) -> Iterator[MaterializeResult]:
    """Each convention parsed: every field with the page, offsets and sentence it was read from (the same
    object as `qp-analytics parse convention --json`). A convention lacking a required field, or naming another
    intercommunalité than its territory's in territories.csv, is recorded in staging.rejections and the
    territory keeps its last good parse."""
    registry = registry_index(settings.raw_path)  # the document must name its territory's intercommunalité
    report = step_reporter(context.log, progress)

    def documents_as_read(con, ids: list[str]) -> dict[str, str]:
        return {t: fingerprint(PARSE.name, sha, registry.identity(t)) for t, sha in con.execute(
            f"SELECT territory_id, sha256 FROM raw.convention_documents {by_keys(ids)}").fetchall()}

    def documents(con, todo: list[str]):
        return con.execute(f"SELECT * FROM raw.convention_documents {by_keys(todo)}").pl()

    def parse(todo: list[str], read) -> StageResult:
        return parse_documents(read, report, settings.workers, registry)

    yield from materialise(context, warehouse, PARSE, territory_keys(context, settings), reprocess=settings.reprocess,
                           current=documents_as_read, read=documents, compute=parse)


@asset(
    key=["core", "territories"],
    group_name="core",
    metadata=definition_metadata("core.territories"),
    kinds={"duckdb"},
    op_tags=step_order("territories"),
)
def territories(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse]
                ) -> Iterator[MaterializeResult]:
    """The territory registry (territories.csv): name, SIREN and département of each intercommunalité."""
    keys = territory_keys(context, settings)

    def registry_of(todo: list[str], _: None) -> StageResult:  # a territory no longer listed loses its row
        listed = [t for t in read_registry(settings.raw_path) if t.territory_id in set(todo)]
        return StageResult({"core.territories": registry_rows(listed)}, todo)

    yield from materialise(context, warehouse, REGISTRY, keys, compute=registry_of)


@multi_asset(
    specs=[
        AssetSpec(name.split("."), group_name="core", deps=[convention_parses, convention_documents],
                  description=TABLES[name].description, metadata=definition_metadata(name), kinds={"duckdb"})
        for name in CORE_CONVENTION_TABLES
    ],
)
def core_conventions(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse]):
    """The parsed conventions normalised into typed tables: one row per convention, its commitments, the
    source of every field and its warnings. All four tables are replaced together, per territory."""
    manifest = read_manifest(settings.raw_path)
    links = RawFolderLinks(settings.raw_path)

    def parses_as_stored(con, ids: list[str]) -> dict[str, str]:  # the parse, and where its file is and comes from
        return {t: fingerprint(CORE.name, sha, path, provenance_of(manifest, settings.raw_path, path or "", links))
                for t, sha, path in con.execute(
                    f"SELECT territory_id, p.sha256, d.path FROM (SELECT * FROM {PARSES} {by_keys(ids)}) p "
                    "LEFT JOIN raw.convention_documents d USING (territory_id)").fetchall()}

    def parses(con, todo: list[str]):
        return (con.execute(f"SELECT * FROM {PARSES} {by_keys(todo)}").pl(),
                con.execute(f"SELECT territory_id, path FROM raw.convention_documents {by_keys(todo)}").pl())

    def normalise(todo: list[str], read) -> StageResult:
        stored, documents = read
        return normalise_conventions(stored, documents, settings.raw_path)

    yield from materialise(context, warehouse, CORE, territory_keys(context, settings), reprocess=settings.reprocess,
                           current=parses_as_stored, read=parses, compute=normalise)


@asset_check(
    asset=convention_parses,
    description="Every territory's latest convention file was read and parsed (no rejection).",
)
def conventions_accepted(warehouse: ResourceParam[Warehouse]) -> AssetCheckResult:
    return rejections_check(warehouse, (*READ.rejects, *PARSE.rejects))


def rejections_check(warehouse: Warehouse, stages: tuple[str, ...]) -> AssetCheckResult:
    """Passes when no input of these stages is rejected; otherwise names the territories and problems."""
    with warehouse.connect() as con:
        ensure_tables(con)
        rows = con.execute(
            f"SELECT territory_id, stage, problem FROM {REJECTIONS} WHERE stage IN (SELECT unnest({id_list(stages)})) "
            "ORDER BY territory_id, stage, problem_no").fetchall()
    problems = [f"{tid} ({stage}): {problem}" for tid, stage, problem in rows]
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.ERROR,
        description="Rejected inputs keep their last good data; fix the files named below." if rows else None,
        metadata={"rejected_territories": len({r[0] for r in rows}),
                  "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems[:50]) or "none")},
    )
