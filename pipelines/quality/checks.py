"""Great Expectations suites (qp_analytics.quality) as Dagster asset checks on the core tables and the marts.

They are blocking: when one fails, the marts downstream are not computed or not published, and readers keep
the previous publication. Each result names the expectations in words, with a sample of the failing values.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from pipelines.resources import QpSettings
from qp_analytics.incremental import fingerprint, record, to_process
from qp_analytics.quality import (
    CheckOutcome,
    core_contents,
    marts_content,
    registry_content,
    suites_version,
    validate_core,
    validate_marts,
)
from qp_analytics.schema import MARTS, TABLES
from qp_analytics.territories import read_registry
from qp_analytics.warehouse import connect, ensure_tables, transaction

CHECK_NAME = "great_expectations"
# fingerprint stages (staging.input_fingerprints): what passed the suites last, a SHA-256 of the rows and the
# suites' version; the registry and the marts are recorded under the territory id "*" (all of them)
VALIDATED = "core_validated"  # a territory's core rows
REGISTRY_VALIDATED = "registry_validated"  # core.territories and the ids of territories.csv
MARTS_VALIDATED = "marts_validated"  # every mart
ALL = "*"
CORE_TABLES = [name for name in TABLES if name.startswith("core.")]


def _specs(tables: list[str], what: str) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(CHECK_NAME, asset=AssetKey(name.split(".")), blocking=True,
                           description=f"Great Expectations suite of {name}: {what}") for name in tables]


def _results(outcomes: list[CheckOutcome], tables: list[str], extra: dict | None = None
             ) -> Iterator[AssetCheckResult]:
    for table in tables:
        mine = [o for o in outcomes if o.table == table]
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


@multi_asset_check(specs=_specs(CORE_TABLES, "keys, codes, plausible and ordered dates, amounts, payments within "
                                             "grants, references between tables, one convention per territory"))
def core_quality(context: AssetCheckExecutionContext, settings: QpSettings) -> Iterator[AssetCheckResult]:
    """Validates the rows of the territories whose core rows are not the rows that last passed (and the
    registry, if it changed): what passed the same suites with the same content is not validated again."""
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    version = suites_version()
    with connect(settings.warehouse_path) as con:
        ensure_tables(con)
        # a territory's rows are checked against the ids of territories.csv too (territory_known, reused_by_known)
        listed = fingerprint(REGISTRY_VALIDATED, sorted(ids))  # hashed once, not once per territory
        contents = {t: fingerprint(VALIDATED, version, c, listed) for t, c in core_contents(con).items()}
        scope = to_process(con, VALIDATED, sorted(contents), contents, (), everything=settings.reprocess)
        registry = {ALL: fingerprint(REGISTRY_VALIDATED, version, registry_content(con, ids))}
        registry_due = bool(to_process(con, REGISTRY_VALIDATED, [ALL], registry, (), everything=settings.reprocess))
        outcomes = validate_core(con, ids, scope, registry=registry_due)
        if all(o.passed for o in outcomes):  # a warning (non-blocking) is shown again until it is mended
            with transaction(con):
                record(con, VALIDATED, {t: contents[t] for t in scope})
                if registry_due:
                    record(con, REGISTRY_VALIDATED, registry)
    context.log.info(f"core rows validated for {len(scope)} of {len(contents)} territories (the others passed "
                     f"with the same rows before); registry {'validated' if registry_due else 'unchanged'}")
    yield from _results(outcomes, CORE_TABLES, {"territories_validated": len(scope),
                                                "registry_validated": registry_due})


@multi_asset_check(specs=_specs(list(MARTS), "every territory present, keys, ratios within [0, 1], row counts "
                                             "the definitions imply, one as_of, counts in order"))
def marts_quality(context: AssetCheckExecutionContext, settings: QpSettings) -> Iterator[AssetCheckResult]:
    """Validates the marts, unless the same rows passed the same suites before."""
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    with connect(settings.warehouse_path) as con:
        ensure_tables(con)
        ensure_tables(con, tables=list(MARTS), definitions=MARTS)
        content = {ALL: fingerprint(MARTS_VALIDATED, suites_version(), marts_content(con, ids))}
        due = bool(to_process(con, MARTS_VALIDATED, [ALL], content, (), everything=settings.reprocess))
        outcomes = validate_marts(con, ids, due=due)
        if due and all(o.passed for o in outcomes):
            with transaction(con):
                record(con, MARTS_VALIDATED, content)
    context.log.info("marts validated" if due else "marts unchanged since they passed: not validated again")
    yield from _results(outcomes, list(MARTS), {"validated": due})
