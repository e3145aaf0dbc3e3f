"""The evaluation report: static HTML pages in French, drawn from one published release of the marts, and
drawn again only where they changed.

`build_report` reads every mart of one release (the current one unless told otherwise: a consistent set,
with its as_of and release id from release.json), and writes a national page (`index.html`: programme totals,
all territories side by side, five charts, the first the history quarter by quarter) and one page per territory
(`territoires/<id>.html`: tables and lists, its late items and its funding by axe, no chart), from the Jinja2
templates of templates/ (rendering.py). Pages are self-contained: inline CSS (report.css), charts as inline
SVG drawn by matplotlib (charts.py), no script and no reference to anything outside the report folder, so they
read offline and print cleanly. Every page states the evaluation date, the release and the provenance (real or
illustrative) of the documents its figures come from. Values the marts leave null are shown as "—".

A page is drawn again only when what it shows changed (writing.py): the national page when the release does
(it names it, and lists every territory), a territory's page when its inputs do (TerritoryInputs: its rows in
the marts, the evaluation date, the names it links to) or the report's code does. A territory page left as it
was names the release it was drawn from, whose figures for it are those of the new one. A new release whose
marts are those the national page was drawn from (the same files: a document's bytes changed, say) takes that
page with the new release's id and day written in (`restamped`), the page a drawing would give.
"""

import contextlib
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qp_analytics.parallel import MIN_PARALLEL, forkserver_context, worker_count
from qp_analytics.reading.territories import is_territory_id
from qp_analytics.report.ahead import PAGES_A_CHUNK, PagesAhead, pages_taken
from qp_analytics.report.charts import ChartMemo
from qp_analytics.report.formatting import (
    format_date,
    format_days,
    format_euros,
    format_number,
    format_percent,
    plural,
    signature_text,
)
from qp_analytics.report.rendering import GENERATOR, Renderer, Stamp, restamped
from qp_analytics.report.source import MART_NAMES, Release, ReportError, load_release
from qp_analytics.report.territory import TerritorySources, page_path
from qp_analytics.report.writing import (
    REPORT_MANIFEST,
    FileWriter,
    check_out_dir,
    kept_pages,
    pending_folder,
    read_manifest,
    report_version,
    sha256,
    shows_release,
    write_pages,
    write_whole,
)

__all__ = ["REPORT_MANIFEST", "FileWriter", "Renderer", "Release", "ReportError", "ReportResult", "build_report",
           "format_date", "format_days", "format_euros", "format_number", "format_percent", "load_release",
           "plural", "report_version", "shows_release", "signature_text"]

NATIONAL_PAGE = "index.html"


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    pages: list[Path]  # every page of this build, national first (the whole report, or the territories asked)
    as_of: dt.date
    release: str  # the release id (folder name under releases/)
    release_dir: Path
    national: bool  # whether this was the whole report (index.html current), not some territories' pages
    redrawn: list[Path]  # the pages drawn and written by this build; the others were kept as they were

    @property
    def index(self) -> Path | None:
        return self.out_dir / NATIONAL_PAGE if self.national else None


def national_digest(release: Release, code_version: str) -> str:
    """The national page's inputs: the whole release (named by its id, a release never changes) and the code."""
    payload = json.dumps([code_version, NATIONAL_PAGE, release.release_id, release.as_of.isoformat()])
    return hashlib.sha256(payload.encode()).hexdigest()


def national_content(release: Release, code_version: str) -> str | None:
    """What the national page shows but its release's id and day: the marts' files (their SHA-256, as the
    release records them), the evaluation date and the code. None when the release does not record them all."""
    files = [release.sha256s.get(f"{name}.parquet") for name in MART_NAMES]
    if not all(files):
        return None
    payload = json.dumps([code_version, NATIONAL_PAGE, release.as_of.isoformat(), files])
    return hashlib.sha256(payload.encode()).hexdigest()


