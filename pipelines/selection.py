"""Which territories a run works on.

The assets are not partitioned: each step works through the run's territories at once and keeps, per
territory, what it last processed (qp_analytics.warehouse.incremental), so a run over all territories reads only what
changed. Dagster then records one event per asset and run, whatever the number of territories (a partition per
territory made it store one per asset and territory: tens of thousands at 1,400, one by one).

A run's territories are, in order: those of its settings (`qp-analytics materialize --territory`), those of its
`qp/territories` tag (the sensor's runs, for the territories whose files changed), else every territory of
territories.csv (the schedule, the UI's Materialize all).
"""

from dagster import AssetExecutionContext

TERRITORIES_TAG = "qp/territories"


def territories_tag(territory_ids: list[str]) -> dict[str, str]:
    """The run tag naming a run's territories (comma-separated ids; ids are slugs, without commas)."""
    return {TERRITORIES_TAG: ",".join(territory_ids)}


def territory_keys(context: AssetExecutionContext, settings) -> list[str]:
    """The territories this step works on (see the module's docstring)."""
    if settings.territories:
        return list(settings.territories)
    tagged = context.run.tags.get(TERRITORIES_TAG) if context.run else None
    if tagged:
        return [t for t in tagged.split(",") if t]
    from qp_analytics.reading.territories import read_registry

    return [t.territory_id for t in read_registry(settings.raw_path)]
