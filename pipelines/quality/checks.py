"""Great Expectations suites (qp_analytics.quality.suites) as Dagster asset checks on the core tables and the marts.

They are blocking: when one fails, the marts downstream are not computed or not published, and readers keep
the previous publication. Each result names the expectations in words, with a sample of the failing values.
"""

from collections.abc import Collection, Iterator, Sequence

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    ResourceParam,
    multi_asset_check,
)

from pipelines.resources import QpSettings
from qp_analytics.quality.suites import (
    ACROSS_MARTS,
    CheckOutcome,
    Validator,
    core_contents,
    core_frames,
    frame_contents,
    marts_contents,
    registry_content,
    run_validator,
    suites_version,
    validate_core,
    validate_marts,
)
from qp_analytics.reading.territories import read_registry
from qp_analytics.schema import MARTS, TABLES
from qp_analytics.warehouse.database import Warehouse, ensure_tables, id_list, transaction
from qp_analytics.warehouse.incremental import FINGERPRINTS, fingerprint, record_stages, to_process

CHECK_NAME = "great_expectations"
# fingerprint stages (staging.input_fingerprints): what passed the suites last, a digest of the rows and the
# suites' version. One stage per table: a change to one table's rows has only that table's suite run again.
# The registry and each mart are recorded under the territory id "*" (all of them).
VALIDATED = "core_validated"  # "core_validated:<table>": a territory's rows there (and those its checks read)
REGISTRY_VALIDATED = "registry_validated"  # core.territories and the ids of territories.csv
MARTS_VALIDATED = "marts_validated"  # "marts_validated:<mart>": the mart's rows and the territory ids
ALL = "*"
CORE_TABLES = [name for name in TABLES if name.startswith("core.")]
_ONE_STAGE = (VALIDATED, MARTS_VALIDATED)  # stages of earlier versions, one for all tables: superseded


def _stage(stage: str, table: str) -> str:
    return f"{stage}:{table}"


def _drop_superseded(con) -> None:
    con.execute(f"DELETE FROM {FINGERPRINTS} WHERE stage IN (SELECT unnest({id_list(_ONE_STAGE)}))")


def _passed_tables(outcomes: list[CheckOutcome]) -> set[str]:
    """The tables every outcome of which passed."""
    tables = {o.table for o in outcomes}
    return tables - {o.table for o in outcomes if not o.passed}


def _specs(tables: list[str], what: str) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(CHECK_NAME, asset=AssetKey(name.split(".")), blocking=True,
                           description=f"Great Expectations suite of {name}: {what}") for name in tables]


def check_results(outcomes: list[CheckOutcome], tables: list[str], extra: dict | None = None
                  ) -> Iterator[AssetCheckResult]:
    """The outcomes of the suites as one Dagster check result per table."""
    for table in tables:  # a check across the marts (one as_of) is shown under each of them
        mine = [o for o in outcomes if o.table == table or (o.table == ACROSS_MARTS and table in MARTS)]
        failed = [o for o in mine if not o.passed]
        lines = [f"| {'✅' if o.passed else '❌'} | {o.name} | {o.expectation} | {o.unexpected_count} | "
                 f"{str(o.sample)[:200].replace('|', '/')} |" for o in mine]
        yield AssetCheckResult(
            asset_key=AssetKey(table.split(".")),
            check_name=CHECK_NAME,
            passed=not failed,
            severity=AssetCheckSeverity.ERROR if any(o.blocking for o in failed) else AssetCheckSeverity.WARN,
            description="; ".join(f"{o.name}: {o.expectation}" for o in failed) or None,
            metadata={
                **(extra or {}),
                "expectations": len(mine),
                "failed": [o.name for o in failed],
                "failing_samples": MetadataValue.json({o.name: o.sample for o in failed}),
                "results": MetadataValue.md("| | check | expectation in words | unexpected | sample |\n"
                                            "|---|---|---|---|---|\n" + "\n".join(lines)),
            },
        )


def core_due(con, ids: list[str], version: str, reprocess: bool, tables: Collection[str] | None = None
             ) -> dict[str, dict[str, str]]:
    """Per core table but the registry (or those named): {territory: fingerprint} of the territories whose rows
    there (or those their checks read) are not the rows that last passed these suites."""
    # a territory's rows are checked against the ids of territories.csv too (territory_known, reused_by_known)
    listed = fingerprint(REGISTRY_VALIDATED, sorted(ids))  # hashed once, not once per territory
    due: dict[str, dict[str, str]] = {}
    for table, looked_at in frame_contents(core_contents(con)).items():
        if tables is not None and table not in tables:
            continue
        stage = _stage(VALIDATED, table)
        prints = {t: fingerprint(stage, version, parts, listed) for t, parts in looked_at.items()}
        due[table] = {t: prints[t] for t in to_process(con, stage, sorted(prints), prints, (), everything=reprocess)}
    return due


