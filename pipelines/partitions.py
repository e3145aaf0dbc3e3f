"""Territory is the partition: keys are the territory ids of territories.csv, registered at run time."""

from dagster import DynamicPartitionsDefinition

territory_partitions = DynamicPartitionsDefinition(name="territory")

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
