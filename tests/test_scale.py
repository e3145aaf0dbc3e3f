"""Scale: unchanged files are not read again, parsing in worker processes gives the same rows as in one process,
steps in parallel processes share the warehouse without lock failures."""

import datetime as dt
import re
import subprocess
import sys
import textwrap

import duckdb
import polars as pl
import pytest

from pipelines.definitions import defs
from pipelines.run import RunOptions, RunRequestError, run_pipeline
from qp_analytics import parallel
from qp_analytics.normalise.rows import parse_documents, parse_roadmaps, read_conventions
from qp_analytics.schema import MARTS, TABLES
from qp_analytics.warehouse.incremental import NOT_SHAPING_ROWS, PACKAGE, sources_digest
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # runs the pipeline or a server: the full tier only

AS_OF = dt.date(2023, 6, 30)
WHEN = {"read_at", "parsed_at", "rejected_at", "recorded_at"}


def rows(warehouse, sql):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def content(warehouse) -> dict[str, list[tuple]]:
    """Every table's rows without the times at which they were written."""
    out = {}
    for name, table in TABLES.items():
        cols = ", ".join(f'"{c}"' for c in table.column_names if c not in WHEN)
        out[name] = rows(warehouse, f"SELECT {cols} FROM {name} ORDER BY ALL")
    return out


def times(warehouse) -> dict[str, dict[str, object]]:
    return {
        "read": dict(rows(warehouse, "SELECT territory_id, read_at FROM raw.convention_documents")),
        "parse": dict(rows(warehouse, "SELECT territory_id, parsed_at FROM staging.convention_parses")),
        "roadmap": dict(rows(warehouse, "SELECT territory_id, parsed_at FROM staging.roadmap_parses")),
    }


def validated(warehouse) -> dict[tuple[str, str], object]:
    """When each content last passed the suites: (stage, territory or '*') -> recorded_at."""
    return {(stage, tid): at for stage, tid, at in rows(
        warehouse, "SELECT stage, territory_id, recorded_at FROM staging.input_fingerprints "
                   "WHERE stage LIKE '%_validated%'")}


def changed(before: dict, after: dict) -> dict[str, list[str]]:
    return {stage: sorted(t for t in after[stage] if after[stage][t] != before[stage].get(t)) for stage in before}


def run(raw, warehouse, marts, territories=(), **options):
    summary = run_pipeline(raw, warehouse, marts, AS_OF, list(territories), echo=lambda m: None,
                           options=RunOptions(**options))
    assert summary.exit_code == 0, summary.render()
    return summary


