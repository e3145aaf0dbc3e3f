"""Normalise: the avenants (amendments) that extend each territory's convention."""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    ResourceParam,
    asset,
    asset_check,
)

from pipelines.metadata import definition_metadata
from pipelines.normalise.assets import rejections_check
from pipelines.resources import ProgressSink, QpSettings
from pipelines.selection import territory_keys
from pipelines.stages import materialise, step_order
from qp_analytics.normalise.rows import avenant_index, provenance_of, read_avenants, registry_index
from qp_analytics.reading.manifest import read_manifest, sha256_of
from qp_analytics.reading.territories import RawFolderLinks
from qp_analytics.warehouse.database import Warehouse
from qp_analytics.warehouse.incremental import Stage, StageResult, fingerprint

AVENANTS = "core.avenants"
READ = Stage("avenants", (AVENANTS,), rejects=("avenant",))


@asset(
    key=["core", "avenants"],
    group_name="core",
    metadata=definition_metadata(AVENANTS),
    kinds={"duckdb", "pdf"},
    op_tags=step_order("avenants"),
)
def avenants(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
             progress: ResourceParam[ProgressSink]) -> Iterator[MaterializeResult]:
    """Each territory's avenants (`avenants/<territory_id>_avenant_<n>.txt|pdf`): number, months added or new
    end date, signature. A territory none of whose avenants can be read keeps its last good set."""
    keys = territory_keys(context, settings)
    manifest = read_manifest(settings.raw_path)
    index = avenant_index(settings.raw_path)
    registry = registry_index(settings.raw_path)
    links = RawFolderLinks(settings.raw_path)

    def current_fingerprint(tid: str) -> str:
        # a file leading out of the raw folder is never read, not even hashed (read_avenants rejects it)
        files = [(str(p), "outside" if links.outside(p) else sha256_of(p),
                  provenance_of(manifest, settings.raw_path, str(p), links)) for _, p in index.get(tid, [])]
        return fingerprint(READ.name, files, registry.identity(tid))

    def read(todo: list[str], _: None) -> StageResult:
        return read_avenants(settings.raw_path, todo, progress, settings.workers)

    yield from materialise(context, warehouse, READ, keys, reprocess=settings.reprocess,
                           current={tid: current_fingerprint(tid) for tid in keys}, compute=read)


@asset_check(asset=avenants, description="Every avenant file was read (no rejection).")
def avenants_accepted(warehouse: ResourceParam[Warehouse]) -> AssetCheckResult:
    return rejections_check(warehouse, READ.rejects)
