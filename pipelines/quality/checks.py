"""Great Expectations suites (qp_analytics.quality) as Dagster asset checks on the core tables and the marts.

They are blocking: when one fails, the marts downstream are not computed or not published, and readers keep
the previous publication. Each result names the expectations in words, with a sample of the failing values.
"""

from collections.abc import Callable, Iterator

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
from qp_analytics.quality import CheckOutcome, validate_core, validate_marts
from qp_analytics.schema import MARTS, TABLES
from qp_analytics.territories import read_registry
from qp_analytics.warehouse import connect, ensure_tables

CHECK_NAME = "great_expectations"
CORE_TABLES = [name for name in TABLES if name.startswith("core.")]


def _specs(tables: list[str], what: str) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(CHECK_NAME, asset=AssetKey(name.split(".")), blocking=True,
                           description=f"Great Expectations suite of {name}: {what}") for name in tables]


def _results(outcomes: list[CheckOutcome], tables: list[str]) -> Iterator[AssetCheckResult]:
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
                "expectations": len(mine),
                "failed": [o.name for o in failed],
                "failing_samples": MetadataValue.json({o.name: o.sample for o in failed}),
                "results": MetadataValue.md("| | check | expectation in words | unexpected | sample |\n"
                                            "|---|---|---|---|---|\n" + "\n".join(lines)),
            },
        )


def _validate(settings: QpSettings, validate: Callable, tables: list[str], definitions) -> list[CheckOutcome]:
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    with connect(settings.warehouse_path) as con:
        ensure_tables(con)
        ensure_tables(con, tables=list(MARTS), definitions=MARTS)
        return validate(con, ids)


@multi_asset_check(specs=_specs(CORE_TABLES, "keys, codes, plausible and ordered dates, amounts, payments within "
                                             "grants, references between tables, one convention per territory"))
def core_quality(context: AssetCheckExecutionContext, settings: QpSettings) -> Iterator[AssetCheckResult]:
    yield from _results(_validate(settings, validate_core, CORE_TABLES, TABLES), CORE_TABLES)


@multi_asset_check(specs=_specs(list(MARTS), "every territory present, keys, ratios within [0, 1], row counts "
                                             "the definitions imply, one as_of, counts in order"))
def marts_quality(context: AssetCheckExecutionContext, settings: QpSettings) -> Iterator[AssetCheckResult]:
    yield from _results(_validate(settings, validate_marts, list(MARTS), MARTS), list(MARTS))
