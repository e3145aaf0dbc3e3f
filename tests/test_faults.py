"""Faults outside the inputs (a full disk, a folder that cannot be written) end in one line, status 1, with the
warehouse and the published marts unchanged and nothing left behind."""

import datetime as dt
import errno
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli.main import main
from pipelines.run import RunFault, RunOptions, run_pipeline

pytestmark = pytest.mark.slow  # runs the pipeline: the full tier only

AS_OF = dt.date(2024, 6, 30)


def tree(folder: Path) -> dict[str, str]:
    """Every file below folder: its sha256, or where a symlink points."""
    return {str(p.relative_to(folder)): (f"-> {os.readlink(p)}" if p.is_symlink()
                                         else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


@pytest.fixture(scope="module")
def published(small_raw, tmp_path_factory):
    raw, _ = small_raw
    base = tmp_path_factory.mktemp("faults")
    summary = run_pipeline(raw, base / "data" / "w.duckdb", base / "marts", AS_OF, [], echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    return raw, base


@pytest.fixture
def site(published, tmp_path):
    """A private copy of a published warehouse and marts folder: (raw, warehouse, marts, snapshot before)."""
    raw, base = published
    shutil.copytree(base / "data", tmp_path / "data", symlinks=True)
    shutil.copytree(base / "marts", tmp_path / "marts", symlinks=True)
    shutil.copytree(base / "report", tmp_path / "report", symlinks=True)
    return raw, tmp_path / "data" / "w.duckdb", tmp_path / "marts", tree(tmp_path)


def materialize(raw: Path, warehouse: Path, marts: Path):
    return CliRunner().invoke(main, ["materialize", "--raw-dir", str(raw), "--warehouse", str(warehouse),
                                     "--marts-dir", str(marts), "--as-of", "2024-07-31",
                                     "--report-dir", str(marts.parent / "report")])


def oserror(code: int, path: object) -> OSError:
    return OSError(code, os.strerror(code), str(path))


def stopped_unchanged(result, what: str, root: Path, before: dict[str, str]) -> None:
    """One line on stderr, status 1, every file below root as it was."""
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert result.stderr == (f"error: {what}, then run again (nothing was changed: the warehouse and the published "
                             "marts are as they were)\n")
    assert tree(root) == before


def half_then(code: int):
    """A copy that writes half the file, then fails with this errno (a disk filling up, a folder turned read-only)."""
    def copyfile(src, dst, *args, **kwargs):
        data = Path(src).read_bytes()
        Path(dst).write_bytes(data[: len(data) // 2])
        raise oserror(code, dst)
    return copyfile


def test_a_full_disk_while_copying_the_warehouse(site, monkeypatch):
    raw, warehouse, marts, before = site
    monkeypatch.setattr(shutil, "copyfile", half_then(errno.ENOSPC))
    result = materialize(raw, warehouse, marts)
    work = warehouse.with_name(f".w.duckdb.run-{os.getpid()}")
    # the partial copy is gone, nothing else moved
    stopped_unchanged(result, f"cannot copy the warehouse {warehouse} to the run's working copy {work}: no space left "
                      "on the device; free space on that disk", warehouse.parent.parent, before)


def test_a_read_only_warehouse_folder(site, monkeypatch):
    raw, warehouse, marts, before = site
    folder = warehouse.parent
    folder.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes through the mode bits: the refusal the kernel gives anyone else
            monkeypatch.setattr(shutil, "copyfile", half_then(errno.EACCES))
        result = materialize(raw, warehouse, marts)
    finally:
        folder.chmod(0o755)
    work = warehouse.with_name(f".w.duckdb.run-{os.getpid()}")
    stopped_unchanged(result, f"cannot copy the warehouse {warehouse} to the run's working copy {work}: permission "
                      "denied; make the folder writable by this user", warehouse.parent.parent, before)


def test_a_lock_file_that_cannot_be_created(site, monkeypatch):
    raw, warehouse, marts, before = site
    lock = warehouse.with_name("w.duckdb.lock")
    lock.unlink()
    before.pop("data/w.duckdb.lock")
    real_open = Path.open

    def read_only_fs(self, *args, **kwargs):
        if self == lock:
            raise oserror(errno.EROFS, self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", read_only_fs)
    stopped_unchanged(materialize(raw, warehouse, marts), f"cannot create the warehouse's lock file {lock}: read-only "
                      "file system; mount it read-write or choose another --warehouse", warehouse.parent.parent, before)


def test_a_full_disk_when_the_run_commits(site, monkeypatch):
    """The run went through, but its copy cannot replace the warehouse: the previous warehouse and marts stay."""
    raw, warehouse, marts, before = site
    real_replace = os.replace

    def full(src, dst, *args, **kwargs):
        if Path(dst) == warehouse:
            raise oserror(errno.ENOSPC, dst)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(RunFault) as caught:
        run_pipeline(raw, warehouse, marts, dt.date(2024, 7, 31), [], echo=lambda m: None,
                     options=RunOptions(report_dir=marts.parent / "report"))
    work = warehouse.with_name(f".w.duckdb.run-{os.getpid()}")
    assert str(caught.value) == (f"cannot commit the run's working copy {work} over the warehouse {warehouse}: no "
                                 "space left on the device; free space on that disk, then run again (nothing was "
                                 "changed: the warehouse and the published marts are as they were)")
    monkeypatch.undo()
    # the release the run wrote was never made current: removed as an orphan when the run stopped; its HTML
    # report, drawn during the run beside the last one, waited for the release to be made current: removed too
    assert tree(warehouse.parent.parent) == before


def test_a_full_disk_while_the_exports_are_written_beside_the_report(site, monkeypatch):
    """The release's exports, written in a thread while the run draws its report, fail (a full disk under the
    workbook): the run fails as a step would, the release is never made current, the warehouse is as it was."""
    import qp_analytics.publication.exports as exports
    import qp_analytics.publication.release as release

    raw, warehouse, marts, before = site

    def full(folder, *args, **kwargs):
        raise oserror(errno.ENOSPC, folder / exports.WORKBOOK)

    monkeypatch.setattr(exports, "write_workbook", full)
    lines = []
    summary = run_pipeline(raw, warehouse, marts, dt.date(2024, 7, 31), [], echo=lines.append,
                           options=RunOptions(report_dir=marts.parent / "report"))
    assert summary.exit_code == 1 and summary.release is None
    assert summary.failures == [f"published__marts: writing the exports of release {summary.failures[0].split()[6]} "
                                f"failed: [Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}: "
                                f"'{marts / 'releases' / summary.failures[0].split()[6] / exports.WORKBOOK}'"]
    assert any(line.startswith("A step failed") for line in lines), lines
    assert release._EXPORTS_LATER == {}  # no thread left writing
    # as when the commit fails: nothing shows the run's figures, its report included
    assert tree(warehouse.parent.parent) == before