def build_report(marts_dir: str | Path, out_dir: str | Path, territories: Sequence[str] | None = None,
                 release: str | Path | None = None, *, renderer: Renderer | None = None,
                 writer: FileWriter | None = None, code_version: str | None = None,
                 pending: bool = False, ahead: PagesAhead | None = None) -> ReportResult:
    """Bring the evaluation report of one release of the marts in out_dir up to date.

    release: a release folder (`<marts_dir>/releases/<id>`) to render instead of the current one.
    territories: only these territories' pages (the national page and the others are left as they are); None:
    the whole report, which replaces out_dir as a whole.
    Pages whose inputs and code are those of the page in out_dir, still intact, are kept; the others are drawn,
    in memory, before anything is written: a failure leaves the previous report.
    renderer, writer, code_version: what draws the pages, what writes them, the code version stamped on them
    (default: this code's, report_version()).
    pending: the whole report is written beside out_dir (`pending_folder`) and left there, for the caller to put
    in place once the release is made current (`swap_in`), or to discard (`discard_pending`).
    ahead: pages a worker started drawing before the release was published (qp_analytics.report.ahead), taken for a
    whole report drawn by the default renderer where they are the pages a drawing would give; the caller closes
    it."""
    out = Path(out_dir)
    data = load_release(marts_dir, release)
    ids = sorted(data.marts["mart_evaluation_territories"]["territory_id"].to_list())
    unsafe = [t for t in ids if not is_territory_id(t)]
    if unsafe:  # ids become file names: the pipeline checks them, a hand-made release might not
        raise ReportError(f"{data.folder}: invalid territory id(s) {', '.join(map(repr, unsafe))} in "
                          "mart_evaluation_territories")
    whole = territories is None
    if pending and not whole:
        raise ValueError("a report left pending is a whole one (territories=None)")
    if not whole:
        wanted = list(dict.fromkeys(territories or ()))
        unknown = [t for t in wanted if t not in ids]
        if unknown or not wanted:
            raise ReportError(f"unknown territory id(s): {', '.join(unknown) or '(none given)'}; release "
                              f"{data.release_id} has: {', '.join(ids) or '(no territory)'}")
    check_out_dir(out)
    code = code_version or report_version()
    renderer = renderer or Renderer()
    writer = writer or FileWriter()

    sources = TerritorySources(data.marts, data.as_of)
    pages = {t: page_path(t) for t in (sources.ids if whole else wanted)}
    previous = read_manifest(out)
    content = national_content(data, code) if whole else None
    digests = _recorded_digests(previous, content, code, pages) if whole else None
    if digests is None:
        digests = {pages[t]: digest for t, digest in sources.digests(code, None if whole else wanted).items()}
    if whole:
        digests = {NATIONAL_PAGE: national_digest(data, code), **digests}
    else:
        digests = {pages[t]: digests[pages[t]] for t in wanted}  # in the order asked
    kept = kept_pages(out, previous, digests, code)

    drawn: dict[str, str] = {}
    charts = previous.get("charts", {})  # the national page's, as the manifest records them (ChartMemo)
    to_draw = [t for t, page in pages.items() if page not in kept]
    stamp = Stamp.of(data)
    # the pages drawn ahead, or being drawn (the others' drawing is cancelled): taken below if they are these pages
    ahead = ahead if whole and type(renderer) is Renderer else None
    taken = ahead.take() if ahead is not None else []
    covered = {territory_id for ids, _ in taken for territory_id in ids}
    with contextlib.ExitStack() as later:
        national: Future | None = None
        national_ahead: Future | None = None
        restamp = _national_restamped(out, previous, content, code, stamp) if whole and NATIONAL_PAGE not in kept \
            else None
        shared: dict[int, Future] = {}  # territory pages' chunks the worker may draw, by their index
        here = [t for t in to_draw if t not in covered]
        chunks = [here[i:i + PAGES_A_CHUNK] for i in range(0, len(here), PAGES_A_CHUNK)]
        if restamp is not None:  # the same marts as the page there (a document's bytes changed, say): no drawing
            drawn[NATIONAL_PAGE] = restamp
        elif whole and NATIONAL_PAGE not in kept:
            national_ahead = ahead.take_national() if ahead is not None else None
            if national_ahead is not None or ahead is not None and ahead.usable() or \
                    type(renderer) is Renderer and len(to_draw) >= MIN_PARALLEL and worker_count() > 1:
                # drawn by a worker process (its charts: about a second; the worker that drew pages ahead, if it
                # did, and it may have drawn this one, or the one the run made ready, its chart modules imported,
                # for a refresh) while this one draws the territories'; the worker then draws
                # territory pages from the last chunk back, this process from the first on, each chunk by whichever
                # comes to it first (one still waiting for the worker is taken back from it)
                pool = _worker_pool(ahead, later)
                with contextlib.suppress(BrokenExecutor):  # a worker that died (killed, say): drawn here instead
                    if national_ahead is None:
                        national = pool.submit(national_in_worker, marts_dir, str(data.folder), code, charts)
                    for i in reversed(range(len(chunks))):
                        shared[i] = pool.submit(territories_in_worker, marts_dir, str(data.folder), chunks[i], stamp)
            else:
                drawn[NATIONAL_PAGE], charts = draw_national(data, sources.names, code, charts, renderer)
        def draw_here(territory_ids: Sequence[str]) -> None:
            for territory_id, inputs in sources.inputs(territory_ids).items():
                drawn[pages[territory_id]] = renderer.territory(inputs, stamp)

        for i, chunk in enumerate(chunks):
            if i not in shared or shared[i].cancel():
                draw_here(chunk)
        for i, future in shared.items():
            if not future.cancelled():
                try:
                    drawn.update((pages[territory_id], page) for territory_id, page in future.result().items())
                except BrokenExecutor:
                    draw_here(chunks[i])
        if ahead is not None and taken:  # the pages drawn ahead that are these pages; the others drawn here
            usable = pages_taken(taken, digests, stamp, ahead.stamp)
            missing = []
            for territory_id in (t for t in to_draw if t in covered):
                if pages[territory_id] in usable:
                    drawn[pages[territory_id]] = usable[pages[territory_id]]
                else:
                    missing.append(territory_id)
            draw_here(missing)
        if ahead is not None and national_ahead is not None:
            done = ahead.national_taken(national_ahead, data, stamp, code)
            drawn[NATIONAL_PAGE], charts = done or draw_national(data, sources.names, code, charts, renderer)
        if national is not None:
            with contextlib.suppress(BrokenExecutor):
                drawn[NATIONAL_PAGE], charts = national.result()
        if whole and NATIONAL_PAGE not in kept and NATIONAL_PAGE not in drawn:  # its worker died before drawing it
            drawn[NATIONAL_PAGE], charts = draw_national(data, sources.names, code, charts, renderer)

    drawn_stamp = {"release": data.release_id, "as_of": data.as_of.isoformat(), "code_version": code}
    national_record = {"content": content, "published": stamp.published.isoformat() if stamp.published else None}
    records = {relative: kept[relative].record if relative in kept
               else {**drawn_stamp, "sha256": sha256(drawn[relative].encode("utf-8")), "inputs": digest,
                     **(national_record if relative == NATIONAL_PAGE else {})}
               for relative, digest in digests.items()}
    if whole:
        manifest = {"generator": GENERATOR, **drawn_stamp, "release_dir": str(data.folder),
                    "whole_release": data.release_id, "pages": records,
                    "charts": charts}
        write_whole(out, drawn, kept.values(), manifest, writer,
                    pending=pending_folder(out, data.release_id) if pending else None)
    else:
        # pages drawn from the release the report was last drawn whole from leave it whole; others do not
        same = previous.get("whole_release") == data.release_id and previous.get("release_dir") == str(data.folder)
        manifest = {"generator": GENERATOR, **drawn_stamp, "release_dir": str(data.folder),
                    "whole_release": previous.get("whole_release") if same else None,
                    "pages": {**previous.get("pages", {}), **records}, "charts": previous.get("charts", {})}
        write_pages(out, drawn, manifest, writer)
    return ReportResult(out, [out / relative for relative in digests], data.as_of, data.release_id, data.folder,
                        national=whole, redrawn=[out / relative for relative in digests if relative in drawn])


