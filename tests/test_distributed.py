"""Beyond one machine, for real: a PostgreSQL server on loopback holds the Dagster instance (dagster-postgres,
the shipped deploy/dagster-postgres.yaml) and Celery's broker and results; a Celery worker started with the
shipped deploy/celery settings runs the steps of `qp-analytics materialize --executor celery`. Without the
distributed extra that installs them, nothing imports them, and what needs them says how to install it."""

import datetime as dt
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.celery_presence import EVERY, FRESH, PRESENCE_ID, keep_saying_alive, last_seen, require_a_worker
from pipelines.definitions import defs
from tests.conftest import RAW, REPO
from tests.pg_server import PgServer

AS_OF = "2023-06-30"
# what the distributed extra installs (dagster-celery, dagster-postgres) and what they alone bring
EXTRA_MODULES = ("dagster_celery", "dagster_postgres", "celery", "kombu", "psycopg2")


def content(warehouse: Path) -> dict[str, list[tuple]]:
    from qp_analytics.schema import TABLES

    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, table in TABLES.items():
            cols = ", ".join(f'"{c}"' for c in table.column_names
                             if c not in {"read_at", "parsed_at", "rejected_at", "recorded_at"})
            out[name] = con.execute(f"SELECT {cols} FROM {name} ORDER BY ALL").fetchall()
    return out


@pytest.fixture
def postgres():
    server = PgServer().start()
    try:
        server.create_database("dagster")
        server.create_database("celery")
        yield server
    finally:
        server.cleanup()


def deployment_env(tmp_path: Path, postgres: PgServer) -> dict[str, str]:
    """The environment of the deployment docs/distributed.md gives: DAGSTER_HOME with the shipped
    dagster-postgres.yaml, the instance, broker and results on the loopback PostgreSQL; nothing of the caller's
    QP_ settings."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    return {k: v for k, v in os.environ.items() if not k.startswith("QP_")} | {
        "DAGSTER_HOME": str(home),
        "QP_DAGSTER_PG_URL": postgres.url("dagster"),
        "QP_CELERY_BROKER": postgres.url("celery", "sqla+postgresql+psycopg2"),
        "QP_CELERY_BACKEND": postgres.url("celery", "db+postgresql+psycopg2"),
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """A Celery worker as docs/distributed.md starts one; returns once it says it is ready."""
    worker_env = env | {"PYTHONPATH": str(REPO / "deploy" / "celery")}
    cmd = [sys.executable, "-m", "celery", "-A", "dagster_celery.app", "worker", "-Q", "dagster", "-n", "qp-test@%h",
           "--pool=prefork", "--concurrency=2", "--loglevel=INFO", "--without-gossip", "--without-mingle",
           "--without-heartbeat"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=worker_env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the Celery worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if " ready." in log.read_text():
            return proc
        time.sleep(0.2)
    stop_worker(proc)
    pytest.fail(f"the Celery worker was not ready within 180 s:\n{log.read_text()[-3000:]}")


def stop_worker(proc: subprocess.Popen) -> int:
    """Warm shutdown (SIGTERM to the worker itself); its pool processes must end with it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return proc.returncode
    os.killpg(proc.pid, signal.SIGKILL)  # a straggler: reported as a failure below
    return -999