def test_unchanged_files_are_not_read_again(tmp_path, raw_copy):
    warehouse, marts = tmp_path / "w.duckdb", tmp_path / "marts"
    first_run = run(raw_copy, warehouse, marts)
    report_page = marts.parent / "report" / "territoires" / "laval.html"
    drawn = report_page.stat().st_mtime_ns
    assert not first_run.release_unchanged
    first, first_times, first_validated = content(warehouse), times(warehouse), validated(warehouse)
    conventions_validated = {t for stage, t in first_validated if stage == "core_validated:core.conventions"}
    assert conventions_validated == set(first_times["read"]) and len(conventions_validated) == 14
    assert ("registry_validated", "*") in first_validated
    assert {stage for stage, t in first_validated if stage.startswith("marts_validated:")} == {
        f"marts_validated:{name}" for name in MARTS}
    first_fields = rows(warehouse, "SELECT * EXCLUDE (source_sha256) FROM core.conventions ORDER BY territory_id")

    again = run(raw_copy, warehouse, marts)
    assert again.unchanged == {"conventions": 14, "roadmaps": 14, "avenant sets": 14}
    assert changed(first_times, times(warehouse)) == {"read": [], "parse": [], "roadmap": []}
    assert content(warehouse) == first
    assert "unchanged since the last run, not read again: 14 conventions" in again.render()
    assert validated(warehouse) == first_validated  # the same rows: nothing validated again
    assert again.release_unchanged and again.release == first_run.release  # the same marts: no new release
    assert "Marts unchanged:" in again.render()

    # one byte more in laval's convention: a new sha256, so laval alone is read and parsed again
    laval = raw_copy / "conventions" / "laval.txt"
    laval.write_bytes(laval.read_bytes() + b"\n")
    after_edit = run(raw_copy, warehouse, marts)
    assert after_edit.unchanged["conventions"] == 13
    assert changed(first_times, times(warehouse)) == {"read": ["laval"], "parse": ["laval"], "roadmap": []}
    edited = content(warehouse)
    fields = "SELECT * EXCLUDE (source_sha256) FROM core.conventions ORDER BY territory_id"
    assert rows(warehouse, fields) == first_fields  # same text once read: the same fields, a new sha256
    assert edited["raw.convention_documents"] != first["raw.convention_documents"]  # new sha256 and length
    # laval's row in core.conventions changed (the convention's sha256), none of its other rows: that row alone
    # is validated again; the marts are the same rows
    assert [k for k, at in validated(warehouse).items() if at != first_validated[k]] == [
        ("core_validated:core.conventions", "laval")]

    # the release carries the core tables: core_conventions holds laval's new sha256, so a new release, whose
    # marts are the same bytes and whose workbook of the marts is the first one's, copied
    assert after_edit.release != first_run.release
    for name in [*(f"{n.split('.')[1]}.parquet" for n in MARTS), "marts.xlsx"]:
        assert (after_edit.release / name).read_bytes() == (first_run.release / name).read_bytes(), name
    index = marts.parent / "report" / "index.html"
    # the national page names the new release; laval's page shows the same figures: left as it was drawn
    assert after_edit.release.name in index.read_text() and report_page.stat().st_mtime_ns == drawn

    # --reprocess reads everything again, and gives the same rows as the incremental runs
    reprocessed = run(raw_copy, warehouse, marts, reprocess=True)
    assert not reprocessed.release_unchanged and reprocessed.release != first_run.release
    assert reprocessed.release.name in index.read_text() and report_page.stat().st_mtime_ns == drawn
    assert reprocessed.unchanged == {"conventions": 0, "roadmaps": 0, "avenant sets": 0}
    assert all(len(ids) == 14 for ids in changed(first_times, times(warehouse)).values())
    assert content(warehouse) == edited

    # laval's roadmap deadline, six months -> seven: its convention row and the excerpt the field was read from
    # change, nothing else of its core rows; the suites run again on those rows and on the marts that moved
    before_deadline = validated(warehouse)
    laval.write_text(laval.read_text(encoding="utf-8").replace("délai de six mois", "délai de sept mois", 1),
                     encoding="utf-8")
    deadline_run = run(raw_copy, warehouse, marts)
    assert rows(warehouse, "SELECT roadmap_deadline_months FROM core.conventions WHERE territory_id = 'laval'"
                ) == [(7,)]
    moved = sorted(f"marts_validated:marts.{path.stem}" for path in deadline_run.release.glob("mart_*.parquet")
                   if path.read_bytes() != (reprocessed.release / path.name).read_bytes())
    assert moved and "marts_validated:marts.mart_timeliness" in moved  # the due date moves a month
    assert deadline_run.release.name in report_page.read_text()  # laval's page shows it: drawn again
    assert sorted(stage for (stage, t), at in validated(warehouse).items() if at != before_deadline.get((stage, t))
                  ) == ["core_validated:core.convention_field_sources", "core_validated:core.conventions", *moved]



def marts_computed(warehouse) -> dict[str, object]:
    """When each territory's marts were last computed (the marts' fingerprints)."""
    return dict(rows(warehouse, "SELECT territory_id, recorded_at FROM staging.input_fingerprints "
                                "WHERE stage = 'marts'"))


def assert_marts_as_computed_at_once(warehouse, as_of):
    """Every mart as the warehouse holds it: the rows compute_marts gives for every territory of
    core.territories at once, from the same core tables."""
    from qp_analytics.marts.compute import compute_marts
    from qp_analytics.warehouse.database import holds

    with duckdb.connect(str(warehouse), read_only=True) as con:
        ids = [t for (t,) in con.execute("SELECT territory_id FROM core.territories ORDER BY 1").fetchall()]
        for name, frame in compute_marts(con, ids, as_of).items():
            assert holds(con, name, frame, None, MARTS), name


