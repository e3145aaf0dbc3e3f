"""Open formats beside a release's Parquet files: a CSV per table, one Excel workbook of the marts with the
dictionary as a sheet, and a Frictionless data package (`datapackage.json`, a Table Schema per resource).

Written from the release's own Parquet files, so every format holds the same rows. Types are kept: counts as
integers, amounts as decimals, dates as ISO dates. The data package describes the CSV files (the form
schema.data.gouv.fr and `frictionless validate` read), with each column's type and meaning from
qp_analytics.schema, primary keys, and territory_id as a foreign key to the territories where the release
holds them.
"""

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import duckdb

from qp_analytics.schema import Column, Table
from qp_analytics.text import sql_literal

WORKBOOK = "marts.xlsx"
PACKAGE = "datapackage.json"
TERRITORIES = "core_territories"


def _field_type(duckdb_type: str) -> tuple[str, dict]:
    """Table Schema type (and extra properties) of a DuckDB column type."""
    if duckdb_type.endswith("[]"):
        return "array", {}
    if duckdb_type.startswith("DECIMAL"):
        return "number", {}
    return {"VARCHAR": ("string", {}), "INTEGER": ("integer", {}), "BIGINT": ("integer", {}),
            "DOUBLE": ("number", {}), "DATE": ("date", {}), "BOOLEAN": ("boolean", {}),
            "TIMESTAMP": ("datetime", {"format": "any"}), "JSON": ("string", {"format": "default"})
            }.get(duckdb_type, ("string", {}))


def _csv_select(source: Path, columns: list[Column]) -> str:
    """The SELECT that writes a table's CSV: lists as JSON arrays (Table Schema's array), timestamps ISO."""
    out = []
    for c in columns:
        name = f'"{c.name}"'
        if c.type.endswith("[]"):
            out.append(f"to_json({name}) AS {name}")
        elif c.type == "TIMESTAMP":
            out.append(f"strftime({name}, '%Y-%m-%dT%H:%M:%S') AS {name}")
        else:
            out.append(name)
    return f"SELECT {', '.join(out)} FROM read_parquet({sql_literal(str(source))})"


def describe(con: duckdb.DuckDBPyConnection, source: Path) -> list[tuple[str, str]]:
    """A Parquet file's columns in its order: (name, DuckDB type)."""
    return [(name, kind) for name, kind, *_ in
            con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(source))})").fetchall()]


def _columns(described: list[tuple[str, str]], table: Table) -> list[Column]:
    """The file's columns in its order, each with its definition (its type as the file holds it otherwise)."""
    defined = {c.name: c for c in table.columns}
    return [defined.get(name) or Column(name, kind, "") for name, kind in described]


def write_csv_files(release: Path, tables: Mapping[str, Table],
                    described: Mapping[str, list[tuple[str, str]]] | None = None,
                    same: Mapping[str, Path] | None = None) -> dict[str, list[Column]]:
    """`<name>.csv` beside each `<name>.parquet` of the release (UTF-8, comma, header row): {name: columns}.
    described: each file's columns when the caller has them (`describe`), else they are read here. same: for a
    table whose rows are those of a CSV file already written (the current release's, from the same Parquet
    bytes), that file, copied instead of written again."""
    written = {}
    with duckdb.connect() as con:
        for name, table in tables.items():
            source = release / f"{name}.parquet"
            if not source.is_file():
                continue
            columns = _columns(described[name] if described and name in described else describe(con, source), table)
            target = release / f"{name}.csv"
            if same and name in same:
                shutil.copyfile(same[name], target)
            else:
                con.execute(f"COPY ({_csv_select(source, columns)}) TO {sql_literal(str(target))} "
                            "(FORMAT csv, HEADER true, DELIMITER ',', DATEFORMAT '%Y-%m-%d')")
            written[name] = columns
    return written


_EXCEL_ROWS = 1_048_575  # a sheet's rows below its header


def _excel_select(source: Path, described: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """The SELECT that gives a sheet's cells as Excel holds them, and each column's kind: dates as day serial
    numbers (shown as dates by their format), decimals as numbers, lists and structures as JSON text. DuckDB
    converts the columns at once; the Python loop then only places values."""
    parts, kinds = [], []
    for name, kind in described:
        column = f'"{name}"'
        if kind == "DATE":
            parts.append(f"({column} - DATE '1899-12-30') AS {column}")
            kinds.append("date")
        elif kind.startswith("TIMESTAMP"):
            parts.append(f"epoch({column}::TIMESTAMP) / 86400 + 25569 AS {column}")
            kinds.append("datetime")
        elif kind.startswith("DECIMAL"):
            parts.append(f"{column}::DOUBLE AS {column}")
            kinds.append("amount")
        elif kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "DOUBLE", "FLOAT", "REAL"):
            parts.append(column)
            kinds.append("number")
        elif kind == "BOOLEAN":
            parts.append(column)
            kinds.append("boolean")
        elif kind == "VARCHAR":
            parts.append(column)
            kinds.append("string")
        else:  # lists, structures, JSON
            parts.append(f"to_json({column})::VARCHAR AS {column}")
            kinds.append("string")
    return f"SELECT {', '.join(parts)} FROM read_parquet({sql_literal(str(source))})", kinds


