"""Marts: the evaluation's indicators (DuckDB schema `marts`), then their publication as Parquet."""

import json
from collections.abc import Iterable
from pathlib import Path

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
    multi_asset,
)

from pipelines.metadata import column_lineage, column_schema
from pipelines.normalise.assets import core_conventions, territories
from pipelines.normalise.avenants import avenants
from pipelines.normalise.roadmaps import core_roadmaps
from pipelines.resources import QpSettings
from pipelines.stages import materialise
from qp_analytics.dictionary import columns_markdown, indicators_markdown, template_markdown
from qp_analytics.marts.compute import NATIONAL, national_mart, sources_digests, territory_marts
from qp_analytics.parallel import MIN_PARALLEL, worker_count
from qp_analytics.publication.release import CORE as RELEASED_CORE
from qp_analytics.publication.release import current_release, publish_release, unchanged_tables
from qp_analytics.reading.territories import read_registry
from qp_analytics.report.ahead import run_takes_pages_ahead, start_pages_ahead
from qp_analytics.report.charts import chart_modules_imported
from qp_analytics.schema import MARTS, release_name
from qp_analytics.warehouse.database import Warehouse, id_list, markdown_table, table_digests
from qp_analytics.warehouse.incremental import Stage, StageResult, StageRun, fingerprint, modules_version

CORE = [*core_conventions.keys, *core_roadmaps.keys, *territories.keys, *avenants.keys]


def _mart_metadata(name: str) -> dict:
    """What a mart's definition and each of its materialisations say of it: its columns, where it lives, and the
    core columns each of its columns is computed from."""
    return {"dagster/column_schema": column_schema(name, MARTS), "dagster/table_name": name,
            "dagster/column_lineage": MetadataValue.column_lineage(column_lineage(name, MARTS))}


# The marts by territory: a territory's rows computed again when its rows of the core tables the marts read
# (qp_analytics.marts.compute.SOURCES), as_of or the marts' code changed (its fingerprint), and removed when it
# leaves territories.csv. A refresh of one territory at 1,400 computed every territory's rows again (0.4 s).
TERRITORY_MARTS = tuple(name for name in MARTS if name != NATIONAL)
MARTS_STAGE = Stage("marts", TERRITORY_MARTS, definitions=MARTS, listed_only=True)
# The national mart, from every territory's rows of the marts above: computed on every run, written when it changed.
NATIONAL_STAGE = Stage(None, (NATIONAL,), whole=True, definitions=MARTS)


@multi_asset(
    specs=[AssetSpec(name.split("."), group_name="marts", deps=CORE, description=MARTS[name].description,
                     metadata=_mart_metadata(name), kinds={"duckdb"}) for name in MARTS],
)
def marts(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse]):
    """Every mart for every territory of territories.csv at the run's as_of: the territories whose inputs
    changed, then the national mart."""
    as_of = settings.as_of_date()
    ids = [t.territory_id for t in read_registry(settings.raw_path)]
    code = modules_version("marts")

    def current(con, considered: list[str]) -> dict[str, str]:  # what each territory's rows are computed from
        return {t: fingerprint("marts", as_of.isoformat(), code, digest)
                for t, digest in sources_digests(con, considered).items()}

    recomputed: list[str] = []

    def computed(con, todo: list[str]) -> StageResult:  # SQL over the core tables, in the warehouse
        recomputed.extend(todo)
        if not todo:
            return StageResult({name: MARTS[name].frame([]) for name in TERRITORY_MARTS}, [])
        return StageResult(territory_marts(con, todo, as_of), todo)

    def national(con, listed: list[str]) -> StageResult:  # from the marts by territory, as just written
        frames = [con.execute(f"SELECT * FROM {name} WHERE territory_id IN (SELECT unnest({id_list(listed)})) "
                              "ORDER BY territory_id").pl() for name in
                  ("marts.mart_timeliness", "marts.mart_partner_mobilisation", "marts.mart_good_practices")]
        return StageResult({NATIONAL: national_mart(con, listed, as_of, *frames)}, listed)

    def mart_metadata(con, name: str, run: StageRun) -> dict:
        columns = ", ".join(f'"{c}"' for c in list(MARTS[name].column_names)[:8])
        # the first rows by territory (or indicator): sorting a mart by all its columns took 0.13 s at 1,400
        shown = con.execute(f"SELECT {columns} FROM {name} ORDER BY 1 LIMIT 5").pl()
        return {**_mart_metadata(name), "dagster/row_count": con.execute(f"SELECT count(*) FROM {name}").fetchone()[0],
                "as_of": as_of.isoformat(), "computed_for": len(run.todo),
                "preview": MetadataValue.md(markdown_table(shown.columns, shown.rows(), 40))}

    results = materialise(context, warehouse, MARTS_STAGE, ids, current=current, read=computed,
                          metadata=mart_metadata, reprocess=settings.reprocess)
    results += materialise(context, warehouse, NATIONAL_STAGE, ids, read=national, metadata=mart_metadata)
    context.log.info(f"marts at as_of {as_of.isoformat()} for {len(ids)} territories")
    if len(recomputed) >= MIN_PARALLEL and worker_count() > 1 and run_takes_pages_ahead():
        # the report's pages these marts will show, drawn by a worker while the run checks and publishes them; the
        # marts read as published_marts reads them for the release
        with warehouse.connect(read_only=True) as con:
            frames = released_marts(con, MARTS)
        start_pages_ahead({release_name(name): frame for name, frame in frames.items()}, as_of, settings.report_path)
    elif recomputed and worker_count() > 1 and run_takes_pages_ahead() and not chart_modules_imported():
        # a few territories' marts (a refresh): the report draws a page or two and the national page, whose charts
        # need modules this process has not imported. A worker imports them now, on the core the checks leave
        # idle, and the report hands it the national page
        start_pages_ahead(None, as_of, settings.report_path)
    yield from sorted(results, key=lambda r: list(MARTS).index(".".join(r.asset_key.path)))


