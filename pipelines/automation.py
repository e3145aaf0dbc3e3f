"""The pipeline runs itself: every territory each Monday, and the territories whose files were added, changed or
removed (by content hash) as soon as the sensor sees them, each time with the marts downstream. Both run the one
job of the graph (pipelines.jobs.evaluation_refresh) on the instance of the UI."""

import hashlib
import json

from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from pipelines.jobs import evaluation_refresh
from pipelines.resources import QpSettings
from pipelines.selection import territories_tag
from qp_analytics.reading.raw_index import changed_paths, raw_fingerprints, territories_of
from qp_analytics.reading.territories import RegistryError, read_registry


@schedule(job=evaluation_refresh, cron_schedule="0 6 * * 1", execution_timezone="Europe/Paris",
          default_status=DefaultScheduleStatus.RUNNING,
          description="Every Monday at 06:00 (Europe/Paris): every territory of territories.csv and the marts, "
                      "in one run; the marts' freshness policy expects it by 08:00.")
def weekly_refresh(context: ScheduleEvaluationContext, settings: QpSettings):
    """Monday 06:00 Europe/Paris: all territories and the marts, in one run."""
    try:
        if not read_registry(settings.raw_path):
            return SkipReason(f"{settings.raw_path / 'territories.csv'} lists no territory")
    except RegistryError as exc:
        return SkipReason(f"territory registry unusable: {exc}")
    return RunRequest(run_key=f"weekly-{context.scheduled_execution_time:%Y-%m-%d}")


@sensor(job=evaluation_refresh, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Every minute, the raw folder by content (sha256): the territories whose files were added, "
                    "changed or removed, and new rows of territories.csv, get one run (them and the marts).")
def raw_files_sensor(context: SensorEvaluationContext, settings: QpSettings):
    """Watches the raw folder by content (sha256): the territories whose files were added, changed or removed,
    and those territories.csv gained, get one run together, named in its qp/territories tag, with the marts
    downstream. The first evaluation only records the folder as it is."""
    try:
        known = [t.territory_id for t in read_registry(settings.raw_path)]
    except RegistryError as exc:
        return SkipReason(f"territory registry unusable: {exc}")
    current = raw_fingerprints(settings.raw_path)
    cursor = json.dumps({"files": current, "territories": known})
    if context.cursor is None:
        return SensorResult(cursor=cursor, skip_reason=f"first look at {settings.raw_dir}: {len(current)} files "
                                                       f"and {len(known)} territories recorded")
    before = json.loads(context.cursor)
    changed = changed_paths(before["files"], current)
    affected = territories_of(changed, known)
    affected += [t for t in known if t not in before["territories"] and t not in affected]
    if not affected:
        return SensorResult(cursor=cursor, skip_reason=f"{len(changed)} changed files, no territory to refresh")
    key = hashlib.sha256(" ".join(f"{t}:{_digest(current, t)}" for t in sorted(affected)).encode()).hexdigest()[:16]
    run = RunRequest(run_key=key, tags=territories_tag(affected))
    return SensorResult(run_requests=[run], cursor=cursor)


def _digest(fingerprints: dict[str, str], territory_id: str) -> str:
    """A key for a territory's files as they are now: the same content never launches twice."""
    mine = sorted(f"{p}={h}" for p, h in fingerprints.items() if territories_of([p], [territory_id]))
    return hashlib.sha256("\n".join(mine).encode()).hexdigest()[:16]
