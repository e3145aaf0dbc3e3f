"""Ingest: each territory's convention file, read as text (the first stop of a document's journey)."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, MaterializeResult, ResourceParam, asset

from pipelines.metadata import definition_metadata
from pipelines.resources import ProgressSink, QpSettings, step_reporter
from pipelines.selection import territory_keys
from pipelines.stages import materialise, step_order
from qp_analytics.normalise.rows import read_conventions
from qp_analytics.reading.manifest import sha256_of
from qp_analytics.reading.territories import ListedFolder, MissingFile, RawFolderLinks, convention_path, read_registry
from qp_analytics.warehouse.database import Warehouse
from qp_analytics.warehouse.incremental import Stage, fingerprint

DOCUMENTS = "raw.convention_documents"
# a file is read again when its path or bytes changed, or when it was rejected (unknown territory, unreadable)
READ = Stage("convention_read", (DOCUMENTS,), rejects=("registry", "read"))


@asset(
    key=["raw", "convention_documents"],
    group_name="raw",
    metadata=definition_metadata(DOCUMENTS),
    kinds={"duckdb", "pdf"},
    op_tags=step_order("convention_documents"),
)
def convention_documents(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                         progress: ResourceParam[ProgressSink]) -> Iterator[MaterializeResult]:
    """Each territory's convention d'engagement as read from `conventions/<territory_id>.pdf|txt`: the
    extracted text (pages separated by form feeds), its sha256 and page count. A file that is missing,
    duplicated or unreadable is recorded in staging.rejections and the territory keeps its last good row.
    A file unchanged since it was last read (same path, same sha256, same code) is not read again."""
    keys = territory_keys(context, settings)
    known = [t.territory_id for t in read_registry(settings.raw_path)]
    report = step_reporter(context.log, progress)

    current = {}  # territory -> fingerprint of its convention file as it is now (hashed before the warehouse opens)
    paths = {}  # territory -> its convention file, handed to the read (not looked for twice)
    listed, links = ListedFolder(settings.raw_path / "conventions"), RawFolderLinks(settings.raw_path)
    for tid in set(keys) & set(known):
        try:
            path = paths[tid] = convention_path(settings.raw_path, tid, listed, links)
            current[tid] = fingerprint(READ.name, str(path), sha256_of(path))
        except (MissingFile, OSError):
            continue  # read_conventions rejects it with the reason

    def read_files(todo: list[str], _: None):
        return read_conventions(settings.raw_path, todo, known, report, settings.workers, paths)

    def what_was_read(result) -> dict[str, str]:  # the bytes read, which may have changed since they were hashed
        return {t: fingerprint(READ.name, path, sha)
                for t, path, sha in result.rows[DOCUMENTS].select("territory_id", "path", "sha256").iter_rows()}

    yield from materialise(context, warehouse, READ, keys, reprocess=settings.reprocess, current=current,
                           compute=read_files, processed=what_was_read)
