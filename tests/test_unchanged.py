"""When `materialize` has nothing to do: each thing a clean run's stamp covers, changed alone, makes the next
request run; nothing changed, it does not."""

import datetime as dt
import os
import time

import pytest

from pipelines.cli import unchanged
from qp_analytics.reading import raw_index

AS_OF = dt.date(2023, 6, 30)


@pytest.fixture
def site(tmp_path):
    """A raw folder, a warehouse file, a current release and a report, as a clean run leaves them."""
    raw = tmp_path / "raw"
    (raw / "conventions").mkdir(parents=True)
    (raw / "roadmaps").mkdir()
    (raw / "territories.csv").write_text("territory_id,name\nalpha,Alpha\n", encoding="utf-8")
    (raw / "conventions" / "alpha.txt").write_text("Convention d'engagement\n", encoding="utf-8")
    (raw / "roadmaps" / "alpha.xlsx").write_bytes(b"PK workbook bytes")
    warehouse = tmp_path / "w.duckdb"
    warehouse.write_bytes(b"warehouse")
    marts = tmp_path / "marts"
    release = marts / "releases" / "r1"
    release.mkdir(parents=True)
    (release / "release.json").write_text("{}", encoding="utf-8")
    (marts / "current").symlink_to(release)
    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("<html></html>", encoding="utf-8")
    (report / "report.json").write_text("{}", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    return {"raw": raw, "warehouse": warehouse, "marts": marts, "report": report, "home": home}


def _inputs(site, as_of=AS_OF, territories=(), home=None):
    return unchanged.inputs_stamp(site["raw"], site["warehouse"], site["marts"], site["report"], as_of,
                                  list(territories), home or site["home"])


def _since(site, inputs):
    return unchanged.unchanged_since(inputs, site["warehouse"], site["marts"], site["report"])


def _record(site, territories=()):
    raw_files: dict = {}  # as the command does: the raw files' states and hashes kept in the stamp
    inputs = unchanged.inputs_stamp(site["raw"], site["warehouse"], site["marts"], site["report"], AS_OF,
                                    list(territories), site["home"], raw_files)
    unchanged.record_clean_run(inputs, site["warehouse"], site["marts"], site["report"], "the summary", raw_files)
    return raw_files


def test_nothing_changed_gives_the_last_clean_run_and_its_summary(site, monkeypatch):
    assert _since(site, _inputs(site)) is None  # no run yet
    monkeypatch.setattr(raw_index, "RACY_NS", 0)  # files written just now kept too
    _record(site)
    last = _since(site, _inputs(site))
    assert last is not None and last["summary"] == "the summary"
    assert sorted(last["raw_files"]) == ["conventions/alpha.txt", "roadmaps/alpha.xlsx", "territories.csv"]
    assert unchanged.stamp_path(site["warehouse"]).name == ".w.duckdb.last-run.json"


@pytest.mark.parametrize("change", [
    "a raw file's bytes", "a raw file's bytes, its size and modification time as they were", "a new raw file",
    "a raw file removed", "the evaluation date", "the territories",
    "another instance", "the warehouse written again", "another current release", "the report removed",
    "the report's manifest written again", "the release's manifest written again",
])
def test_any_change_alone_makes_the_next_request_run(site, change, monkeypatch):
    monkeypatch.setattr(raw_index, "RACY_NS", 0)  # the raw files' states kept in the stamp, though just written
    _record(site)
    inputs = None
    if change == "a raw file's bytes":
        (site["raw"] / "conventions" / "alpha.txt").write_text("Convention d'engagement \n", encoding="utf-8")
    elif change == "a raw file's bytes, its size and modification time as they were":
        path = site["raw"] / "conventions" / "alpha.txt"
        status = path.stat()
        time.sleep(0.05)  # past a tick of the coarsest file-system clock
        path.write_text("Convention d'engagemenT\n", encoding="utf-8")
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    elif change == "a new raw file":
        (site["raw"] / "conventions" / "beta.txt").write_text("Convention\n", encoding="utf-8")
    elif change == "a raw file removed":
        (site["raw"] / "roadmaps" / "alpha.xlsx").unlink()
    elif change == "the evaluation date":
        inputs = _inputs(site, as_of=AS_OF + dt.timedelta(days=1))
    elif change == "the territories":
        inputs = _inputs(site, territories=["alpha"])
    elif change == "another instance":
        (site["home"].parent / "other").mkdir()
        inputs = _inputs(site, home=site["home"].parent / "other")
    elif change == "the warehouse written again":  # the same size, a new file put in place (as a run commits)
        replacement = site["warehouse"].with_name("next.duckdb")
        replacement.write_bytes(b"warehouse")
        os.replace(replacement, site["warehouse"])
    elif change == "another current release":
        other = site["marts"] / "releases" / "r2"
        other.mkdir()
        (other / "release.json").write_text("{}", encoding="utf-8")
        (site["marts"] / "current").unlink()
        (site["marts"] / "current").symlink_to(other)
    elif change == "the report removed":
        (site["report"] / "index.html").unlink()
    elif change == "the report's manifest written again":
        (site["report"] / "report.json").write_text('{"pages": 1}', encoding="utf-8")
    elif change == "the release's manifest written again":
        (site["marts"] / "current" / "release.json").write_text('{"release": 2}', encoding="utf-8")
    assert _since(site, inputs or _inputs(site)) is None, change


def test_a_code_change_makes_the_next_request_run(site, monkeypatch):
    _record(site)
    monkeypatch.setattr(unchanged, "code_digest", lambda: "another code")
    assert _since(site, _inputs(site)) is None


def test_the_code_digest_follows_the_project_sources(tmp_path):
    """The digest of a package folder changes with any file's bytes or name, templates included."""
    (tmp_path / "pkg" / "templates").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "templates" / "page.html").write_text("<p>{{ x }}</p>\n")
    first = unchanged.tree_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "templates" / "page.html").write_text("<p>{{ y }}</p>\n")
    second = unchanged.tree_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "a.py").rename(tmp_path / "pkg" / "b.py")
    assert len({first, second, unchanged.tree_digest(tmp_path / "pkg")}) == 3


