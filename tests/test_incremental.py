"""The one way every stage goes (qp_analytics.warehouse.incremental.run_stage), on a toy table: what it processes,
what it keeps, what it records, and that a run that changes nothing hands DuckDB no Python value."""

import datetime as dt
import hashlib
import subprocess
import sys
import textwrap

import polars as pl
import pytest

from qp_analytics.schema import Column, Table
from qp_analytics.warehouse.database import Warehouse, id_list
from qp_analytics.warehouse.incremental import Rejection, Stage, StageResult, code_version, fingerprint, run_stage

ITEMS = Table("toy.items", "One value per territory.", (
    Column("territory_id", "VARCHAR", "Territory.", key=True),
    Column("value", "INTEGER", "Its value.", nullable=False),
))
TOY = {ITEMS.name: ITEMS}
READ = Stage("toy_read", (ITEMS.name,), rejects=("toy",), definitions=TOY)


def values_of(inputs: dict[str, int]):
    """A compute step: each territory's value is its input times ten; a negative input is rejected."""
    seen: list[list[str]] = []

    def compute(todo: list[str], _: None) -> StageResult:
        seen.append(list(todo))
        good = [t for t in todo if inputs[t] >= 0]
        rows = ITEMS.frame([{"territory_id": t, "value": inputs[t] * 10} for t in good])
        return StageResult({ITEMS.name: rows}, good,
                           [Rejection(t, "toy", None, [f"{t}: negative input"]) for t in todo if inputs[t] < 0])

    return compute, seen


