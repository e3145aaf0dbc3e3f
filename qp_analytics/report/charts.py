"""The national page's charts, drawn by matplotlib as inline SVG elements (deterministic, text left as text),
and the figures they draw from the marts (the history added up, the most reused territories)."""

import datetime as dt
import hashlib
import html
import io
import json
import math
import re
import sys
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from qp_analytics.marts.compute import NATIONAL_PARTNERS
from qp_analytics.report.formatting import (
    THIN,
    format_count,
    format_date,
    format_days,
    format_euros,
    format_number,
    is_null,
    provenance_phrase,
    quarter_label,
)
from qp_analytics.report.labels import (
    OTHER_COLOUR,
    PARTNER_COLOURS,
    PARTNER_LABELS,
    STATUS_COLOURS,
    STATUS_LABELS,
)
from qp_analytics.report.source import indicator_value

# Beyond this many territories a national chart with one row per territory would be unreadable (and slow to
# draw): it shows a distribution or the territories that stand out instead. The table lists them all.
CHART_TERRITORIES_MAX = 40
TOP_TERRITORIES = 20  # territories shown by a chart that keeps only those that stand out
DELAY_BINS_MAX = 40  # classes of a histogram of delays


def chart_footnote(as_of: dt.date, release_id: str, territories: pl.DataFrame, documents: Sequence[str]) -> str:
    """A chart's footnote: the date, the release and the provenance of the documents it draws from."""
    parts = []
    if "convention" in documents:
        parts.append(provenance_phrase(territories["convention_provenance"].to_list(), "convention", "conventions"))
    if "roadmap" in documents:
        parts.append(provenance_phrase(territories["roadmap_provenance"].to_list(),
                                       "feuille de route", "feuilles de route"))
    return (f"Situation au {format_date(as_of)} · publication {release_id}\n"
            f"Documents sources : {' ; '.join(parts)}")


# Where a footnote names its release while the chart is drawn for the memo; the release's id goes there after.
RELEASE_MARK = "@@qp-release@@"


class ChartMemo:
    """The national page's charts as last drawn (recorded in the report's manifest), each by a digest of what
    it was drawn from: its inputs, its footnote and the report's code. A chart whose digest is the recorded one is
    taken as recorded, the release's id written in its footnote (a new release changes its id, and often
    nothing a chart shows): drawing the five charts costs 0.4 to 0.8 s. A chart is drawn with RELEASE_MARK where
    its footnote names the release, then the id put there; the SVG is the one drawn with the id itself (charts
    have fixed layouts, their ids are hashed from a salt; the tests compare both)."""

    def __init__(self, code_version: str, recorded: Any = None) -> None:
        self.code_version = code_version
        self.recorded: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
        self.drawn: dict[str, dict[str, Any]] = {}  # what the manifest records for the next drawing
        self.reused: list[str] = []

    def chart(self, name: str, release_id: str, footnote: str, draw: Any, *inputs: Any) -> str | None:
        """The chart `name`: `draw(footnote)` (footnote with RELEASE_MARK for the release), or as recorded when
        drawn from the same `inputs` (frames, rows, values) and footnote by the same code."""
        key = _inputs_digest([self.code_version, name, footnote], inputs)
        record = self.recorded.get(name)
        if isinstance(record, dict) and record.get("key") == key and isinstance(record.get("svg"), str | None):
            svg = record["svg"]
            self.reused.append(name)
        else:
            svg = draw(footnote)
        self.drawn[name] = {"key": key, "svg": svg}
        return None if svg is None else svg.replace(RELEASE_MARK, html.escape(release_id, quote=False))