def test_marts_are_computed_again_for_the_territories_whose_inputs_changed(tmp_path, raw_copy):
    warehouse, marts = tmp_path / "w.duckdb", tmp_path / "marts"
    first = run(raw_copy, warehouse, marts)
    computed = marts_computed(warehouse)
    assert len(computed) == 14
    assert_marts_as_computed_at_once(warehouse, AS_OF)

    # laval's roadmap deadline, six months -> seven: laval's marts alone are computed again
    laval = raw_copy / "conventions" / "laval.txt"
    laval.write_text(laval.read_text(encoding="utf-8").replace("délai de six mois", "délai de sept mois", 1),
                     encoding="utf-8")
    edited = run(raw_copy, warehouse, marts)
    after = marts_computed(warehouse)
    assert [t for t in after if after[t] != computed[t]] == ["laval"]
    assert_marts_as_computed_at_once(warehouse, AS_OF)
    # published in the order of a release computed at once: by territory, each territory's rows as computed
    for path in edited.release.glob("mart_*.parquet"):
        published = pl.read_parquet(path)
        if "territory_id" in published.columns:
            assert published["territory_id"].to_list() == sorted(published["territory_id"].to_list()), path.name
    assert (edited.release / "mart_timeliness.parquet").read_bytes() != (
        first.release / "mart_timeliness.parquet").read_bytes()

    # rows of a territory territories.csv no longer lists (as one taken out of it leaves), in every mart by
    # territory and in the marts' fingerprints: removed by the next run, the other territories left as they are
    with duckdb.connect(str(warehouse)) as con:
        for name in MARTS:
            if "territory_id" in MARTS[name].column_names:
                con.execute(f"INSERT INTO {name} SELECT * REPLACE ('zz' AS territory_id) FROM {name} "
                            "WHERE territory_id = 'laval'")
        con.execute("INSERT INTO staging.input_fingerprints SELECT * REPLACE ('zz' AS territory_id) "
                    "FROM staging.input_fingerprints WHERE territory_id = 'laval' AND stage = 'marts'")
    assert "zz" in marts_computed(warehouse)
    run(raw_copy, warehouse, marts)
    assert marts_computed(warehouse) == after
    for name in MARTS:
        if "territory_id" in MARTS[name].column_names:
            assert rows(warehouse, f"SELECT count(*) FROM {name} WHERE territory_id = 'zz'") == [(0,)], name
    assert_marts_as_computed_at_once(warehouse, AS_OF)

    # another evaluation date: every territory's marts computed again
    later = dt.date(2024, 3, 31)
    summary = run_pipeline(raw_copy, warehouse, marts, later, [], echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    again = marts_computed(warehouse)
    assert len(again) == 14 and all(again[t] != after[t] for t in again)
    assert_marts_as_computed_at_once(warehouse, later)

def test_manifest_change_renormalises_without_reading(tmp_path, raw_copy):
    warehouse, marts = tmp_path / "w.duckdb", tmp_path / "marts"
    run(raw_copy, warehouse, marts)
    before = times(warehouse)
    provenance = "SELECT territory_id, source_provenance FROM core.conventions WHERE territory_id = 'laval'"
    assert rows(warehouse, provenance) == [("laval", "illustrative")]
    manifest = raw_copy / "manifest.csv"
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    laval_line = next(i for i, line in enumerate(lines) if line.startswith("conventions/laval.txt,"))
    assert ",illustrative," in lines[laval_line]
    lines[laval_line] = lines[laval_line].replace(",illustrative,", ",real,", 1)
    manifest.write_text("".join(lines), encoding="utf-8")

    run(raw_copy, warehouse, marts)
    assert rows(warehouse, provenance) == [("laval", "real")]  # core rebuilt from the stored parse
    assert changed(before, times(warehouse)) == {"read": [], "parse": [], "roadmap": []}


def test_a_restored_file_is_accepted_again(tmp_path, raw_copy):
    """A file rejected then put back as it was (the fingerprint of the last good data) is read again."""
    warehouse, marts = tmp_path / "w.duckdb", tmp_path / "marts"
    run(raw_copy, warehouse, marts)
    laval = raw_copy / "conventions" / "laval.txt"
    good = laval.read_bytes()
    laval.write_bytes(good.replace(b"Chef de file", "Référent".encode()))
    bad = run_pipeline(raw_copy, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert {(t, stage) for t, stage, _ in bad.rejections} == {("laval", "parse")}
    laval.write_bytes(good)
    restored = run(raw_copy, warehouse, marts)
    assert restored.rejections == [] and restored.unchanged["conventions"] == 13
    assert rows(warehouse, "SELECT count(*) FROM staging.rejections") == [(0,)]


def test_parsing_in_worker_processes_gives_the_same_rows(small_raw, monkeypatch):
    raw, specs = small_raw
    ids = sorted(specs)

    def stages(workers):
        read = read_conventions(raw, ids, ids, workers=workers)
        parsed = parse_documents(read.rows["raw.convention_documents"], workers=workers)
        roadmaps, absent = parse_roadmaps(raw, ids, workers=workers)
        frames = {**read.rows, **parsed.rows, **roadmaps.rows}
        return {name: frame.drop([c for c in frame.columns if c in WHEN]).rows() for name, frame in frames.items()}, \
            sorted(absent)

    one = stages(1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 2)  # five territories are enough to use the pool here
    calls = []
    real_pool = parallel.ProcessPoolExecutor

    def counting_pool(*args, **kwargs):
        calls.append(kwargs["max_workers"])
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", counting_pool)
    two = stages(2)
    assert calls == [2, 2, 2]  # read, parse and roadmaps each went through a pool of two workers
    assert two == one
    assert len(one[0]["staging.convention_parses"]) == len(ids)


def test_worker_count_follows_option_then_environment(monkeypatch):
    monkeypatch.setenv("QP_WORKERS", "3")
    assert parallel.worker_count(5) == 5
    assert parallel.worker_count(0) == 3
    monkeypatch.setenv("QP_WORKERS", "")
    assert parallel.worker_count(None) >= 1


def test_a_daemonic_process_does_its_work_itself(tmp_path):
    """A Celery worker's process is daemonic: multiprocessing lets it start no process of its own. There the
    worker count is one whatever is asked, and the pool's work and the workbook are done in the process itself."""
    import multiprocessing

    from qp_analytics.publication.exports import write_workbook

    (tmp_path / "r").mkdir()
    duckdb.execute(f"COPY (SELECT range AS i FROM range(3)) TO '{tmp_path / 'r' / 'mart_x.parquet'}'")

    def work(queue) -> None:
        try:
            queue.put((parallel.worker_count(4), list(parallel.map_ordered(abs, [-i for i in range(60)], 2)),
                       write_workbook(tmp_path / "r", {"mart_x": None}, tmp_path / "none").is_file()))
        except Exception as exc:  # noqa: BLE001 (told to the test)
            queue.put(repr(exc))

    context = multiprocessing.get_context("fork")  # the test's function, as it is here, in a daemonic child
    queue = context.Queue()
    child = context.Process(target=work, args=(queue,), daemon=True)
    child.start()
    try:
        assert queue.get(timeout=120) == (1, list(range(60)), True)
    finally:
        child.join(timeout=60)


WRITER = textwrap.dedent("""
    import sys
    from qp_analytics.warehouse.database import connect, transaction
    path, who = sys.argv[1], sys.argv[2]
    for i in range(15):
        with connect(path) as con, transaction(con):
            con.execute("CREATE TABLE IF NOT EXISTS t (who VARCHAR, i INTEGER)")
            con.execute("INSERT INTO t VALUES (?, ?)", [who, i])
""")


def test_processes_writing_at_once_take_turns(tmp_path):
    """Four processes writing the same DuckDB file at once: none fails, every write is there."""
    path = tmp_path / "shared.duckdb"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}"], stderr=subprocess.PIPE, text=True)
             for n in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert rows(path, "SELECT who, count(*) FROM t GROUP BY who ORDER BY who") == [(f"p{n}", 15) for n in range(4)]


def test_without_the_lock_a_second_writer_fails(tmp_path):
    """What the access lock prevents: DuckDB refuses a second process while one holds the file for writing."""
    from qp_analytics.warehouse.database import connect

    path = tmp_path / "held.duckdb"
    with connect(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        out = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r})"],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "lock" in out.stderr.lower()


