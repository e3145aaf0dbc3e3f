"""Publish the marts as Parquet, atomically: readers see the previous complete set or the new one.

Layout of the marts folder:
    releases/<release_id>/<mart>.parquet, core_<table>.parquet, dictionary.parquet, dictionary.md, release.json,
                          and the exports (qp_analytics.publication.exports): <table>.csv, marts.xlsx, datapackage.json
    current -> releases/<release_id>          (a symlink, swapped in one rename)
    <mart>.parquet -> current/<mart>.parquet  (stable names for analysts; they never change)
A release is written under a temporary name, flushed, then renamed into place with a `.pending` marker; only
then does `current` move, and the marker goes. A run killed at any point leaves `current` on the last complete
release; a release it left pending (an orphan, never made current) is removed by the next pruning. A release whose
exports are written later (publish_release's exports_later: while the run draws its report) is made current only
once they are written and flushed (activate_release waits for them, and refuses the release if they failed).
"""

import datetime as dt
import functools
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from qp_analytics.dictionary import columns_frame, dictionary_markdown
from qp_analytics.files import link_or_copy
from qp_analytics.publication.exports import WORKBOOK, export_names, write_exports
from qp_analytics.publication.releases import CURRENT, PENDING, RELEASES, current_release, no_run_publishing, publishing
from qp_analytics.schema import MARTS, TABLES, Table, release_name

KEEP_RELEASES = 5
DICTIONARY = "dictionary"


# The core tables travel with the marts in every release (as core_<table>): where each value was read, the
# actions, requests and milestones behind the indicators, queryable as the marts are.
CORE = {name: table for name, table in TABLES.items() if name.startswith("core.")}


# Exports being written after their release's Parquet files (publish_release's exports_later), by release id
_EXPORTS_LATER: dict[str, Future] = {}