def _national_of(previous: dict[str, Any], content: str | None) -> dict[str, Any] | None:
    """The national page's record in the report's manifest when it was drawn from marts of this content
    (`national_content`), else None."""
    record = (previous.get("pages") or {}).get(NATIONAL_PAGE)
    return record if content is not None and isinstance(record, dict) and record.get("content") == content else None


def _recorded_digests(previous: dict[str, Any], content: str | None, code_version: str,
                      pages: dict[str, str]) -> dict[str, str] | None:
    """The territory pages' digests (page -> digest) as the report's manifest records them, when they are those
    `TerritorySources.digests` would give for this release; else None (they are computed: 0.13 s at 1,400
    territories, for a refresh that changed a document's bytes and none of the marts).

    They are when the national page was drawn by this code from marts of the same content (`national_content`:
    the same marts files, evaluation date and code), every page is recorded by this code, and the report was last
    drawn whole from the release the national page records, and since only from it (pages drawn from another
    release leave `whole_release` empty): every territory page's digest was then computed from those marts."""
    recorded = previous.get("pages") or {}
    national = _national_of(previous, content)
    if national is None or national.get("code_version") != code_version \
            or not isinstance(national.get("release"), str) or previous.get("whole_release") != national["release"]:
        return None
    digests = {}
    for relative in pages.values():
        record = recorded.get(relative)
        if not isinstance(record, dict) or record.get("code_version") != code_version \
                or not isinstance(record.get("inputs"), str):
            return None
        digests[relative] = record["inputs"]
    return digests


