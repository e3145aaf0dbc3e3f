"""The pipeline runs itself: a weekly full refresh in one batch run, and a sensor that refreshes just the
territories whose files were added or changed (by content hash), with the marts downstream."""

import json
from collections.abc import Iterator
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Failure,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    job,
    op,
    schedule,
    sensor,
)

from pipelines.partitions import territory_partitions
from pipelines.resources import QpSettings
from qp_analytics.raw_index import changed_paths, raw_fingerprints, territories_of
from qp_analytics.territories import RegistryError, read_registry

evaluation_refresh = define_asset_job(
    "evaluation_refresh", selection=AssetSelection.all(),
    description="Every asset: the territories' documents to the published marts, in one run.")


@op(out={})
def materialize_every_territory(context: OpExecutionContext, settings: QpSettings) -> Iterator[AssetMaterialization]:
    """Every territory of territories.csv (or the settings' territories) and the marts, in one batch run: the
    run `qp-analytics materialize` makes (pipelines.run), on the folders of the settings."""
    from pipelines.run import RunOptions, RunRequestError, run_pipeline

    options = RunOptions(report_dir=Path(settings.report_dir) if settings.report_dir else None,
                         reprocess=settings.reprocess, workers=settings.workers)
    try:
        summary = run_pipeline(settings.raw_path, settings.warehouse_path, Path(settings.marts_dir),
                               settings.as_of_date(), list(settings.territories), echo=context.log.info,
                               options=options)
    except (RunRequestError, RegistryError) as exc:
        raise Failure(description=str(exc)) from None
    report = summary.render()
    for line in report.splitlines():
        context.log.info(line)
    if summary.release is not None:  # published (and current), even when some input was rejected
        yield AssetMaterialization(asset_key=AssetKey(["published", "marts"]), metadata={
            "release": str(summary.release), "unchanged_release": summary.release_unchanged,
            "territories": len(summary.territories), "summary": MetadataValue.md(f"```\n{report}\n```")})
    if summary.exit_code != 0:  # as the command's exit status: rejected inputs, failed steps or checks
        raise Failure(description=report, metadata={
            "rejected": [f"{t} ({stage}): {problem}" for t, stage, problem in summary.rejections],
            "failed_steps": summary.failures, "failed_checks": summary.failed_quality,
            "published": summary.release is not None})


@job(description="Every territory and the marts in one batch run (the run of `qp-analytics materialize`): one "
                 "Dagster event per asset, where a run over every partition stores one per asset and territory "
                 "(at 140 territories: 23 s against 144 s inside the job, benchmarks/dagster_jobs.py).")
def evaluation_batch():
    materialize_every_territory()


@schedule(job=evaluation_batch, cron_schedule="0 6 * * 1", execution_timezone="Europe/Paris",
          default_status=DefaultScheduleStatus.RUNNING,
          description="Every Monday at 06:00 (Europe/Paris): every territory of territories.csv and the marts, "
                      "in one batch run; the marts' freshness policy expects it by 08:00.")
def weekly_refresh(context: ScheduleEvaluationContext, settings: QpSettings):
    """Monday 06:00 Europe/Paris: all territories and the marts, in one batch run."""
    try:
        if not read_registry(settings.raw_path):
            return SkipReason(f"{settings.raw_path / 'territories.csv'} lists no territory")
    except RegistryError as exc:
        return SkipReason(f"territory registry unusable: {exc}")
    return RunRequest(run_key=f"weekly-{context.scheduled_execution_time:%Y-%m-%d}")


@sensor(job=evaluation_refresh, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Every minute, the raw folder by content (sha256): each territory whose files were added, "
                    "changed or removed gets a run of its own (its partition and the marts); a new row of "
                    "territories.csv becomes a partition.")
def raw_files_sensor(context: SensorEvaluationContext, settings: QpSettings):
    """Watches the raw folder by content (sha256): a territory whose files were added, changed or removed gets
    a run of its own (its partition and the marts). New rows of territories.csv become partitions. The first
    evaluation only records the folder as it is."""
    try:
        known = [t.territory_id for t in read_registry(settings.raw_path)]
    except RegistryError as exc:
        return SkipReason(f"territory registry unusable: {exc}")
    current = raw_fingerprints(settings.raw_path)
    registered = set(context.instance.get_dynamic_partitions(territory_partitions.name))
    new = [t for t in known if t not in registered]
    partitions = [territory_partitions.build_add_request(new)] if new else []
    if context.cursor is None:
        return SensorResult(dynamic_partitions_requests=partitions, cursor=json.dumps(current),
                            skip_reason=f"first look at {settings.raw_dir}: {len(current)} files recorded")
    changed = changed_paths(json.loads(context.cursor), current)
    affected = territories_of(changed, known)
    affected += [t for t in new if t not in affected]
    runs = [RunRequest(run_key=f"{tid}:{_digest(current, tid)}", partition_key=tid) for tid in affected]
    return SensorResult(run_requests=runs, dynamic_partitions_requests=partitions, cursor=json.dumps(current),
                        skip_reason=None if runs else f"{len(changed)} changed files, no territory to refresh")


def _digest(fingerprints: dict[str, str], territory_id: str) -> str:
    """A key for a territory's files as they are now: the same content never launches twice."""
    import hashlib

    mine = sorted(f"{p}={h}" for p, h in fingerprints.items() if territories_of([p], [territory_id]))
    return hashlib.sha256("\n".join(mine).encode()).hexdigest()[:16]