def test_multiprocess_executor_gives_the_same_warehouse(tmp_path, raw_copy):
    """The whole graph with steps in parallel processes, as the command line runs it, against the same graph in
    one process; the steps' processes say nothing the user did not ask for (no Dagster debug lines or warnings)."""
    one, many = tmp_path / "one", tmp_path / "many"
    run(raw_copy, one / "w.duckdb", one / "marts")
    done = subprocess.run([sys.executable, "-m", "pipelines.cli.main", "materialize", "--raw-dir", str(raw_copy),
                           "--warehouse", str(many / "w.duckdb"), "--marts-dir", str(many / "marts"),
                           "--as-of", AS_OF.isoformat(), "--executor", "multiprocess"],
                          capture_output=True, text=True, cwd=REPO, timeout=900)  # the session's DAGSTER_HOME
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"checks: {len(defs.resolve_asset_graph().asset_check_keys)} passed, 0 failed" in done.stdout
    processes = re.search(r"steps ran in (\d+) processes", done.stdout)
    assert processes and int(processes.group(1)) > 1, done.stdout  # each step in a process of its own
    noise = [line for line in done.stderr.splitlines()
             if re.search(r"DEBUG|INFO|Warning|Traceback", line)]
    assert noise == [], noise[:5]
    assert content(many / "w.duckdb") == content(one / "w.duckdb")


