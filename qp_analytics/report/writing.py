"""The report on disk: its manifest (report.json: each page's release, code version, input digest and SHA-256),
which pages may be kept as they are, and the writes — a whole report swapped in at once, or a few pages in place.

A page is kept (not drawn again) when the manifest says it was drawn by this code from the same inputs and
the file is still what was written (its SHA-256); anything else — no manifest, another code version, other
inputs, a page deleted or edited — draws it again."""

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qp_analytics.files import file_state, link_or_copy
from qp_analytics.report.rendering import templates_digest
from qp_analytics.report.source import ReportError
from qp_analytics.report.territory import TERRITORY_FOLDER
from qp_analytics.warehouse.incremental import modules_version

REPORT_MANIFEST = "report.json"  # marks a folder as a report the next run may replace, and says what it holds
WRITERS = 8  # pages written to disk at once
_DRAWING_LIBRARIES = ("jinja2", "markupsafe", "matplotlib")  # their output is part of the pages' bytes


def report_version() -> str:
    """The version of the code that draws the report: its modules, templates and stylesheet, what it reads the
    release with (modules_version), and the libraries that draw the pages. A change redraws every page."""
    digest = hashlib.sha256(templates_digest().encode())
    for name in _DRAWING_LIBRARIES:
        digest.update(f"{name}=={importlib.metadata.version(name)}".encode())
    return f"{modules_version('report', 'publication', 'marts')}+{digest.hexdigest()}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileWriter:
    """Puts files on disk, each synced before the report points at it: the one seam through which pages are
    written (tests may count or fail writes here). Its methods may be called from several threads at once."""

    def write(self, path: Path, data: bytes) -> None:
        with path.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def keep(self, source: Path, target: Path) -> None:
        """Put a kept page (its bytes already checked) in the new report: a hard link (same file: same inode,
        same mtime, nothing written), or, where links are not allowed, a copy written again."""
        link_or_copy(source, target, self.write)

    def sync_folder(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_out_dir(out_dir: Path, option: str = "--out") -> None:
    """ReportError when the report could not be written in out_dir: a file there, or a folder holding something
    else than a report (the report replaces its whole folder). `option`: what names the folder on the command
    line, said in the message."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir}: exists and is not a folder; the report is written in a folder (created if "
                          f"absent): {option}")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / REPORT_MANIFEST).is_file():
        raise ReportError(f"{out_dir}: this folder is not empty and holds no report ({REPORT_MANIFEST} "
                          f"missing); the report replaces its whole folder: give a new or empty folder with {option}")


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The report's manifest, or {} when there is none or it cannot be read (then nothing is kept)."""
    try:
        manifest = json.loads((out_dir / REPORT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict) or not isinstance(manifest.get("pages"), dict):
        return {}
    return manifest


@dataclass(frozen=True)
class KeptPage:
    relative: str
    record: dict[str, Any]  # its manifest entry, unchanged: the release it was drawn from


def record_file_states(folder: Path, pages: Mapping[str, dict[str, Any]]) -> None:
    """Each page's file state (`file_state`: inode, size, modification time; a page kept is linked, so it keeps
    all three), as written in folder, in its manifest record."""
    for relative, record in pages.items():
        record["file"] = file_state(folder / relative)


def kept_pages(out_dir: Path, manifest: Mapping[str, Any], digests: Mapping[str, str],
               code_version: str) -> dict[str, KeptPage]:
    """Those of these pages (relative path -> digest of its inputs) the report holds already: drawn by this code
    from the same inputs, and unchanged on disk since: the file state recorded with it (`file_state`), else its
    bytes' SHA-256 (a page copied or touched, or recorded by an earlier version). A refresh at 1,400 territories
    read and hashed every page."""
    recorded = manifest.get("pages") or {}
    kept: dict[str, KeptPage] = {}
    to_read: list[str] = []
    for relative, digest in digests.items():  # a look at each file's state: 1,400 in a few milliseconds
        record = recorded.get(relative)
        if not isinstance(record, dict) or record.get("code_version") != code_version \
                or record.get("inputs") != digest:
            continue
        try:
            if record.get("file") is not None and file_state(out_dir / relative) == record["file"]:
                kept[relative] = KeptPage(relative, record)
                continue
        except OSError:  # deleted, or not a file any more
            continue
        to_read.append(relative)

    def check(relative: str) -> KeptPage | None:  # a page whose state differs: its bytes against its SHA-256
        try:
            data = (out_dir / relative).read_bytes()
        except OSError:
            return None
        record = recorded[relative]
        return KeptPage(relative, record) if sha256(data) == record.get("sha256") else None

    if to_read:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:  # reading and hashing many small files: the disk waits
            kept.update((page.relative, page) for page in pool.map(check, to_read) if page is not None)
    return {relative: kept[relative] for relative in digests if relative in kept}


def pending_folder(out_dir: Path, release_id: str) -> Path:
    """Where a whole report of this release waits, written and synced, for its release to be made current
    (`write_whole`'s pending): beside out_dir."""
    return out_dir.parent / f".{out_dir.name}.pending-{release_id}"


def write_whole(out_dir: Path, drawn: Mapping[str, str], kept: Iterable[KeptPage], manifest: dict[str, Any],
                writer: FileWriter, pending: Path | None = None) -> None:
    """Write a whole report into a fresh folder beside out_dir — the pages drawn, and the kept ones linked from
    the current report — then put it in out_dir's place (`swap_in`).

    pending (`pending_folder`): the report is written there and left, synced, for the caller to swap in once the
    release it shows is made current (`swap_in`; `discard_pending` if it is not): a run whose release the command
    line makes current after the warehouse's commit must not show it before. Until the swap out_dir is untouched.
    Leftovers of an interrupted run are removed later."""
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = pending or parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    if pending is not None:
        shutil.rmtree(pending, ignore_errors=True)  # an earlier drawing of the same release, never swapped in
    staging.mkdir()
    try:
        (staging / TERRITORY_FOLDER).mkdir()
        # each file written and synced to disk before the swap; several at once (the disk, not the CPU, is
        # what they wait for: 1 400 pages one after the other take seconds)
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            jobs = [pool.submit(writer.write, staging / relative, text.encode("utf-8"))
                    for relative, text in drawn.items()]
            for page in kept:  # here, meanwhile: a link is one quick call (1,400 in 25 ms, three times that in a pool)
                writer.keep(out_dir / page.relative, staging / page.relative)
            for job in jobs:
                job.result()  # an error is raised here; the files still being written finish before the pool closes
        record_file_states(staging, manifest["pages"])
        writer.write(staging / REPORT_MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        if pending is None:
            swap_in(out_dir, staging, writer)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if pending is not None:
        writer.sync_folder(parent)  # the pending folder's entry; swap_in syncs the swap


def swap_in(out_dir: Path, staging: Path, writer: FileWriter | None = None) -> None:
    """Put a report folder written whole (staging, beside out_dir) in out_dir's place: the two renames back to
    back (out_dir is missing only between them, and put back if the second fails), then the folder before
    removed, and an interrupted run's leftovers older than an hour."""
    writer = writer or FileWriter()
    parent = out_dir.parent
    old = parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
    moved = False
    try:
        if out_dir.exists():
            os.rename(out_dir, old)
            moved = True
        os.rename(staging, out_dir)
    except BaseException:
        if moved and not out_dir.exists():
            os.rename(old, out_dir)
        raise
    writer.sync_folder(parent)
    shutil.rmtree(old, ignore_errors=True)
    # an interrupted run's leftovers; a folder being written right now by another run is younger than this
    stale = dt.datetime.now().timestamp() - 3600
    for leftover in [*parent.glob(f".{out_dir.name}.tmp-*"), *parent.glob(f".{out_dir.name}.old-*"),
                     *parent.glob(f".{out_dir.name}.pending-*")]:
        try:
            if leftover.stat().st_mtime < stale:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def discard_pending(out_dir: Path, release_id: str) -> None:
    """Remove the report of a release that will not be made current (its run failed after drawing it)."""
    shutil.rmtree(pending_folder(out_dir, release_id), ignore_errors=True)


def write_pages(out_dir: Path, drawn: Mapping[str, str], manifest: dict[str, Any], writer: FileWriter) -> None:
    """Replace some pages of a report in place, each in one rename, then its manifest (which records them)."""
    (out_dir / TERRITORY_FOLDER).mkdir(parents=True, exist_ok=True)

    def replace(relative: str, text: str) -> None:
        target = out_dir / relative
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            writer.write(tmp, text.encode("utf-8"))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    for relative, text in drawn.items():
        replace(relative, text)
    record_file_states(out_dir, {relative: manifest["pages"][relative] for relative in drawn})
    replace(REPORT_MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))


def shows_release(out_dir: str | Path, release: str | Path, code_version: str | None = None) -> bool:
    """Whether out_dir is already the whole report of this release folder, drawn by this code (or the code
    version given): its last whole drawing was of this release, with every page there (the national one, which
    names this release, and one per territory of the release), each as it was written (its SHA-256)."""
    out, folder = Path(out_dir), Path(release).resolve()
    try:
        manifest = json.loads((out / REPORT_MANIFEST).read_text(encoding="utf-8"))
        described = json.loads((folder / "release.json").read_text(encoding="utf-8"))
        territories = int(described["files"]["mart_evaluation_territories.parquet"]["rows"])
        pages = manifest["pages"]
        if manifest.get("whole_release") != described["release"] or manifest.get("release_dir") != str(folder) \
                or pages.get("index.html", {}).get("release") != described["release"] \
                or len(pages) != territories + 1:
            return False
        code = code_version or report_version()
        return all(stamp["code_version"] == code
                   and stamp["sha256"] == sha256((out / relative).read_bytes())
                   for relative, stamp in pages.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
