"""The DuckDB warehouse: create tables from the schema, replace a set of territories' rows atomically.

DuckDB lets one process at a time open a database file for writing. Steps that run in parallel processes
(Dagster's multiprocess or Celery executors) therefore take the warehouse's access lock for as long as they hold
a connection: one writer at a time, readers together. A step waits its turn in the lock's queue, it never
retries; steps do their slow work (reading PDFs, parsing) before they connect.

A `Warehouse` is a warehouse file and how this process connects to it; a batch run of `qp-analytics materialize`
holds its private copy open and hands that object to its steps, which then share one open database.

A batch run (`qp-analytics materialize`, the weekly job) works on a private copy of the warehouse and swaps it
in when it ends, holding the materialisation lock (`<warehouse>.lock`) all along. A write connection to the
warehouse takes that lock shared: a step of a partitioned run waits for a batch run to end, rather than write
rows the swap would throw away (and a batch run waits for the writers before it copies).
"""

import contextlib
import fcntl
import hashlib
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import polars as pl

from qp_analytics.schema import TABLES, T, Table
from qp_analytics.text import sql_literal

_held: set[str] = set()  # access lock paths this process holds (the outermost connection releases them)
_held_guard = threading.RLock()


def access_lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".access.lock")


def materialisation_lock_path(path: str | Path) -> Path:
    """The lock a batch run holds for its whole run (see the module's docstring)."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def _hold(lock_path: Path, exclusive: bool) -> Iterator[None]:
    """Hold a lock file, re-entrant within a process (a connection opened while another is open in the same
    process does not wait for itself)."""
    key = str(lock_path.resolve())
    with _held_guard:
        if key in _held:  # an inner connection: the outer one holds the lock and releases it
            yield
            return
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            _held.add(key)
            try:
                yield
            finally:
                _held.discard(key)
                fcntl.flock(fh, fcntl.LOCK_UN)


def access(path: str | Path, exclusive: bool) -> contextlib.AbstractContextManager[None]:
    """Hold the warehouse's access lock: exclusive to write, shared to read."""
    return _hold(access_lock_path(path), exclusive)


class Warehouse:
    """A warehouse file and how this process connects to it: under its locks (see the module's docstring), or,
    while `held_open`, through one connection kept open for the whole block.

    The object is what a run hands its steps (the `warehouse` resource of the Dagster definitions): each process
    makes its own from the run's settings and connects file by file, while an in-process run of
    `qp-analytics materialize` hands its steps one held open on its private copy, so that they share it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._open: duckdb.DuckDBPyConnection | None = None  # while held_open: the one connection
        self._checkpoint: threading.Thread | None = None  # checkpoint_now's, joined before the database closes

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r}{', held open' if self.held else ''})"

    @property
    def held(self) -> bool:
        """Whether the block of `held_open` runs: connections are then cursors of one open database."""
        return self._open is not None

    @contextlib.contextmanager
    def held_open(self) -> Iterator["Warehouse"]:
        """Keep the warehouse open (and its locks held) while the block runs: `connect` then gives a cursor of
        that one open database, instead of opening the file again (and checkpointing it when it closes), about
        0.2 s each time at 1,400 territories. For a batch run on its private copy, whose steps run one after
        the other in this process; no other process can open the file meanwhile."""
        if self._open is not None:
            raise RuntimeError(f"{self.path} is held open already")
        with self.connect() as con:
            self._open = con
            try:
                yield self
            finally:
                if self._checkpoint is not None:
                    self._checkpoint.join()
                    self._checkpoint = None
                self._open = None

    def checkpoint_now(self) -> None:
        """While held open, once the run's last write is behind it: write the database's changes into its file on a
        thread (DuckDB's CHECKPOINT, which lets go of Python's lock), while the run goes on, so that closing it has
        nothing left to write (a refresh at 1,400 territories: 0.2 s). Nothing otherwise; should it fail, closing
        the database checkpoints it as before."""
        if self._open is None or self._checkpoint is not None:
            return
        cursor = self._open.cursor()

        def checkpoint() -> None:
            try:
                cursor.execute("CHECKPOINT")
            except duckdb.Error:
                pass  # another transaction writing meanwhile: the database is checkpointed when it closes
            finally:
                cursor.close()

        self._checkpoint = threading.Thread(target=checkpoint, name="qp-warehouse-checkpoint")
        self._checkpoint.start()

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection under the warehouse's access lock; while held open, a cursor of the open database
        (read_only is then not enforced: the run owns the file)."""
        if self._open is not None:
            cursor = self._open.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            return
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as held:
            if not read_only:  # not while a batch run is working on its copy (see the module's docstring)
                held.enter_context(_hold(materialisation_lock_path(self.path), exclusive=False))
            held.enter_context(access(self.path, exclusive=not read_only))
            con = duckdb.connect(str(self.path), read_only=read_only)
            try:
                yield con
            finally:
                con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection in a transaction, committed when the block ends (rolled back if it raises)."""
        with self.connect() as con, transaction(con):
            yield con


def connect(path: str | Path, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse at path, under its access lock (`Warehouse.connect`)."""
    return Warehouse(path).connect(read_only)


