"""Read-only SQL over the last complete publication of the marts.

The release's Parquet files are exposed as views in an in-memory DuckDB (no lock on any file, so it works
while a materialisation runs); then the connection is locked down before any of the user's SQL runs:
- only the release's own Parquet files are readable (`allowed_paths`), no directory is (`allowed_directories`
  empty, and no temporary directory: DuckDB's default `<working directory>/.tmp/` would otherwise stay readable),
  no other file or network access (`enable_external_access = false`), no extension installed or loaded;
- memory (`memory_limit`) and threads bounded; the configuration frozen (`lock_configuration = true`);
- the query is stopped after a time limit (`interrupt()` from a timer thread).
The query itself must be one read-only statement (SELECT, WITH, VALUES, FROM-first, DESCRIBE, SUMMARIZE, SHOW
TABLES) over the marts' views and its own CTEs, with no table function but those that generate rows and no
function that reveals settings or the catalog (see `check_read_only`; docs/query-and-faults.md).

Kept free of heavy imports (no polars, no dagster): it answers in a fraction of a second.
"""

import csv
import datetime as dt
import decimal
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from qp_analytics.publication.releases import current_release
from qp_analytics.text import sql_literal

DEFAULT_TIMEOUT = 60.0  # seconds
DEFAULT_MEMORY_LIMIT = "1GiB"
DEFAULT_THREADS = 2
FETCH_BATCH = 10_000  # rows fetched at a time (the time limit is checked between batches)

# Table functions a query may call: they generate rows and read nothing.
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Functions that reveal settings, local paths or the catalog (the views' definitions name the release's files),
# or that plan or run SQL given as text (which the checks below would not see).
REFUSED_FUNCTIONS = frozenset({"current_setting", "getenv", "json_serialize_plan", "json_execute_serialized_sql"})
# and every function or table whose name starts with one of these (DuckDB's catalog functions and views)
CATALOG_PREFIXES = ("duckdb_", "pragma_", "pg_", "sqlite_")
# SHOW forms answered: SHOW TABLES (the marts' names); DESCRIBE and SUMMARIZE carry a query, checked as any other.
ALLOWED_SHOW = frozenset({'"tables"'})


