"""The pipeline runs itself: a weekly full refresh, and a sensor that refreshes just the territories whose
files were added or changed (by content hash), with the marts downstream."""

import json

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    schedule,
    sensor,
)

from pipelines.partitions import RANGE_END_TAG, RANGE_START_TAG, territory_partitions
from pipelines.resources import QpSettings
from qp_analytics.raw_index import changed_paths, raw_fingerprints, territories_of
from qp_analytics.territories import RegistryError, read_registry

evaluation_refresh = define_asset_job(
    "evaluation_refresh", selection=AssetSelection.all(),
    description="Every asset: the territories' documents to the published marts, in one run.")


@schedule(job=evaluation_refresh, cron_schedule="0 6 * * 1", execution_timezone="Europe/Paris",
          default_status=DefaultScheduleStatus.RUNNING)
def weekly_refresh(context: ScheduleEvaluationContext):
    """Monday 06:00 Europe/Paris: all territories and the marts, one run over every partition."""
    keys = context.instance.get_dynamic_partitions(territory_partitions.name)
    if not keys:
        return SkipReason("no territory registered yet (the raw files sensor registers them)")
    return RunRequest(run_key=f"weekly-{context.scheduled_execution_time:%Y-%m-%d}",
                      tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]})


@sensor(job=evaluation_refresh, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
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
