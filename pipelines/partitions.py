"""Territory is the partition: keys are the territory ids of territories.csv, registered at run time.

The same assets also exist without partitions (pipelines.batch), for `qp-analytics materialize`: a batch of
territories is then named in the run's settings, and Dagster records one event per asset, not one per asset
and territory (tens of thousands at 1,400 territories, stored one by one).
"""

from dagster import AssetExecutionContext, AssetsDefinition, DynamicPartitionsDefinition

territory_partitions = DynamicPartitionsDefinition(name="territory")

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def territory_keys(context: AssetExecutionContext, settings) -> list[str]:
    """The territories this step works on: its partitions, or in a batch run the settings' territories."""
    if context.has_partition_key_range or context.has_partition_key:
        return list(context.partition_keys)
    if settings.territories:
        return list(settings.territories)
    from qp_analytics.territories import read_registry

    return [t.territory_id for t in read_registry(settings.raw_path)]


def without_partitions(assets_def: AssetsDefinition) -> AssetsDefinition:
    """The same asset(s), unpartitioned: for batch runs (see the module's docstring)."""
    if assets_def.partitions_def is None:
        return assets_def
    return assets_def.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=None))
