"""Normalise: conventions parsed (staging) and loaded into typed, keyed tables (core)."""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
    asset_check,
    multi_asset,
)

from pipelines.metadata import definition_metadata, run_metadata
from pipelines.reading.assets import convention_documents
from pipelines.resources import ProgressSink, QpSettings, step_reporter
from pipelines.selection import territory_keys
from qp_analytics.normalise.rows import (
    StageResult,
    normalise_conventions,
    parse_documents,
    provenance_of,
    registry_index,
    registry_rows,
    rejection_rows,
)
from qp_analytics.reading.manifest import read_manifest
from qp_analytics.reading.territories import read_registry
from qp_analytics.schema import TABLES
from qp_analytics.warehouse.database import Warehouse, ensure_tables, replace_rows
from qp_analytics.warehouse.incremental import fingerprint, record, to_process

PARSES = "staging.convention_parses"
CORE_CONVENTION_TABLES = ("core.conventions", "core.convention_commitments", "core.convention_field_sources",
                          "core.convention_warnings")
PARSE_STAGE, CORE_STAGE = "convention_parse", "convention_core"
_BY_KEYS = "WHERE territory_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY territory_id"


def accepted_keys(con, keys: list[str], stages: tuple[str, ...]) -> list[str]:
    """The run's territories whose input was not rejected at these stages: a rejected territory's rows are
    left exactly as they were (its last good data), not rebuilt from its older inputs."""
    rejected = {r[0] for r in con.execute(
        "SELECT DISTINCT territory_id FROM staging.rejections WHERE stage IN (SELECT unnest(?::VARCHAR[]))",
        [list(stages)]).fetchall()}
    return [k for k in keys if k not in rejected]


@asset(
    key=["staging", "convention_parses"],
    group_name="staging",
    deps=[convention_documents],
    metadata=definition_metadata(PARSES),
    kinds={"duckdb"},
)
def convention_parses(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                      progress: ResourceParam[ProgressSink]) -> MaterializeResult:
    """Each convention parsed: every field with the page, offsets and sentence it was read from (the same
    object as `qp-analytics parse convention --json`). A convention lacking a required field, or naming another
    intercommunalité than its territory's in territories.csv, is recorded in staging.rejections and the
    territory keeps its last good parse."""
    keys = territory_keys(context, settings)

    report = step_reporter(context.log, progress)

    registry = registry_index(settings.raw_path)  # the document must name its territory's intercommunalité
    with warehouse.connect() as con:
        ensure_tables(con)
        read = accepted_keys(con, keys, ("registry", "read"))
        current = {t: fingerprint(PARSE_STAGE, sha, registry.identity(t)) for t, sha in con.execute(
            f"SELECT territory_id, sha256 FROM raw.convention_documents {_BY_KEYS}", [read]).fetchall()}
        todo = to_process(con, PARSE_STAGE, read, current, ("parse",), everything=settings.reprocess)
        documents = con.execute(f"SELECT * FROM raw.convention_documents {_BY_KEYS}", [todo]).pl()
    # parsed without holding the warehouse: other steps may use it meanwhile
    result = parse_documents(documents, report, settings.workers, registry)
    for r in result.rejections:
        context.log.warning(f"{r.territory_id}: rejected at parse: {'; '.join(r.problems)}")
    done = {t: current[t] for t in result.accepted}
    read_ids = set(read)
    not_read = [k for k in keys if k not in read_ids]
    with warehouse.transaction() as con:
        replace_rows(con, PARSES, result.accepted, result.rows[PARSES])
        replace_rows(con, "staging.rejections", [*todo, *not_read], rejection_rows(result.rejections),
                     " AND stage = 'parse'")
        record(con, PARSE_STAGE, done)
        metadata = run_metadata(con, PARSES, result.accepted, unchanged=len(read) - len(todo),
                                rejected=[r.territory_id for r in result.rejections])
    return MaterializeResult(metadata=metadata)


@asset(
    key=["core", "territories"],
    group_name="core",
    metadata=definition_metadata("core.territories"),
    kinds={"duckdb"},
)
def territories(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse]
                ) -> MaterializeResult:
    """The territory registry (territories.csv): name, SIREN and département of each intercommunalité."""
    keys = territory_keys(context, settings)
    registry = [t for t in read_registry(settings.raw_path) if t.territory_id in set(keys)]
    with warehouse.transaction() as con:
        ensure_tables(con)
        replace_rows(con, "core.territories", keys, registry_rows(registry))
        metadata = run_metadata(con, "core.territories", keys)
    return MaterializeResult(metadata=metadata)


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
    with warehouse.connect() as con:
        ensure_tables(con)
        keys = accepted_keys(con, territory_keys(context, settings), ("registry", "read", "parse"))
        documents = con.execute(f"SELECT territory_id, path FROM raw.convention_documents {_BY_KEYS}", [keys]).pl()
        paths = dict(documents.iter_rows())
        parsed = con.execute(f"SELECT territory_id, sha256 FROM {PARSES} {_BY_KEYS}", [keys]).fetchall()
        current = {t: fingerprint(CORE_STAGE, sha, paths.get(t),
                                  provenance_of(manifest, settings.raw_path, paths.get(t, "")))
                   for t, sha in parsed}
        todo = to_process(con, CORE_STAGE, keys, current, (), everything=settings.reprocess)
        parses = con.execute(f"SELECT * FROM {PARSES} {_BY_KEYS}", [todo]).pl()
    result = normalise_conventions(parses, documents, settings.raw_path)
    done = {t: current[t] for t in result.accepted}
    yield from store_core(warehouse, CORE_STAGE, CORE_CONVENTION_TABLES, result, done, unchanged=len(keys) - len(todo))


def store_core(warehouse: Warehouse, stage: str, tables: tuple[str, ...], result: StageResult,
               done: dict[str, str], unchanged: int) -> Iterator[MaterializeResult]:
    """Replace the accepted territories' rows of these core tables and record what they were built from, in
    one transaction; then one materialisation per table."""
    with warehouse.transaction() as con:
        for name in tables:
            replace_rows(con, name, result.accepted, result.rows[name])
        record(con, stage, done)
        metadata = {name: run_metadata(con, name, result.accepted, unchanged=unchanged) for name in tables}
    for name in tables:
        yield MaterializeResult(asset_key=AssetKey(name.split(".")), metadata=metadata[name])


@asset_check(
    asset=convention_parses,
    description="Every territory's latest convention file was read and parsed (no rejection).",
)
def conventions_accepted(warehouse: ResourceParam[Warehouse]) -> AssetCheckResult:
    return rejections_check(warehouse, ("registry", "read", "parse"))


def rejections_check(warehouse: Warehouse, stages: tuple[str, ...]) -> AssetCheckResult:
    """Passes when no input of these stages is rejected; otherwise names the territories and problems."""
    with warehouse.connect() as con:
        ensure_tables(con)
        rows = con.execute(
            "SELECT territory_id, stage, problem FROM staging.rejections WHERE stage IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY territory_id, stage, problem_no", [list(stages)]
        ).fetchall()
    problems = [f"{tid} ({stage}): {problem}" for tid, stage, problem in rows]
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.ERROR,
        description="Rejected inputs keep their last good data; fix the files named below." if rows else None,
        metadata={"rejected_territories": len({r[0] for r in rows}),
                  "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems[:50]) or "none")},
    )
