"""Fingerprints of a raw folder by content (sha256), and which territories a set of files belongs to."""

import hashlib
import os
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from qp_analytics.files import RACY_NS, remember_digest, state_of
from qp_analytics.reading.territories import RawFolderLinks

WATCHED = ("territories.csv", "manifest.csv", "conventions", "roadmaps", "avenants")
_TERRITORY_OF = re.compile(r"^(?:conventions|roadmaps|avenants)/(?P<id>[a-z0-9]+(?:-[a-z0-9]+)*)(?:_avenant_\d+)?\.")


def _watched_files(root: Path, name: str) -> list[tuple[str, os.DirEntry | None]]:
    """The files of a watched name (relative to the raw folder, in order), as `[path] if path.is_file() else
    sorted(p for p in path.rglob("*") if p.is_file())` lists them (links to files followed, links to folders not
    entered), each with its directory entry (None for the name itself): one listing per folder."""
    path = root / name
    if path.is_file():
        return [(name, None)]
    found: list[tuple[str, os.DirEntry]] = []

    def walk(folder: str, relative: str) -> None:
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:  # unreadable: as rglob, nothing from it
            return
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, f"{relative}/{entry.name}")
                elif entry.is_file():
                    found.append((f"{relative}/{entry.name}", entry))
            except OSError:
                continue

    if path.is_dir():
        walk(str(path), name)
    return sorted(found, key=lambda item: item[0].split("/"))  # the order of Paths: part by part


def raw_fingerprints(raw_dir: str | Path, known: Mapping[str, Sequence[object]] | None = None,
                     seen: dict[str, list[object]] | None = None,
                     territories: Collection[str] | None = None) -> dict[str, str]:
    """{path relative to the raw folder: sha256 of its bytes} for every watched file (not modification times).

    known: {path: [inode, size, modification and change times (ns), sha256]} from an earlier look: a file whose
    state is the one known there keeps its sha256 without being read again (a write changes its change time,
    which no tool sets back). seen: filled with the same for this look, for the next one (files changed in the
    last RACY_NS left out). Each folder is listed once (os.scandir); a file's state is its entry's.
    territories: only the files a run of these territories reads: theirs, and those of no territory (the
    registry, the manifest, any file not named for a territory); another territory's files (named for it, as
    `territories_of` tells) are left out, not looked at (a one-territory refresh at 1,400 territories looked at
    4,200 files), and kept in seen as known."""
    root = Path(raw_dir)
    links = RawFolderLinks(root)
    known = known or {}
    recent = time.time_ns() - RACY_NS
    out: dict[str, str] = {}
    inside: dict[str, bool] = {}  # folder (relative) -> whether its real path is inside the raw folder
    for name in WATCHED:
        for relative, entry in _watched_files(root, name):
            folder, _, base = relative.rpartition("/")
            if base.startswith("."):
                continue
            if territories is not None and (named := _TERRITORY_OF.match(relative)) \
                    and named.group("id") not in territories:
                if seen is not None and isinstance(known.get(relative), (list, tuple)):
                    seen[relative] = list(known[relative])
                continue
            if folder not in inside:
                inside[folder] = links.folder_inside(root / folder)
            # a file leading out of the raw folder (a link) is never read: its target stands for its content
            if (entry is None or entry.is_symlink() or not inside[folder]) and links.outside(root / relative):
                out[relative] = f"outside:{(root / relative).resolve()}"
                continue
            status = entry.stat() if entry is not None else (root / relative).stat()
            state = state_of(status, change_time=True)
            before = known.get(relative)
            if isinstance(before, (list, tuple)) and len(before) == 5 and list(before[:4]) == state:
                digest = str(before[4])
            else:
                digest = hashlib.sha256((root / relative).read_bytes()).hexdigest()
            remember_digest(status, digest)  # for the run's steps (file_sha256)
            out[relative] = digest
            if seen is not None and state[3] < recent:
                seen[relative] = [*state, digest]
    return out


def changed_paths(previous: dict[str, str], current: dict[str, str]) -> set[str]:
    """Files added, changed or removed between two fingerprints."""
    return {p for p in current.keys() | previous.keys() if previous.get(p) != current.get(p)}


def territories_of(paths: Iterable[str], known: Sequence[str]) -> list[str]:
    """The known territories these files belong to, in registry order."""
    ids = {m.group("id") for p in paths if (m := _TERRITORY_OF.match(p))}
    return [t for t in known if t in ids]
