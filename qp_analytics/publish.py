"""Publish the marts as Parquet, atomically: readers see the previous complete set or the new one.

Layout of the marts folder:
    releases/<release_id>/<mart>.parquet, dictionary.parquet, dictionary.md, release.json
    current -> releases/<release_id>          (a symlink, swapped in one rename)
    <mart>.parquet -> current/<mart>.parquet  (stable names for analysts; they never change)
A release is written under a temporary name, flushed, then renamed into place; only then does `current`
move. A run killed at any point leaves `current` on the last complete release.
"""

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from qp_analytics.releases import CURRENT, RELEASES, current_release
from qp_analytics.schema import MARTS, Table

KEEP_RELEASES = 5
DICTIONARY = "dictionary"


def short_name(table_name: str) -> str:
    return table_name.split(".", 1)[1]


def dictionary_frame(tables: Mapping[str, Table] = MARTS) -> pl.DataFrame:
    """table, column, type, key, meaning: the same definitions as the Dagster metadata."""
    return pl.DataFrame(
        [{"table": short_name(t.name), "column": c.name, "type": c.type, "key": c.key, "meaning": c.description}
         for t in tables.values() for c in t.columns],
        schema={"table": pl.String, "column": pl.String, "type": pl.String, "key": pl.Boolean, "meaning": pl.String},
    )


def dictionary_markdown(tables: Mapping[str, Table] = MARTS, as_of: dt.date | None = None) -> str:
    lines = ["# Data dictionary of the evaluation marts", ""]
    if as_of:
        lines += [f"Computed for as_of = {as_of.isoformat()}.", ""]
    lines += ["Rules for every mart: facts dated after as_of do not exist yet; a median of nothing and a ratio "
              "over zero are null; counts and sums are 0 where there is nothing; unknown amounts are left out of "
              "sums. Amounts are euros. Durations are whole days.", ""]
    for t in tables.values():
        lines += [f"## {short_name(t.name)}", "", t.description, "", "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| {c.name}{' (key)' if c.key else ''} | {c.type} | {c.description.replace('|', '/')} |"
                  for c in t.columns]
        lines.append("")
    return "\n".join(lines)


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


def _parquet_files(frames: Mapping[str, pl.DataFrame]) -> dict[str, tuple[bytes, int]]:
    """The release's Parquet files (the marts and the dictionary): {file name: (bytes, rows)}."""
    files = {}
    for name, frame in {**{short_name(k): v for k, v in frames.items()}, DICTIONARY: dictionary_frame()}.items():
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        files[f"{name}.parquet"] = (buffer.getvalue(), frame.height)
    return files


def same_as_current(marts_dir: str | Path, files: Mapping[str, bytes], as_of: dt.date) -> Path | None:
    """The current release if it holds exactly these files (same bytes on disk) for the same as_of, else None."""
    current = current_release(marts_dir)
    if current is None:
        return None
    try:
        manifest = json.loads((current / "release.json").read_text(encoding="utf-8"))
        parquet = {name for name in files if name.endswith(".parquet")}
        if manifest.get("as_of") != as_of.isoformat() or set(manifest.get("files") or {}) != parquet:
            return None
        for name, data in files.items():
            if (current / name).read_bytes() != data:
                return None
    except (OSError, ValueError, AttributeError):
        return None
    return current


def publish_release(marts_dir: str | Path, frames: Mapping[str, pl.DataFrame], as_of: dt.date,
                    run_id: str = "", activate: bool = True, reuse: bool = False) -> Path:
    """Write a complete release of the marts and (unless activate=False) make it the current one.

    Returns its folder. A caller that must first commit something else (the CLI commits the warehouse)
    writes the release inactive, then calls activate_release: the two swaps are then back to back.
    reuse: when the current release holds the same marts for the same as_of, write nothing and return it."""
    encoded = _parquet_files(frames)
    dictionary = dictionary_markdown(as_of=as_of).encode("utf-8")
    if reuse:
        same = same_as_current(marts_dir, {**{n: data for n, (data, _) in encoded.items()},
                                           f"{DICTIONARY}.md": dictionary}, as_of)
        if same is not None:
            same = Path(marts_dir) / RELEASES / same.name  # named as a new release would be, not resolved
            if activate:
                activate_release(marts_dir, same)  # idempotent; puts back a stable name removed by hand
            return same
    root = Path(marts_dir)
    releases = root / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    release_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    staging = releases / f".incomplete-{release_id}"
    staging.mkdir()
    files: dict[str, dict[str, object]] = {
        name: {"rows": rows, "sha256": _write_file(staging / name, data)} for name, (data, rows) in encoded.items()}
    _write_file(staging / f"{DICTIONARY}.md", dictionary)
    manifest = {"release": release_id, "as_of": as_of.isoformat(), "run_id": run_id,
                "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "files": files}
    _write_file(staging / "release.json", json.dumps(manifest, indent=2).encode("utf-8"))
    _fsync_dir(staging)
    final = releases / release_id
    os.rename(staging, final)
    _fsync_dir(releases)
    if activate:
        activate_release(root, final)
    return final


def activate_release(marts_dir: str | Path, release: Path) -> None:
    """Point `current` at a complete release, in one rename: a reader resolves it to the old or the new one."""
    root = Path(marts_dir)
    link = root / f".{CURRENT}-{release.name}"
    link.unlink(missing_ok=True)  # left by a run killed right here
    os.symlink(Path(RELEASES) / release.name, link)
    os.replace(link, root / CURRENT)
    _fsync_dir(root)
    for path in release.iterdir():
        if path.name != "release.json":
            _stable_link(root, path.name)
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
    """Drop old releases and leftovers of interrupted ones (never the current one)."""
    releases = root / RELEASES
    current = current_release(root)
    complete = sorted(p for p in releases.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in complete[:-keep]:
        if old.resolve() != current:
            shutil.rmtree(old, ignore_errors=True)
    for leftover in releases.glob(".incomplete-*"):
        if leftover.name[len(".incomplete-"):] < (current.name if current else ""):
            shutil.rmtree(leftover, ignore_errors=True)
    for stray in root.glob(f".{CURRENT}-*"):
        stray.unlink(missing_ok=True)
