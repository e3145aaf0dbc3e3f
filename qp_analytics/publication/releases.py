"""Where the published marts are: `<marts>/current`, a symlink to `<marts>/releases/<release_id>`.

Kept free of heavy imports (no polars): `qp-analytics query` reads it on every call.
"""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

CURRENT = "current"
RELEASES = "releases"


def current_release(marts_dir: str | Path) -> Path | None:
    """The folder of the last complete release (resolved once: read everything from it)."""
    link = Path(marts_dir) / CURRENT
    if not link.is_symlink() and not link.is_dir():
        return None
    return link.resolve()


PENDING = ".pending"  # in a release folder: written, not yet made current (an orphan if its run was killed)
PUBLISH_LOCK = ".publish.lock"


@contextlib.contextmanager
def publishing(marts_dir: str | Path) -> Iterator[None]:
    """Held (shared) by a run from before it writes its release until that release is made current (or the run
    gives up). Pruning removes pending releases only when it can take this lock exclusively: no run is then between
    writing a release and making it current, so every pending release is an orphan of a run that is gone."""
    root = Path(marts_dir)
    root.mkdir(parents=True, exist_ok=True)
    with (root / PUBLISH_LOCK).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def no_run_publishing(marts_dir: str | Path) -> Iterator[bool]:
    """Whether no run holds `publishing` (then none can start one until the block ends)."""
    path = Path(marts_dir) / PUBLISH_LOCK
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
