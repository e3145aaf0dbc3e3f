"""Ingest: each territory's convention file, read as text (the first stop of a document's journey)."""

from dagster import AssetExecutionContext, MaterializeResult, ResourceParam, asset

from pipelines.metadata import definition_metadata, run_metadata
from pipelines.resources import ProgressSink, QpSettings, step_reporter
from pipelines.selection import territory_keys
from qp_analytics.normalise.rows import read_conventions, rejection_rows
from qp_analytics.reading.manifest import sha256_of
from qp_analytics.reading.territories import MissingFile, convention_path, read_registry
from qp_analytics.warehouse.database import Warehouse, ensure_tables, replace_rows
from qp_analytics.warehouse.incremental import fingerprint, record, to_process

DOCUMENTS = "raw.convention_documents"
STAGE = "convention_read"


@asset(
    key=["raw", "convention_documents"],
    group_name="raw",
    metadata=definition_metadata(DOCUMENTS),
    kinds={"duckdb", "pdf"},
)
def convention_documents(context: AssetExecutionContext, settings: QpSettings, warehouse: ResourceParam[Warehouse],
                         progress: ResourceParam[ProgressSink]) -> MaterializeResult:
    """Each territory's convention d'engagement as read from `conventions/<territory_id>.pdf|txt`: the
    extracted text (pages separated by form feeds), its sha256 and page count. A file that is missing,
    duplicated or unreadable is recorded in staging.rejections and the territory keeps its last good row.
    A file unchanged since it was last read (same path, same sha256, same code) is not read again."""
    keys = territory_keys(context, settings)
    known = [t.territory_id for t in read_registry(settings.raw_path)]

    report = step_reporter(context.log, progress)

    current = {}  # territory -> fingerprint of its convention file as it is now
    for tid in set(keys) & set(known):
        try:
            path = convention_path(settings.raw_path, tid)
            current[tid] = fingerprint(STAGE, str(path), sha256_of(path))
        except (MissingFile, OSError):
            continue  # read_conventions rejects it with the reason
    with warehouse.connect() as con:
        ensure_tables(con)
        todo = to_process(con, STAGE, keys, current, ("registry", "read"), everything=settings.reprocess)
    if len(todo) < len(keys):
        context.log.info(f"{len(keys) - len(todo)} conventions unchanged (same file, same sha256): not read again")
    result = read_conventions(settings.raw_path, todo, known, report, settings.workers)
    for r in result.rejections:
        context.log.warning(f"{r.territory_id}: rejected at {r.stage}: {'; '.join(r.problems)}")
    rows = result.rows[DOCUMENTS]
    done = {t: fingerprint(STAGE, p, sha) for t, p, sha in rows.select("territory_id", "path", "sha256").iter_rows()}
    with warehouse.transaction() as con:
        replace_rows(con, DOCUMENTS, result.accepted, rows)
        replace_rows(con, "staging.rejections", todo, rejection_rows(result.rejections),
                     " AND stage IN ('registry', 'read')")
        record(con, STAGE, done)
        metadata = run_metadata(con, DOCUMENTS, result.accepted, unchanged=len(keys) - len(todo),
                                rejected=[r.territory_id for r in result.rejections])
    return MaterializeResult(metadata=metadata)
