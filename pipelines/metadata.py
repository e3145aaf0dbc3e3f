"""Dagster metadata drawn from the one schema definition (qp_analytics.schema)."""

from collections.abc import Mapping, Sequence
from datetime import timedelta

import duckdb
from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    FreshnessPolicy,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
)

from qp_analytics.schema import TABLES, Table
from qp_analytics.warehouse.database import count_rows, preview
from qp_analytics.warehouse.incremental import modules_version


def column_schema(table_name: str, tables: Mapping[str, Table] = TABLES) -> TableSchema:
    table = tables[table_name]
    return TableSchema(columns=[
        TableColumn(c.name, c.type, description=c.description,
                    constraints=TableColumnConstraints(nullable=c.nullable and not c.key))
        for c in table.columns
    ])


def column_lineage(table_name: str, tables: Mapping[str, Table] = TABLES) -> TableColumnLineage:
    """Which core columns each column is computed from (Column.sources): the UI draws it on the asset's lineage,
    column by column. Columns with no source (as_of, a run parameter) are left out."""
    return TableColumnLineage(deps_by_column={
        c.name: [TableColumnDep(AssetKey(source.split(".")[:2]), source.split(".")[2]) for source in c.sources]
        for c in tables[table_name].columns if c.sources})


def definition_metadata(table_name: str) -> dict:
    """Metadata known before any run: the table's columns and where it lives."""
    return {"dagster/column_schema": column_schema(table_name), "dagster/table_name": table_name,
            "primary_key": ", ".join(TABLES[table_name].key)}


def run_metadata(con: duckdb.DuckDBPyConnection, table_name: str, territory_ids: Sequence[str],
                 **extra: object) -> dict:
    """Metadata of a materialisation: row count for the run's territories, table total, a preview."""
    return {
        "dagster/column_schema": column_schema(table_name),
        "dagster/row_count": count_rows(con, table_name, territory_ids),
        "table_rows_total": count_rows(con, table_name),
        "territories": len(territory_ids),
        "preview": MetadataValue.md(preview(con, table_name, territory_ids)),
        **extra,
    }


OWNERS = ["team:evaluation-data"]
# The code whose change changes an asset's rows, by layer: what reads, parses and normalises (every layer
# depends on it), and besides it the modules of the marts and of the publication.
_LAYER_MODULES = {"marts": ("marts", "schema.py"),
                  "publish": ("publication", "dictionary.py", "report")}
# The weekly schedule runs on Monday at 06:00, Paris time: the marts are late when a Monday 08:00 passes with
# no materialisation in the week before it.
MARTS_FRESHNESS = FreshnessPolicy.cron(deadline_cron="0 8 * * 1", lower_bound_delta=timedelta(days=7),
                                       timezone="Europe/Paris")


def _with_house_attributes(spec: AssetSpec) -> AssetSpec:
    layer = spec.group_name or "default"
    spec = spec.merge_attributes(owners=OWNERS, tags={"layer": layer, "programme": "quartiers-productifs"})
    return spec.replace_attributes(code_version=modules_version(*_LAYER_MODULES.get(layer, ())),
                                   freshness_policy=MARTS_FRESHNESS if layer in ("marts", "publish") else None)


def with_house_metadata(assets_def: AssetsDefinition) -> AssetsDefinition:
    """The asset(s) with what Dagster users look for: owners, a layer tag, the code version of what shapes its
    rows (the UI flags an asset whose code changed since it was materialised) and, for the marts and the
    publication, a freshness policy matching the weekly schedule."""
    return assets_def.map_asset_specs(_with_house_attributes)