def _inputs_digest(head: list[str], inputs: Sequence[Any]) -> str:
    """SHA-256 of a chart's inputs: a frame by its Arrow IPC bytes (schema and values), anything else as JSON."""
    digest = hashlib.sha256(json.dumps(head).encode())
    for value in inputs:
        if isinstance(value, pl.DataFrame):
            buffer = io.BytesIO()
            value.write_ipc(buffer, compression="uncompressed")
            digest.update(b"frame:" + buffer.getvalue())
        else:
            digest.update(b"json:" + json.dumps(value, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def _chart_rc(key: str) -> dict[str, Any]:
    return {
        # deterministic SVG: ids hashed from a fixed salt (one per chart, so ids never clash within a page)
        "svg.hashsalt": f"qp-report-{key}",
        # text stays text: the browser draws it (crisp, selectable, searchable); DejaVu Sans (shipped with
        # matplotlib and Debian) sets the layout, the browser falls back to its sans-serif
        "svg.fonttype": "none",
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "font.size": 10,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "axes.titlesize": 10.5,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.labelsize": 9.5,
        "axes.labelcolor": "#333333",
        "axes.edgecolor": "#888888",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.axisbelow": True,
        "axes.grid": True,
        "grid.color": "#e3e3e3",
        "grid.linewidth": 0.8,
        "xtick.color": "#333333",
        "ytick.color": "#333333",
        "legend.frameon": False,
        "legend.fontsize": 9,
    }


# Fixed layout, in inches (measuring every text as matplotlib's layout engines do costs 5x the drawing).
_WIDTH = 9.0
_TITLE = 0.55  # figure title above the axes
_AXIS = 0.62  # x tick labels and x label below the axes
_LEGEND = 0.32
_FOOTNOTE = 0.42  # two lines: date and release; documents' provenance


# the matplotlib modules drawing a chart imports (a quarter to a third of a second; patches and ticker come with
# figure)
CHART_MODULES = ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg",
                 "matplotlib.backends.backend_svg", "matplotlib.font_manager")


def import_chart_modules() -> None:
    """Import what drawing the charts imports, and nothing more: a run does it on a thread while it waits with
    a core idle (Validator.while_importing). Drawing itself stays with the report: matplotlib's settings are
    global, and two drawings at once would mix them."""
    import importlib

    for name in CHART_MODULES:
        importlib.import_module(name)


def chart_modules_imported() -> bool:
    """Whether this process has imported what drawing the charts imports (import_chart_modules)."""
    return all(name in sys.modules for name in CHART_MODULES)


@contextmanager
def _chart(key: str, height: float) -> Iterator[Any]:
    """A matplotlib Figure on the Agg canvas (no pyplot: no global figure state, nothing interactive), drawn
    and saved under the report's settings."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with mpl.rc_context(_chart_rc(key)):
        figure = Figure(figsize=(_WIDTH, height))
        FigureCanvasAgg(figure)
        yield figure


def _text_width(figure: Any, labels: Iterable[str], size: float = 9) -> float:
    """Width in inches of the widest line of these labels, as the figure's renderer measures it."""
    from matplotlib.font_manager import FontProperties

    renderer = figure.canvas.get_renderer()
    prop = FontProperties(size=size)
    widths = [renderer.get_text_width_height_descent(line, prop, ismath=False)[0]
              for label in labels for line in label.split("\n")]
    return max(widths, default=0.0) / figure.dpi


def _frame(figure: Any, title: str, row_labels: Iterable[str] = (), left: float = 0.0, right: float = 0.35,
           legend: Sequence[Any] = (), legend_columns: int | None = None) -> None:
    """Place the axes with room for their row labels, the figure's title, its legend (on one row unless told
    how many columns) and footnote."""
    width, height = figure.get_size_inches()
    left_room = max(_text_width(figure, row_labels) + 0.22, left, 0.5)
    columns = legend_columns or max(len(legend), 1)
    bottom = _FOOTNOTE + _LEGEND * -(-len(legend) // columns) + _AXIS
    figure.subplots_adjust(left=left_room / width, right=1 - right / width, top=1 - _TITLE / height,
                           bottom=bottom / height, wspace=0.12)
    figure.suptitle(title, x=0.12 / width, y=1 - 0.12 / height, ha="left", va="top", fontsize=12,
                    fontweight="bold", color="#1e1e1e")
    if legend:
        figure.legend(handles=list(legend), loc="lower left", ncols=columns,
                      bbox_to_anchor=(left_room / width - 0.01, (_FOOTNOTE - 0.02) / height))


def _svg(figure: Any, label: str, footnote: str) -> str:
    """The figure as an inline SVG element, with its footnote (date, release, provenance) drawn in."""
    width, height = figure.get_size_inches()
    figure.text(0.12 / width, 0.08 / height, footnote, fontsize=7.5, color="#555555", ha="left", va="bottom")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _inline_svg(buffer.getvalue(), label)


def _inline_svg(svg: str, label: str) -> str:
    """matplotlib's SVG document made an element of the page: no XML prolog, no namespace URLs (the HTML
    parser puts inline <svg> in the SVG namespace itself), scaled by CSS from its viewBox."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)
    svg = svg.replace("xlink:href=", "href=")
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                 lambda m: f'<svg{m.group(1)} role="img" aria-label="{html.escape(label)}"', svg, count=1)
    svg = re.sub(r'<g id="[^"]*">', "<g>", svg)  # matplotlib's group ids (figure_1, ...) repeat across charts
    return svg.strip()


def _wrap(text: str, width: int = 30, lines: int = 2) -> str:
    """A name as a chart label: on at most two lines, and with `$` kept literal (matplotlib reads $...$ as math)."""
    wrapped = "\n".join(textwrap.wrap(text, width, max_lines=lines, placeholder="…")) or text
    return wrapped.replace("$", r"\$")


def _fr_axis(axis: Any) -> None:
    """Tick labels written the French way (1 250 ; 2,5)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: format_number(value, 2, trim=True)))


