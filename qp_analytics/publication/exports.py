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
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl

from qp_analytics.parallel import forkserver_context, worker_count
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
_EXCEL_TEXT = 32_767  # the characters a cell holds
_NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss", "amount": "#,##0.00"}


def _excel_select(source: Path, described: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """The SELECT that gives a sheet's columns as the workbook's writer takes them, and each column's kind:
    dates as dates and timestamps as timestamps (shown as such by their number format), decimals and very
    large integers as numbers, lists and structures as JSON text, text cut to what a cell holds (as Excel
    would cut it when typed in)."""
    parts, kinds = [], []
    for name, kind in described:
        column = f'"{name}"'
        if kind == "DATE":
            parts.append(column)
            kinds.append("date")
        elif kind.startswith("TIMESTAMP"):
            parts.append(f"{column}::TIMESTAMP AS {column}")
            kinds.append("datetime")
        elif kind.startswith("DECIMAL"):
            parts.append(f"{column}::DOUBLE AS {column}")
            kinds.append("amount")
        elif kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DOUBLE", "FLOAT", "REAL"):
            parts.append(column)
            kinds.append("number")
        elif kind == "HUGEINT":
            parts.append(f"{column}::DOUBLE AS {column}")
            kinds.append("number")
        elif kind == "BOOLEAN":
            parts.append(column)
            kinds.append("boolean")
        elif kind == "VARCHAR":
            parts.append(f"left({column}, {_EXCEL_TEXT}) AS {column}")
            kinds.append("string")
        else:  # lists, structures, JSON
            parts.append(f"left(to_json({column})::VARCHAR, {_EXCEL_TEXT}) AS {column}")
            kinds.append("string")
    return f"SELECT {', '.join(parts)} FROM read_parquet({sql_literal(str(source))})", kinds


def write_workbook(release: Path, marts: Mapping[str, Table], dictionary: Path,
                   described: Mapping[str, list[tuple[str, str]]] | None = None) -> Path:
    """One workbook of the marts (a sheet each, typed cells, dates as dates, the header row bold and frozen) and
    the dictionary as its last sheet. described: each file's columns when the caller has them (`describe`, keyed
    by table name, the dictionary as "dictionary").

    Written by rust_xlsxwriter (through rustpy-xlsxwriter) from polars frames: a tenth of xlsxwriter's time,
    which placed each cell from Python (4.2 s of a 1,400-territory run). A missing value, NaN included, is an
    empty cell; an infinity is the text `inf` or `-inf`. The same rows give the same cells; the bytes differ
    by the creation time the writer stamps in the workbook's properties.

    Drawn in a process of its own (`_draw_workbook`) where there are cores to spare: the writer keeps Python's
    lock while it works, and a run writes its exports in a thread while it draws its report (at 1,400
    territories 0.4 s of writing, during which a Python loop beside it ran at 40 % of its speed)."""
    path = release / WORKBOOK
    with duckdb.connect() as con:
        parts = [(name, str(source), described[name] if described and name in described else describe(con, source))
                 for name, source in [*((n, release / f"{n}.parquet") for n in marts), ("dictionary", dictionary)]
                 if source.is_file()]
    if worker_count() < 2:
        _draw_workbook(str(path), parts)
    else:
        with ProcessPoolExecutor(max_workers=1, mp_context=forkserver_context()) as apart:
            apart.submit(_draw_workbook, str(path), parts).result()
    return path


def _draw_workbook(path: str, parts: list[tuple[str, str, list[tuple[str, str]]]]) -> None:
    """Write the workbook at path: a sheet of each part (table name, Parquet file, its columns), in order."""
    import rustpy_xlsxwriter

    sheets: list[tuple[str, object]] = []
    formats: dict[str, dict[str, object]] = {}
    with duckdb.connect() as con:
        for name, source, columns in parts:
            sql, kinds = _excel_select(Path(source), columns)
            # through the Arrow stream interface: the same frame as `.pl()`, without importing pyarrow in this
            # process (the frames of 1,400 territories' marts: 0.24 → 0.09 s)
            frame = pl.DataFrame(con.sql(sql))
            if frame.height > _EXCEL_ROWS:
                raise ValueError(f"{name}: more rows than an Excel sheet holds; use {name}.csv")
            sheet = name[:31]
            sheets.append((sheet, frame))
            formats[sheet] = {column: rustpy_xlsxwriter.Format().set_num_format(_NUMBER_FORMATS[kind])
                              for (column, _), kind in zip(columns, kinds, strict=True) if kind in _NUMBER_FORMATS}
    rustpy_xlsxwriter.write_worksheets(sheets, path, freeze_panes={"general": {"row": 1, "col": 0}},
                                       bold_headers=True, column_formats=formats, inf_value="inf")


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


def export_names(release: Path, tables: Mapping[str, Table]) -> list[str]:
    """The files write_exports writes in a release folder whose Parquet files are written, in its order."""
    return [*(f"{name}.csv" for name in tables if (release / f"{name}.parquet").is_file()), WORKBOOK, PACKAGE]


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
    # the workbook drawn (by a process of its own, write_workbook) while the CSV files are written here by DuckDB's
    # COPY, which lets go of Python's lock: the two take the two cores (1,400 territories: 0.9 → 0.7 s)
    with ThreadPoolExecutor(max_workers=1) as beside:
        drawn = (beside.submit(shutil.copyfile, workbook, release / WORKBOOK) if workbook is not None
                 else beside.submit(write_workbook, release, marts, dictionary, described))
        written = write_csv_files(release, tables, described, same_csv)
        drawn.result()
    package = data_package(release_id, tables, written, as_of)
    (release / PACKAGE).write_text(json.dumps(package, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return export_names(release, tables)
