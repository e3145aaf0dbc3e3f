"""Keep the territory partitions in step with territories.csv (adding a territory is adding a row)."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from pipelines.partitions import territory_partitions
from pipelines.resources import QpSettings
from qp_analytics.territories import RegistryError, read_registry


@sensor(minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def territory_registry_sensor(context: SensorEvaluationContext, settings: QpSettings):
    """Registers a partition for each territory of territories.csv that Dagster does not know yet."""
    try:
        wanted = [t.territory_id for t in read_registry(settings.raw_path)]
    except RegistryError as exc:
        return SkipReason(f"territory registry unusable: {exc}")
    known = set(context.instance.get_dynamic_partitions(territory_partitions.name))
    new = [tid for tid in wanted if tid not in known]
    if not new:
        return SkipReason(f"all {len(wanted)} territories already registered")
    return SensorResult(dynamic_partitions_requests=[territory_partitions.build_add_request(new)])