def test_steps_fork_from_the_graph_unless_the_forkserver_serves_the_project(monkeypatch):
    """Python keeps one forkserver per process, with the modules and environment of its start: once the
    project's workers may use it, the multiprocess executor's steps start anew instead (spawn)."""
    from pipelines.run import step_start_method

    fresh = parallel.Forkserver()  # this process's forkserver as it is before anything asks it for workers
    assert not fresh.taken
    monkeypatch.setattr(parallel, "FORKSERVER", fresh)
    assert step_start_method() == {"forkserver": {"preload_modules": ["pipelines.step_server"]}}
    context = parallel.forkserver_context()  # as the worker pool and the validator ask for their processes
    assert context.get_start_method() == "forkserver" and fresh.taken
    assert step_start_method() == {"spawn": {}}


def test_code_version_leaves_out_what_shapes_no_row(tmp_path):
    """Editing the report (or another module listed as shaping no row) does not make every file be read again;
    editing a module that reads or parses does."""
    (tmp_path / "reader.py").write_text("x = 1\n")
    (tmp_path / "report.py").write_text("y = 1\n")
    base = sources_digest(tmp_path, exclude=["report.py"])
    named = sources_digest(tmp_path, ["report.py"])
    (tmp_path / "report.py").write_text("y = 2\n")
    assert sources_digest(tmp_path, exclude=["report.py"]) == base
    assert sources_digest(tmp_path, ["report.py"]) != named  # the report's own version follows it
    (tmp_path / "reader.py").write_text("x = 2\n")
    assert sources_digest(tmp_path, exclude=["report.py"]) != base
    # a folder counts as its files: a module of a folder left out is left out, the others stay
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "pages.py").write_text("z = 1\n")
    base = sources_digest(tmp_path, exclude=["report"])
    (tmp_path / "report" / "pages.py").write_text("z = 2\n")
    assert sources_digest(tmp_path, exclude=["report"]) == base
    assert sources_digest(tmp_path, exclude=["report.py"]) != base
    assert all((PACKAGE / name).exists() for name in NOT_SHAPING_ROWS)  # the list names real modules and folders
    shaping = {"reading/convention.py", "reading/roadmap.py", "normalise/rows.py", "text.py", "reading/documents.py",
               "warehouse/database.py"}
    assert all((PACKAGE / name).is_file() for name in shaping)
    assert not any(name == part or name.startswith(part + "/") for name in shaping for part in NOT_SHAPING_ROWS)