# what joins the strings of an id_list: the ASCII unit separator, which no id, stage or name here holds
_ID_SEPARATOR = "\x1f"


def id_list(values: Iterable[str]) -> str:
    """Strings as a DuckDB VARCHAR[] expression: the territory ids of a query travel as SQL literals rather than
    bound parameters, whose first use has DuckDB import pandas (about 0.4 s of CPU). One string split by DuckDB
    (`string_split('a␟b', chr(31))`): a list literal of 1,400 ids took DuckDB 5 to 14 ms to parse, each time it
    appears in a query, the split 1 ms. A list whose strings hold the separator is written as a list literal."""
    values = list(values)
    if not values:
        return "[]::VARCHAR[]"
    if any(_ID_SEPARATOR in v for v in values):
        return "[" + ", ".join(sql_literal(v) for v in values) + "]::VARCHAR[]"
    return f"string_split({sql_literal(_ID_SEPARATOR.join(values))}, chr(31))"


def table_digests(con: duckdb.DuckDBPyConnection, table_names: Sequence[str]) -> dict[str, str]:
    """What each table holds, in a few dozen bytes: its columns (names and types, in order), its number of rows
    and two sums of its rows' 64-bit hashes (DuckDB's `hash`, of the row and of the row with a salt), as a
    multiset: the same rows in any order give the same digest. Two queries for all the tables. A release reuses
    the file of a table whose digest is the one recorded with it (qp_analytics.publication.release), instead of
    reading the table and encoding it."""
    names = list(table_names)
    if not names:
        return {}
    columns = dict(con.execute(
        "SELECT schema_name || '.' || table_name, string_agg(column_name || ' ' || data_type, ', ' "
        "ORDER BY column_index) FROM duckdb_columns() GROUP BY ALL").fetchall())
    sums = " UNION ALL ".join(
        f"SELECT {sql_literal(name)}, count(*), coalesce(sum(hash(t)::HUGEINT), 0), "
        f"coalesce(sum(hash(t, 'qp')::HUGEINT), 0) FROM {name} AS t" for name in names)
    return {name: hashlib.sha256(f"{columns.get(name)}\n{rows}:{first}:{second}".encode()).hexdigest()
            for name, rows, first, second in con.execute(sums).fetchall()}


def ensure_tables(con: duckdb.DuckDBPyConnection, tables: Sequence[str] | None = None,
                  definitions: Mapping[str, Table] = TABLES) -> None:
    """The tables (all the definitions' by default) created where missing, with the columns added since an
    earlier version (nullable, hence null there) and the dictionary's comments. One look at the catalog when
    all are there already: every step of a run calls this."""
    names = list(tables or definitions)
    columns = _catalog_columns(con)
    changed = False
    for name in names:
        table = definitions[name]
        schema, bare = name.split(".")
        present = columns.get((schema, bare))
        if present is None:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(table.ddl())
            changed = True
            continue
        for column in table.columns:
            if column.name not in present and column.nullable and not column.key:
                con.execute(f'ALTER TABLE {name} ADD COLUMN "{column.name}" {column.type}')
                changed = True
    write_comments(con, {name: definitions[name] for name in names}, None if changed else columns)


def _catalog_columns(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, str | None]]:
    """(schema, table) -> {column: its comment}, for every table and view of the connection's database (not of
    another attached, nor its temporary tables)."""
    columns: dict[tuple[str, str], dict[str, str | None]] = {}
    for schema, table, column, comment in con.execute(
            "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() "
            "WHERE database_name = current_database()").fetchall():
        columns.setdefault((schema, table), {})[column] = comment
    return columns