def write_workbook(release: Path, marts: Mapping[str, Table], dictionary: Path,
                   described: Mapping[str, list[tuple[str, str]]] | None = None) -> Path:
    """One workbook of the marts (a sheet each, typed cells, dates as dates, the header row bold and frozen) and
    the dictionary as its last sheet. described: each file's columns when the caller has them (`describe`, keyed
    by table name, the dictionary as "dictionary"). xlsxwriter in constant-memory mode: rows stream to the file
    as they are written. (A writer of our own, building each sheet's XML in DuckDB, took a quarter of the CPU at
    1,400 territories; a workbook is a solved problem, so the well-kept library writes it.)"""
    import datetime as dt

    import xlsxwriter

    path = release / WORKBOOK
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                               "strings_to_formulas": False, "strings_to_urls": False,
                                               "nan_inf_to_errors": True})  # NaN and infinity as Excel's errors
    workbook.set_properties({"created": dt.datetime(2021, 3, 18)})  # the same bytes for the same rows
    formats = {"date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
               "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
               "amount": workbook.add_format({"num_format": "#,##0.00"})}
    header_format = workbook.add_format({"bold": True})
    with duckdb.connect() as con:
        for name, source in [*((n, release / f"{n}.parquet") for n in marts), ("dictionary", dictionary)]:
            if not source.is_file():
                continue
            columns = described[name] if described and name in described else describe(con, source)
            sheet = workbook.add_worksheet(name[:31])
            sql, kinds = _excel_select(source, columns)
            cursor = con.execute(sql)
            sheet.write_row(0, 0, [d[0] for d in cursor.description], header_format)
            writers = [(sheet.write_string if k == "string" else sheet.write_boolean if k == "boolean"
                        else sheet.write_number, formats.get(k)) for k in kinds]
            row_number = 0
            while rows := cursor.fetchmany(10_000):
                if row_number + len(rows) > _EXCEL_ROWS:
                    raise ValueError(f"{name}: more rows than an Excel sheet holds; use {name}.csv")
                for row in rows:
                    row_number += 1
                    for col, value in enumerate(row):
                        if value is not None:
                            write, cell_format = writers[col]
                            write(row_number, col, value, cell_format)
            sheet.freeze_panes(1, 0)
    workbook.close()
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower())


def data_package(release_id: str, tables: Mapping[str, Table], written: Mapping[str, list[Column]],
                 as_of: str) -> dict:
    """The Frictionless data package of the release's CSV files (`written`: each file's columns)."""
    resources = []
    for name, columns in written.items():
        table = tables[name]
        fields = []
        for c in columns:
            kind, extra = _field_type(c.type)
            field = {"name": c.name, "type": kind, **({"description": c.description} if c.description else {}),
                     **extra}
            if c.key:
                field["constraints"] = {"required": True}
            fields.append(field)
        schema: dict = {"fields": fields, "missingValues": [""]}
        names = [c.name for c in columns]
        if table.key and set(table.key) <= set(names):
            schema["primaryKey"] = table.key
        if name != TERRITORIES and TERRITORIES in written and "territory_id" in names:
            schema["foreignKeys"] = [{"fields": ["territory_id"],
                                      "reference": {"resource": _slug(TERRITORIES), "fields": ["territory_id"]}}]
        resources.append({"name": _slug(name), "path": f"{name}.csv", "profile": "tabular-data-resource",
                          "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "description": table.description, "schema": schema})
    return {"profile": "tabular-data-package", "name": _slug(f"qp-analytics-{release_id}"),
            "title": f"Quartiers productifs: evaluation marts at {as_of}",
            "description": f"Release {release_id} of qp-analytics, evaluation date {as_of}: the evaluation marts "
                           "of the Quartiers productifs programme and the core tables they are computed from.",
            "resources": resources}


def write_exports(release: Path, tables: Mapping[str, Table], marts: Mapping[str, Table], release_id: str,
                  as_of: str, dictionary: Path, workbook: Path | None = None,
                  same_csv: Mapping[str, Path] | None = None) -> list[str]:
    """Every export of a release folder whose Parquet files are written: the file names added. `workbook`: a
    workbook drawn from the same marts and dictionary, copied instead of drawn again."""
    with duckdb.connect() as con:  # each file described once, for its CSV and its sheet
        described = {name: describe(con, release / f"{name}.parquet") for name in tables
                     if (release / f"{name}.parquet").is_file()}
        if workbook is None and dictionary.is_file():
            described["dictionary"] = describe(con, dictionary)
    written = write_csv_files(release, tables, described, same_csv)
    if workbook is not None:
        shutil.copyfile(workbook, release / WORKBOOK)
    else:
        write_workbook(release, marts, dictionary, described)
    package = data_package(release_id, tables, written, as_of)
    (release / PACKAGE).write_text(json.dumps(package, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return [*(f"{name}.csv" for name in written), WORKBOOK, PACKAGE]
