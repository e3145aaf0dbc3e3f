"""Fingerprints of a raw folder by content (sha256), and which territories a set of files belongs to."""

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from qp_analytics.reading.territories import RawFolderLinks

WATCHED = ("territories.csv", "manifest.csv", "conventions", "roadmaps", "avenants")
_TERRITORY_OF = re.compile(r"^(?:conventions|roadmaps|avenants)/(?P<id>[a-z0-9]+(?:-[a-z0-9]+)*)(?:_avenant_\d+)?\.")


def raw_fingerprints(raw_dir: str | Path) -> dict[str, str]:
    """{path relative to the raw folder: sha256 of its bytes} for every watched file (not modification times)."""
    root = Path(raw_dir)
    links = RawFolderLinks(root)
    out: dict[str, str] = {}
    for name in WATCHED:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        for file in files:
            if file.name.startswith("."):
                continue
            # a file leading out of the raw folder (a link) is never read: its target stands for its content
            outside = links.outside(file)
            out[file.relative_to(root).as_posix()] = (f"outside:{file.resolve()}" if outside
                                                      else hashlib.sha256(file.read_bytes()).hexdigest())
    return out


def changed_paths(previous: dict[str, str], current: dict[str, str]) -> set[str]:
    """Files added, changed or removed between two fingerprints."""
    return {p for p in current.keys() | previous.keys() if previous.get(p) != current.get(p)}


def territories_of(paths: Iterable[str], known: Sequence[str]) -> list[str]:
    """The known territories these files belong to, in registry order."""
    ids = {m.group("id") for p in paths if (m := _TERRITORY_OF.match(p))}
    return [t for t in known if t in ids]
