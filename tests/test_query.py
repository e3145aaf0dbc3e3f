"""The analysts' query interface: read-only, confined to the published marts, answering during a run."""

import datetime as dt
import json
import re
import subprocess
import sys
import time

import pytest

from pipelines.run import run_pipeline
from qp_analytics.publication.query import Limits, QueryError, render, run_query
from qp_analytics.schema import MARTS, TABLES
from tests.conftest import REPO


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from tests.conftest import RAW

    tmp = tmp_path_factory.mktemp("published")
    summary = run_pipeline(RAW, tmp / "w.duckdb", tmp / "marts", dt.date(2024, 6, 30), [], echo=lambda m: None)
    assert summary.exit_code == 0 and summary.release is not None
    return tmp / "marts"


def test_select_answers_from_the_marts(published):
    result = run_query(published, "SELECT count(*) AS n, min(as_of) AS as_of FROM mart_timeliness")
    assert result.rows == [(14, dt.date(2024, 6, 30))]
    rows = json.loads(render(run_query(published, "SELECT indicator, value_count FROM mart_evaluation_national "
                                                  "WHERE indicator = 'territories_in_programme'"), "json"))
    assert rows == [{"indicator": "territories_in_programme", "value_count": 14}]  # a count, not 14.0
    csv_out = render(run_query(published, "SELECT territory_id FROM mart_timeliness ORDER BY 1 LIMIT 2"), "csv")
    assert csv_out.splitlines() == ["territory_id", "aix-marseille-provence", "arras"]
    words = run_query(published, "SELECT meaning FROM dictionary WHERE \"table\" = 'mart_timeliness' "
                                 "AND \"column\" = 'in_force'").rows
    assert words == [("as_of ≤ convention_end_date (whether or not the signature date is known).",)]


@pytest.mark.parametrize("sql, message", [
    ("DROP TABLE mart_timeliness", "statement type: DROP"),
    ("CREATE TABLE x AS SELECT 1", "statement type: CREATE"),
    ("INSERT INTO mart_timeliness (territory_id) VALUES ('x')", "statement type: INSERT"),
    ("UPDATE mart_timeliness SET in_force = true", "statement type: UPDATE"),
    ("DELETE FROM mart_timeliness", "statement type: DELETE"),
    ("COPY mart_timeliness TO '/tmp/out.csv'", "statement type: COPY"),
    ("ATTACH '/tmp/other.duckdb' AS other", "statement type: ATTACH"),
    ("SET enable_external_access = true", "statement type: SET"),
    ("RESET lock_configuration", "statement type:"),
    ("PRAGMA enable_checkpoint_on_shutdown", "statement type:"),
    ("INSTALL httpfs", "statement type: LOAD"),
    ("EXPORT DATABASE '/tmp/dump'", "statement type: EXPORT"),
    ("SELECT 1; DROP TABLE mart_timeliness", "exactly one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv(): refused"),
    ("SELECT * FROM read_text('/etc/hostname')", "table function read_text(): refused"),
    ("SELECT * FROM '/etc/passwd'", "/etc/passwd: not a table of the published marts"),  # no replacement scan
    ("SELECT * FROM glob('/*')", "table function glob(): refused"),
    ("SELECT * FROM read_parquet('data/marts/../warehouse.duckdb')", "table function read_parquet(): refused"),
    # settings, local paths and the catalog (the views' definitions name the release's files)
    ("SELECT * FROM duckdb_settings()", "table function duckdb_settings(): refused"),
    ("SELECT current_setting('temp_directory')", "current_setting(): refused"),
    ("SELECT current_setting('allowed_paths') OVER ()", "current_setting(): refused"),
    ("SELECT sql FROM duckdb_views()", "table function duckdb_views(): refused"),
    ("SELECT * FROM duckdb_views", "duckdb_views: not a table of the published marts"),
    ("SELECT * FROM pg_settings", "pg_settings: not a table of the published marts"),
    ("SELECT * FROM pg_catalog.pg_views", "pg_catalog.pg_views: not a table"),
    ("SELECT * FROM information_schema.views", "information_schema.views: not a table"),
    ("SELECT pg_get_viewdef(1)", "pg_get_viewdef(): refused"),
    ("SELECT * FROM (WITH pg_settings AS (SELECT 1) SELECT 1), pg_settings", "pg_settings: not a table"),
    ("SELECT * FROM query('SELECT * FROM duckdb_settings()')", "table function query(): refused"),
    ("SELECT * FROM query_table('pg_settings')", "table function query_table(): refused"),
    ("SELECT json_serialize_plan('SELECT * FROM mart_timeliness')", "json_serialize_plan(): refused"),
    ("SELECT * FROM json_execute_serialized_sql('{}')", "table function json_execute_serialized_sql(): refused"),
    ("PRAGMA version", "a PRAGMA or another statement rewritten by DuckDB is not"),
    ("PRAGMA database_list", "a PRAGMA or another statement rewritten by DuckDB is not"),
    ("PRAGMA show_tables", "a PRAGMA or another statement rewritten by DuckDB is not"),
    ("EXPLAIN SELECT * FROM mart_timeliness", "statement type: EXPLAIN"),
    ("SHOW ALL TABLES", "SHOW __show_tables_expanded: refused"),
    ("SELECT * FROM system.main.duckdb_tables", "system.main.duckdb_tables: not a table"),
])
def test_every_way_out_is_refused(published, sql, message):
    with pytest.raises(QueryError, match=re.escape(message)):
        run_query(published, sql)