def write_comments(con: duckdb.DuckDBPyConnection, definitions: Mapping[str, Table],
                   columns: Mapping[tuple[str, str], Mapping[str, str | None]] | None = None) -> int:
    """The definitions' descriptions (the data dictionary) as the warehouse's table and column comments, written
    where they differ from those there: `SELECT comment FROM duckdb_columns()` answers what a column means.
    `columns`: the catalog's columns as `_catalog_columns` gives them, when just read. Returns how many comments
    were written."""
    tables = {(s, t): c for s, t, c in con.execute("SELECT schema_name, table_name, comment FROM duckdb_tables()"
                                                   ).fetchall()}
    if columns is None:
        columns = _catalog_columns(con)
    written = 0
    for name, table in definitions.items():
        schema, bare = name.split(".")
        if (schema, bare) not in tables:
            continue
        if tables[(schema, bare)] != table.description:
            con.execute(f"COMMENT ON TABLE {name} IS {sql_literal(table.description)}")
            written += 1
        there = columns.get((schema, bare), {})
        for column in table.columns:
            if column.name in there and there[column.name] != column.description:
                con.execute(f'COMMENT ON COLUMN {name}."{column.name}" IS {sql_literal(column.description)}')
                written += 1
    return written


def empty_frame(table: Table) -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.Null for c in table.column_names})


def replace_rows(con: duckdb.DuckDBPyConnection, table_name: str, territory_ids: Sequence[str],
                 rows: pl.DataFrame, where: str = "", definitions: Mapping[str, Table] = TABLES) -> int:
    """Delete the rows of these territories (optionally narrowed by `where`, SQL) and insert `rows`.

    Runs inside the caller's transaction."""
    table = definitions[table_name]
    con.execute(f"DELETE FROM {table.name} WHERE {T} IN (SELECT unnest({id_list(territory_ids)})){where}")
    return _insert(con, table, rows)


def replace_table(con: duckdb.DuckDBPyConnection, table_name: str, rows: pl.DataFrame,
                  definitions: Mapping[str, Table] = TABLES) -> int:
    """Replace every row of the table by `rows`, inside the caller's transaction."""
    table = definitions[table_name]
    con.execute(f"DELETE FROM {table.name}")
    return _insert(con, table, rows)


def holds(con: duckdb.DuckDBPyConnection, table_name: str, rows: pl.DataFrame,
          territory_ids: Sequence[str] | None = None, definitions: Mapping[str, Table] = TABLES) -> bool:
    """Whether the table's rows (those of these territories, or all) are exactly `rows`, in any order. Rewriting
    them would change nothing, and would have DuckDB take the rows from Python (which imports pandas)."""
    table = definitions[table_name]
    if set(rows.columns) != set(table.column_names):
        return False
    within = "" if territory_ids is None else f" WHERE {T} IN (SELECT unnest({id_list(territory_ids)}))"
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    stored = con.execute(f"SELECT {cols} FROM {table.name}{within}").pl()
    if stored.height != rows.height or stored.schema != rows.select(table.column_names).schema:
        return False
    # the same rows in the same total order on both sides: equal only if they are the same rows (a sort that
    # orders some values differently can only make equal rows look different, never the reverse)
    order = dict(by=table.column_names, nulls_last=True, maintain_order=True)
    return stored.sort(**order).equals(rows.select(table.column_names).sort(**order))


def _insert(con: duckdb.DuckDBPyConnection, table: Table, rows: pl.DataFrame) -> int:
    if rows.height:
        unexpected = set(rows.columns) - set(table.column_names)
        if unexpected:
            raise ValueError(f"{table.name}: no column(s) {sorted(unexpected)}")
        # through a Parquet file rather than the Arrow table registered: DuckDB's scan of a Python object
        # imports pandas and pyarrow.dataset (0.35 s, in the first step of every run) to tell what it is
        with tempfile.TemporaryDirectory(prefix="qp-rows-") as folder:
            path = Path(folder) / "rows.parquet"
            rows.write_parquet(path, compression="uncompressed", statistics=False)
            cols = ", ".join(f'"{c}"' for c in rows.columns)
            con.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM read_parquet({sql_literal(str(path))})")
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
    within = "" if territory_ids is None else f" WHERE {T} IN (SELECT unnest({id_list(territory_ids)}))"
    return con.execute(f"SELECT count(*) FROM {TABLES[table_name].name}{within}").fetchone()[0]  # type: ignore[index]


def preview(con: duckdb.DuckDBPyConnection, table_name: str, territory_ids: Sequence[str], limit: int = 5,
            max_chars: int = 60) -> str:
    """A small Markdown table of some of these territories' rows."""
    table = TABLES[table_name]
    cols = [c.name for c in table.columns if c.name != "text"][:8]
    rows = con.execute(
        f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {table.name} "
        f"WHERE {T} IN (SELECT unnest({id_list(territory_ids)})) ORDER BY ALL LIMIT {int(limit)}"
    ).fetchall()

    return markdown_table(cols, rows, max_chars)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]], max_chars: int = 60) -> str:
    """A small Markdown table (cells cut at max_chars) for Dagster previews."""

    def cell(v: object) -> str:
        s = "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(cell(v) for v in r) + " |\n" for r in rows)
