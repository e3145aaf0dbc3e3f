"""The DuckDB warehouse: create tables from the schema, replace a set of territories' rows atomically."""

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import polars as pl

from qp_analytics.schema import TABLES, T, Table


@contextlib.contextmanager
def connect(path: str | Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def ensure_tables(con: duckdb.DuckDBPyConnection, tables: Sequence[str] | None = None,
                  definitions: Mapping[str, Table] = TABLES) -> None:
    for name in tables or list(definitions):
        table = definitions[name]
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {name.split('.')[0]}")
        con.execute(table.ddl())


def empty_frame(table: Table) -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.Null for c in table.column_names})


def replace_rows(con: duckdb.DuckDBPyConnection, table_name: str, territory_ids: Sequence[str],
                 rows: pl.DataFrame, where: str = "", params: Sequence[object] = ()) -> int:
    """Delete the rows of these territories (optionally narrowed by `where`) and insert `rows`.

    Runs inside the caller's transaction; territory ids travel as parameters, never as SQL text."""
    table = TABLES[table_name]
    con.execute(f"DELETE FROM {table.name} WHERE {T} IN (SELECT unnest(?::VARCHAR[])){where}",
                [list(territory_ids), *params])
    if rows.height:
        unexpected = set(rows.columns) - set(table.column_names)
        if unexpected:
            raise ValueError(f"{table.name}: no column(s) {sorted(unexpected)}")
        con.register("_incoming", rows.to_arrow())
        try:
            cols = ", ".join(f'"{c}"' for c in rows.columns)
            con.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM _incoming")
        finally:
            con.unregister("_incoming")
    return rows.height


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


def count_rows(con: duckdb.DuckDBPyConnection, table_name: str, territory_ids: Sequence[str] | None = None) -> int:
    if territory_ids is None:
        return con.execute(f"SELECT count(*) FROM {TABLES[table_name].name}").fetchone()[0]  # type: ignore[index]
    return con.execute(  # type: ignore[index]
        f"SELECT count(*) FROM {TABLES[table_name].name} WHERE {T} IN (SELECT unnest(?::VARCHAR[]))",
        [list(territory_ids)],
    ).fetchone()[0]


def preview(con: duckdb.DuckDBPyConnection, table_name: str, territory_ids: Sequence[str], limit: int = 5,
            max_chars: int = 60) -> str:
    """A small Markdown table of some of these territories' rows."""
    table = TABLES[table_name]
    cols = [c.name for c in table.columns if c.name != "text"][:8]
    rows = con.execute(
        f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {table.name} "
        f"WHERE {T} IN (SELECT unnest(?::VARCHAR[])) ORDER BY ALL LIMIT {int(limit)}",
        [list(territory_ids)],
    ).fetchall()

    return markdown_table(cols, rows, max_chars)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]], max_chars: int = 60) -> str:
    """A small Markdown table (cells cut at max_chars) for Dagster previews."""

    def cell(v: object) -> str:
        s = "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(cell(v) for v in r) + " |\n" for r in rows)