def test_configuration_cannot_be_reopened_from_a_select(published):
    with pytest.raises(QueryError):
        run_query(published, "SELECT * FROM read_csv((SELECT current_setting('temp_directory')))")


@pytest.mark.parametrize("sql, rows", [
    ("DESCRIBE mart_timeliness", None),
    # every file of the release: the dictionary, the marts, and the core tables as core_<table>
    ("SHOW TABLES", sorted([("dictionary",), *((n.split(".")[1],) for n in MARTS),
                            *((n.replace(".", "_"),) for n in TABLES if n.startswith("core."))])),
    ("WITH t AS (SELECT territory_id FROM mart_timeliness) SELECT count(*) FROM t", [(14,)]),
    ("FROM mart_timeliness SELECT count(*)", [(14,)]),
    ("VALUES (1, 'a')", [(1, "a")]),
    ("SELECT sum(range) FROM range(5)", [(10,)]),
    ("SELECT count(*) FROM generate_series(1, 3), unnest([1, 2])", [(6,)]),
    ("SELECT count(*) FROM main.mart_timeliness", [(14,)]),
])
def test_reads_that_are_accepted(published, sql, rows):
    result = run_query(published, sql)
    if rows is None:  # DESCRIBE: one row per column of the mart, read from its own Parquet file
        import pyarrow.parquet as pq

        names = pq.read_schema(published / "current" / "mart_timeliness.parquet").names
        assert [r[0] for r in result.rows] == names
    else:
        assert [tuple(r) for r in result.rows] == rows


def test_nothing_but_the_release_files_is_readable(published, tmp_path, monkeypatch):
    """Below the SQL checks, the connection itself reads the release's Parquet files and nothing else: not
    DuckDB's default temporary folder `<cwd>/.tmp/`, not the marts folder, not the release's other files."""
    import duckdb

    from qp_analytics.publication.query import connect_marts

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "s.csv").write_text("secret\n42\n")
    con, release, views = connect_marts(published)
    try:
        assert views == {p.stem for p in release.glob("*.parquet")} and "mart_timeliness" in views
        assert con.execute("SELECT count(*) FROM mart_timeliness").fetchone() == (14,)
        own = release / "mart_timeliness.parquet"
        assert con.execute(f"SELECT count(*) FROM read_parquet('{own}')").fetchone() == (14,)
        for path in (".tmp/s.csv", str(tmp_path / ".tmp" / "s.csv"), str(release / "release.json"),
                     str(release / "dictionary.md"), "/etc/hostname"):
            with pytest.raises(duckdb.PermissionException):
                con.execute(f"SELECT * FROM read_csv('{path}')").fetchall()
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN ('temp_directory', "
                                    "'allowed_directories', 'memory_limit', 'threads', 'enable_external_access', "
                                    "'lock_configuration')").fetchall())
        assert settings == {"temp_directory": "", "allowed_directories": "[]", "memory_limit": "1.0 GiB",
                            "threads": "2", "enable_external_access": "false", "lock_configuration": "true"}
        for statement in ("SET temp_directory = '.tmp'", "SET enable_external_access = true",
                          "SET allowed_directories = ['/']", "SET memory_limit = '10GiB'", "RESET lock_configuration"):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                con.execute(statement)
    finally:
        con.close()


def test_a_long_query_is_stopped_by_the_time_limit(published):
    started = time.monotonic()
    with pytest.raises(QueryError, match=r"^query stopped after 0.5 s \(the time limit; --timeout SECONDS to "
                                         r"change it\)$") as caught:
        run_query(published, "SELECT count(*) FROM range(1000000000000::BIGINT)", Limits(timeout=0.5))
    assert caught.value.status == 1
    assert time.monotonic() - started < 10


