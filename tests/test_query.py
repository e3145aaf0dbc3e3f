"""The analysts' query interface: read-only, confined to the published marts, answering during a run."""

import datetime as dt
import json
import subprocess
import sys
import time

import pytest

from pipelines.run import run_pipeline
from qp_analytics.query import QueryError, render, run_query
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
    ("SELECT * FROM read_csv('/etc/passwd')", "reaches outside the published marts"),
    ("SELECT * FROM read_text('/etc/hostname')", "reaches outside the published marts"),
    ("SELECT * FROM '/etc/passwd'", "Table with name /etc/passwd does not exist"),  # no replacement scan
    ("SELECT * FROM glob('/*')", "reaches outside"),
    ("SELECT * FROM read_parquet('data/marts/../warehouse.duckdb')", "reaches outside"),
])
def test_every_way_out_is_refused(published, sql, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(")):
        run_query(published, sql)


def test_configuration_cannot_be_reopened_from_a_select(published):
    with pytest.raises(QueryError):
        run_query(published, "SELECT * FROM read_csv((SELECT current_setting('temp_directory')))")
    setting = run_query(published, "SELECT current_setting('enable_external_access')").rows
    assert setting == [(False,)]


def test_cli_refuses_with_status_2(published):
    proc = subprocess.run([sys.executable, "-m", "qp_analytics.cli", "query", "DELETE FROM mart_timeliness",
                           "--marts-dir", str(published)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: only read-only SELECT queries") and "Traceback" not in proc.stderr


def test_no_publication_yet(tmp_path):
    with pytest.raises(QueryError, match="no published marts yet"):
        run_query(tmp_path / "empty", "SELECT 1")


def test_queries_during_a_materialisation_answer_published_figures(tmp_path):
    """While a run publishes new marts (as_of B), every query answers one complete set: A or B, never a mix."""
    raw = tmp_path / "raw"
    subprocess.run([sys.executable, "-m", "qp_analytics.cli", "generate", "--territories", "20", "--out", str(raw)],
                   check=True, capture_output=True, cwd=REPO)
    marts = tmp_path / "marts"
    common = ["--raw-dir", str(raw), "--warehouse", str(tmp_path / "w.duckdb"), "--marts-dir", str(marts)]
    cli = [sys.executable, "-m", "qp_analytics.cli", "materialize", *common]
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