@pytest.mark.slow  # a server and two runs
def test_materialize_on_celery_workers_with_the_instance_on_postgres(tmp_path, small_raw, postgres):
    raw, specs = small_raw
    env = deployment_env(tmp_path, postgres)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        out = subprocess.run(
            [sys.executable, "-c", "from pipelines.cli.main import main; main()", "materialize", "--raw-dir", str(raw),
             "--warehouse", str(tmp_path / "celery" / "w.duckdb"), "--marts-dir", str(tmp_path / "celery" / "marts"),
             "--report-dir", str(tmp_path / "celery" / "report"), "--as-of", AS_OF, "--executor", "celery"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    finally:
        worker_status = stop_worker(worker)
    worker_log = (tmp_path / "worker.log").read_text()
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr[-3000:]}\n--- worker ---\n{worker_log[-3000:]}"
    assert worker_status == 0, worker_log[-3000:]
    assert f"Materialised {len(specs)}/{len(specs)} territories" in out.stdout
    assert "Warning" not in out.stderr and "No Celery worker" not in out.stderr, out.stderr[-3000:]
    assert f"checks: {len(defs.resolve_asset_graph().asset_check_keys)} passed, 0 failed" in out.stdout

    # the steps ran on the worker, recorded in PostgreSQL's event log
    runs = postgres.query("dagster", "SELECT run_id, status, pipeline_name FROM runs")
    assert [(status, job) for _, status, job in runs] == [("SUCCESS", "evaluation_refresh_celery")]
    run_id = runs[0][0]
    counts = dict(postgres.query("dagster", f"SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = "
                                            f"'{run_id}' GROUP BY 1"))
    assert counts["STEP_SUCCESS"] == counts["STEP_START"] >= 10 and "STEP_FAILURE" not in counts
    assert counts["ASSET_MATERIALIZATION"] >= 20
    # one Celery task per step, each run by the worker
    assert len(re.findall(r"Task execute_plan\[[0-9a-f-]+\] succeeded", worker_log)) == counts["STEP_SUCCESS"]
    assert postgres.query("celery", "SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")[0][0] >= 10

    # the same warehouse as one in-process run of the same files
    local = tmp_path / "local"
    done = subprocess.run(
        [sys.executable, "-c", "from pipelines.cli.main import main; main()", "materialize", "--raw-dir", str(raw),
         "--warehouse", str(local / "w.duckdb"), "--marts-dir", str(local / "marts"), "--report-dir",
         str(local / "report"), "--as-of", AS_OF], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert content(tmp_path / "celery" / "w.duckdb") == content(local / "w.duckdb")


@pytest.mark.slow
def test_a_worker_says_it_is_alive_and_a_silent_one_is_not_counted(tmp_path):
    """The presence record on a result backend of the same kind (SQLAlchemy, on SQLite here): none, fresh, old."""
    from celery import Celery

    db = tmp_path / "results.db"
    backend = f"db+sqlite:///{db}"
    assert "no worker has ever said so there" in require_a_worker(backend)
    assert require_a_worker(None) is None and require_a_worker("rpc://") is None  # cannot tell: not refused
    stop = keep_saying_alive(Celery("worker", backend=backend), "w1@host")
    try:
        when, worker = last_seen(backend)
        assert worker == "w1@host" and abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < EVERY
        assert require_a_worker(backend) is None
    finally:
        stop.set()
    # the same record written FRESH + 5 s ago: that worker has gone quiet
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=FRESH + 5)).isoformat()
    with sqlite3.connect(db) as con:
        con.execute("UPDATE celery_taskmeta SET result = ? WHERE task_id = ?",
                    [f'{{"worker": "w1@host", "at": "{old}"}}'.encode(), PRESENCE_ID])
    missing = require_a_worker(backend)
    assert missing and f"the last one, w1@host, {FRESH + 5:.0f} s ago" in missing
    # dated well ahead of this clock (a worker whose clock is wrong): not counted either, and said so
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=FRESH + 60)).isoformat()
    with sqlite3.connect(db) as con:
        con.execute("UPDATE celery_taskmeta SET result = ? WHERE task_id = ?",
                    [f'{{"worker": "w1@host", "at": "{ahead}"}}'.encode(), PRESENCE_ID])
    assert "ahead of this machine's clock" in require_a_worker(backend)
    assert "cannot be read" in require_a_worker(f"db+sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")


@pytest.mark.slow  # a server
def test_a_celery_run_with_no_worker_is_refused_before_anything_is_queued(tmp_path, small_raw, postgres):
    raw, _ = small_raw
    env = deployment_env(tmp_path, postgres)
    out = subprocess.run(
        [sys.executable, "-c", "from pipelines.cli.main import main; main()", "materialize", "--raw-dir", str(raw),
         "--warehouse", str(tmp_path / "w.duckdb"), "--marts-dir", str(tmp_path / "marts"), "--as-of", AS_OF,
         "--executor", "celery"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "no Celery worker is there to run the steps" in out.stderr
    assert "no worker has ever said so there" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "w.duckdb").exists() and not (tmp_path / "marts").exists()
    # nothing queued for a worker to find later, no run in the instance
    queued = postgres.query("celery", "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'kombu%'")
    assert queued == [(0,)]
    assert postgres.query("dagster", "SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'") \
        == [(0,)]


@pytest.mark.slow  # waits for the notices
def test_a_run_whose_steps_no_worker_takes_says_so(monkeypatch):
    """The notices of a started Celery run that waits for workers (an instance that answers as Dagster's would,
    presence records as the workers write them): after notice_after without a step started; none once one has
    started while a worker says it is alive; after workers_gone_after since the last worker said so; none once
    one is back."""
    import datetime as dt
    import types

    from pipelines import celery_presence
    from pipelines.run.celery_watch import INVOCATION_TAG, WatchTimes, watch_celery_run

    times = WatchTimes(notice_after=1.5, workers_gone_after=40.0, presence_every=0.2)  # notice_again: 300 s
    state = {"created": False, "started": False, "asked": [], "alive_ago": 5.0, "backends": []}

    class Instance:
        def get_run_records(self, filters, limit):
            state["asked"].append(filters.tags)
            return [types.SimpleNamespace(dagster_run=types.SimpleNamespace(run_id="r1"))] if state["created"] else []

        def get_records_for_run(self, run_id, of_type, limit):
            assert run_id == "r1" and of_type.value == "STEP_START"
            return types.SimpleNamespace(records=[object()] if state["started"] else [])

    def last_seen(backend):
        state["backends"].append(backend)
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=state["alive_ago"]), "worker@host"

    monkeypatch.setattr(celery_presence, "last_seen", last_seen)

    def wait_for(count):
        deadline = time.monotonic() + 30
        while len(said) < count and time.monotonic() < deadline:
            time.sleep(0.2)

    said: list[str] = []
    with watch_celery_run(Instance(), "tok", "db+postgresql://u@h/b", said.append, times):
        time.sleep(2.5)
        assert said == []  # the run is not created yet: nothing is counted
        state["created"] = True
        wait_for(1)
        assert len(said) == 1 and "No Celery worker has started a step of this run after" in said[0]
        state["started"] = True
        time.sleep(2.5)
        assert len(said) == 1 and state["backends"]  # a worker said it was alive 5 s ago: nothing to say
        state["alive_ago"] = 95.0  # every worker stopped with steps left
        wait_for(2)
        assert len(said) == 2 and "No Celery worker has said it was alive for 9" in said[1]
        assert "worker@host" in said[1] and "stay as they were" in said[1]
        time.sleep(1.5)
        assert len(said) == 2  # told once, not at every look (again after NOTICE_AGAIN)
        state["alive_ago"] = 3.0  # one is back
        time.sleep(1.5)
    assert len(said) == 2
    assert state["asked"] and all(tags == {INVOCATION_TAG: "tok"} for tags in state["asked"])
    assert set(state["backends"]) == {"db+postgresql://u@h/b"}


