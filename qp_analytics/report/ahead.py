"""The report's pages drawn ahead: while a run checks and publishes its marts, a worker process draws the pages
they will show, on the time the run leaves a core idle, for the report step to take.

The marts step of an in-process run hands every mart (`start_pages_ahead`, as the release will hold it: `SELECT *`,
sorted by territory) to one worker (forked from the project's forkserver, at the run's workers' niceness), which
draws the national page, then, chunk by chunk, every territory page whose inputs differ from those the current
report recorded, all stamped with a placeholder release (an id no release has). The report step takes them
(`PagesAhead.take`, `take_national`): what was not started is cancelled and drawn by the report as usual; a
territory page drawn ahead is used only if its digest (TerritorySources.digests: its rows, neighbours, names,
evaluation date and the report's code) is the one the release gives it, the national page only if every mart of
the release equals the frame it was drawn from and the code is the report's; each with the release's id and day
written in (`restamped`, as for a national page whose marts did not change). Any other page is drawn by the
report: drawing ahead can make a page ready sooner, never different.

Only for runs that recompute the marts of MIN_PARALLEL territories or more: below that, starting a worker costs
more than the pages it would draw. A run that recomputes fewer (a refresh), whose process has not imported the
chart modules, starts a worker with no marts (`start_pages_ahead(None, …)`): it only imports them, and the report
step hands it the national page, the one page whose drawing needs them.
"""
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from qp_analytics.parallel import AHEAD_NICENESS, forkserver_context
from qp_analytics.report.charts import import_chart_modules
from qp_analytics.report.rendering import Renderer, Stamp, restamped
from qp_analytics.report.source import Release
from qp_analytics.report.territory import TerritorySources, page_path

PAGES_A_CHUNK = 32  # territory pages drawn as one task by a worker, ahead or by the report's (about 40 ms)
# a release id as publish_release names them (so that `restamped` accepts it), of a day no release has
PLACEHOLDER_DAY = "00000000T000000000000Z"


class PagesAhead:
    """The report's pages of one set of marts, drawn by a worker process: the national page, then the territories'
    by chunks (`take_national` and `take` hand them over)."""

    def __init__(self, marts: Mapping[str, pl.DataFrame] | None, as_of: dt.date, report_dir: Path,
                 chunk: int = PAGES_A_CHUNK):
        """marts None: no page is drawn ahead; the worker only imports the chart modules, ready for the report to
        hand it the national page (`build_report`, through `pool`)."""
        self.stamp = Stamp(f"{PLACEHOLDER_DAY}-{uuid.uuid4().hex[:6]}", as_of, dt.datetime.now(dt.UTC).date())
        self.marts = dict(marts or {})
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=forkserver_context(), initializer=_start_worker,
                                        initargs=(self.marts, as_of, str(report_dir), self.stamp))
        self.national: Future | None = None
        self.chunks: list[tuple[list[str], Future]] = []
        if marts is None:
            self.futures = [self.pool.submit(import_chart_modules)]
            return
        ids = sorted(marts["mart_evaluation_territories"]["territory_id"].to_list())
        # the national page first (its charts: about a second), then the territories' by chunks
        self.national = self.pool.submit(_draw_national)
        self.chunks = [(ids[i:i + chunk], self.pool.submit(_draw_chunk, ids[i:i + chunk]))
                       for i in range(0, len(ids), chunk)]
        self.futures = [self.national, *(future for _, future in self.chunks)]

    def take(self) -> list[tuple[list[str], Future]]:
        """Stop drawing ahead: the chunks not started are cancelled; those drawn or being drawn are returned, each
        (its territories, the future of {territory id: (the page's digest, the page)} for the pages the worker
        drew: those whose digest the current report did not record)."""
        taken = [(ids, future) for ids, future in self.chunks if not future.cancel()]
        self.chunks = []
        return taken

    def take_national(self) -> Future | None:
        """The national page drawn ahead, or being drawn (None: not started, now cancelled): the future of (the
        page, its charts as the manifest records them, the code version), for `national_taken`."""
        national, self.national = self.national, None
        return None if national is None or national.cancel() else national

    def national_taken(self, future: Future, release: Release, stamp: Stamp, code_version: str
                       ) -> tuple[str, dict[str, Any]] | None:
        """The national page drawn ahead, as the release's (`restamped`), if it was drawn by this code version from
        the release's marts (every one, equal in columns, types, values and order); None otherwise (then it is
        drawn)."""
        try:
            page, charts, drawn_by = future.result()
        except Exception:  # a worker that failed or died: the report draws the page itself
            return None
        if drawn_by != code_version or set(release.marts) != set(self.marts) or \
                not all(release.marts[name].equals(frame) for name, frame in self.marts.items()):
            return None
        page = restamped(page, self.stamp, stamp)
        return None if page is None else (page, charts)

    def usable(self) -> bool:
        """Whether the worker can take more drawing (it did not die: a chunk that broke its pool says so)."""
        return not any(future.done() and not future.cancelled() and isinstance(future.exception(), BrokenExecutor)
                       for future in self.futures)

    def close(self) -> None:
        """Let the worker go (what it was drawing is dropped)."""
        self.chunks, self.national = [], None
        self.pool.shutdown(wait=False, cancel_futures=True)


