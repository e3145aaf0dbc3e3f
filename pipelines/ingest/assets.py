"""Ingest: each territory's convention file, read as text (the first stop of a document's journey)."""

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, ResourceParam, asset

from pipelines.metadata import definition_metadata, run_metadata
from pipelines.partitions import territory_partitions
from pipelines.resources import ProgressSink, QpSettings
from qp_analytics.ingest import read_conventions, rejection_rows
from qp_analytics.territories import read_registry
from qp_analytics.warehouse import connect, ensure_tables, replace_rows, transaction

DOCUMENTS = "raw.convention_documents"


@asset(
    key=["raw", "convention_documents"],
    group_name="raw",
    partitions_def=territory_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    metadata=definition_metadata(DOCUMENTS),
    kinds={"duckdb", "pdf"},
)
def convention_documents(context: AssetExecutionContext, settings: QpSettings,
                         progress: ResourceParam[ProgressSink]) -> MaterializeResult:
    """Each territory's convention d'engagement as read from `conventions/<territory_id>.pdf|txt`: the
    extracted text (pages separated by form feeds), its sha256 and page count. A file that is missing,
    duplicated or unreadable is recorded in staging.rejections and the territory keeps its last good row."""
    keys = list(context.partition_keys)
    known = [t.territory_id for t in read_registry(settings.raw_path)]

    def report(stage: str, done: int, total: int, tid: str) -> None:
        context.log.debug(f"{stage} {done}/{total} {tid}")
        progress(stage, done, total, tid)

    result = read_conventions(settings.raw_path, keys, known, report)
    for r in result.rejections:
        context.log.warning(f"{r.territory_id}: rejected at {r.stage}: {'; '.join(r.problems)}")
    with connect(settings.warehouse_path) as con, transaction(con):
        ensure_tables(con)
        replace_rows(con, DOCUMENTS, result.accepted, result.rows[DOCUMENTS])
        replace_rows(con, "staging.rejections", keys, rejection_rows(result.rejections),
                     " AND stage IN ('registry', 'read')")
        metadata = run_metadata(con, DOCUMENTS, result.accepted,
                                rejected=[r.territory_id for r in result.rejections])
    return MaterializeResult(metadata=metadata)
