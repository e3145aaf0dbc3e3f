"""Where the published marts are: `<marts>/current`, a symlink to `<marts>/releases/<release_id>`.

Kept free of heavy imports (no polars): `qp-analytics query` reads it on every call.
"""

from pathlib import Path

CURRENT = "current"
RELEASES = "releases"


def current_release(marts_dir: str | Path) -> Path | None:
    """The folder of the last complete release (resolved once: read everything from it)."""
    link = Path(marts_dir) / CURRENT
    if not link.is_symlink() and not link.is_dir():
        return None
    return link.resolve()