_RUN: list["PagesAhead | bool"] = [False]  # the run under way in this process: False (none), True, its PagesAhead


@contextlib.contextmanager
def pages_ahead_in_run() -> Iterator[None]:
    """A run in this process, whose marts step may start drawing its territory pages ahead for its report step;
    what was drawn and not taken is dropped when the run ends, however it ends."""
    previous, _RUN[0] = _RUN[0], True
    try:
        yield
    finally:
        started, _RUN[0] = _RUN[0], previous
        if isinstance(started, PagesAhead):
            started.close()


def run_takes_pages_ahead() -> bool:
    """Whether a run under way in this process takes territory pages drawn ahead (`pages_ahead_in_run`)."""
    return _RUN[0] is not False


def start_pages_ahead(marts: Mapping[str, pl.DataFrame] | None, as_of: dt.date, report_dir: Path) -> bool:
    """Start drawing these marts' territory pages ahead, for the run under way (`pages_ahead_in_run`); nothing
    when there is none. marts: every mart, by its release name, as the release will hold it; None: a worker made
    ready to draw the national page, nothing drawn ahead (PagesAhead)."""
    if _RUN[0] is False:
        return False
    if isinstance(_RUN[0], PagesAhead):
        _RUN[0].close()
    _RUN[0] = PagesAhead(marts, as_of, report_dir)
    return True


def taken_ahead() -> PagesAhead | None:
    """The pages the run under way started drawing ahead, handed over once (None: none)."""
    started = _RUN[0]
    if not isinstance(started, PagesAhead):
        return None
    _RUN[0] = True
    return started


def pages_taken(taken: Sequence[tuple[list[str], Future]], digests: Mapping[str, str], stamp: Stamp,
                ahead_stamp: Stamp) -> dict[str, str]:
    """The pages drawn ahead that the report may use, by their path: a page whose digest is the one the release
    gives it (digests: by path), with the release's stamp written in. A chunk whose drawing failed gives none."""
    pages: dict[str, str] = {}
    for _, future in taken:
        try:
            drawn = future.result()
        except Exception:  # a worker that failed or died: the report draws these pages itself
            continue
        for territory_id, (digest, page) in drawn.items():
            relative = page_path(territory_id)
            if digests.get(relative) != digest:
                continue
            text = restamped(page, ahead_stamp, stamp)
            if text is not None:
                pages[relative] = text
    return pages


# -- in the worker ------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _start_worker(marts: dict[str, pl.DataFrame], as_of: dt.date, report_dir: str, stamp: Stamp) -> None:
    os.nice(AHEAD_NICENESS)
    _WORKER.update(marts=marts, as_of=as_of, report_dir=report_dir, stamp=stamp)


def _sources() -> tuple[TerritorySources, dict[str, str], dict[str, Any]]:
    """The worker's sources, the pages' digests and the current report's manifest (read once, by the first task)."""
    if "sources" not in _WORKER:
        from qp_analytics.report.writing import read_manifest, report_version

        sources = TerritorySources(_WORKER["marts"], _WORKER["as_of"])
        _WORKER.update(sources=sources, code=report_version(), manifest=read_manifest(Path(_WORKER["report_dir"])))
        _WORKER["digests"] = sources.digests(_WORKER["code"])
    return _WORKER["sources"], _WORKER["digests"], _WORKER["manifest"]


def _draw_national() -> tuple[str, dict[str, Any], str]:
    """The national page of the marts (stamped with the placeholder release) and its charts, as draw_national, and
    the code version that drew them."""
    from qp_analytics.report.charts import ChartMemo

    sources, _, manifest = _sources()
    stamp: Stamp = _WORKER["stamp"]
    published = dt.datetime.combine(stamp.published, dt.time(), dt.UTC) if stamp.published else None
    release = Release(Path(_WORKER["report_dir"]), stamp.release, stamp.as_of, published, _WORKER["marts"])
    charts = ChartMemo(_WORKER["code"], manifest.get("charts", {}))
    return Renderer().national(release, sources.names, charts), charts.drawn, _WORKER["code"]


def _draw_chunk(territory_ids: list[str]) -> dict[str, tuple[str, str]]:
    """These territories' pages whose digest the current report did not record: {id: (digest, page)}."""
    sources, digests, manifest = _sources()
    recorded = manifest.get("pages", {})
    wanted = [t for t in territory_ids
              if not isinstance(recorded.get(page_path(t)), dict) or recorded[page_path(t)].get("inputs") != digests[t]]
    renderer = Renderer()
    return {t: (digests[t], renderer.territory(inputs, _WORKER["stamp"]))
            for t, inputs in sources.inputs(wanted).items()}
