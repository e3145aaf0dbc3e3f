"""What a run is asked to do (RunOptions), and the two ways it refuses to start or stops with nothing changed."""

import errno
from dataclasses import dataclass
from pathlib import Path

EXECUTORS = ("in-process", "multiprocess", "celery")


@dataclass(frozen=True)
class RunOptions:
    """How to run: `executor` in-process (one process, steps in turn), multiprocess (steps in parallel
    processes) or celery (steps on Celery workers, instance from DAGSTER_HOME); `reprocess` reads and parses
    unchanged files again; `workers` processes for reading and parsing (0: one per core)."""

    executor: str = "in-process"
    report_dir: Path | None = None  # None: `report` beside the marts folder
    reprocess: bool = False
    workers: int = 0
    celery_broker: str | None = None
    celery_backend: str | None = None


DEFAULT_OPTIONS = RunOptions()  # in-process, every file read only when it changed

class RunRequestError(Exception):
    """The run asked for cannot start (unknown territory, ...)."""


class RunFault(RunRequestError):
    """The run could not copy, lock or commit the warehouse (full disk, folder not writable...): it stopped with
    nothing changed. The message is one line: what, where, what to do. `qp-analytics materialize` exits 1."""


UNCHANGED = "nothing was changed: the warehouse and the published marts are as they were"
REASONS = {errno.ENOSPC: ("no space left on the device", "free space on that disk"),
           errno.EDQUOT: ("disk quota exceeded", "free space on that disk"),
           errno.EACCES: ("permission denied", "make the folder writable by this user"),
           errno.EPERM: ("operation not permitted", "make the folder writable by this user"),
           errno.EROFS: ("read-only file system", "mount it read-write or choose another --warehouse")}


def run_fault(doing: str, place: Path, exc: BaseException) -> RunFault:
    """One line for an OSError (or DuckDB's I/O error) met while doing something to the warehouse at place."""
    code = getattr(exc, "errno", None)
    if code in REASONS:
        reason, advice = REASONS[code]
    else:
        reason, advice = str(exc).strip().splitlines()[0], "check that folder and its disk"
    return RunFault(f"{doing} {place}: {reason}; {advice}, then run again ({UNCHANGED})")
