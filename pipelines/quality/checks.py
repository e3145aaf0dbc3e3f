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
from qp_analytics.incremental import fingerprint, record, to_process
from qp_analytics.quality import CheckOutcome, validate_core, validate_marts
from qp_analytics.schema import MARTS, TABLES
from qp_analytics.territories import read_registry
from qp_analytics.warehouse import connect, ensure_tables, transaction

CHECK_NAME = "great_expectations"
VALIDATED = "core_validated"  # fingerprint stage: the core rows of a territory passed the suites
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


def _validate(settings: QpSettings, validate: Callable, tables: list[str], definitions) -> list[CheckOutcome]:
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    with connect(settings.warehouse_path) as con:
        ensure_tables(con)
        ensure_tables(con, tables=list(MARTS), definitions=MARTS)
        return validate(con, ids)


@multi_asset_check(specs=_specs(CORE_TABLES, "keys, codes, plausible and ordered dates, amounts, payments within "
                                             "grants, references between tables, one convention per territory"))
def core_quality(context: AssetCheckExecutionContext, settings: QpSettings) -> Iterator[AssetCheckResult]:
    """Validates the rows of the territories whose core rows changed since they last passed (and the whole
    registry): a territory validated with the same inputs, code and registry is not validated again."""
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    with connect(settings.warehouse_path) as con:
        ensure_tables(con)
        current = _core_fingerprints(con, ids)
        scope = to_process(con, VALIDATED, ids, current, (), everything=settings.reprocess)
        outcomes = validate_core(con, ids, scope)
        if not any(o.blocking and not o.passed for o in outcomes):
            with transaction(con):
                record(con, VALIDATED, {t: current[t] for t in scope if t in current})
    context.log.info(f"core rows validated for {len(scope)} of {len(ids)} territories (the others unchanged "
                     "since they last passed)")
    yield from _results(outcomes, CORE_TABLES, {"territories_validated": len(scope)})


def _core_fingerprints(con, ids: list[str]) -> dict[str, str]:
    """Per territory: what its core rows were built from (the core stages' fingerprints) and the registry."""
    stages: dict[str, list[tuple[str, str]]] = {}
    for tid, stage, value in con.execute(
            "SELECT territory_id, stage, fingerprint FROM staging.input_fingerprints WHERE stage IN "
            "('convention_core', 'roadmap_core', 'avenants') ORDER BY ALL").fetchall():
        stages.setdefault(tid, []).append((stage, value))
    registry = con.execute("SELECT * FROM core.territories ORDER BY territory_id").fetchall()
    return {t: fingerprint(VALIDATED, stages[t], [list(r) for r in registry]) for t in ids if t in stages}


@multi_asset_check(specs=_specs(list(MARTS), "every territory present, keys, ratios within [0, 1], row counts "
                                             "the definitions imply, one as_of, counts in order"))
def marts_quality(context: AssetCheckExecutionContext, settings: QpSettings) -> Iterator[AssetCheckResult]:
    yield from _results(_validate(settings, validate_marts, list(MARTS), MARTS), list(MARTS))
