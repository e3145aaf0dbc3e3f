"""Dagster metadata drawn from the one schema definition (qp_analytics.schema)."""

from collections.abc import Mapping, Sequence

import duckdb
from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from qp_analytics.schema import TABLES, Table
from qp_analytics.warehouse import count_rows, preview


def column_schema(table_name: str, tables: Mapping[str, Table] = TABLES) -> TableSchema:
    table = tables[table_name]
    return TableSchema(columns=[
        TableColumn(c.name, c.type, description=c.description,
                    constraints=TableColumnConstraints(nullable=c.nullable and not c.key))
        for c in table.columns
    ])


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
