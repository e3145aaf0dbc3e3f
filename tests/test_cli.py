"""The command line as a user meets it: output, exit status, and no traceback for a user's mistake."""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipelines.cli.main import main
from tests.conftest import REPO, SEED_CONVENTION

KEYS = {"territory_name", "representative", "state_representative", "chef_de_file", "labellisation_date",
        "roadmap_deadline_months", "roadmap_due_date", "duration_months", "end_date", "signature_place",
        "signature_date", "commitments", "warnings", "provenance"}


def test_parse_convention_json():
    result = CliRunner().invoke(main, ["parse", "convention", str(SEED_CONVENTION), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert KEYS <= set(data)
    assert data["chef_de_file"] == "anru"
    assert data["labellisation_date"] == "2021-03-18"
    assert data["signature_date"] is None
    assert data["representative"] == {"name": "Martine VASSAL", "title": "Présidente"}
    assert {c["party"] for c in data["commitments"]} == {"etat", "intercommunalite", "chef_de_file", "partenaires"}
    assert data["provenance"]["chef_de_file"]["excerpt"] == "ANRU"


def test_parse_convention_for_a_person():
    result = CliRunner().invoke(main, ["parse", "convention", str(SEED_CONVENTION)])
    assert result.exit_code == 0
    out = result.output
    assert "Chef de file" in out and "anru" in out
    assert "Signée le" in out and "— (absent)" in out
    assert "signature_date: the signature date is left blank" in out


def test_broken_convention_exits_2_with_one_message_per_problem(tmp_path):
    path = tmp_path / "bad.txt"
    text = SEED_CONVENTION.read_text(encoding="utf-8")
    path.write_text(text.replace("est l’ANRU", "est à désigner").replace("délai de 6 mois", "délai raisonnable"),
                    encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli.main", "parse", "convention", str(path)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"error: {path}: chef_de_file:")
    assert lines[1].startswith(f"error: {path}: roadmap_deadline_months:")
    assert "Traceback" not in proc.stderr


def test_missing_file_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli.main", "parse", "convention",
                           str(tmp_path / "nope.pdf")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'nope.pdf'}: file not found"


def test_generate_writes_a_complete_raw_folder(tmp_path):
    out = tmp_path / "raw"
    result = CliRunner().invoke(main, ["generate", "--territories", "4", "--out", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    rows = (out / "territories.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "territory_id,name,siren,departement_code,departement" and len(rows) == 5
    assert len(list((out / "conventions").iterdir())) == 4
    assert len(list((out / "roadmaps").glob("*.xlsx"))) == 4
    files = [p for p in out.rglob("*") if p.is_file() and p.name != "manifest.csv"]
    manifest = (out / "manifest.csv").read_text(encoding="utf-8")
    assert manifest.count(",illustrative,") == len(files)  # every file, the fictitious registry included
    assert "4 illustrative convention(s), 4 roadmap(s)" in result.output


def test_generate_into_what_is_not_a_folder_says_so_in_one_line(tmp_path):
    """--out a file, or a file where one of its sub-folders goes: exit status 2 and one line, no traceback."""
    (tmp_path / "a-file").write_text("x")
    result = CliRunner().invoke(main, ["generate", "--territories", "2", "--out", str(tmp_path / "a-file")])
    assert result.exit_code == 2 and f"Directory '{tmp_path / 'a-file'}' is a file" in result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "conventions").write_text("a file where the conventions' folder goes")
    result = CliRunner().invoke(main, ["generate", "--territories", "2", "--out", str(tmp_path / "raw"),
                                       "--scans", "0"])
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        2, f"error: cannot write the raw folder {tmp_path / 'raw'}: File exists ({tmp_path / 'raw' / 'conventions'})")
    assert isinstance(result.exception, SystemExit)


def test_generate_needs_a_source():
    result = CliRunner().invoke(main, ["generate", "--out", "x"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_materialize_end_to_end(tmp_path):
    raw = tmp_path / "raw"
    assert CliRunner().invoke(main, ["generate", "--territories", "3", "--out", str(raw)]).exit_code == 0
    warehouse = tmp_path / "w.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", "materialize", "--raw-dir", str(raw), "--warehouse",
         str(warehouse), "--marts-dir", str(tmp_path / "marts"), "--as-of", "2022-06-30"],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "Materialised 3/3 territories" in proc.stdout and "as_of 2022-06-30" in proc.stdout
    assert "parse" in proc.stderr and "3/3" in proc.stderr  # progress per territory
    assert "Warning" not in proc.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core.conventions").fetchone() == (3,)
    # again, nothing changed, run anyway (--force): nothing to validate, and the GX validator process, still
    # importing, is ended without a word (nor a leaked-resource warning at exit)
    again = subprocess.run([*proc.args, "--force"], capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 0, again.stderr
    assert "Marts unchanged" in again.stdout and "Materialising 3 territories" in again.stderr
    assert "Warning" not in again.stderr and "Traceback" not in again.stderr, again.stderr
    # and without --force: no Dagster run at all, the last run's summary printed again
    runs_db = Path(os.environ["DAGSTER_HOME"]) / "history" / "runs.db"
    before = _runs_recorded(runs_db)
    skipped = subprocess.run(proc.args, capture_output=True, text=True, cwd=REPO)
    assert skipped.returncode == 0, skipped.stderr
    assert "Nothing changed since the run of" in skipped.stderr and "Materialising" not in skipped.stderr
    assert skipped.stdout == again.stdout  # the forced run's summary, word for word
    assert _runs_recorded(runs_db) == before
    # a request refused before anything is written (an unknown territory) keeps the stamp: the next one is skipped
    refused = subprocess.run([*proc.args, "--territory", "nowhere"], capture_output=True, text=True, cwd=REPO)
    assert refused.returncode == 2 and "unknown territory id(s): nowhere" in refused.stderr
    skipped = subprocess.run(proc.args, capture_output=True, text=True, cwd=REPO)
    assert "Nothing changed since the run of" in skipped.stderr and skipped.stdout == again.stdout
    # a run that is not clean (a roadmap that is no workbook) leaves no stamp: the next request runs again
    next(iter(sorted((raw / "roadmaps").glob("*.xlsx")))).write_bytes(b"not a workbook")
    rejected = subprocess.run(proc.args, capture_output=True, text=True, cwd=REPO)
    assert rejected.returncode == 1 and "Materialising 3 territories" in rejected.stderr
    assert not (tmp_path / ".w.duckdb.last-run.json").exists()


def _runs_recorded(runs_db) -> int:
    import sqlite3

    with sqlite3.connect(runs_db) as con:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_materialize_refuses_outputs_it_could_not_write_before_anything_is_written(tmp_path, small_raw):
    """A warehouse that is a folder, a marts or report folder that is a file, a report folder holding something
    else: one line naming the path and the option, exit status 2, nothing written (found at the end, a run
    published its marts then failed its report, or stopped on a traceback)."""
    raw, _ = small_raw
    out = tmp_path / "out"
    out.mkdir()
    (out / "a-folder").mkdir()
    (out / "a-file").write_text("x")
    (out / "notes").mkdir()
    (out / "notes" / "todo.txt").write_text("not a report")
    cases = [
        (["--warehouse", str(out / "a-folder")], f"{out / 'a-folder'}: is a folder; the warehouse is a DuckDB file "
                                                 "(created if absent): --warehouse"),
        (["--marts-dir", str(out / "a-file")], f"{out / 'a-file'}: is not a folder; the marts are published in a "
                                               "folder (created if absent): --marts-dir"),
        (["--report-dir", str(out / "a-file")], f"{out / 'a-file'}: exists and is not a folder; the report is "
                                                "written in a folder (created if absent): --report-dir"),
        (["--report-dir", str(out / "notes")], f"{out / 'notes'}: this folder is not empty and holds no report "
                                               "(report.json missing); the report replaces its whole folder: give "
                                               "a new or empty folder with --report-dir"),
    ]
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    for args, message in cases:
        defaults = {"--warehouse": str(out / "w.duckdb"), "--marts-dir": str(out / "marts"),
                    "--report-dir": str(out / "report")}
        defaults.update(dict(zip(args[::2], args[1::2], strict=True)))
        result = CliRunner().invoke(main, ["materialize", "--raw-dir", str(raw), "--as-of", "2023-06-30",
                                           *[x for kv in defaults.items() for x in kv]])
        assert (result.exit_code, result.output) == (2, f"error: {message}\n"), result.output
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before


def test_an_evaluation_date_after_today_or_before_the_programme_is_warned_of(tmp_path, small_raw):
    """--as-of in the future (a mistyped year) counts what is not due yet as late, one before the programme's
    announcement (29 January 2021) finds nothing due: each said on stderr, not refused (a projection, or a look
    at the start, is a use); from that day to today, nothing said."""
    import datetime as dt

    raw, _ = small_raw
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    days = ((tomorrow, "after"), (dt.date.today(), None), (dt.date(2023, 6, 30), None), (dt.date(2021, 1, 29), None),
            (dt.date(2021, 1, 28), "before"), (dt.date(1921, 6, 30), "before"))
    for day, warned in days:
        # an unknown territory: the request is refused after the warning, before any run
        result = CliRunner().invoke(main, ["materialize", "--raw-dir", str(raw), "--warehouse",
                                           str(tmp_path / "w.duckdb"), "--marts-dir", str(tmp_path / "marts"),
                                           "--as-of", day.isoformat(), "--territory", "nowhere"])
        assert result.exit_code == 2 and "unknown territory id(s): nowhere" in result.output
        after = (f"warning: the evaluation date {day.isoformat()} is after today ({dt.date.today().isoformat()}): "
                 "deadlines up to it count as passed, so what is due by then and not done yet counts as late or "
                 "missing\n")
        before = (f"warning: the evaluation date {day.isoformat()} is before the programme was announced "
                  "(2021-01-29): no convention, roadmap or action of it is due by then, so the marts count nearly "
                  "everything as pending or not yet done\n")
        assert (after in result.output, before in result.output) == (warned == "after", warned == "before"), \
            result.output


def test_materialize_bad_registry_and_bad_date(tmp_path):
    (tmp_path / "territories.csv").write_text("territory_id,name\n../etc,Evil\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli.main", "materialize", "--raw-dir", str(tmp_path),
                           "--warehouse", str(tmp_path / "w.duckdb")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "row 1: missing column(s) siren, departement_code, departement" in proc.stderr
    assert "Traceback" not in proc.stderr
    result = CliRunner().invoke(main, ["materialize", "--as-of", "2022-13-01"])
    assert result.exit_code == 2 and "2022-13-01" in result.output