class QueryError(Exception):
    """A query that is refused or fails; the message says why. status: the command's exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    release: Path


@dataclass(frozen=True)
class Limits:
    """What one query may use: seconds before it is stopped, DuckDB's memory limit, threads."""

    timeout: float = DEFAULT_TIMEOUT
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    threads: int = DEFAULT_THREADS


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def connect_marts(marts_dir: str | Path, limits: Limits = Limits()
                  ) -> tuple[duckdb.DuckDBPyConnection, Path, frozenset[str]]:
    """An in-memory connection with the current release's Parquet files as views, locked down.

    Returns the connection, the release folder and the views' names."""
    release = current_release(marts_dir)
    if release is None or not release.is_dir():
        raise QueryError(f"{marts_dir}: no published marts yet (run `qp-analytics materialize` first)")
    files = sorted(release.glob("*.parquet"))
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    try:
        for path in files:
            # names come from our own release folder; quoted as identifier and as literal
            con.execute(f'CREATE VIEW "{path.stem}" AS SELECT * FROM read_parquet({sql_literal(str(path))})')
        for name, value, option in (("memory_limit", limits.memory_limit, "--memory-limit"),
                                    ("threads", str(limits.threads), "--threads")):
            try:
                con.execute(f"SET {name} = {sql_literal(value)}")
            except duckdb.Error as exc:
                raise QueryError(f"{option} {value}: {str(exc).strip().splitlines()[0]}") from None
        con.execute("SET temp_directory = ''")  # nothing spills to disk, and no `.tmp/` folder becomes readable
        con.execute("SET allowed_directories = []")
        con.execute(f"SET allowed_paths = [{', '.join(sql_literal(str(p)) for p in files)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con, release, frozenset(p.stem for p in files)


def _nodes(tree: Any) -> Iterator[dict]:
    """Every object of a json_serialize_sql parse tree."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _refused_function(name: str) -> bool:
    return name in REFUSED_FUNCTIONS or name.startswith(CATALOG_PREFIXES)


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str, views: frozenset[str] = frozenset()) -> None:
    """Refuse (QueryError, status 2) anything but one read-only query over the marts' views.

    The statement must be a single SELECT (DuckDB's statement type, and its parse tree from json_serialize_sql,
    which serialises nothing else: PRAGMAs, EXPLAIN, SET, CALL... are refused). In the parse tree: tables are the
    marts' views or the query's own CTEs; table functions only range, generate_series and unnest; no function that
    reveals settings, paths or the catalog (current_setting, duckdb_*, pragma_*, pg_*, ...)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"not valid SQL: {str(exc).strip()}") from None
    if len(statements) != 1:
        raise QueryError(f"exactly one statement is accepted ({len(statements)} given)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(f"only read-only SELECT queries over the marts are accepted (statement type: "
                         f"{kind.name})")
    # a literal, not a parameter: binding a Python parameter makes DuckDB import pandas (0.4 s)
    parsed = json.loads(con.execute(f"SELECT json_serialize_sql({sql_literal(sql)})").fetchone()[0])
    if parsed.get("error") or len(parsed.get("statements", [])) != 1:
        raise QueryError("only read-only SELECT queries over the marts are accepted (a PRAGMA or another "
                         "statement rewritten by DuckDB is not)")
    nodes = list(_nodes(parsed["statements"][0]))
    ctes = {entry["key"].lower() for node in nodes if isinstance(node.get("cte_map"), dict)
            for entry in node["cte_map"].get("map", [])}
    marts = {v.lower() for v in views}
    for node in nodes:
        ref = node.get("type")
        if ref == "BASE_TABLE":
            name = node.get("table_name", "").lower()
            qualified = (node.get("schema_name") or "main").lower() != "main" or \
                (node.get("catalog_name") or "memory").lower() != "memory"
            if qualified or name not in marts | ctes or name.startswith(CATALOG_PREFIXES):
                shown = ".".join(p for p in (node.get("catalog_name"), node.get("schema_name"),
                                             node.get("table_name")) if p)
                raise QueryError(f"{shown}: not a table of the published marts (tables: {', '.join(sorted(views))})")
        elif ref == "TABLE_FUNCTION":
            name = (node.get("function") or {}).get("function_name", "").lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise QueryError(f"table function {name}(): refused; only "
                                 f"{', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))} are allowed (the marts are tables)")
        elif ref == "SHOW_REF" and node.get("table_name") and node["table_name"] not in ALLOWED_SHOW:
            raise QueryError(f"SHOW {node['table_name'].strip(chr(34))}: refused; SHOW TABLES, DESCRIBE <table> and "
                             "SUMMARIZE <table> are allowed")
        elif node.get("class") in ("FUNCTION", "WINDOW") and _refused_function(node.get("function_name", "").lower()):
            raise QueryError(f"{node['function_name']}(): refused; it reveals settings, local paths or the catalog")


def _fetch(cursor: duckdb.DuckDBPyConnection, stopped: threading.Event) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    while batch := cursor.fetchmany(FETCH_BATCH):
        rows += batch
        if stopped.is_set():
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
    return rows


def run_query(marts_dir: str | Path, sql: str, limits: Limits = Limits()) -> QueryResult:
    con, release, views = connect_marts(marts_dir, limits)
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        try:
            con.interrupt()
        except duckdb.Error:  # the query ended and the connection closed meanwhile
            pass

    timer = threading.Timer(limits.timeout, stop)
    timer.daemon = True
    try:
        check_read_only(con, sql, views)
        timer.start()
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = _fetch(cursor, stopped)
        except duckdb.InterruptException:
            raise QueryError(f"query stopped after {limits.timeout:g} s (the time limit; --timeout SECONDS to "
                             "change it)", status=1) from None
        except duckdb.OutOfMemoryException as exc:
            reason = str(exc).strip().splitlines()[0]
            raise QueryError(f"query stopped: {reason} (the memory limit is {limits.memory_limit}; --memory-limit "
                             "to change it)", status=1) from None
        except duckdb.PermissionException as exc:
            reason = str(exc).strip().splitlines()[0]
            raise QueryError(f"refused: the query reaches outside the published marts ({reason})") from None
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from None
    finally:
        timer.cancel()
        con.close()
    return QueryResult(columns, rows, release)


def render(result: QueryResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(result.columns, row, strict=True)} for row in result.rows],
                          ensure_ascii=False, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if v is None else json.dumps(_plain(v), ensure_ascii=False)
                             if isinstance(v, list) else _plain(v) for v in row])
        return buffer.getvalue().rstrip("\n")
    cells = [[("NULL" if v is None else str(_plain(v))) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    out.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''}; release {result.release.name})")
    return "\n".join(out)
