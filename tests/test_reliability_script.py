"""The pieces of scripts/reliability.py (the kill loop itself is not run here: it takes minutes)."""

import datetime as dt
import importlib.util
import os
import signal
import sys
import time

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("reliability", REPO / "scripts" / "reliability.py")
reliability = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reliability)


def release(site, name: str, files: dict[str, bytes], pending: bool = False):
    folder = site.marts / "releases" / name
    folder.mkdir(parents=True)
    for file, data in files.items():
        (folder / file).write_bytes(data)
    if pending:
        (folder / ".pending").write_text("")
    return folder


def point_current(site, name: str) -> None:
    tmp = site.marts / ".current-tmp"
    os.symlink(f"releases/{name}", tmp)
    os.replace(tmp, site.marts / "current")


@pytest.fixture
def site(tmp_path):
    s = reliability.Site(tmp_path / "raw", tmp_path / "site")
    s.root.mkdir()
    s.warehouse.write_bytes(b"warehouse one")
    release(s, "r1", {"mart_timeliness.parquet": b"a", "release.json": b"{}"})
    point_current(s, "r1")
    return s


def test_state_is_the_bytes_of_the_warehouse_and_of_current(site):
    import hashlib

    assert reliability.state(site) == {
        "warehouse": hashlib.sha256(b"warehouse one").hexdigest(), "current": "r1",
        "current/mart_timeliness.parquet": hashlib.sha256(b"a").hexdigest(),
        "current/release.json": hashlib.sha256(b"{}").hexdigest()}


def test_verdicts(site):
    before = reliability.state(site)
    assert reliability.verdict(before, reliability.state(site), completed=False) == "unchanged"
    release(site, "r2", {"mart_timeliness.parquet": b"b", "release.json": b"{}"}, pending=True)
    assert reliability.verdict(before, reliability.state(site), completed=False) == "unchanged"  # an orphan
    site.warehouse.write_bytes(b"warehouse two")
    assert reliability.verdict(before, reliability.state(site), completed=False) == \
        "torn: warehouse committed, current not moved yet"
    point_current(site, "r2")
    assert reliability.verdict(before, reliability.state(site), completed=False) == "changed"
    site.warehouse.write_bytes(b"warehouse one")
    assert reliability.verdict(before, reliability.state(site), completed=False) == \
        "torn: current moved, warehouse not committed"


def test_leftovers_name_copies_partial_and_pending_releases(site):
    assert reliability.leftovers(site) == []
    (site.root / ".w.duckdb.run-123").write_bytes(b"")
    (site.marts / "releases" / ".incomplete-r3").mkdir()
    release(site, "r2", {"release.json": b"{}"}, pending=True)
    assert reliability.leftovers(site) == [".incomplete-r3", ".w.duckdb.run-123", "r2/.pending"]


def test_a_killed_run_takes_its_whole_process_group(tmp_path, monkeypatch):
    """The kill reaches the children a run starts (validator, workers): nothing of it survives."""
    pid_file = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)']); open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(60)")
    site = reliability.Site(tmp_path, tmp_path)
    monkeypatch.setattr(reliability.Site, "command", lambda self, as_of: [sys.executable, "-c", script])
    assert reliability.killed_run(site, dt.date(2024, 1, 1), delay=1.5) is False
    child = int(pid_file.read_text())
    for _ in range(50):  # reaped by init: gone within moments
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the run's child survived the kill")
