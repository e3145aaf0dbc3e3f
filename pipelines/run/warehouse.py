"""The warehouse a run writes: one materialisation at a time (its lock), and the private working copy the run
writes instead, swapped in by one rename when the run is kept, removed however it ends.

Files are copied and renamed through the shutil and os modules (shutil.copyfile, os.replace), where a test
makes them fail as a full disk would."""

import contextlib
import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from pipelines.run.options import RunRequestError, run_fault
from qp_analytics.warehouse.database import access_lock_path, connect, materialisation_lock_path


@contextlib.contextmanager
def warehouse_lock(warehouse: Path, wait: bool, echo: Callable[[str], None]) -> Iterator[None]:
    """One materialisation at a time per warehouse: a second one waits (or, with wait=False, refuses)."""
    lock_path = materialisation_lock_path(warehouse)  # also taken, shared, by every write connection to it
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fh = lock_path.open("a+")
    except OSError as exc:
        raise run_fault("cannot create the warehouse's lock file", lock_path, exc) from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            if not wait:
                raise RunRequestError(f"{warehouse} is being materialised by {holder}; try again when it ends "
                                      "(or let this run wait: without --no-wait)") from None
            echo(f"Waiting: {warehouse} is being materialised by {holder}…")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_working_copy(work: Path) -> None:
    """The copy, its WAL and the lock files its connections made."""
    for path in (work, work.with_name(work.name + ".wal"), access_lock_path(work), materialisation_lock_path(work)):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def working_copy(warehouse: Path) -> Path:
    """A private copy of the warehouse for the run; the published file is only replaced when the run ends.

    A copy that cannot be made (full disk, folder not writable) is removed, and RunFault says why."""
    work = warehouse.with_name(f".{warehouse.name}.run-{os.getpid()}")
    try:
        for leftover in warehouse.parent.glob(f".{warehouse.name}.run-*"):  # from runs that were killed
            leftover.unlink(missing_ok=True)
        if warehouse.exists():
            shutil.copyfile(warehouse, work)
            wal = warehouse.with_name(warehouse.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, work.with_name(work.name + ".wal"))
        else:  # the run creates the warehouse: its folder must take files
            work.touch()
            work.unlink()
    except OSError as exc:
        remove_working_copy(work)
        raise run_fault(f"cannot copy the warehouse {warehouse} to the run's working copy", work, exc) from None
    return work


def commit_working_copy(work: Path, warehouse: Path) -> None:
    """Swap the run's copy in for the warehouse, in one rename (or RunFault, the warehouse unchanged)."""
    try:
        with connect(work) as con:
            con.execute("CHECKPOINT")  # everything in the main file, no WAL to carry
        with open(work, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(work, warehouse)
    except (OSError, duckdb.IOException) as exc:
        raise run_fault(f"cannot commit the run's working copy {work} over the warehouse", warehouse, exc) from None
    warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)