def test_a_query_over_the_memory_limit_ends_with_duckdbs_message(published):
    sql = ("SELECT count(*) FROM (SELECT range AS k, string_agg(range::VARCHAR, ',') FROM range(20000000) "
           "GROUP BY k)")
    with pytest.raises(QueryError, match=r"^query stopped: Out of Memory Error: .* \(the memory limit is 64MiB; "
                                         r"--memory-limit to change it\)$") as caught:
        run_query(published, sql, Limits(memory_limit="64MiB", threads=1))
    assert caught.value.status == 1 and "\n" not in str(caught.value)


def test_cli_limits_end_in_one_line_with_status_1(published):
    base = [sys.executable, "-m", "pipelines.cli.main", "query", "--marts-dir", str(published)]
    proc = subprocess.run([*base, "SELECT count(*) FROM range(1000000000000::BIGINT)", "--timeout", "0.5"],
                          capture_output=True, text=True, cwd=REPO)
    assert (proc.returncode, proc.stderr) == (1, "error: query stopped after 0.5 s (the time limit; --timeout "
                                                 "SECONDS to change it)\n")
    proc = subprocess.run([*base, "SELECT 1", "--memory-limit", "lots"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --memory-limit lots: ")
    assert len(proc.stderr.splitlines()) == 1
    proc = subprocess.run([*base, "SELECT count(*) FROM mart_timeliness", "--threads", "1", "--format", "csv"],
                          capture_output=True, text=True, cwd=REPO)
    assert (proc.returncode, proc.stdout) == (0, "count_star()\n14\n")


def test_query_path_imports_nothing_heavy(published):
    """`qp-analytics query` answers in a fraction of a second: of the project, only the command line and the query
    modules are loaded; no polars, pandas, NumPy, pyarrow, dagster or GX (nor the document readers)."""
    code = ("import sys; from pipelines.cli.main import main\n"
            "try:\n    main(['query', '--marts-dir', sys.argv[1], 'SELECT count(*) FROM mart_timeliness'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pipelines', 'qp_analytics')))\n"
            "print(sorted(m for m in ('polars', 'pandas', 'numpy', 'pyarrow', 'dagster', 'great_expectations', "
            "'sqlalchemy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, str(published)], capture_output=True, text=True, cwd=REPO)
    *_, project, heavy = proc.stdout.splitlines()
    assert heavy == "[]", proc.stderr
    assert project == str(sorted(["pipelines", "pipelines.cli", "pipelines.cli.errors", "pipelines.cli.main",
                                  "pipelines.cli.report", "qp_analytics", "qp_analytics.publication",
                                  "qp_analytics.publication.query", "qp_analytics.publication.releases",
                                  "qp_analytics.text"])), proc.stderr


def test_cli_refuses_with_status_2(published):
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli.main", "query", "DELETE FROM mart_timeliness",
                           "--marts-dir", str(published)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: only read-only SELECT queries") and "Traceback" not in proc.stderr


def test_no_publication_yet(tmp_path):
    with pytest.raises(QueryError, match="no published marts yet"):
        run_query(tmp_path / "empty", "SELECT 1")


@pytest.mark.slow
def test_queries_during_a_materialisation_answer_published_figures(tmp_path):
    """While a run publishes new marts (as_of B), every query answers one complete set: A or B, never a mix."""
    raw = tmp_path / "raw"
    subprocess.run([sys.executable, "-m", "pipelines.cli.main", "generate", "--territories", "20", "--out", str(raw)],
                   check=True, capture_output=True, cwd=REPO)
    marts = tmp_path / "marts"
    common = ["--raw-dir", str(raw), "--warehouse", str(tmp_path / "w.duckdb"), "--marts-dir", str(marts)]
    cli = [sys.executable, "-m", "pipelines.cli.main", "materialize", *common]
    subprocess.run([*cli, "--as-of", "2023-01-01"], check=True, capture_output=True, cwd=REPO)
    sql = ("SELECT (SELECT min(as_of) FROM mart_timeliness), (SELECT max(as_of) FROM mart_partner_mobilisation), "
           "(SELECT max(as_of) FROM mart_evaluation_national), (SELECT count(*) FROM mart_timeliness)")
    run = subprocess.Popen([*cli, "--as-of", "2024-01-01"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd=REPO)
    seen = set()
    deadline = time.monotonic() + 300
    while run.poll() is None and time.monotonic() < deadline:
        (a, b, c, n), = run_query(marts, sql).rows
        assert a == b == c and n == 20
        seen.add(a)
    assert run.wait(timeout=300) == 0
    (a, b, c, n), = run_query(marts, sql).rows
    assert a == b == c == dt.date(2024, 1, 1) and n == 20
    assert seen <= {dt.date(2023, 1, 1), dt.date(2024, 1, 1)} and seen