def released_marts(con, names: Iterable[str]) -> dict[str, pl.DataFrame]:
    """These marts' rows as a release holds them: by territory, each territory's in the order computed (its rows
    are written together; the territories computed again in a run come last in the table); the national mart as
    it is."""
    frames = {name: con.execute(f"SELECT * FROM {name}").pl() for name in names}
    return {name: frame if name == NATIONAL else frame.sort("territory_id", maintain_order=True)
            for name, frame in frames.items()}


@asset(
    key=["published", "marts"],
    group_name="publish",
    deps=[AssetKey(name.split(".")) for name in [*MARTS, *RELEASED_CORE]],
    kinds={"parquet"},
    description="The marts, the core tables (core_<table>) and their data dictionary as Parquet, with CSV, an "
                "Excel workbook of the marts and a Frictionless datapackage.json, in the marts folder, published "
                "atomically: `current` points at the last complete release.",
)
def published_marts(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse]
                    ) -> MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        digests = table_digests(con, [*MARTS, *RELEASED_CORE])
        # the tables the current release holds already (same rows, same writer): linked, not read and encoded
        kept = {} if settings.reprocess else unchanged_tables(settings.marts_dir, digests)
        frames = released_marts(con, [name for name in MARTS if name not in kept])
        # the core tables beside them, in the release's order (a territory's rows together)
        core = {name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").pl() for name in RELEASED_CORE
                if name not in kept}
        as_of = con.execute("SELECT any_value(as_of) FROM marts.mart_timeliness").fetchone()[0] \
            or settings.as_of_date()
    warehouse.checkpoint_now()  # the run's last write to it is behind (the marts' checks): written meanwhile
    before = current_release(settings.marts_dir)
    release = publish_release(settings.marts_dir, {**frames, **core}, as_of, run_id=context.run.run_id,
                              activate=settings.activate_release, reuse=not settings.reprocess, kept=kept,
                              digests=digests, exports_later=settings.exports_later)
    unchanged = before is not None and release.name == before.name
    if unchanged:
        context.log.info(f"the marts are those of the current release {release.name}: no new release")
    return MaterializeResult(metadata={
        "release": str(release), "as_of": str(as_of), "unchanged_release": unchanged,
        "files": MetadataValue.json({name: record["rows"] for name, record in _release_files(release).items()
                                     if name != "dictionary.parquet"}),
        "files_kept": len(kept),
        "dictionary": MetadataValue.md(columns_markdown()[:4000]),
        "national_indicators": MetadataValue.md(indicators_markdown()),
        "template_fields": MetadataValue.md(template_markdown()),
    })


def _release_files(release: Path) -> dict[str, dict]:
    """The files of a release's manifest (release.json): name -> its rows and SHA-256."""
    return json.loads((release / "release.json").read_text(encoding="utf-8"))["files"]