@functools.cache
def _exporter() -> ThreadPoolExecutor:
    """The one thread that writes them, made on first use."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-exports")


def exports_written(release: Path) -> None:
    """Return once the exports of this release are written and flushed: at once for a release whose exports
    were written with it; else when the thread writing them is done, raising what it raised (an OSError of the
    disk, mostly). activate_release calls it first: a release whose exports failed is never made current."""
    future = _EXPORTS_LATER.get(release.name)
    if future is not None:
        try:
            future.result()
        finally:
            _EXPORTS_LATER.pop(release.name, None)


def exports_settled() -> None:
    """Wait for every export still being written (their errors are exports_written's to raise): a run ends with
    no thread writing into its marts folder, whatever became of it."""
    wait(list(_EXPORTS_LATER.values()))


def _write_later(release: Path, write: Callable[[Path], object]) -> None:
    """The release's exports written in a thread (`write(release)`), the release flushed when they are;
    exports_written waits for them."""
    def exports() -> None:
        write(release)
        _fsync_dir(release)

    _EXPORTS_LATER[release.name] = _exporter().submit(exports)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> str:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def _tables_of(frames: Mapping[str, pl.DataFrame]) -> dict[str, Table]:
    """The definitions of a release's tables, the marts first: {schema.table: Table}."""
    return {name: table for name, table in {**MARTS, **CORE}.items() if name in frames}


def _parquet_files(frames: Mapping[str, pl.DataFrame], tables: Mapping[str, Table]) -> dict[str, tuple[bytes, int]]:
    """The release's Parquet files (its tables and the dictionary): {file name: (bytes, rows)}."""
    files = {}
    dictionary = columns_frame(tables)
    for name, frame in {**{release_name(k): v for k, v in frames.items()}, DICTIONARY: dictionary}.items():
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        files[f"{name}.parquet"] = (buffer.getvalue(), frame.height)
    return files


def parquet_writer() -> str:
    """What makes a table's Parquet bytes from its rows: this module (the query is the caller's, the same for a
    table), polars' and DuckDB's versions. A file is reused by a later release only if they are the same."""
    import duckdb

    return hashlib.sha256(f"{Path(__file__).read_bytes()!r} polars {pl.__version__} duckdb {duckdb.__version__}"
                          .encode()).hexdigest()


@dataclass(frozen=True)
class KeptTable:
    """A table of the current release, unchanged since (the same digest, by the same writer): its file is linked
    into the new release rather than read from the warehouse and encoded again."""
    path: Path  # its Parquet file in the current release
    rows: int
    sha256: str
    digest: str


def unchanged_tables(marts_dir: str | Path, digests: Mapping[str, str]) -> dict[str, KeptTable]:
    """The tables (schema.table -> KeptTable) whose file in the current release holds the rows of this digest
    (qp_analytics.warehouse.database.table_digests), recorded by the same Parquet writer; none when there is no
    current release or it cannot be read. A refresh of one territory at 1,400 read and encoded all 28 tables."""
    current = current_release(marts_dir)
    if current is None:
        return {}
    try:
        manifest = json.loads((current / "release.json").read_text(encoding="utf-8"))
        if manifest.get("parquet_writer") != parquet_writer():
            return {}
        kept = {}
        for name, digest in digests.items():
            record = manifest["files"].get(f"{release_name(name)}.parquet")
            path = current / f"{release_name(name)}.parquet"
            # the file as it was written (its SHA-256): one damaged or replaced on disk is encoded again
            if isinstance(record, dict) and record.get("digest") == digest and path.is_file() \
                    and hashlib.sha256(path.read_bytes()).hexdigest() == record.get("sha256"):
                kept[name] = KeptTable(path, int(record["rows"]), str(record["sha256"]), digest)
        return kept
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def same_as_current(marts_dir: str | Path, files: Mapping[str, bytes], as_of: dt.date,
                    kept: Mapping[str, KeptTable] | None = None) -> Path | None:
    """The current release if it holds exactly these files (same bytes on disk) and the kept ones (taken from
    it) for the same as_of, else None."""
    current = current_release(marts_dir)
    if current is None:
        return None
    kept = kept or {}
    try:
        if any(k.path.parent.resolve() != current for k in kept.values()):
            return None
        manifest = json.loads((current / "release.json").read_text(encoding="utf-8"))
        parquet = {name for name in files if name.endswith(".parquet")} | {k.path.name for k in kept.values()}
        if manifest.get("as_of") != as_of.isoformat() or set(manifest.get("files") or {}) != parquet:
            return None
        for name, data in files.items():
            if (current / name).read_bytes() != data:
                return None
    except (OSError, ValueError, AttributeError):
        return None
    return current


def publish_release(marts_dir: str | Path, frames: Mapping[str, pl.DataFrame], as_of: dt.date,
                    run_id: str = "", activate: bool = True, reuse: bool = False,
                    kept: Mapping[str, KeptTable] | None = None, digests: Mapping[str, str] | None = None,
                    exports_later: bool = False) -> Path:
    """Write a complete release of the marts and (unless activate=False) make it the current one.

    Returns its folder. A caller that must first commit something else (the CLI commits the warehouse)
    writes the release inactive (holding `publishing(marts_dir)` until it activates it or gives up, so that no
    pruning takes the release for an orphan), then calls activate_release: the two swaps are then back to back.
    reuse: when the current release holds the same marts for the same as_of, write nothing and return it.
    kept: tables of the current release unchanged since (`unchanged_tables`), linked rather than encoded (not in
    frames); digests: the tables' digests (`table_digests`), recorded with their files for the next release.
    exports_later: the exports (CSV, workbook, data package) written in a thread once the release is in place
    (pending), while the caller goes on; exports_written waits for them, activate_release too (a refresh at 1,400
    territories: 0.6 s of writing they took from the run, done while it draws its report)."""
    with publishing(marts_dir):
        release = _publish(marts_dir, frames, as_of, run_id, activate, reuse, kept or {}, digests or {},
                           exports_later)
    if activate:
        prune_releases(Path(marts_dir))
    return release


def _publish(marts_dir: str | Path, frames: Mapping[str, pl.DataFrame], as_of: dt.date, run_id: str,
             activate: bool, reuse: bool, kept: Mapping[str, KeptTable], digests: Mapping[str, str],
             exports_later: bool = False) -> Path:
    tables = _tables_of({**frames, **kept}) or MARTS
    encoded = _parquet_files(frames, tables)
    dictionary = dictionary_markdown(tables, as_of=as_of).encode("utf-8")
    if reuse:
        same = same_as_current(marts_dir, {**{n: data for n, (data, _) in encoded.items()},
                                           f"{DICTIONARY}.md": dictionary}, as_of, kept)
        if same is not None:
            same = Path(marts_dir) / RELEASES / same.name  # named as a new release would be, not resolved
            if activate:
                activate_release(marts_dir, same, prune=False)  # idempotent; puts back a stable name removed by hand
            return same
    root = Path(marts_dir)
    releases = root / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    release_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    staging = releases / f".incomplete-{release_id}"
    staging.mkdir()
    _write_file(staging / PENDING, f"run {run_id} pid {os.getpid()}\n".encode())
    by_file = {f"{release_name(name)}.parquet": digest for name, digest in digests.items()}
    files: dict[str, dict[str, object]] = {
        name: {"rows": rows, "sha256": _write_file(staging / name, data),
               **({"digest": by_file[name]} if name in by_file else {})} for name, (data, rows) in encoded.items()}
    for table in kept.values():
        link_or_copy(table.path, staging / table.path.name, _write_file)  # a file of the current release
        files[table.path.name] = {"rows": table.rows, "sha256": table.sha256, "digest": table.digest}
    files = {name: files[name] for name in dict.fromkeys([*(f"{release_name(t)}.parquet" for t in tables), *files])
             if name in files}  # in the tables' order, as when every table is encoded
    _write_file(staging / f"{DICTIONARY}.md", dictionary)
    released = {release_name(n): t for n, t in tables.items() if n in frames or n in kept}
    marts = {name: t for name, t in released.items() if t.name in MARTS}
    version = exports_version()
    reusable = _reusable(marts_dir, version)
    workbook = _same_workbook(reusable, files, [*marts, DICTIONARY])
    same_csv = _same_csv(reusable, files, list(released))

    def write(folder: Path) -> list[str]:  # the exports, flushed: into the staging folder, or the release's later
        written = write_exports(folder, released, marts, release_id, as_of.isoformat(),
                                folder / f"{DICTIONARY}.parquet", workbook=workbook, same_csv=same_csv)
        for name in written:
            with (folder / name).open("rb") as fh:
                os.fsync(fh.fileno())
        return written

    exports = export_names(staging, released) if exports_later else write(staging)
    manifest = {"release": release_id, "as_of": as_of.isoformat(), "run_id": run_id,
                "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "files": files,
                "exports": exports, "exports_version": version, "parquet_writer": parquet_writer()}
    _write_file(staging / "release.json", json.dumps(manifest, indent=2).encode("utf-8"))
    _fsync_dir(staging)
    final = releases / release_id
    os.rename(staging, final)
    _fsync_dir(releases)
    if exports_later:
        _write_later(final, write)
    if activate:
        activate_release(root, final, prune=False)
    return final


def exports_version() -> str:
    """The SHA-256 of the code that turns a release's Parquet files into its exports (CSV, workbook): an export
    of a previous release is reused only if this code is the same."""
    from qp_analytics import schema
    from qp_analytics.publication import exports

    digest = hashlib.sha256()
    for module in (exports, schema):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _reusable(marts_dir: str | Path, version: str) -> tuple[Path, dict] | None:
    """The current release and its release.json's files, when its exports were made by the same code."""
    current = current_release(marts_dir)
    if current is None:
        return None
    try:
        published = json.loads((current / "release.json").read_text(encoding="utf-8"))
        if published.get("exports_version") == version and isinstance(published.get("files"), dict):
            return current, published["files"]
    except (OSError, ValueError):
        pass
    return None


def _same(published: Mapping, files: Mapping[str, Mapping[str, object]], name: str) -> bool:
    try:
        return published[f"{name}.parquet"]["sha256"] == files[f"{name}.parquet"]["sha256"]
    except (KeyError, TypeError):
        return False


def _same_workbook(reusable: tuple[Path, dict] | None, files: Mapping[str, Mapping[str, object]],
                   names: list[str]) -> Path | None:
    """The current release's workbook when it was drawn from the same marts and dictionary (the same SHA-256 in
    its release.json) by the same code: a release that changes only core tables (a document's bytes, not its
    values) copies it rather than draw it again (a second at 1,400 territories)."""
    if reusable is None or not (reusable[0] / WORKBOOK).is_file():
        return None
    current, published = reusable
    return current / WORKBOOK if all(_same(published, files, name) for name in names) else None


def _same_csv(reusable: tuple[Path, dict] | None, files: Mapping[str, Mapping[str, object]],
              names: list[str]) -> dict[str, Path]:
    """The current release's CSV files of the tables whose Parquet bytes are the same (written by the same code):
    copied rather than written again (a refresh at 1,400 territories changes one or two of 18 tables)."""
    if reusable is None:
        return {}
    current, published = reusable
    return {name: current / f"{name}.csv" for name in names
            if _same(published, files, name) and (current / f"{name}.csv").is_file()}


def activate_release(marts_dir: str | Path, release: Path, prune: bool = True) -> None:
    """Point `current` at a complete release, in one rename: a reader resolves it to the old or the new one; then
    the release is no longer pending. prune: then prune the releases (see prune_releases). A release whose exports
    are being written (publish_release's exports_later) is made current once they are; if they failed, it is not
    (the error is raised)."""
    exports_written(release)
    root = Path(marts_dir)
    link = root / f".{CURRENT}-{release.name}"
    link.unlink(missing_ok=True)  # left by a run killed right here
    os.symlink(Path(RELEASES) / release.name, link)
    os.replace(link, root / CURRENT)
    _fsync_dir(root)
    (release / PENDING).unlink(missing_ok=True)
    for path in release.iterdir():
        if path.name != "release.json":
            _stable_link(root, path.name)
    if prune:
        prune_releases(root)


def _stable_link(root: Path, name: str) -> None:
    target = Path(CURRENT) / name
    path = root / name
    if path.is_symlink() and Path(os.readlink(path)) == target:
        return
    tmp = root / f".{name}.{uuid.uuid4().hex[:6]}"
    os.symlink(target, tmp)
    os.replace(tmp, path)


def prune_releases(root: Path, keep: int = KEEP_RELEASES) -> None:
    """Keep the last `keep` published releases (never removing the current one); remove orphans (releases left
    pending by a run killed before it made them current) and leftovers of interrupted writes, when no run is
    publishing (else they wait for the next pruning: they may be that run's)."""
    root = Path(root)
    releases = root / RELEASES
    if not releases.is_dir():
        return
    current = current_release(root)
    if current is not None and (current / PENDING).exists():  # made current, killed before the marker went
        (current / PENDING).unlink(missing_ok=True)
    folders = sorted(p for p in releases.iterdir() if p.is_dir() and not p.name.startswith("."))
    published = [p for p in folders if not (p / PENDING).exists()]
    for old in published[:-keep]:
        if old.resolve() != current:
            shutil.rmtree(old, ignore_errors=True)
    with no_run_publishing(root) as alone:
        for leftover in releases.glob(".incomplete-*"):
            if alone or leftover.name[len(".incomplete-"):] < (current.name if current else ""):
                shutil.rmtree(leftover, ignore_errors=True)
        if alone:
            for orphan in (p for p in folders if p not in published and p.resolve() != current):
                shutil.rmtree(orphan, ignore_errors=True)
    for stray in root.glob(f".{CURRENT}-*"):
        stray.unlink(missing_ok=True)
