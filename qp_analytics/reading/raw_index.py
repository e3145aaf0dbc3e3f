"""Fingerprints of a raw folder by content (sha256), and which territories a set of files belongs to."""

import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from qp_analytics.files import file_state
from qp_analytics.reading.territories import RawFolderLinks

WATCHED = ("territories.csv", "manifest.csv", "conventions", "roadmaps", "avenants")
_TERRITORY_OF = re.compile(r"^(?:conventions|roadmaps|avenants)/(?P<id>[a-z0-9]+(?:-[a-z0-9]+)*)(?:_avenant_\d+)?\.")


# a file changed this recently may be changed again within the same tick of the file system's clock, its state
# unchanged: its hash is not kept for the next look (as git treats a "racy" file)
RACY_NS = 2 * 10**9


def raw_fingerprints(raw_dir: str | Path, known: Mapping[str, Sequence[object]] | None = None,
                     seen: dict[str, list[object]] | None = None) -> dict[str, str]:
    """{path relative to the raw folder: sha256 of its bytes} for every watched file (not modification times).

    known: {path: [inode, size, modification and change times (ns), sha256]} from an earlier look: a file whose
    state is the one known there keeps its sha256 without being read again (a write changes its change time,
    which no tool sets back). seen: filled with the same for this look, for the next one (files changed in the
    last RACY_NS left out)."""
    root = Path(raw_dir)
    links = RawFolderLinks(root)
    known = known or {}
    recent = time.time_ns() - RACY_NS
    out: dict[str, str] = {}
    for name in WATCHED:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        for file in files:
            if file.name.startswith("."):
                continue
            relative = file.relative_to(root).as_posix()
            # a file leading out of the raw folder (a link) is never read: its target stands for its content
            if links.outside(file):
                out[relative] = f"outside:{file.resolve()}"
                continue
            state = file_state(file, change_time=True)
            before = known.get(relative)
            if isinstance(before, (list, tuple)) and len(before) == 5 and list(before[:4]) == state:
                digest = str(before[4])
            else:
                digest = hashlib.sha256(file.read_bytes()).hexdigest()
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