def _national_restamped(out: Path, previous: dict[str, Any], content: str | None, code_version: str,
                        stamp: Stamp) -> str | None:
    """The national page in out as this release's (`restamped`), when this code drew it from marts of the same
    content (`national_content`) and it is as it was written; else None (it is drawn)."""
    record = _national_of(previous, content)
    if record is None or not kept_pages(out, previous, {NATIONAL_PAGE: record.get("inputs")}, code_version):
        return None
    try:
        before = Stamp(record["release"], dt.date.fromisoformat(record["as_of"]),
                       dt.date.fromisoformat(record["published"]) if record.get("published") else None)
        page = (out / NATIONAL_PAGE).read_text(encoding="utf-8")
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return restamped(page, before, stamp)


def _worker_pool(ahead: PagesAhead | None, later: contextlib.ExitStack) -> ProcessPoolExecutor:
    """The worker the report hands drawing to: the one that drew pages ahead (its modules imported, the marts read),
    unless it is gone; else a new one, let go when the report is drawn."""
    if ahead is not None and ahead.usable():
        return ahead.pool
    return later.enter_context(ProcessPoolExecutor(max_workers=1, mp_context=forkserver_context()))


def draw_national(data: Release, names: dict[str, str], code_version: str, recorded_charts: Any,
                  renderer: Renderer | None = None) -> tuple[str, dict[str, Any]]:
    """The national page of a release (names: its territories'), and its charts as the manifest records them for
    the next drawing (ChartMemo: a chart recorded from the same inputs is taken as it is)."""
    charts = ChartMemo(code_version, recorded_charts)
    return (renderer or Renderer()).national(data, names, charts), charts.drawn


def national_in_worker(marts_dir: str | Path, folder: str, code_version: str, recorded_charts: Any
                       ) -> tuple[str, dict[str, Any]]:
    """draw_national in a worker process, which reads the release (its folder) again."""
    data, sources = _release_in_worker(marts_dir, folder)
    return draw_national(data, sources.names, code_version, recorded_charts)


def territories_in_worker(marts_dir: str | Path, folder: str, territory_ids: Sequence[str], stamp: Stamp
                          ) -> dict[str, str]:
    """These territories' pages drawn in a worker process, from the release (its folder) as it reads it."""
    _, sources = _release_in_worker(marts_dir, folder)
    renderer = Renderer()
    return {territory_id: renderer.territory(inputs, stamp)
            for territory_id, inputs in sources.inputs(territory_ids).items()}


@functools.lru_cache(maxsize=1)
def _release_in_worker(marts_dir: str | Path, folder: str) -> tuple[Release, TerritorySources]:
    """The release a worker draws from, read once by it (a worker serves one report's drawing)."""
    data = load_release(marts_dir, folder)
    return data, TerritorySources(data.marts, data.as_of)
