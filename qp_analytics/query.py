"""Read-only SQL over the last complete publication of the marts.

The marts of the current release are loaded into an in-memory DuckDB (no lock on any file, so it works
while a materialisation runs); then the connection is locked down: no file or network access, no
extension loading, configuration frozen. Only one SELECT statement is accepted.
"""

import csv
import datetime as dt
import decimal
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from qp_analytics.publish import current_release


class QueryError(Exception):
    """A query that is refused or fails; the message says why."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    release: Path


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def connect_marts(marts_dir: str | Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """An in-memory connection holding the current release's marts as tables, locked down."""
    release = current_release(marts_dir)
    if release is None or not release.is_dir():
        raise QueryError(f"{marts_dir}: no published marts yet (run `qp-analytics materialize` first)")
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    for path in sorted(release.glob("*.parquet")):
        # names come from our own release folder; quoted as identifiers and passed as a parameter
        con.execute(f'CREATE TABLE "{path.stem}" AS SELECT * FROM read_parquet(?)', [str(path)])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con, release


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"not valid SQL: {exc}") from None
    if len(statements) != 1:
        raise QueryError(f"exactly one statement is accepted ({len(statements)} given)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(f"only read-only SELECT queries over the marts are accepted (statement type: "
                         f"{kind.name})")


def run_query(marts_dir: str | Path, sql: str) -> QueryResult:
    con, release = connect_marts(marts_dir)
    try:
        check_read_only(con, sql)
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
        except duckdb.PermissionException as exc:
            reason = str(exc).strip().splitlines()[0]
            raise QueryError(f"refused: the query reaches outside the published marts ({reason})") from None
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from None
    finally:
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
