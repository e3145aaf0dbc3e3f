"""Files as the project keeps them: what tells that a file was written again without reading it (its state, as
make and git's index tell it), and a file put in a new folder as the same file."""

import os
from collections.abc import Callable
from pathlib import Path


def file_state(path: Path, change_time: bool = False) -> list[int]:
    """The file's inode, size and modification time (ns), and with `change_time` its change time (ns), which
    every write moves and no tool sets back. Raises OSError when it cannot be looked at."""
    status = path.stat()
    state = [status.st_ino, status.st_size, status.st_mtime_ns]
    return [*state, status.st_ctime_ns] if change_time else state


def link_or_copy(source: Path, target: Path, write: Callable[[Path, bytes], object]) -> None:
    """`target` holding `source`'s bytes: a hard link (the same file: same inode and state, nothing written), or,
    where links are not allowed, a copy written by `write` (which syncs it)."""
    try:
        os.link(source, target)
    except OSError:
        write(target, source.read_bytes())