def test_celery_without_an_instance_is_refused_before_anything(tmp_path, raw_copy, monkeypatch):
    """The Celery executor needs the shared instance: refused before the warehouse is locked or copied."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(RunRequestError, match="DAGSTER_HOME"):
        run_pipeline(raw_copy, tmp_path / "w.duckdb", tmp_path / "marts", AS_OF, [], echo=lambda m: None,
                     options=RunOptions(executor="celery"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no warehouse, copy, lock or marts


def test_registry_changes_validate_again_and_warnings_stay(tmp_path, raw_copy):
    """Every territory's rows are checked against territories.csv: when it changes, rows that passed before are
    validated again. A warning (non-blocking) is shown on every run until it is mended, not only the first; the
    tables that passed in the same run are not validated again."""
    warehouse, marts = tmp_path / "w.duckdb", tmp_path / "marts"
    run(raw_copy, warehouse, marts)
    before = validated(warehouse)
    # rows of a territory territories.csv does not list (as a territory taken out of it leaves): a warning
    with duckdb.connect(str(warehouse)) as con:
        con.execute("INSERT INTO core.avenants (territory_id, number, extension_months, source_path, source_sha256) "
                    "SELECT 'zz', 1, 6, 'avenants/zz_avenant_1.txt', repeat('a', 64)")
    laval = raw_copy / "conventions" / "laval.txt"  # and in the same run, a convention row that changes and passes
    laval.write_bytes(laval.read_bytes() + b"\n")
    warned = run_pipeline(raw_copy, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert warned.failed_quality == [] and warned.release is not None
    assert warned.warned == ["core/avenants:great_expectations"]
    assert "check WARNING (non-blocking) core/avenants:great_expectations — territory_known" in warned.render()
    after = validated(warehouse)
    assert ("core_validated:core.avenants", "zz") not in after  # looked at again on the next run
    key = ("core_validated:core.conventions", "laval")
    assert after[key] != before[key]  # recorded, although another table warned
    again = run_pipeline(raw_copy, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert again.warned == warned.warned  # nothing changed: the warning is shown again
    assert validated(warehouse) == after  # and nothing else was validated again

    # a territory another one reuses a practice from, taken out of territories.csv (its files with it): the
    # other territory's rows, unchanged since they passed, now fail
    referenced = rows(warehouse, "SELECT min(reused_by) FROM core.practice_reuse")[0][0]
    registry = raw_copy / "territories.csv"
    registry.write_text("".join(line for line in registry.read_text(encoding="utf-8").splitlines(keepends=True)
                                if line.split(",")[0] != referenced), encoding="utf-8")
    for path in raw_copy.glob(f"*/{referenced}.*"):
        path.unlink()
    blocked = run_pipeline(raw_copy, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert blocked.failed_quality == ["core/practice_reuse:great_expectations"] and blocked.release is None
    detail = dict((name, d) for name, _, d in blocked.checks)["core/practice_reuse:great_expectations"]
    assert "reused_by_known" in detail and referenced in detail


def test_a_warehouse_held_open_is_one_database_for_its_connections(tmp_path):
    from qp_analytics.warehouse.database import Warehouse

    path = tmp_path / "w.duckdb"
    warehouse = Warehouse(path)
    with warehouse.held_open() as held:
        assert held is warehouse and warehouse.held
        with warehouse.connect() as a:
            a.execute("CREATE TABLE t AS SELECT 1 AS x")
        # read-only too (two configurations of one file would be refused by DuckDB), and side by side
        with warehouse.connect(read_only=True) as b, warehouse.transaction() as c:
            assert b.execute("SELECT x FROM t").fetchall() == [(1,)]
            c.execute("INSERT INTO t VALUES (2)")
        # the run owns the file meanwhile: another process cannot open it
        out = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}, read_only=True)"],
                             capture_output=True, text=True)
        assert out.returncode != 0 and "lock" in out.stderr.lower()
    assert not warehouse.held
    with warehouse.connect(read_only=True) as d:  # closed: opened again from the file, with everything written
        assert d.execute("SELECT sum(x) FROM t").fetchone() == (3,)
    # another process opens it now (nothing of this one holds it)
    out = subprocess.run([sys.executable, "-c", f"import duckdb; print(duckdb.connect({str(path)!r}, read_only=True)"
                          ".execute('SELECT count(*) FROM t').fetchone()[0])"], capture_output=True, text=True)
    assert out.stdout.strip() == "2", out.stderr


def test_parses_started_ahead_are_taken_only_for_the_same_text(small_raw, monkeypatch):
    """In a run that shares its workers, the conventions read are parsed meanwhile; the parse stage takes those
    results for rows equal to what was read, and parses a row that differs (here, a text changed) itself."""
    raw, specs = small_raw
    ids = sorted(specs)
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 2)

    def parses(frame, workers):
        result = parse_documents(frame, workers=workers)
        return result.rows["staging.convention_parses"].drop("parsed_at").rows(), result.rejections

    alone = read_conventions(raw, ids, ids, workers=1).rows["raw.convention_documents"]
    changed_id = ids[0]
    changed = alone.with_columns(text=pl.when(pl.col("territory_id") == changed_id)
                                 .then(pl.col("text").str.replace("Chef de file", "Référent", literal=True))
                                 .otherwise(pl.col("text")))
    assert changed["text"].to_list() != alone["text"].to_list()
    with parallel.run_workers(2) as run:
        read = read_conventions(raw, ids, ids, workers=2).rows["raw.convention_documents"]
        assert sorted(key for _, key in run.ahead) == ids  # each convention read was started ahead
        assert run.pool is not None  # kept for the parse to take
        ahead = parses(changed, 2)
        assert run.ahead == {} and run.pool is None  # all taken or dropped, the pool let go
    assert read.drop("read_at").rows() == alone.drop("read_at").rows()
    # the parse of the changed text is its own, not the one started ahead from the file's text
    assert ahead == parses(changed, 1)
    assert ahead != parses(alone, 1)


def test_work_ahead_needs_a_run_sharing_its_workers(monkeypatch):
    assert parallel.start_ahead(abs, [("a", -1)]) is False  # no run: nothing started
    with parallel.run_workers(1) as run:
        assert parallel.start_ahead(abs, [("a", -1)]) is False and run.ahead == {}
    with parallel.run_workers(2) as run:
        assert parallel.start_ahead(abs, [(i, -i) for i in range(20)], batch=8)
        futures = {id(future) for _, future, _ in run.ahead.values()}
        assert len(run.ahead) == 20 and len(futures) == 3  # batches of 8, 8 and 4
        # equal items are taken, a different one is computed; the order is the items'
        items = [-i for i in range(10)] + [-99]  # -99 under the key of -15
        assert list(parallel.map_ordered(abs, items, 2, min_parallel=1, key=lambda x: -x if x != -99 else 15)) \
            == [abs(i) for i in items]
        assert sorted(key for _, key in run.ahead) == [i for i in range(10, 20) if i != 15]
    assert run.ahead == {} and run.pool is None  # what was not taken is dropped when the run ends


def test_a_stage_whose_worker_died_leaves_the_next_stage_a_pool_that_works():
    """A worker that dies (here it exits: as when the system kills it for its memory) breaks the pool: the
    stage fails, and the run's next stage gets a new pool rather than the broken one."""
    import os
    from concurrent.futures.process import BrokenProcessPool

    with parallel.run_workers(2) as run:
        with pytest.raises(BrokenProcessPool):
            list(parallel.map_ordered(os._exit, [3] * 4, 2, min_parallel=1))
        assert run.pool is None and run.ahead == {}
        assert list(parallel.map_ordered(abs, [-1, -2, -3, -4], 2, min_parallel=1)) == [1, 2, 3, 4]


