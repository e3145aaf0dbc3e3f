"""Bad inputs are rejected with their file and place, and nothing else changes; killed runs lose nothing."""

import datetime as dt
import hashlib
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.run import RunRequestError, run_pipeline, warehouse_lock
from pipelines.run.pipeline import KEPT_VALIDATOR
from qp_analytics.generators.conventions import synthetic_territories
from qp_analytics.generators.raw_folder import write_raw_folder
from qp_analytics.publication.release import current_release
from qp_analytics.schema import TABLES
from qp_analytics.warehouse.database import connect
from tests.conftest import REPO
from tests.roadmap_builder import valid_sheets, write_workbook

pytestmark = pytest.mark.slow  # runs the pipeline or a server: the full tier only

AS_OF = dt.date(2024, 6, 30)
# when and where, not what (a fingerprint includes its file's path)
VOLATILE = {"read_at", "parsed_at", "rejected_at", "recorded_at", "path", "source_path", "fingerprint"}


def snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    """Every core/raw/staging table's content (but the rejections), without run times and folder paths."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, table in TABLES.items():
            if name == "staging.rejections":
                continue
            cols = [f'"{c}"' for c in table.column_names if c not in VOLATILE]
            out[name] = con.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY ALL").fetchall()
    return out


def marts_snapshot(marts: Path) -> dict[str, pl.DataFrame]:
    release = current_release(marts)
    return {p.name: pl.read_parquet(p) for p in sorted(release.glob("mart_*.parquet"))}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    base = tmp_path_factory.mktemp("baseline")
    result = write_raw_folder(base / "raw", synthetic_territories(4, random.Random(3)), seed=3)
    summary = run_pipeline(base / "raw", base / "w.duckdb", base / "marts", AS_OF, [], echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    specs = {s.territory.territory_id: s for s in result.specs}
    return base, specs, {a.territory_id: a for a in result.avenants}, snapshot(base / "w.duckdb"), \
        marts_snapshot(base / "marts")


def pick(specs, fmt):
    return next(t for t, s in sorted(specs.items()) if s.fmt == fmt)


def _convention(raw, tid):
    return next((raw / "conventions").glob(f"{tid}.*"))


def _text_convention(raw, specs):
    tid = pick(specs, "txt")
    return tid, _convention(raw, tid)


def _rewrite(path, old, new):
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def _registry_name(raw, tid):
    from qp_analytics.reading.territories import read_registry

    return next(t.name for t in read_registry(raw) if t.territory_id == tid)


def _workbook(raw, tid, edit):
    sheets = valid_sheets()
    sheets["fiche"][0][1] = tid
    sheets["fiche"][1][1] = _registry_name(raw, tid)
    edit(sheets)
    write_workbook(raw / "roadmaps" / f"{tid}.xlsx", sheets)


# Each case: (what it breaks, which territory, the rejection stage, a text of the message); the edit runs on a
# copy of the raw folder.
def case_pdf_truncated(raw, specs, avenants):
    tid = pick(specs, "pdf")
    path = _convention(raw, tid)
    path.write_bytes(path.read_bytes()[:300])
    return tid, "read", [str(path), "not a readable PDF"]


def case_pdf_not_pdf(raw, specs, avenants):
    tid = pick(specs, "pdf")
    _convention(raw, tid).write_bytes(b"<html>not a pdf</html>")
    return tid, "read", ["no %PDF header"]


def case_pdf_scanned(raw, specs, avenants):
    from fpdf import FPDF

    tid = pick(specs, "pdf")
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 100, 100)
    _convention(raw, tid).write_bytes(bytes(pdf.output()))
    return tid, "read", ["no text layer"]


def case_text_empty(raw, specs, avenants):
    tid, path = _text_convention(raw, specs)
    path.write_text("   \n", encoding="utf-8")
    return tid, "read", [str(path), "the file is empty"]


def case_text_latin1(raw, specs, avenants):
    tid, path = _text_convention(raw, specs)
    # saved by an editor in Windows-1252/Latin-1: the accents are no longer UTF-8
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1", errors="replace"))
    return tid, "read", ["is not UTF-8"]


def case_no_chef_de_file(raw, specs, avenants):
    tid, path = _text_convention(raw, specs)
    text = path.read_text(encoding="utf-8")
    gov = text.index("Gouvernance")
    path.write_text(text[:gov] + text[gov:].replace("Chef de", "Référent de", 1).replace("Chef de file", "Référent"),
                    encoding="utf-8")
    return tid, "parse", [str(path), "chef_de_file:"]


def case_no_labellisation(raw, specs, avenants):
    tid, path = _text_convention(raw, specs)
    _rewrite(path, "Labellisation »)", "Lancement »)")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("labellis", "lanc").replace("Labellis", "Lanc"), encoding="utf-8")
    return tid, "parse", ["labellisation_date:"]


def case_two_conventions(raw, specs, avenants):
    tid = pick(specs, "pdf")
    shutil.copy(_convention(raw, pick(specs, "txt")), raw / "conventions" / f"{tid}.txt")
    return tid, "read", ["two convention files"]


def case_convention_missing(raw, specs, avenants):
    tid = pick(specs, "pdf")
    _convention(raw, tid).unlink()
    return tid, "read", ["no convention file"]


def case_roadmap_not_workbook(raw, specs, avenants):
    tid = sorted(specs)[0]
    (raw / "roadmaps" / f"{tid}.xlsx").write_text("a,b\n1,2\n", encoding="utf-8")
    return tid, "roadmap", [f"{tid}.xlsx", "an Excel workbook (.xlsx) that opens"]


def case_roadmap_missing_sheet(raw, specs, avenants):
    tid = sorted(specs)[0]
    _workbook(raw, tid, lambda s: s.pop("jalons"))
    return tid, "roadmap", ["a sheet 'jalons'"]


def case_roadmap_unknown_code(raw, specs, avenants):
    tid = sorted(specs)[0]
    _workbook(raw, tid, lambda s: s["actions"][0].__setitem__(1, "culture"))
    return tid, "roadmap", ["sheet 'actions', row 2, column 'axe': found 'culture'"]


def case_roadmap_other_territory(raw, specs, avenants):
    tid = sorted(specs)[0]
    _workbook(raw, tid, lambda s: s["fiche"][0].__setitem__(1, sorted(specs)[1]))
    return tid, "roadmap", ["the territory the file is named for"]


def case_roadmap_negative_amount(raw, specs, avenants):
    tid = sorted(specs)[1]
    _workbook(raw, tid, lambda s: s["financements"][1].__setitem__(4, "-80 000 €"))
    return tid, "roadmap", ["row 3, column 'montant_sollicite'", "an amount ≥ 0"]


def case_roadmap_payment_above_grant(raw, specs, avenants):
    tid = sorted(specs)[1]
    _workbook(raw, tid, lambda s: s["financements"][0].__setitem__(6, 5_000_000))
    return tid, "roadmap", ["a payment ≤ montant_accorde"]


def case_roadmap_decision_before_request(raw, specs, avenants):
    tid = sorted(specs)[1]
    _workbook(raw, tid, lambda s: s["financements"][0].__setitem__(8, "01/01/2022"))
    return tid, "roadmap", ["a decision on or after date_sollicitation"]


def case_roadmap_unknown_action(raw, specs, avenants):
    tid = sorted(specs)[2]
    _workbook(raw, tid, lambda s: s["jalons"][0].__setitem__(0, "TV-99"))
    return tid, "roadmap", ["sheet 'jalons', row 2, column 'action_id': found 'TV-99'"]


def case_roadmap_twice(raw, specs, avenants):
    tid = sorted(specs)[2]
    (raw / "roadmaps" / f"{tid}.fiche.csv").write_text("champ;valeur\nterritoire_id;" + tid + "\n", encoding="utf-8")
    return tid, "roadmap", ["a workbook and CSV exports"]


def case_avenant_wrong_number(raw, specs, avenants):
    tid = next(iter(avenants))
    path = next((raw / "avenants").glob(f"{tid}_avenant_1.*"))
    path.rename(path.with_name(f"{tid}_avenant_7{path.suffix}"))
    return tid, "avenant", ["named for avenant n° 7 but the document is n° 1"]


def case_avenant_no_extension(raw, specs, avenants):
    tid = next(iter(avenants))
    path = raw / "avenants" / f"{tid}_avenant_3.txt"
    path.write_text("AVENANT N° 3\n\nVu la convention d’engagement Quartiers productifs conclue entre l’Etat et "
                    "la Métropole X ;\n\nLa convention est modifiée.\n\nFait à X, le 3 mars 2023\n", encoding="utf-8")
    return tid, "avenant", [str(path), "extension:"]


def case_avenant_twice(raw, specs, avenants):
    tid = next(iter(avenants))
    path = next((raw / "avenants").glob(f"{tid}_avenant_1.*"))
    other = ".txt" if path.suffix == ".pdf" else ".pdf"
    shutil.copy(path, path.with_suffix(other))
    return tid, "avenant", ["avenant n° 1 exists in two files", "keep one"]


def case_convention_of_another_territory(raw, specs, avenants):
    # the second territory's convention saved under the first one's file name
    tid, other = sorted(specs)[:2]
    _convention(raw, tid).unlink()
    source = _convention(raw, other)
    path = raw / "conventions" / f"{tid}{source.suffix}"
    shutil.copy(source, path)
    named = specs[other].expected()["territory_name"]
    return tid, "parse", [str(path), "territory_name:", f"names the intercommunalité {named!r}",
                          f"territory {other!r}", f"territory {tid!r} {_registry_name(raw, tid)!r}"]


def case_avenant_of_another_territory(raw, specs, avenants):
    holder = next(iter(avenants))
    tid = next(t for t in sorted(specs) if t not in avenants)
    source = next((raw / "avenants").glob(f"{holder}_avenant_1.*"))
    path = raw / "avenants" / f"{tid}_avenant_1{source.suffix}"
    shutil.copy(source, path)
    return tid, "avenant", [str(path), f"territory {holder!r}", f"territory {tid!r} {_registry_name(raw, tid)!r}"]


def case_roadmap_names_another_territory(raw, specs, avenants):
    tid, other = sorted(specs)[:2]
    _workbook(raw, tid, lambda s: s["fiche"][1].__setitem__(1, _registry_name(raw, other)))
    return tid, "roadmap", [f"{tid}.xlsx: sheet 'fiche', row 3, column 'valeur' (territoire)", f"territory {other!r}"]


def case_convention_link_out_of_raw(raw, specs, avenants):
    tid = pick(specs, "pdf")
    _convention(raw, tid).unlink()
    path = raw / "conventions" / f"{tid}.txt"
    path.symlink_to("/etc/passwd")
    return tid, "read", [str(path), "outside the raw folder"]


def case_roadmap_link_out_of_raw(raw, specs, avenants):
    # a good workbook, but kept outside the raw folder and linked: it is not read
    tid = sorted(specs)[1]
    path = raw / "roadmaps" / f"{tid}.xlsx"
    outside = raw.parent / f"elsewhere-{tid}.xlsx"
    shutil.move(path, outside)
    path.symlink_to(outside)
    return tid, "roadmap", [str(path), "outside the raw folder"]


def case_avenant_link_out_of_raw(raw, specs, avenants):
    tid = next(iter(avenants))
    path = next((raw / "avenants").glob(f"{tid}_avenant_1.*"))
    outside = raw.parent / f"elsewhere{path.suffix}"
    shutil.move(path, outside)
    path.symlink_to(outside)
    return tid, "avenant", [str(path), "outside the raw folder"]


CASES = [case_pdf_truncated, case_pdf_not_pdf, case_pdf_scanned, case_text_empty, case_text_latin1,
         case_no_chef_de_file, case_no_labellisation, case_two_conventions, case_convention_missing,
         case_roadmap_not_workbook, case_roadmap_missing_sheet, case_roadmap_unknown_code,
         case_roadmap_other_territory, case_roadmap_negative_amount, case_roadmap_payment_above_grant,
         case_roadmap_decision_before_request, case_roadmap_unknown_action, case_roadmap_twice,
         case_avenant_wrong_number, case_avenant_no_extension, case_avenant_twice,
         case_convention_of_another_territory, case_avenant_of_another_territory,
         case_roadmap_names_another_territory, case_convention_link_out_of_raw, case_roadmap_link_out_of_raw,
         case_avenant_link_out_of_raw]


def copy_of(baseline, tmp_path):
    base = baseline[0]
    shutil.copytree(base / "raw", tmp_path / "raw")
    shutil.copy(base / "w.duckdb", tmp_path / "w.duckdb")
    shutil.copytree(base / "marts", tmp_path / "marts", symlinks=True)
    return tmp_path / "raw", tmp_path / "w.duckdb", tmp_path / "marts"


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_input_is_rejected_and_nothing_else_changes(baseline, tmp_path, case):
    _, specs, avenants, before, marts_before = baseline
    raw, warehouse, marts = copy_of(baseline, tmp_path)
    territory, stage, texts = case(raw, specs, avenants)
    summary = run_pipeline(raw, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert summary.exit_code == 1
    rejected = {(t, s) for t, s, _ in summary.rejections}
    assert rejected == {(territory, stage)}, summary.render()
    message = " | ".join(p for _, _, p in summary.rejections)
    for text in texts:
        assert text in message
    after_tables, before = snapshot(warehouse), dict(before)
    if stage == "parse":
        # the raw layer shows the document that was read and rejected; what it would have fed is unchanged
        for table in (after_tables, before):
            table["raw.convention_documents"] = [r for r in table["raw.convention_documents"] if r[0] != territory]
    assert after_tables == before  # the territory keeps its last good data; the others are unchanged
    after = marts_snapshot(marts)
    assert after.keys() == marts_before.keys()
    assert all(after[k].equals(marts_before[k]) for k in after)  # the rest is published, the figures unchanged
    assert summary.release is not None and current_release(marts) == summary.release.resolve()


def test_a_link_out_of_the_raw_folder_is_never_read_nor_dated(baseline, tmp_path):
    """The summary dates the territory's last good file to the read of the baseline, not to the link."""
    _, specs, avenants, _, _ = baseline
    raw, warehouse, marts = copy_of(baseline, tmp_path)
    tid, _, _ = case_convention_link_out_of_raw(raw, specs, avenants)
    with duckdb.connect(str(warehouse)) as con:  # the last good file, read long ago
        con.execute("UPDATE raw.convention_documents SET read_at = TIMESTAMP '2024-01-02 03:04:00' "
                    "WHERE territory_id = ?", [tid])
    summary = run_pipeline(raw, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert summary.stale_since[tid] == "2024-01-02 03:04 UTC"
    assert f"{tid} (stale: last good file read 2024-01-02 03:04 UTC)" in summary.render()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM raw.convention_documents WHERE text LIKE '%root:%'").fetchone()
    assert stored == (0,)


@pytest.mark.parametrize("name, expected", [
    ("conventions/atlantis.pdf", "unknown territory 'atlantis'"),
    ("conventions/Laval Convention.PDF", "not a convention file name"),
    ("roadmaps/atlantis.xlsx", "unknown territory 'atlantis'"),
    ("avenants/atlantis_avenant_1.txt", "unknown territory 'atlantis'"),
    ("notes.docx", "not part of a raw folder, not read; expected only territories.csv, manifest.csv and the "
                   "folders conventions/, roadmaps/ and avenants/"),
])
def test_files_of_unknown_territories_are_reported(baseline, tmp_path, name, expected):
    _, _, _, before, _ = baseline
    raw, warehouse, marts = copy_of(baseline, tmp_path)
    (raw / name).write_bytes(b"stray file")
    summary = run_pipeline(raw, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert summary.exit_code == 1 and not summary.rejections
    assert [p for p in summary.unknown_files if expected in p and str(raw / name) in p]
    assert "Files ignored (1;" in summary.render()
    assert snapshot(warehouse) == before


def test_unusable_registry_changes_nothing(baseline, tmp_path):
    from qp_analytics.reading.territories import RegistryError

    _, _, _, before, _ = baseline
    raw, warehouse, marts = copy_of(baseline, tmp_path)
    with (raw / "territories.csv").open("a", encoding="utf-8") as fh:
        fh.write("../../etc,Evil,123456789,13,Nowhere\n")
    with pytest.raises(RegistryError, match=r"column territory_id: '../../etc' is not a territory id"):
        run_pipeline(raw, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert snapshot(warehouse) == before


def test_raw_files_are_never_modified(baseline, tmp_path):
    raw, warehouse, marts = copy_of(baseline, tmp_path)

    def digest():
        return {p.relative_to(raw).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
                for p in sorted(raw.rglob("*")) if p.is_file()}

    before = digest()
    run_pipeline(raw, warehouse, marts, dt.date(2023, 1, 1), [], echo=lambda m: None)
    assert digest() == before


# -- faults: runs killed at several points, two runs at once -----------------------------------------------

def _cli(raw, warehouse, marts, as_of, *extra):
    return [sys.executable, "-m", "pipelines.cli.main", "materialize", "--raw-dir", str(raw), "--warehouse",
            str(warehouse), "--marts-dir", str(marts), "--as-of", as_of, *extra]


@pytest.fixture(scope="module")
def bigger(tmp_path_factory):
    base = tmp_path_factory.mktemp("bigger")
    subprocess.run([sys.executable, "-m", "pipelines.cli.main", "generate", "--territories", "16", "--out",
                    str(base / "raw"), "--seed", "8"], check=True, capture_output=True, cwd=REPO)
    subprocess.run(_cli(base / "raw", base / "w.duckdb", base / "marts", "2023-01-01"), check=True,
                   capture_output=True, cwd=REPO)
    # no --report-dir: the report goes beside the marts folder, not into the working directory's data/report
    assert (base / "report" / "index.html").is_file()
    return base, snapshot(base / "w.duckdb"), marts_snapshot(base / "marts")


@pytest.mark.parametrize("kill_at", ["Materialising", "parse ", "roadmap ", "avenant ", "after:2.5"])
def test_a_killed_run_leaves_everything_as_it_was(bigger, tmp_path, kill_at):
    base, before, marts_before = bigger
    raw = base / "raw"
    warehouse, marts = tmp_path / "w.duckdb", tmp_path / "marts"
    shutil.copy(base / "w.duckdb", warehouse)
    shutil.copytree(base / "marts", marts, symlinks=True)
    # --reprocess: the files are those of the first run, and the run must be killed while it reads them
    with subprocess.Popen(_cli(raw, warehouse, marts, "2024-01-01", "--reprocess"), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, cwd=REPO) as proc:
        started = time.monotonic()
        if kill_at.startswith("after:"):
            time.sleep(float(kill_at.split(":")[1]))
        else:
            for line in proc.stderr:
                if line.strip().startswith(kill_at.strip()):
                    break
        killed = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed, f"the run ended before it could be killed at {kill_at}"
    assert snapshot(warehouse) == before, f"killed at {kill_at} after {time.monotonic() - started:.1f}s"
    after = marts_snapshot(marts)
    assert all(after[k].equals(marts_before[k]) for k in marts_before)
    # the next run succeeds with no manual repair
    done = subprocess.run(_cli(raw, warehouse, marts, "2024-01-01"), capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(tmp_path.glob(".w.duckdb.run-*"))
    assert marts_snapshot(marts)["mart_timeliness.parquet"]["as_of"].unique().to_list() == [dt.date(2024, 1, 1)]


def test_two_runs_at_once_second_waits_or_refuses(bigger, tmp_path):
    base, before, _ = bigger
    warehouse, marts = tmp_path / "w.duckdb", tmp_path / "marts"
    shutil.copy(base / "w.duckdb", warehouse)
    with subprocess.Popen(_cli(base / "raw", warehouse, marts, "2024-01-01"), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, cwd=REPO) as first:
        for line in first.stderr:
            if line.startswith("Materialising"):
                break
        refused = subprocess.run(_cli(base / "raw", warehouse, marts, "2024-02-01", "--no-wait"),
                                 capture_output=True, text=True, cwd=REPO)
        assert refused.returncode == 2 and "is being materialised by pid" in refused.stderr
        waiting = subprocess.run(_cli(base / "raw", warehouse, marts, "2024-02-01"), capture_output=True, text=True,
                                 cwd=REPO)
        first.stderr.read()
        assert first.wait(timeout=300) == 0
    assert waiting.returncode == 0 and "Waiting:" in waiting.stderr
    assert marts_snapshot(marts)["mart_timeliness.parquet"]["as_of"].unique().to_list() == [dt.date(2024, 2, 1)]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core.conventions").fetchone() == (16,)


def test_a_run_that_fails_outside_its_steps_keeps_nothing_of_it(baseline, tmp_path, monkeypatch):
    """Dagster says the run failed though no step did (a step's process could not load the job, a resource did not
    start): the summary gives Dagster's reason, and nothing of the run is kept, even what it wrote."""
    import types

    from pipelines.run import execution

    _, _, _, before, marts_before = baseline
    raw, warehouse, marts = copy_of(baseline, tmp_path)
    cause = types.SimpleNamespace(message="RuntimeError: simulated: the step process cannot load the job\n",
                                  cause=None)

    def event(kind, error=None):
        return types.SimpleNamespace(event_type_value=kind, message=f"{kind} message", pid=1, step_key=None,
                                     event_specific_data=types.SimpleNamespace(error=error))

    def failed_run(settings, selected, echo, *handed):  # handed: the run's warehouse and validator
        with connect(Path(settings["warehouse"])) as con:  # what the run wrote before failing
            con.execute("DELETE FROM core.conventions")
        return types.SimpleNamespace(
            success=False, get_asset_materialization_events=lambda: [], get_asset_check_evaluations=lambda: [],
            all_events=[event("RUN_START"), event("ENGINE_EVENT", types.SimpleNamespace(message="wrapper",
                                                                                      cause=cause)),
                        event("RUN_FAILURE")])

    monkeypatch.setattr(execution, "materialize", failed_run)  # the in-process run
    summary = run_pipeline(raw, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert summary.exit_code == 1 and summary.release is None
    assert summary.failures == ["run: RuntimeError: simulated: the step process cannot load the job"]
    rendered = summary.render()
    assert rendered.startswith("Run FAILED") and "Step failed: run: RuntimeError: simulated" in rendered
    assert snapshot(warehouse) == before
    after = marts_snapshot(marts)
    assert all(after[k].equals(marts_before[k]) for k in marts_before)


def test_a_failed_quality_check_blocks_publication_and_keeps_everything(baseline, tmp_path):
    """Input the contract accepts but the Great Expectations suite does not: a practice reused by a territory
    that is not in the programme. Nothing is published and nothing is kept from the run. The roadmap tables'
    checks were started when they were written (the failure taken from them, as any outcome)."""
    _, specs, _, before, marts_before = baseline
    raw, warehouse, marts = copy_of(baseline, tmp_path)
    tid = sorted(specs)[0]
    _workbook(raw, tid, lambda s: s["bonnes_pratiques"][0].__setitem__(5, "atlantis"))

    def taken() -> list[str]:
        return [] if KEPT_VALIDATOR.validator is None else list(KEPT_VALIDATOR.validator.ahead.taken)

    kept, earlier = KEPT_VALIDATOR.validator, taken()
    summary = run_pipeline(raw, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert summary.exit_code == 1 and not summary.rejections
    assert summary.failed_quality == ["core/practice_reuse:great_expectations"]
    now = taken()[len(earlier) if KEPT_VALIDATOR.validator is kept else 0:]
    assert "core.practice_reuse" in now and "core.conventions" not in now
    rendered = summary.render()
    assert "check FAILED core/practice_reuse:great_expectations — reused_by_known" in rendered
    assert "atlantis" in rendered
    assert "Marts NOT published" in rendered
    assert snapshot(warehouse) == before
    after = marts_snapshot(marts)
    assert all(after[k].equals(marts_before[k]) for k in marts_before)


def test_a_write_to_the_warehouse_waits_for_a_batch_run(tmp_path):
    """A batch run swaps its private copy in when it ends: a step of a partitioned run (UI, sensor) that
    wrote meanwhile would lose its rows, so its write connection waits for the batch run to end; and a batch
    run does not start while a write connection is open."""
    warehouse = tmp_path / "w.duckdb"
    with connect(warehouse) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    wrote = threading.Event()

    def write() -> None:
        with connect(warehouse) as con:
            con.execute("INSERT INTO t VALUES (1)")
        wrote.set()

    with warehouse_lock(warehouse, wait=True, echo=lambda m: None):
        writer = threading.Thread(target=write)
        writer.start()
        assert not wrote.wait(1.0)  # held off while the batch run holds the warehouse
    assert wrote.wait(60)
    writer.join()
    with connect(warehouse) as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)
        with pytest.raises(RunRequestError, match="is being materialised"):
            with warehouse_lock(warehouse, wait=False, echo=lambda m: None):
                pass
    with warehouse_lock(warehouse, wait=False, echo=lambda m: None):  # the connection closed: free again
        pass


def test_a_territory_whose_avenant_alone_is_rejected_is_not_said_empty(baseline, tmp_path):
    """Its convention and roadmap stay loaded: the summary says its data is kept, not '(no data loaded yet)'."""
    _, specs, avenants, _, _ = baseline
    raw, warehouse, marts = copy_of(baseline, tmp_path)
    tid, stage, _ = case_avenant_twice(raw, specs, avenants)
    summary = run_pipeline(raw, warehouse, marts, AS_OF, [], echo=lambda m: None)
    assert {(t, s) for t, s, _ in summary.rejections} == {(tid, stage)}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core.conventions WHERE territory_id = ?", [tid]).fetchone() == (1,)
    lines = summary.render().splitlines()
    assert f"  {tid} (its data loaded before is kept; the rejected file is left out)" in lines
    assert not [line for line in lines if "no data loaded yet" in line]
