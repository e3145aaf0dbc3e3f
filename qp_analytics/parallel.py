"""Per-territory work spread over the machine's cores, where it pays.

Reading a PDF's text and checking a workbook are pure functions of a file: they run in a pool of worker
processes, results come back in order. Small batches stay in the calling process (starting workers costs
about a second). Workers are forked from a fresh server process (`forkserver`), never from the caller, which
may hold threads and an open DuckDB connection.
"""

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

A = TypeVar("A")
R = TypeVar("R")

MIN_PARALLEL = 48  # territories: below this, one process is faster than starting workers
PRELOAD = ["qp_analytics.normalise.rows", "qp_analytics.reading.convention", "qp_analytics.reading.roadmap",
            "qp_analytics.reading.documents"]


def worker_count(requested: int | None = None) -> int:
    """Workers to use: one in a daemonic process (a Celery worker's, say: multiprocessing lets it start no
    process of its own), else `requested` if positive, else QP_WORKERS if set, else the number of usable
    cores."""
    if multiprocessing.current_process().daemon:
        return 1
    if requested and requested > 0:
        return requested
    env = os.environ.get("QP_WORKERS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Forkserver:
    """Where this project's worker processes come from: forked from a fresh server process that has imported the
    parsing modules (Python starts it once per process, with the first worker).

    Python keeps one forkserver per process, with the modules and the environment of its start: the process has
    one `Forkserver` (FORKSERVER), which knows whether the project's workers were asked of it (`taken`), so that
    another use (the multiprocess executor's steps) does not count on its own preloads."""

    def __init__(self, preload: Sequence[str] = PRELOAD):
        self.preload = list(preload)
        self.taken = False  # the project's workers (pool, validator) may come from this process's forkserver

    def context(self) -> multiprocessing.context.ForkServerContext:
        """The multiprocessing context the project's workers start from (the forkserver is taken from then on)."""
        self.taken = True
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self.preload)
        return context


FORKSERVER = Forkserver()  # this process's: Python has one forkserver per process


def forkserver_context() -> multiprocessing.context.ForkServerContext:
    """The context of this process's forkserver, for the project's workers (FORKSERVER.context())."""
    return FORKSERVER.context()


def forkserver_taken() -> bool:
    """Whether this process's forkserver serves (or may serve) the project's workers (FORKSERVER.taken)."""
    return FORKSERVER.taken


def map_ordered(fn: Callable[[A], R], items: Sequence[A], workers: int | None = None,
                min_parallel: int | None = None) -> Iterator[R]:
    """fn over items, in order; in worker processes when there are enough items and more than one worker.

    fn must be a module-level function (it is sent to the workers by name)."""
    n = worker_count(workers)
    if n < 2 or len(items) < (MIN_PARALLEL if min_parallel is None else min_parallel):
        yield from map(fn, items)
        return
    context = forkserver_context()
    chunk = max(1, min(16, len(items) // (n * 8)))
    with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
        yield from pool.map(fn, items, chunksize=chunk)