def test_a_run_draws_its_report_pages_ahead_and_publishes_the_report_a_drawing_gives(tmp_path, raw_copy,
                                                                                       monkeypatch):
    """With the marts of enough territories computed (the 14 of data/raw, the threshold lowered here), the marts
    step hands them to a worker that draws the report's pages while the run checks and publishes them, and the
    report step takes them: the report the run puts in place is, page for page, the one drawn afterwards from the
    same release by `build_report` alone."""
    import pipelines.marts.assets as marts_assets
    import qp_analytics.report.pages as pages_module
    from qp_analytics.report import report_folder
    from qp_analytics.report.pages import build_report

    started, handed = [], []
    real_start, real_take = marts_assets.start_pages_ahead, pages_module.PagesAhead.take
    monkeypatch.setenv("QP_WORKERS", "2")
    monkeypatch.setattr(marts_assets, "MIN_PARALLEL", 2)
    monkeypatch.setattr(marts_assets, "start_pages_ahead",
                        lambda marts, *args: started.append(sorted(marts)) or real_start(marts, *args))
    monkeypatch.setattr(pages_module.PagesAhead, "take", lambda self: handed.append(1) or real_take(self))
    marts = tmp_path / "marts"
    summary = run_pipeline(raw_copy, tmp_path / "w.duckdb", marts, AS_OF, [], echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    assert started == [sorted(name.split(".", 1)[1] for name in MARTS)] and handed == [1]
    again = build_report(marts, tmp_path / "again")
    published = report_folder(marts, None)
    pages = sorted(p.relative_to(published).as_posix() for p in published.rglob("*.html"))
    assert len(pages) == 15 and pages == sorted(p.relative_to(again.out_dir).as_posix()
                                                for p in again.out_dir.rglob("*.html"))
    for page in pages:
        assert (published / page).read_bytes() == (again.out_dir / page).read_bytes(), page


def test_a_refresh_hands_its_national_page_to_a_worker_made_ready_and_publishes_the_report_a_drawing_gives(
        tmp_path, raw_copy, monkeypatch):
    """A refresh of one territory whose convention changed in content, in a process that has not imported the
    chart modules (forced here: a run may import them while it waits for GX's import), makes a worker ready at its
    marts step, and its report step hands that worker the national page: this process draws none, and the report
    the run puts in place has each page as it was before the refresh (kept: the territory's inputs did not change)
    or as `build_report` draws it afterwards from the same release, and the national page and the territory's are
    drawn again."""
    import pipelines.marts.assets as marts_assets
    from qp_analytics.report import report_folder
    from qp_analytics.report.pages import build_report
    from qp_analytics.report.rendering import Renderer

    monkeypatch.setenv("QP_WORKERS", "2")
    marts, warehouse = tmp_path / "marts", tmp_path / "w.duckdb"
    assert run_pipeline(raw_copy, warehouse, marts, AS_OF, [], echo=lambda m: None).exit_code == 0
    published = report_folder(marts, None)
    before = {p.relative_to(published).as_posix(): p.read_bytes() for p in published.rglob("*.html")}
    convention = raw_copy / "conventions" / "grand-narbonne.txt"
    text = convention.read_text(encoding="utf-8")
    assert "délai de six (6) mois" in text
    convention.write_text(text.replace("délai de six (6) mois", "délai de sept (7) mois", 1), encoding="utf-8")

    started, drawn_here = [], []
    real_start, national = marts_assets.start_pages_ahead, Renderer.national
    monkeypatch.setattr(marts_assets, "chart_modules_imported", lambda: False)
    monkeypatch.setattr(marts_assets, "start_pages_ahead",
                        lambda marts, *args: started.append(marts) or real_start(marts, *args))
    monkeypatch.setattr(Renderer, "national", lambda self, *args: drawn_here.append("index") or national(self, *args))
    summary = run_pipeline(raw_copy, warehouse, marts, AS_OF, ["grand-narbonne"], echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    assert started == [None] and drawn_here == []
    monkeypatch.setattr(Renderer, "national", national)
    again = build_report(marts, tmp_path / "again")
    published = report_folder(marts, None)
    pages = sorted(p.relative_to(published).as_posix() for p in published.rglob("*.html"))
    assert len(pages) == 15 and pages == sorted(before) == sorted(p.relative_to(again.out_dir).as_posix()
                                                                  for p in again.out_dir.rglob("*.html"))
    redrawn = [page for page in pages if (published / page).read_bytes() != before[page]]
    assert {"index.html", "territoires/grand-narbonne.html"} <= set(redrawn)
    for page in redrawn:
        assert (published / page).read_bytes() == (again.out_dir / page).read_bytes(), page