def test_forgetting_and_an_unreadable_stamp_make_the_next_request_run(site):
    _record(site)
    unchanged.forget(site["warehouse"])
    assert _since(site, _inputs(site)) is None
    _record(site)
    unchanged.stamp_path(site["warehouse"]).write_text("{not json", encoding="utf-8")
    assert _since(site, _inputs(site)) is None


@pytest.mark.parametrize("change, runs", [
    ("another territory's convention", False), ("another territory's avenant", False),
    ("its convention", True), ("its roadmap's sheet", True), ("its avenant", True), ("the registry", True),
    ("the manifest", True), ("a file named for no territory", True),
])
def test_a_request_for_some_territories_looks_at_their_files_and_those_of_none(site, change, runs, monkeypatch):
    """`--territory alpha` reads alpha's files and those of no territory (the registry, the manifest): a change
    to another territory's files leaves it with nothing to do; any of the others makes it run. The other
    territories' files are not looked at, and the stamp keeps what the last look knew of them."""
    raw = site["raw"]
    (raw / "territories.csv").write_text("territory_id,name\nalpha,Alpha\nbeta-2,Beta\n", encoding="utf-8")
    (raw / "conventions" / "beta-2.txt").write_text("Convention\n", encoding="utf-8")
    (raw / "avenants").mkdir()
    (raw / "avenants" / "beta-2_avenant_1.txt").write_text("Avenant\n", encoding="utf-8")
    (raw / "manifest.csv").write_text("path,kind\n", encoding="utf-8")
    monkeypatch.setattr(raw_index, "RACY_NS", 0)
    everything = _record(site)
    assert "conventions/beta-2.txt" in everything
    kept = _record(site, ["alpha"])
    assert kept == everything  # the others' files as the last look knew them, for the next look
    looked = []
    real_sha256 = raw_index.hashlib.sha256
    monkeypatch.setattr(raw_index.hashlib, "sha256", lambda data=b"": looked.append(data) or real_sha256(data))
    path, text = {
        "another territory's convention": ("conventions/beta-2.txt", "Convention modifiée\n"),
        "another territory's avenant": ("avenants/beta-2_avenant_1.txt", "Avenant modifié\n"),
        "its convention": ("conventions/alpha.txt", "Convention d'engagement modifiée\n"),
        "its roadmap's sheet": ("roadmaps/alpha.actions.csv", "id;intitule\n"),
        "its avenant": ("avenants/alpha_avenant_1.txt", "Avenant\n"),
        "the registry": ("territories.csv", "territory_id,name\nalpha,Alpha\nbeta-2,Bêta\n"),
        "the manifest": ("manifest.csv", "path,kind\nconventions/alpha.txt,real\n"),
        "a file named for no territory": ("conventions/notes/alpha.txt", "notes\n"),
    }[change]
    (raw / path).parent.mkdir(parents=True, exist_ok=True)
    (raw / path).write_text(text, encoding="utf-8")
    last = _since(site, _inputs(site, territories=["alpha"]))
    assert (last is None) == runs, change
    assert not any(b"Convention modifi" in data or b"Avenant modifi" in data for data in looked)


def test_installed_versions_read_from_the_headers_are_those_of_the_metadata():
    """Each installed distribution's `name==version`, read from its metadata's headers alone, is the one
    importlib.metadata gives from the whole file."""
    import importlib.metadata

    distributions = list(importlib.metadata.distributions())
    assert len(distributions) > 50  # the project's venv
    for d in distributions:
        assert unchanged.installed_version(d) == f"{d.metadata['Name']}=={d.version}"