def _bar_height(rows: int, per_row: float) -> float:
    return _TITLE + _AXIS + _LEGEND + _FOOTNOTE + 0.25 + per_row * rows


def delay_bins(delays: Sequence[int]) -> tuple[int, int, int]:
    """Classes of delay days for a histogram: (width, first, last) with class k = (k*width - width, k*width].

    Right-closed, so 0 (on time) falls in the class ending at 0 and every class on one side of 0: in time on the
    left, late on the right. The width is the smallest round one giving at most DELAY_BINS_MAX classes."""
    low, high = min([*delays, 0]), max([*delays, 1])
    widths = (1, 2, 5, 7, 10, 14, 15, 30, 60, 90, 180, 365)
    width = next((w for w in widths if -(-high // w) - -(-low // w) + 1 <= DELAY_BINS_MAX), None)
    if width is None:
        width = 365 * -(-(high - low) // (365 * (DELAY_BINS_MAX - 1)))
    return width, -(-low // width), -(-high // width)


def status_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUS_LABELS, 0)
    for r in rows:
        if r["roadmap_status"] in counts:
            counts[r["roadmap_status"]] += 1
    return counts


def _roadmap_delay_histogram(rows: list[dict[str, Any]], as_of: dt.date, footnote: str) -> str:
    """Many territories: how many annexed their roadmap at each distance from its due date, in classes of days;
    the roadmaps without a date (not annexed) counted in the legend."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    counts = status_counts(rows)
    others = len(rows) - sum(counts.values())  # a status this version does not know: counted, drawn grey
    dated = [r for r in rows if r["roadmap_delay_days"] is not None]
    width, first, last = delay_bins([r["roadmap_delay_days"] for r in dated])
    classes = range(first, last + 1)
    per_class: dict[str, list[int]] = {}
    for r in dated:
        status = r["roadmap_status"] if r["roadmap_status"] in ("on_time", "late") else "other"
        per_class.setdefault(status, [0] * len(classes))[-(-r["roadmap_delay_days"] // width) - first] += 1
    with _chart("roadmap-delays", 5.2 + _LEGEND) as figure:
        ax = figure.add_subplot()
        ax.grid(axis="x", visible=False)
        bottoms = [0] * len(classes)
        lefts = [k * width - width for k in classes]
        for status in ("on_time", "late", "other"):
            if status in per_class:  # a bar for each class holding territories of this status, none for the others
                drawn = [(left, n, bottom) for left, n, bottom in zip(lefts, per_class[status], bottoms, strict=True)
                         if n]
                ax.bar([d[0] for d in drawn], [d[1] for d in drawn], width=width, bottom=[d[2] for d in drawn],
                       align="edge", color=STATUS_COLOURS.get(status, OTHER_COLOUR), edgecolor="#ffffff",
                       linewidth=0.6)
                bottoms = [b + c for b, c in zip(bottoms, per_class[status], strict=True)]
        top = max(bottoms + [1])
        for left, total in zip(lefts, bottoms, strict=True):
            if total:
                ax.text(left + width / 2, total + top * 0.01, format_number(total), ha="center", va="bottom",
                        fontsize=7.5)
        ax.axvline(0, color="#1e1e1e", linewidth=1)
        ax.set_xlim(lefts[0] - width * 0.5, lefts[-1] + width * 1.5)
        ax.set_ylim(0, top * 1.12)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _fr_axis(ax.xaxis)
        _fr_axis(ax.yaxis)
        ax.set_ylabel("Nombre de territoires")
        ax.set_xlabel(f"Jours entre l'échéance et l'annexion, par classe de {format_count(width, 'jour', 'jours')} "
                      "(négatif : en avance)")
        ax.set_title(f"{format_count(len(dated), 'feuille de route annexée', 'feuilles de route annexées')}, par "
                     f"classe de {format_count(width, 'jour', 'jours')} d'écart à l'échéance, sur "
                     f"{format_count(len(rows), 'territoire', 'territoires')}", pad=8, fontsize=9,
                     fontweight="normal")
        legend = [Patch(color=STATUS_COLOURS[s], label=f"{STATUS_LABELS[s]} : {format_number(counts[s])}"
                        + ("" if s in ("on_time", "late") else " (hors histogramme)"))
                  for s in STATUS_LABELS if counts[s] or s in ("on_time", "late")]
        if others:
            legend.append(Patch(color=OTHER_COLOUR, label=f"Autre statut : {format_number(others)}"))
        _frame(figure, f"Annexion des feuilles de route : écart à l'échéance, au {format_date(as_of)}", left=0.75,
               legend=legend, legend_columns=2)
        figure.subplots_adjust(top=1 - (_TITLE + 0.3) / figure.get_size_inches()[1])
        return _svg(figure, "Répartition des territoires selon l'écart à l'échéance d'annexion de leur feuille de "
                    "route : " + ", ".join(h.get_label() for h in legend), footnote)


# The columns of mart_evaluation_territories the roadmaps' chart shows (and its memo's key is computed from)
ROADMAP_CHART_COLUMNS = ("territory_id", "name", "roadmap_status", "roadmap_delay_days", "roadmap_due_date")


def chart_roadmap_delays(territories: pl.DataFrame, as_of: dt.date, footnote: str) -> str | None:
    """Each territory's roadmap: days between its due date and its annexion; a missing one is marked. Beyond
    CHART_TERRITORIES_MAX territories, the distribution of those days instead (one bar per class of days)."""
    from matplotlib.patches import Patch

    rows = [r for r in territories.select(ROADMAP_CHART_COLUMNS).iter_rows(named=True)
            if r["roadmap_status"] is not None]
    if not rows:
        return None
    if territories.height > CHART_TERRITORIES_MAX:
        return _roadmap_delay_histogram(rows, as_of, footnote)
    # latest at the top; roadmaps not annexed above them all
    rows.sort(key=lambda r: (r["roadmap_delay_days"] if r["roadmap_delay_days"] is not None else math.inf,
                             r["territory_id"]), reverse=True)
    values = [r["roadmap_delay_days"] if r["roadmap_delay_days"] is not None else 0 for r in rows]
    span = max([abs(v) for v in values] + [10])
    labels = [_wrap(r["name"] or r["territory_id"]) for r in rows]
    with _chart("roadmap-delays", _bar_height(len(rows), 0.4)) as figure:
        ax = figure.add_subplot()
        ax.grid(axis="y", visible=False)
        ax.barh(range(len(rows)), values, height=0.65,
                color=[STATUS_COLOURS.get(r["roadmap_status"], OTHER_COLOUR) for r in rows])
        ax.set_yticks(range(len(rows)), labels)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.axvline(0, color="#1e1e1e", linewidth=1)
        for y, (row, value) in enumerate(zip(rows, values, strict=True)):
            if row["roadmap_delay_days"] is None:
                text = (f"{'non annexée' if row['roadmap_status'] == 'missing' else 'attendue'} "
                        f"(échéance : {format_date(row['roadmap_due_date'])})")
                ax.text(span * 0.02, y, text, va="center", ha="left", fontsize=8.5, style="italic")
            else:
                ax.text(value + (span * 0.015 if value >= 0 else -span * 0.015), y, format_number(value),
                        va="center", ha="left" if value >= 0 else "right", fontsize=8.5)
        ax.set_xlim(-span * 1.2, span * 1.2)
        _fr_axis(ax.xaxis)
        ax.set_xlabel("Jours entre l'échéance et l'annexion (négatif : en avance)")
        shown = [s for s in STATUS_LABELS if any(r["roadmap_status"] == s for r in rows)]
        _frame(figure, f"Annexion des feuilles de route : écart à l'échéance, au {format_date(as_of)}", labels,
               legend=[Patch(color=STATUS_COLOURS[s], label=STATUS_LABELS[s]) for s in shown])
        return _svg(figure, "Écart à l'échéance d'annexion des feuilles de route, par territoire", footnote)


def chart_partners(mobilisation: pl.DataFrame, as_of: dt.date, footnote: str) -> str | None:
    """Per national partner (the others together): amounts granted; actions and territories it takes part in."""
    from matplotlib.ticker import MaxNLocator

    if mobilisation.is_empty():
        return None
    grouped = (mobilisation
               .with_columns(group=pl.when(pl.col("partner").is_in(list(NATIONAL_PARTNERS)))
                             .then(pl.col("partner")).otherwise(pl.lit("autres")))
               .group_by("group")
               .agg(granted=pl.col("amount_granted").cast(pl.Float64).sum(),
                    actions=pl.col("actions_involved").sum(),
                    territories=pl.col("territory_id").filter(pl.col("actions_involved") > 0).n_unique()))
    by_group = {r["group"]: r for r in grouped.iter_rows(named=True)}
    groups = [p for p in NATIONAL_PARTNERS if p in by_group] + (["autres"] if "autres" in by_group else [])
    labels = [PARTNER_LABELS.get(g, "Autres partenaires") for g in groups]
    colours = [PARTNER_COLOURS.get(g, OTHER_COLOUR) for g in groups]
    granted = [by_group[g]["granted"] / 1e6 for g in groups]
    actions = [by_group[g]["actions"] for g in groups]
    with _chart("partners", _bar_height(len(groups), 0.42) - _LEGEND + 0.3) as figure:
        left, right = figure.subplots(1, 2)
        for ax in (left, right):
            ax.grid(axis="y", visible=False)
            ax.set_ylim(len(groups) - 0.5, -0.5)
        left.barh(range(len(groups)), granted, color=colours, height=0.65)
        left.set_yticks(range(len(groups)), labels)
        top = max(granted + [0.1])
        for y, g in enumerate(groups):
            left.text(granted[y] + top * 0.02, y, format_euros(by_group[g]["granted"]), va="center", fontsize=8.5)
        left.set_xlim(0, top * 1.45)
        _fr_axis(left.xaxis)
        left.set_xlabel("Millions d'euros")
        left.set_title("Montants accordés", pad=8)
        right.barh(range(len(groups)), actions, color=colours, height=0.65)
        right.set_yticks(range(len(groups)), [""] * len(groups))
        top_actions = max(actions + [1])
        for y, g in enumerate(groups):
            right.text(actions[y] + top_actions * 0.02, y, f"{format_number(actions[y])} "
                       f"({format_count(by_group[g]['territories'], 'territoire', 'territoires')})",
                       va="center", fontsize=8.5)
        right.set_xlim(0, top_actions * 1.6)
        # wide labels (thousands of actions): fewer of them, or they run into each other
        right.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5 if top_actions >= 1000 else "auto"))
        _fr_axis(right.xaxis)
        right.set_xlabel("Nombre d'actions (territoires concernés)")
        right.set_title("Actions où le partenaire intervient", pad=8)
        _frame(figure, f"Partenaires : montants accordés et implication, au {format_date(as_of)}", labels)
        figure.subplots_adjust(top=1 - (_TITLE + 0.3) / figure.get_size_inches()[1])
        return _svg(figure, "Montants accordés et actions, par partenaire", footnote)


def national_history(history: pl.DataFrame) -> list[dict[str, Any]]:
    """mart_history added up over the territories, date by date: actions due and done on time (and their
    share: null when none is due), amounts granted, territories evaluated at that date."""
    if history.is_empty():
        return []
    totals = (history.group_by("evaluation_date")
              .agg(territories=pl.col("territory_id").n_unique(), actions_due=pl.col("actions_due").sum(),
                   actions_on_time=pl.col("actions_on_time").sum(), amount_granted=pl.col("amount_granted").sum())
              .sort("evaluation_date"))
    return [{**r, "share": r["actions_on_time"] / r["actions_due"] if r["actions_due"] else None}
            for r in totals.iter_rows(named=True)]


def chart_history(rows: list[dict[str, Any]], as_of: dt.date, footnote: str) -> str | None:
    """Quarter by quarter (national_history): the share of due actions done on time, and the amounts granted."""
    if not rows:
        return None
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    labels = [quarter_label(r["evaluation_date"]) for r in rows]
    x = list(range(len(rows)))
    with _chart("history", 4.6) as figure:
        top, bottom = figure.subplots(2, 1, sharex=True)
        shares = [math.nan if r["share"] is None else r["share"] * 100 for r in rows]
        top.plot(x, shares, marker="o", color=STATUS_COLOURS["on_time"], linewidth=1.8, markersize=4)
        top.set_ylim(0, 105)
        top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}{THIN}%"))
        top.set_title("Part des actions échues achevées à temps", pad=6)
        bottom.bar(x, [float(r["amount_granted"]) / 1e6 for r in rows], color=PARTNER_COLOURS["etat"], width=0.6)
        bottom.set_title("Montants accordés (cumul, millions d'euros)", pad=6)
        _fr_axis(bottom.yaxis)
        step = max(1, -(-len(rows) // 12))  # at most about twelve labels
        bottom.set_xticks(x[::step], labels[::step])
        bottom.yaxis.set_major_locator(MaxNLocator(nbins=4))
        _frame(figure, f"Évolution trimestre par trimestre, jusqu'au {format_date(as_of)}")
        figure.subplots_adjust(hspace=0.45, top=1 - (_TITLE + 0.25) / figure.get_size_inches()[1])
        return _svg(figure, "Évolution trimestrielle de la part des actions à temps et des montants accordés",
                    footnote)


def _quantile(values: Sequence[float], q: float) -> float:
    """Of sorted values, linear between the closest ranks (numpy's default, polars' "linear")."""
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def _box_stats(values: Sequence[float]) -> dict[str, float]:
    """A box of sorted values for matplotlib's bxp: quartiles, median, whiskers at the 1st and 9th deciles."""
    return {"q1": _quantile(values, 0.25), "med": _quantile(values, 0.5), "q3": _quantile(values, 0.75),
            "whislo": _quantile(values, 0.1), "whishi": _quantile(values, 0.9)}


# What the instruction delays' chart shows (and its memo's key is computed from): these columns of
# mart_partner_mobilisation, the national indicators named with this prefix (one per national partner)
INSTRUCTION_CHART_COLUMNS = ("territory_id", "partner", "median_instruction_days")
INSTRUCTION_INDICATORS = "median_instruction_days_"


def chart_instruction_delays(mobilisation: pl.DataFrame, national: pl.DataFrame, as_of: dt.date,
                             footnote: str, many: bool | None = None) -> str | None:
    """Per national partner: the pooled national median of instruction days (bar) and each territory's (points;
    with many territories, more than CHART_TERRITORIES_MAX unless told, a box: their quartiles and deciles)."""
    from matplotlib.patches import Patch

    if many is None:
        many = mobilisation["territory_id"].n_unique() > CHART_TERRITORIES_MAX
    pooled = {r["indicator"]: indicator_value(r) for r in national.iter_rows(named=True)}
    per_territory = {p: sorted(v for v in mobilisation.filter(pl.col("partner") == p)["median_instruction_days"]
                               .to_list() if not is_null(v)) for p in NATIONAL_PARTNERS}
    partners = [p for p in NATIONAL_PARTNERS
                if per_territory[p] or not is_null(pooled.get(f"median_instruction_days_{p}"))]
    if not partners:
        return None
    medians = [pooled.get(f"median_instruction_days_{p}") for p in partners]
    heights = [0.0 if is_null(m) else m for m in medians]
    top = max(heights + [v for p in partners for v in per_territory[p]] + [10])
    with _chart("instruction-delays", 4.4 + (_LEGEND if many else 0.0)) as figure:
        ax = figure.add_subplot()
        ax.grid(axis="x", visible=False)
        ax.grid(axis="y", visible=True)
        bars = ax.bar(range(len(partners)), heights, color=[PARTNER_COLOURS[p] for p in partners], width=0.6)
        points = None
        if many:  # one box per partner: the territories' medians summed up, drawn in a constant time
            stats = [(x, _box_stats(per_territory[p])) for x, p in enumerate(partners) if per_territory[p]]
            if stats:
                ax.bxp([box for _, box in stats], positions=[x for x, _ in stats], widths=0.3, showfliers=False,
                       patch_artist=True, boxprops={"facecolor": "#ffffff", "edgecolor": "#1e1e1e", "alpha": 0.85},
                       medianprops={"color": "#1e1e1e", "linewidth": 1.6}, whiskerprops={"color": "#1e1e1e"},
                       capprops={"color": "#1e1e1e"}, manage_ticks=False, zorder=3)
                points = Patch(facecolor="#ffffff", edgecolor="#1e1e1e",
                               label="Médianes des territoires : quartiles (boîte), médiane (trait), 1er et 9e "
                                     "déciles (moustaches)")
        for x, p in enumerate(partners):
            values = per_territory[p]
            if not many:
                # the points spread evenly across the bar in value order: deterministic, and none hides another
                offsets = [-0.2 + 0.4 * i / (len(values) - 1) if len(values) > 1 else 0.0 for i in range(len(values))]
                points = ax.scatter([x + o for o in offsets], values, s=20, color="#1e1e1e", edgecolors="#ffffff",
                                    linewidths=0.6, zorder=3) if values else points
            ax.text(x + 0.32, heights[x], format_days(medians[x]), ha="left", va="center", fontsize=9,
                    fontweight="bold")
        ax.set_xlim(-0.6, len(partners) - 0.1)
        ax.set_ylim(0, top * 1.12)
        ax.set_xticks(range(len(partners)), [PARTNER_LABELS[p] for p in partners])
        _fr_axis(ax.yaxis)
        ax.set_ylabel("Jours entre la demande et la décision")
        legend = [bars[0]] + ([points] if points is not None else [])
        bars[0].set_label("Médiane nationale (toutes les demandes décidées)")
        if points is not None and not many:
            points.set_label("Médiane d'un territoire")
        _frame(figure, f"Délais d'instruction des demandes de financement, au {format_date(as_of)}",
               left=1.05, legend=legend, legend_columns=1 if many else None)
        return _svg(figure, "Délai médian d'instruction des demandes, par partenaire national", footnote)


PRACTICE_SERIES = (("practices_documented", "Documentées", "#9fb7e8"), ("practices_shared", "Partagées", "#0063cb"),
                   ("reuse_links", "Réutilisations par d'autres territoires", "#e69f00"))
# The columns of mart_evaluation_territories the practices' chart shows (and its memo's key is computed from)
PRACTICE_CHART_COLUMNS = ("territory_id", "name", *(column for column, _, _ in PRACTICE_SERIES))


def top_reused(territories: pl.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The territories with practices documented, split into the TOP_TERRITORIES most reused (most reuses by
    other territories, then most practices shared, then most documented, then by name) and the others."""
    rows = [r for r in territories.select(PRACTICE_CHART_COLUMNS).iter_rows(named=True)
            if r["practices_documented"] is not None]
    rows.sort(key=lambda r: (-(r["reuse_links"] or 0), -(r["practices_shared"] or 0), -r["practices_documented"],
                             r["name"] or r["territory_id"], r["territory_id"]))
    return rows[:TOP_TERRITORIES], rows[TOP_TERRITORIES:]


def practices_left_out(territories: pl.DataFrame) -> str:
    """What the top chart leaves out: how many territories, and their totals."""
    shown, rest = top_reused(territories)
    without = territories.height - len(shown) - len(rest)
    totals = [format_number(sum(r[c] or 0 for r in rest)) for c, _, _ in PRACTICE_SERIES]
    return (f"{format_count(len(rest), 'autre territoire non représenté', 'autres territoires non représentés')}"
            + (f" (ensemble : {totals[0]} documentées, {totals[1]} partagées, {totals[2]} réutilisations)"
               if rest else "")
            + (f" ; {format_count(without, 'territoire', 'territoires')} sans données de bonnes pratiques"
               if without else ""))


def chart_practices(territories: pl.DataFrame, as_of: dt.date, footnote: str) -> str | None:
    """Per territory: practices documented, shared by as_of, and reuses of them by other territories. Beyond
    CHART_TERRITORIES_MAX territories, only the TOP_TERRITORIES most reused, with what is left out."""
    from matplotlib.ticker import MaxNLocator

    rows = [r for r in territories.select(PRACTICE_CHART_COLUMNS).iter_rows(named=True)
            if r["practices_documented"] is not None]
    if not rows:
        return None
    many = territories.height > CHART_TERRITORIES_MAX
    if many:
        rows = top_reused(territories)[0]
    series = PRACTICE_SERIES
    height = 0.26
    labels = [_wrap(r["name"] or r["territory_id"]) for r in rows]
    subtitle = 0.5 if many else 0.0
    with _chart("practices", _bar_height(len(rows), 0.5) + subtitle) as figure:
        ax = figure.add_subplot()
        ax.grid(axis="y", visible=False)
        top = max([r[c] or 0 for r in rows for c, _, _ in series] + [1])
        handles = []
        for i, (column, label, colour) in enumerate(series):
            values = [r[column] or 0 for r in rows]
            ys = [y + (i - 1) * height for y in range(len(rows))]
            handles.append(ax.barh(ys, values, height=height, color=colour, label=label))
            for y, value in zip(ys, values, strict=True):
                ax.text(value + top * 0.008, y, format_number(value), va="center", fontsize=7.5,
                        color="#1e1e1e" if value else "#8a8a8a")
        ax.set_yticks(range(len(rows)), labels)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, top * 1.06)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _fr_axis(ax.xaxis)
        ax.set_xlabel("Nombre de bonnes pratiques ou de réutilisations")
        _frame(figure, f"Bonnes pratiques : documentées, partagées et réutilisées, au {format_date(as_of)}", labels,
               legend=handles)
        label = "Bonnes pratiques documentées, partagées et réutilisées, par territoire"
        if many:
            shown = (f"Les {format_number(len(rows))} territoires sur {format_number(territories.height)} ayant le "
                     "plus de réutilisations par d'autres territoires")
            ax.set_title(f"{shown}\n{practices_left_out(territories)}", pad=8, fontsize=9, fontweight="normal",
                         linespacing=1.5)
            figure.subplots_adjust(top=1 - (_TITLE + subtitle) / figure.get_size_inches()[1])
            label = f"Bonnes pratiques documentées, partagées et réutilisées : {shown[0].lower()}{shown[1:]}"
        return _svg(figure, label, footnote)