def check_ahead(settings: QpSettings, warehouse: Warehouse, tables: Sequence[str]) -> None:
    """Start the core checks of these tables now (ChecksAhead), as core_quality will run them: a step that
    wrote them calls it, and the run's validator works while the run goes on. Only in an in-process run with a
    validator (run_validator) that holds its warehouse open, once GX is imported there: before (a small run),
    the checks would wait for the import either way."""
    validator = run_validator()
    if validator is None or not validator.usable() or not warehouse.held or not validator.ready():
        return
    ids = [t.territory_id for t in read_registry(settings.raw_path)]

    def frames(con) -> list:
        due = core_due(con, ids, suites_version(), settings.reprocess, tables)
        return [f for f in core_frames(ids, {table: list(prints) for table, prints in due.items()}, registry=False)
                if f.table in due]

    validator.ahead.start(warehouse.connect, frames)


@multi_asset_check(specs=_specs(CORE_TABLES, "keys, codes, plausible and ordered dates, amounts, payments within "
                                             "grants, references between tables, one convention per territory"))
def core_quality(context: AssetCheckExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                 validator: ResourceParam[Validator | None]) -> Iterator[AssetCheckResult]:
    """Validates, table by table, the rows of the territories whose rows there (or those they refer to) are not
    the rows that last passed, and the registry if it changed: what passed the same suites with the same
    content is not validated again."""
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    version = suites_version()
    with warehouse.connect() as con:
        ensure_tables(con)
        due = core_due(con, ids, version, settings.reprocess)
        registry = {ALL: fingerprint(REGISTRY_VALIDATED, version, registry_content(con, ids))}
        registry_due = bool(to_process(con, REGISTRY_VALIDATED, [ALL], registry, (), everything=settings.reprocess))
        taken = len(validator.ahead.taken) if validator is not None else 0
        outcomes = validate_core(con, ids, {table: list(prints) for table, prints in due.items()},
                                 registry=registry_due, validator=validator)
        # each table's outcomes depend only on what its fingerprints cover: a table is recorded when all its
        # checks passed; one with a warning (non-blocking) is looked at again until it is mended
        passed = _passed_tables(outcomes)
        recorded = {_stage(VALIDATED, table): due[table] for table in sorted(passed & set(due))}
        if registry_due and "core.territories" in passed:
            recorded[REGISTRY_VALIDATED] = registry
        with transaction(con):
            _drop_superseded(con)
            record_stages(con, recorded)
        if validator is not None and len(validator.ahead.taken) > taken:
            context.log.info(f"{len(validator.ahead.taken) - taken} tables' checks were started when they were "
                             "written, on the same rows (taken from the validator)")
    territories = sorted({t for prints in due.values() for t in prints})
    tables = sorted(table for table, prints in due.items() if prints)
    context.log.info(f"core rows validated for {len(territories)} territories in {len(tables)} tables (the other "
                     f"rows passed before, the same); registry {'validated' if registry_due else 'unchanged'}")
    yield from check_results(outcomes, CORE_TABLES, {"territories_validated": len(territories),
                                                "tables_validated": len(tables),
                                                "registry_validated": registry_due})


@multi_asset_check(specs=_specs(list(MARTS), "every territory present, keys, ratios within [0, 1], row counts "
                                             "the definitions imply, one as_of, counts in order"))
def marts_quality(context: AssetCheckExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                  validator: ResourceParam[Validator | None]) -> Iterator[AssetCheckResult]:
    """Validates the marts whose rows are not the rows that last passed the same suites."""
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    version = suites_version()
    with warehouse.connect() as con:
        ensure_tables(con)
        ensure_tables(con, tables=list(MARTS), definitions=MARTS)
        contents = {name: {ALL: fingerprint(_stage(MARTS_VALIDATED, name), version, digest)}
                    for name, digest in marts_contents(con, ids).items()}
        due = [name for name, content in contents.items()
               if to_process(con, _stage(MARTS_VALIDATED, name), [ALL], content, (), everything=settings.reprocess)]
        outcomes = validate_marts(con, ids, due=due, validator=validator)
        passed = _passed_tables(outcomes)
        with transaction(con):
            _drop_superseded(con)
            # a mart's checks passed, and the one across the marts
            record_stages(con, {_stage(MARTS_VALIDATED, name): contents[name] for name in due
                                if name in passed and ACROSS_MARTS in passed})
    context.log.info(f"marts validated: {', '.join(due)}" if due else
                     "marts unchanged since they passed: not validated again")
    yield from check_results(outcomes, list(MARTS), {"validated": bool(due), "marts_validated": len(due)})