def table(warehouse: Warehouse, sql: str) -> list[tuple]:
    with warehouse.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_stage_processes_what_changed_or_was_rejected_and_keeps_the_rest(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    inputs = {"a": 1, "b": 2, "c": -1}

    def run(keys=("a", "b", "c")):
        compute, seen = values_of(inputs)
        done = run_stage(warehouse, READ, list(keys), current={t: f"v{v}" for t, v in inputs.items()},
                         compute=compute)
        return done, seen[0]

    first, todo = run()
    assert todo == ["a", "b", "c"] and first.unchanged == 0 and first.rejected == ["c"]
    assert table(warehouse, "SELECT * FROM toy.items ORDER BY 1") == [("a", 10), ("b", 20)]
    assert table(warehouse, "SELECT territory_id, stage, problem FROM staging.rejections") == [
        ("c", "toy", "c: negative input")]
    assert table(warehouse, "SELECT territory_id, fingerprint FROM staging.input_fingerprints "
                            "WHERE stage = 'toy_read' ORDER BY 1") == [("a", "v1"), ("b", "v2")]

    again, todo = run()  # nothing changed: only the territory rejected last time is looked at again
    assert todo == ["c"] and again.unchanged == 2

    inputs.update(a=3, c=4)  # a changed, c mended
    mended, todo = run()
    assert todo == ["a", "c"] and mended.rejected == []
    assert table(warehouse, "SELECT * FROM toy.items ORDER BY 1") == [("a", 30), ("b", 20), ("c", 40)]
    assert table(warehouse, "SELECT count(*) FROM staging.rejections") == [(0,)]

    inputs["b"] = -5  # rejected now: b keeps its last good row and its fingerprint
    _, todo = run(["b"])
    assert todo == ["b"]
    assert table(warehouse, "SELECT value FROM toy.items WHERE territory_id = 'b'") == [(20,)]
    assert table(warehouse, "SELECT fingerprint FROM staging.input_fingerprints WHERE territory_id = 'b'") == [
        ("v2",)]


def test_a_territory_rejected_upstream_is_left_as_it_is(tmp_path):
    """A stage after READ does not rebuild a territory whose input READ rejected: its rows stay its last good
    data, and no rejection of its own stays for it."""
    warehouse = Warehouse(tmp_path / "w.duckdb")
    run_stage(warehouse, READ, ["a", "b"], current={"a": "1", "b": "1"}, compute=values_of({"a": 1, "b": 2})[0])
    after = Stage("toy_double", (ITEMS.name,), rejects=("toy_double",), after=READ.rejects, definitions=TOY)
    compute, seen = values_of({"a": 5, "b": 6})
    with warehouse.transaction() as con:  # b rejected upstream since, and a rejection of b at this stage before
        con.execute("INSERT INTO staging.rejections VALUES ('b', 'toy', 1, NULL, 'bad', now()), "
                    "('b', 'toy_double', 1, NULL, 'old', now())")
    done = run_stage(warehouse, after, ["a", "b"], current=lambda con, ids: {t: "x" for t in ids}, compute=compute)
    assert seen == [["a"]] and done.considered == ["a"]
    assert table(warehouse, "SELECT * FROM toy.items ORDER BY 1") == [("a", 50), ("b", 20)]
    assert table(warehouse, "SELECT territory_id, stage FROM staging.rejections ORDER BY ALL") == [("b", "toy")]


def test_a_stage_reads_from_the_warehouse_what_it_processes(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    run_stage(warehouse, READ, ["a", "b"], current={"a": "1", "b": "1"}, compute=values_of({"a": 1, "b": 2})[0])
    double = Stage("toy_sum", (ITEMS.name,), definitions=TOY)
    read: list[list[str]] = []

    def stored(con, todo):
        read.append(todo)
        return con.execute(f"SELECT * FROM toy.items WHERE territory_id IN (SELECT unnest({id_list(todo)}))").pl()

    def doubled(todo, rows: pl.DataFrame) -> StageResult:
        return StageResult({ITEMS.name: rows.with_columns(pl.col("value") * 2)}, todo)

    def from_values(con, ids):
        return dict(con.execute("SELECT territory_id, value::VARCHAR FROM toy.items").fetchall())

    run_stage(warehouse, double, ["a", "b"], current=from_values, read=stored, compute=doubled)
    assert read == [["a", "b"]]
    assert table(warehouse, "SELECT * FROM toy.items ORDER BY 1") == [("a", 20), ("b", 40)]
    with pytest.raises(TypeError, match="expected a StageResult"):
        run_stage(warehouse, double, ["a"], current={"a": "other"}, read=stored)


RERUN = textwrap.dedent("""
    import sys
    from qp_analytics.schema import Column, Table
    from qp_analytics.warehouse import database
    from qp_analytics.warehouse.database import Warehouse, id_list
    from qp_analytics.warehouse.incremental import Stage, StageResult, run_stage

    items = Table("toy.items", "", (Column("territory_id", "VARCHAR", "", key=True), Column("value", "INTEGER", "")))
    whole = Stage(None, ("toy.items",), whole=True, definitions={"toy.items": items})
    incremental = Stage("toy_read", ("toy.items",), rejects=("toy",), definitions={"toy.items": items})
    warehouse, value = Warehouse(sys.argv[1]), int(sys.argv[2])
    inserts, insert = [], database._insert
    database._insert = lambda con, table, rows: inserts.append(rows.height) or insert(con, table, rows)
    rows = items.frame([{"territory_id": "a", "value": value}, {"territory_id": "b", "value": 2}])
    run_stage(warehouse, whole, ["a", "b"], compute=lambda todo, _: StageResult({"toy.items": rows}, todo))
    run_stage(warehouse, incremental, ["a", "b"], current={"a": "1", "b": "1"},
              compute=lambda todo, _: StageResult({"toy.items": rows.filter(rows["territory_id"].is_in(todo))}, todo))
    with warehouse.connect() as con:
        print(con.execute("SELECT list(value ORDER BY territory_id) FROM toy.items").fetchone()[0],
              sum(inserts), "pandas" in sys.modules)
""")


def test_a_run_that_changes_nothing_writes_nothing_and_no_write_imports_pandas(tmp_path):
    """DuckDB imports pandas (0.4 s) at the first bound parameter or Python object it scans: a stage whose rows are
    those stored, and an incremental stage with nothing to process, write no row and bind nothing; rows written
    reach DuckDB as a Parquet file, not as a Python object, so no write imports pandas either."""
    path = str(tmp_path / "w.duckdb")

    def run(value: int) -> str:
        return subprocess.run([sys.executable, "-c", RERUN, path, str(value)], capture_output=True, text=True,
                              check=True).stdout.strip()

    # the first run writes the whole stage's two rows; the incremental stage computes the same two rows, which the
    # table holds already: it writes only their two fingerprints
    assert run(1) == "[1, 2] 4 False"
    assert run(1) == "[1, 2] 0 False"  # the same rows, the same fingerprints: nothing written
    assert run(3) == "[3, 2] 2 False"  # the recomputed stage's rows changed: written


@pytest.mark.parametrize("values", [
    [],
    ["alpha"],
    ["aix-marseille-provence", "l'île", "Saint-Étienne", "a,b", "a;b", " spaced ", ""],
    ["has\x1fseparator", "plain"],  # the split's separator inside a value: written as a list literal instead
])
def test_id_list_gives_duckdb_the_same_strings_in_the_same_order(values):
    import duckdb

    con = duckdb.connect()
    assert con.execute(f"SELECT {id_list(values)}").fetchone()[0] == values
    assert [r[0] for r in con.execute(f"SELECT unnest({id_list(values)})").fetchall()] == values


def test_a_fingerprint_is_the_sha256_of_its_parts_written_as_json_with_sorted_keys():
    # the JSON written by hand: keys sorted, non-ASCII kept, a date as its string, None as null
    text = f'["stage", "{code_version()}", {{"a": "é", "b": 1}}, [null, "2024-01-02"], "x"]'
    assert fingerprint("stage", {"b": 1, "a": "é"}, [None, dt.date(2024, 1, 2)], "x") == \
        hashlib.sha256(text.encode()).hexdigest()


def test_stages_recorded_together_replace_only_their_own_territories_fingerprints(tmp_path):
    """record_stages, as the checks call it for a stage per table: each stage's fingerprints of the territories
    given are replaced; the same territories under another stage, and the other territories, are left as they
    were; a stage given no territory changes nothing."""
    from qp_analytics.warehouse.database import ensure_tables
    from qp_analytics.warehouse.incremental import FINGERPRINTS, record, record_stages

    def stored(con) -> set[tuple[str, str, str]]:
        return set(con.execute(f"SELECT stage, territory_id, fingerprint FROM {FINGERPRINTS}").fetchall())

    with Warehouse(tmp_path / "w.duckdb").connect() as con:
        ensure_tables(con)
        for stage in ("a", "b", "c"):
            record(con, stage, {t: f"{stage}-{t}-old" for t in ("t1", "t2", "t3")})
        record_stages(con, {"a": {"t1": "a-t1-new", "t2": "a-t2-new"}, "b": {"t3": "b-t3-new"}, "c": {}})
        assert stored(con) == {
            ("a", "t1", "a-t1-new"), ("a", "t2", "a-t2-new"), ("a", "t3", "a-t3-old"),
            ("b", "t1", "b-t1-old"), ("b", "t2", "b-t2-old"), ("b", "t3", "b-t3-new"),
            ("c", "t1", "c-t1-old"), ("c", "t2", "c-t2-old"), ("c", "t3", "c-t3-old")}
        record_stages(con, {})
        assert len(stored(con)) == 9



def _log_empty(con) -> bool:
    """Whether the database's write-ahead log is empty: everything written into its file by a checkpoint."""
    return con.execute("SELECT wal_size FROM pragma_database_size()").fetchone()[0] in ("0 bytes", 0)


def test_a_warehouse_held_open_is_checkpointed_on_a_thread_when_asked_and_closed_with_everything(tmp_path):
    """checkpoint_now writes the changes into the file while the block goes on (the log emptied meanwhile), a write
    made after it is kept, and the file closed holds every row; a warehouse not held open is left alone."""
    import time

    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.checkpoint_now()  # not held open: nothing to do
    with warehouse.held_open():
        with warehouse.transaction() as con:
            con.execute("CREATE TABLE t AS SELECT range AS x FROM range(100000)")
        with warehouse.connect() as con:
            assert not _log_empty(con)
            warehouse.checkpoint_now()
            warehouse.checkpoint_now()  # once: the first one's thread is the one the block waits for
            waited = time.monotonic()
            while not _log_empty(con) and time.monotonic() - waited < 60:
                time.sleep(0.01)
            assert _log_empty(con)
            with warehouse.transaction() as writing:
                writing.execute("INSERT INTO t VALUES (-1)")
            assert con.execute("SELECT count(*), min(x) FROM t").fetchone() == (100001, -1)
    with warehouse.connect(read_only=True) as con:
        assert con.execute("SELECT count(*), sum(x) FROM t").fetchone() == (100001, 100000 * 99999 // 2 - 1)
