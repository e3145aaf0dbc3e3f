"""Per-territory work spread over the machine's cores, where it pays.

Reading a PDF's text and checking a workbook are pure functions of a file: they run in a pool of worker
processes, results come back in order. Small batches stay in the calling process (starting workers costs
about a second). Workers are forked from a fresh server process (`forkserver`), never from the caller, which
may hold threads and an open DuckDB connection.

Within one run (`run_workers`), a stage may start pure work ahead for the stage after it (`start_ahead`: the
conventions just read are parsed while the run's process writes them and normalises the roadmaps); the later
stage takes a result started ahead only for an input equal to its own (`map_ordered(..., key=)`), and computes
the rest as usual.
"""

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

A = TypeVar("A")
R = TypeVar("R")

MIN_PARALLEL = 48  # territories: below this, one process is faster than starting workers
AHEAD_NICENESS = 10  # the run's workers' niceness (os.nice), above the run's process
AHEAD_BATCH = 8  # items started ahead as one task
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


def _each(fn: Callable[[A], R], items: list[A]) -> list[R]:
    """fn over a batch of items (in a worker: one task for several items)."""
    return [fn(item) for item in items]


def _name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


class RunWorkers:
    """The worker pool of one run in this process, and the work started ahead in it (by function and key: the
    input it was started with, its batch's future and its place in the batch). The pool is made when a stage
    first needs it and shut down when a stage ends with nothing ahead left to take, or when the run ends."""

    def __init__(self, workers: int | None = None):
        self.workers = worker_count(workers)
        self.pool: ProcessPoolExecutor | None = None
        self.ahead: dict[tuple[str, Hashable], tuple[Any, Future, int]] = {}

    def executor(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # below the run's process: work started ahead takes the core its serial work leaves idle, not its own
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=forkserver_context(),
                                            initializer=os.nice, initargs=(AHEAD_NICENESS,))
        return self.pool

    def take(self, fn: Callable, key: Hashable, item: Any) -> tuple[Future, int] | None:
        """The future and place of fn's result for key, if it was started ahead with an input equal to item."""
        started = self.ahead.pop((_name(fn), key), None)
        if started is None or started[0] != item:
            return None
        return started[1], started[2]

    def release_if_idle(self) -> None:
        if self.pool is not None and not self.ahead:
            self.pool.shutdown(wait=True)
            self.pool = None

    def close(self) -> None:
        """Drop what was started ahead and let the pool go (when the run ends, or a stage failed in it)."""
        self.ahead.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


_RUN: RunWorkers | None = None  # the run under way in this process, if it shares its workers (run_workers)


@contextlib.contextmanager
def run_workers(workers: int | None = None) -> Iterator[RunWorkers]:
    """One pool of workers for the stages of a run in this process, with the work started ahead for a later
    stage; what was started ahead and not taken is dropped when the run ends, however it ends."""
    global _RUN
    previous, _RUN = _RUN, RunWorkers(workers)
    try:
        yield _RUN
    finally:
        _RUN.close()
        _RUN = previous


def goes_parallel(count: int, workers: int | None = None, min_parallel: int | None = None) -> bool:
    """Whether map_ordered runs this many items in worker processes."""
    return worker_count(workers) >= 2 and count >= (MIN_PARALLEL if min_parallel is None else min_parallel)


def start_ahead(fn: Callable[[A], Any], keyed: Sequence[tuple[Hashable, A]], batch: int = AHEAD_BATCH) -> bool:
    """Start fn over these (key, item) pairs in the run's workers, for a later stage's map_ordered(fn, ...,
    key=) to take; nothing when no run shares its workers (run_workers) or it has one worker only. fn must be a
    pure function of its item: a result is taken only for an equal item, and work not taken is dropped."""
    run = _RUN
    if run is None or run.workers < 2 or not keyed:
        return False
    pool, name = run.executor(), _name(fn)
    for start in range(0, len(keyed), batch):
        part = keyed[start:start + batch]
        future = pool.submit(_each, fn, [item for _, item in part])
        for place, (key, item) in enumerate(part):
            run.ahead[(name, key)] = (item, future, place)
    return True


def map_ordered(fn: Callable[[A], R], items: Sequence[A], workers: int | None = None,
                min_parallel: int | None = None, key: Callable[[A], Hashable] | None = None) -> Iterator[R]:
    """fn over items, in order; in worker processes when there are enough items and more than one worker.
    key: an item's key, under which a result of fn may have been started ahead (start_ahead) in this run.

    fn must be a module-level function (it is sent to the workers by name)."""
    run = _RUN
    taken: list[tuple[Future, int] | None] = [None] * len(items)
    if run is not None and key is not None and run.ahead:
        taken = [run.take(fn, key(item), item) for item in items]
    rest = [item for item, started in zip(items, taken, strict=True) if started is None]
    with contextlib.ExitStack() as stack:
        try:
            if not goes_parallel(len(rest), workers, min_parallel):
                computed: Iterator[R] = map(fn, rest)
            else:
                n = worker_count(workers)
                if run is not None and run.workers == n:
                    pool = run.executor()
                else:
                    pool = stack.enter_context(ProcessPoolExecutor(max_workers=n, mp_context=forkserver_context()))
                # submits every item: a worker that dies meanwhile breaks the pool here already
                computed = pool.map(fn, rest, chunksize=max(1, min(16, len(rest) // (n * 8))))
            for started in taken:
                yield next(computed) if started is None else started[0].result()[started[1]]
        except BaseException:
            if run is not None:  # a worker that died breaks the pool: the next stage starts another
                run.close()
            raise
    if run is not None:
        run.release_if_idle()
