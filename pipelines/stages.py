"""An incremental stage (qp_analytics.warehouse.incremental.run_stage) as a Dagster step: its log lines and one
materialisation per table it writes, with the table's metadata."""

from collections.abc import Callable, Sequence
from typing import Any

import duckdb
from dagster import AssetExecutionContext, AssetKey, MaterializeResult

from pipelines.metadata import run_metadata
from qp_analytics.warehouse.database import Warehouse
from qp_analytics.warehouse.incremental import Stage, StageRun, run_stage

TableMetadata = Callable[[duckdb.DuckDBPyConnection, str, StageRun], dict]

# The order of an in-process run's steps where the graph leaves it open (Dagster runs the ready step of highest
# "dagster/priority" first; the others have 0): the avenants and the registry, the roadmaps checked, the
# conventions read, whose parses start meanwhile in the run's workers (qp_analytics.parallel.start_ahead), then
# the roadmaps normalised by the run's process while the workers parse, and only then the parses taken.
STEP_ORDER = {"avenants": 4, "territories": 4, "roadmap_parses": 3, "convention_documents": 2, "core_roadmaps": 1}


def step_order(name: str) -> dict[str, str]:
    """The op tags that give a step its place in STEP_ORDER."""
    return {"dagster/priority": str(STEP_ORDER[name])}


def stage_metadata(con: duckdb.DuckDBPyConnection, table: str, run: StageRun) -> dict:
    """A table's metadata after a stage wrote it: rows of the accepted territories, table total, a preview; how
    many territories were unchanged (an incremental stage), which were rejected (a stage that records
    rejections), and what else the stage noted (e.g. the territories without a roadmap)."""
    extra: dict[str, Any] = {}
    if run.stage.name is not None:
        extra["unchanged"] = run.unchanged
    if run.stage.rejects:
        extra["rejected"] = run.rejected
    return run_metadata(con, table, run.result.accepted, **extra, **run.result.notes)


def materialise(context: AssetExecutionContext, warehouse: Warehouse, stage: Stage, keys: Sequence[str], *,
                reprocess: bool = False, metadata: TableMetadata = stage_metadata, **phases: Any
                ) -> list[MaterializeResult]:
    """Run the stage over these territories (`phases`: what run_stage takes, what its inputs are and how to
    compute its rows) and say what it did: the territories unchanged and those rejected in the step's log, one
    materialisation per table with its metadata (drawn in the write's transaction)."""
    run = run_stage(warehouse, stage, keys, everything=reprocess,
                    describe=lambda con, run: {table: metadata(con, table, run) for table in stage.tables}, **phases)
    if run.unchanged:
        context.log.info(f"{run.unchanged} of {len(run.considered)} territories unchanged since {stage.name} last "
                         "processed them (same inputs, same code): not processed again")
    for r in run.result.rejections:
        more = f" (and {len(r.problems) - 3} more problems)" if len(r.problems) > 3 else ""
        context.log.warning(f"{r.territory_id}: rejected at {r.stage}: {'; '.join(r.problems[:3])}{more}")
    return [MaterializeResult(asset_key=AssetKey(table.split(".")), metadata=run.described[table])
            for table in stage.tables]