def without_extra(args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO,
                  blocked: tuple[str, ...] = EXTRA_MODULES) -> subprocess.CompletedProcess:
    """`qp-analytics ARGS` in a Python where the distributed extra is not installed: importing any of its modules
    fails as it would there (a None in sys.modules makes `import` raise ModuleNotFoundError)."""
    code = (f"import sys; sys.modules.update(dict.fromkeys({list(blocked)!r})); "
            "from pipelines.cli.main import main; main()")
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_the_command_line_and_the_graph_import_nothing_of_the_extra():
    """What every run imports (the command line, the run, the definitions, the schedule and sensor, the jobs of
    the out-of-process executors) leaves Celery and PostgreSQL's packages out, though they are installed here."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, pipelines.cli.main, pipelines.run, pipelines.definitions, "
         "pipelines.automation, pipelines.executors; pipelines.executors.multiprocess_job(); "
         f"print(sorted(m for m in sys.modules if m.split('.')[0] in {list(EXTRA_MODULES)!r}))"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"


def test_a_celery_run_without_the_extra_says_which_extra_to_install(tmp_path):
    home = tmp_path / "empty_home"  # an instance folder with no dagster.yaml: never reached, the extra comes first
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_")} | {"DAGSTER_HOME": str(home)}
    out = without_extra(["materialize", "--raw-dir", str(RAW), "--warehouse", str(tmp_path / "w.duckdb"),
                         "--marts-dir", str(tmp_path / "marts"), "--executor", "celery"], env)
    assert (out.returncode, out.stdout) == (2, ""), out.stderr[-3000:]
    assert out.stderr == ("error: the celery executor needs the optional dependencies of PostgreSQL and Celery, not "
                          "installed here (no module dagster_celery): install the extra with `pip install -e "
                          "'.[distributed]' -c requirements-dev.lock` (see docs/distributed.md)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_home"] and not any(home.iterdir())


def test_an_instance_on_postgres_without_the_extra_says_which_extra_to_install(tmp_path):
    """DAGSTER_HOME's dagster.yaml names PostgreSQL (the shipped deploy file): refused before anything is read,
    locked or copied, in one line, rather than by Dagster's error from deep in its configuration."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_")} | {
        "DAGSTER_HOME": str(home), "QP_DAGSTER_PG_URL": "postgresql+psycopg2://qp@127.0.0.1:9/dagster"}
    out = without_extra(["materialize", "--raw-dir", str(RAW), "--warehouse", str(tmp_path / "w.duckdb"),
                         "--marts-dir", str(tmp_path / "marts")], env)
    assert (out.returncode, out.stdout) == (2, ""), out.stderr[-3000:]
    assert out.stderr == (f"error: the Dagster instance of {home / 'dagster.yaml'} (on PostgreSQL) needs the "
                          "optional dependencies of PostgreSQL and Celery, not installed here (no module "
                          "dagster_postgres): install the extra with `pip install -e '.[distributed]' -c "
                          "requirements-dev.lock` (see docs/distributed.md)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dagster_home"]


@pytest.mark.slow  # runs the pipeline
def test_an_in_process_run_goes_through_without_the_extra(tmp_path, small_raw):
    raw, specs = small_raw
    out = without_extra(["materialize", "--raw-dir", str(raw), "--warehouse", str(tmp_path / "w.duckdb"),
                         "--marts-dir", str(tmp_path / "marts"), "--as-of", AS_OF])
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"Materialised {len(specs)}/{len(specs)} territories" in out.stdout
