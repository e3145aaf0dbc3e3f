"""What tells that a file was written again without reading it: its state, as make and git's index tell it."""

from pathlib import Path


def file_state(path: Path, change_time: bool = False) -> list[int]:
    """The file's inode, size and modification time (ns), and with `change_time` its change time (ns), which
    every write moves and no tool sets back. Raises OSError when it cannot be looked at."""
    status = path.stat()
    state = [status.st_ino, status.st_size, status.st_mtime_ns]
    return [*state, status.st_ctime_ns] if change_time else state
