"""The evaluation report: static HTML pages in French, drawn from one published release of the marts.

`build_report` reads every mart of one release (the current one unless told otherwise: a consistent set,
with its as_of and release id from release.json), renders a national page (`index.html`: programme totals,
all territories side by side, five charts, the first the history quarter by quarter) and one page per territory
(`territoires/<id>.html`: tables and lists, its late items and its funding by axe, no chart, so that a page
costs about a millisecond), and writes them atomically. Beyond
CHART_TERRITORIES_MAX territories a national chart drawing one row per territory would be unreadable: it draws
a distribution (roadmap delays: a histogram; instruction delays: a box per partner) or the TOP_TERRITORIES that
stand out (practices), and says so; the table of territories still lists them all. Pages are self-contained:
inline CSS, charts as inline SVG drawn by matplotlib, no script and no reference to anything outside the
report folder, so they read offline and print cleanly.
Every page states the evaluation date, the release and the provenance (real or illustrative) of the
documents its figures come from. Values the marts leave null are shown as "—", never filled in.
"""

import datetime as dt
import hashlib
import html
import io
import json
import math
import os
import re
import shutil
import textwrap
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl

from qp_analytics.french import french_date
from qp_analytics.marts.compute import NATIONAL_PARTNERS
from qp_analytics.publication.release import CURRENT, _fsync_dir, current_release
from qp_analytics.publication.release import _write_file as _fsync_write  # written and synced to disk
from qp_analytics.reading.territories import is_territory_id
from qp_analytics.schema import MARTS, release_name
from qp_analytics.warehouse.incremental import modules_version

TERRITORY_FOLDER = "territoires"
REPORT_MANIFEST = "report.json"  # marks a folder as a report the next run may replace, and says what it holds
GENERATOR = "qp-analytics report"
WRITERS = 8  # pages written to disk at once

NA = "—"  # what a null value shows
THIN = "\u202f"  # espace fine insécable: thousands separator and before %, as French typography writes them
NBSP = "\u00a0"

PARTNER_LABELS = {"etat": "État", "anct": "ANCT", "anru": "ANRU", "banque_des_territoires": "Banque des Territoires",
                  "bpifrance": "Bpifrance"}
PARTNER_COLOURS = {"etat": "#0063cb", "anct": "#009e73", "anru": "#cc79a7", "banque_des_territoires": "#e69f00",
                   "bpifrance": "#d55e00"}
OTHER_COLOUR = "#8a8a8a"
STATUS_LABELS = {"on_time": "Dans les délais", "late": "En retard", "missing": "Non annexée, échéance dépassée",
                 "pending": "Attendue, échéance non atteinte"}
STATUS_BADGES = {"on_time": "Dans les délais", "late": "En retard", "missing": "Non annexée", "pending": "Attendue"}
STATUS_COLOURS = {"on_time": "#18753c", "late": "#ce0500", "missing": "#6a6a6a", "pending": "#6a6a6a"}
AXE_LABELS = {"entrepreneuriat": "Entrepreneuriat", "commerce_artisanat": "Commerce et artisanat",
              "implantation_activites": "Implantation d'activités",
              "transition_numerique_ecologique": "Transition numérique et écologique"}
CANAL_LABELS = {"atelier_reseau": "Atelier du réseau", "fiche_capitalisation": "Fiche de capitalisation",
                "webinaire": "Webinaire", "visite": "Visite"}
PROVENANCE_LABELS = {"real": "réelle", "illustrative": "illustrative"}  # both documents are feminine nouns

# Labels of mart_evaluation_national's indicators; an indicator not listed here shows under its own name.
INDICATOR_LABELS = {
    "territories_in_programme": "Territoires du programme",
    "conventions_signed": "Conventions signées",
    "roadmaps_annexed": "Feuilles de route annexées",
    "roadmaps_on_time": "Feuilles de route annexées dans les délais",
    "roadmaps_on_time_share": "Part des feuilles de route dans les délais (parmi celles annexées ou échues)",
    "median_roadmap_delay_days": "Écart médian à l'échéance d'annexion (négatif : en avance)",
    "conventions_in_force": "Conventions en vigueur",
    "action_on_time_rate": "Part des actions échues achevées à temps",
    "practices_shared": "Bonnes pratiques partagées",
    "reuse_links": "Réutilisations de bonnes pratiques par d'autres territoires",
    **{f"total_granted_{p}": f"Montants accordés — {label}" for p, label in PARTNER_LABELS.items()},
    **{f"median_instruction_days_{p}": f"Délai médian d'instruction — {label}" for p, label in PARTNER_LABELS.items()},
}

MART_NAMES = tuple(release_name(name) for name in MARTS)

# Beyond this many territories a national chart with one row per territory would be unreadable (and slow to
# draw): it shows a distribution or the territories that stand out instead. The table lists them all.
CHART_TERRITORIES_MAX = 40
TOP_TERRITORIES = 20  # territories shown by a chart that keeps only those that stand out
DELAY_BINS_MAX = 40  # classes of a histogram of delays


class ReportError(Exception):
    """A user's mistake or an unusable publication: the message says what and where."""


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    pages: list[Path]  # every page written, national first
    as_of: dt.date
    release: str  # the release id (folder name under releases/)
    release_dir: Path
    national: bool  # whether index.html was (re)written

    @property
    def index(self) -> Path | None:
        return self.out_dir / "index.html" if self.national else None


# -- formatting, French style -------------------------------------------------------------------------

def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


_QUANTA = {n: Decimal(1).scaleb(-n) for n in range(10)}


def format_number(value: float | int | Decimal | None, decimals: int = 0, trim: bool = False) -> str:
    """1234567.891 -> '1 234 567,89' (thin spaces, decimal comma, U+2212 minus); null -> '—'.

    Rounds half away from zero; with trim, trailing zero decimals are dropped (93.0 -> '93', 93.5 -> '93,5')."""
    if _is_null(value):
        return NA
    if type(value) is int:  # most numbers of a report: counts (no rounding to do)
        whole_number, fraction = abs(value), "" if trim else "0" * decimals
        negative = value < 0
    else:
        rounded = Decimal(str(value)).quantize(_QUANTA[decimals], rounding=ROUND_HALF_UP)
        whole, _, fraction = f"{abs(rounded):f}".partition(".")
        if trim:
            fraction = fraction.rstrip("0")
        whole_number, negative = int(whole), rounded < 0
    sign = "\u2212" if negative else ""
    return sign + f"{whole_number:,}".replace(",", THIN) + ("," + fraction if fraction else "")


def format_euros(value: float | Decimal | None) -> str:
    """Whole euros: 1234567.5 -> '1 234 568 €'."""
    return NA if _is_null(value) else format_number(value) + NBSP + "€"


def format_percent(ratio: float | None) -> str:
    """A ratio as a percentage to one decimal: 0.5714 -> '57,1 %', 1.0 -> '100 %'."""
    return NA if _is_null(ratio) else format_number(Decimal(str(ratio)) * 100, 1, trim=True) + THIN + "%"


def format_days(value: float | int | None) -> str:
    """'1 jour', '93,5 jours', '−7 jours' (French: singular below two)."""
    if _is_null(value):
        return NA
    return format_number(value, 1, trim=True) + NBSP + ("jour" if abs(value) < 2 else "jours")


def format_date(value: dt.date | None) -> str:
    """'30 juin 2023', '1er juillet 2023'."""
    return NA if value is None else french_date(value)


def format_count(value: int | None, singular: str, plural: str) -> str:
    if value is None:
        return NA
    return f"{format_number(value)}{NBSP}{singular if abs(value) < 2 else plural}"


def format_bool(value: bool | None) -> str:
    return NA if value is None else ("Oui" if value else "Non")


def partner_label(code: str) -> str:
    return PARTNER_LABELS.get(code, code)


def _code_label(labels: dict[str, str], code: str | None) -> str:
    return NA if code is None else labels.get(code, code)


# -- the release -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Release:
    folder: Path
    release_id: str
    as_of: dt.date
    published_at: dt.datetime | None
    marts: dict[str, pl.DataFrame]  # short name -> frame


def load_release(marts_dir: str | Path, release: str | Path | None = None) -> Release:
    """Read every mart of one release: `release` (a release folder) or the current one of `marts_dir`."""
    root = Path(marts_dir)
    if release is None:
        if not root.is_dir():
            raise ReportError(f"{root}: marts folder not found; run `qp-analytics materialize` first to publish "
                              "the marts, or give --marts-dir")
        folder = current_release(root)
        if folder is None or not folder.is_dir():
            raise ReportError(f"{root} has no current release ({root / CURRENT} is missing or broken); run "
                              "`qp-analytics materialize` first to publish the marts")
    else:
        folder = Path(release).resolve()
        if not folder.is_dir():
            raise ReportError(f"{folder}: release folder not found")
    manifest_path = folder / "release.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        as_of = dt.date.fromisoformat(manifest["as_of"])
    except FileNotFoundError:
        raise ReportError(f"{manifest_path}: missing; this release is incomplete") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{manifest_path}: unreadable release description ({exc})") from None
    published_at = None
    if isinstance(manifest.get("published_at"), str):
        try:
            published_at = dt.datetime.fromisoformat(manifest["published_at"])
        except ValueError:
            published_at = None
    marts: dict[str, pl.DataFrame] = {}
    for name, table in zip(MART_NAMES, MARTS.values(), strict=True):
        path = folder / f"{name}.parquet"
        try:
            frame = pl.read_parquet(path)
        except FileNotFoundError:
            raise ReportError(f"{path}: missing; this release is incomplete") from None
        except Exception as exc:  # polars raises several kinds for a damaged file
            raise ReportError(f"{path}: unreadable Parquet file ({exc})") from None
        missing = [c for c in table.column_names if c not in frame.columns]
        if missing:
            raise ReportError(f"{path}: column(s) {', '.join(missing)} missing; the release was written by "
                              "another version of qp-analytics: run `qp-analytics materialize` again")
        dates = set(frame["as_of"].drop_nulls().unique().to_list())
        if dates - {as_of}:
            raise ReportError(f"{path}: computed for {', '.join(sorted(d.isoformat() for d in dates))}, but "
                              f"{manifest_path} says as_of {as_of.isoformat()}: the release is inconsistent")
        marts[name] = frame
    return Release(folder, str(manifest.get("release") or folder.name), as_of, published_at, marts)


# -- charts ------------------------------------------------------------------------------------------------

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


def _delay_bins(delays: Sequence[int]) -> tuple[int, int, int]:
    """Classes of delay days for a histogram: (width, first, last) with class k = (k*width - width, k*width].

    Right-closed, so 0 (on time) falls in the class ending at 0 and every class on one side of 0: in time on the
    left, late on the right. The width is the smallest round one giving at most DELAY_BINS_MAX classes."""
    low, high = min([*delays, 0]), max([*delays, 1])
    widths = (1, 2, 5, 7, 10, 14, 15, 30, 60, 90, 180, 365)
    width = next((w for w in widths if -(-high // w) - -(-low // w) + 1 <= DELAY_BINS_MAX), None)
    if width is None:
        width = 365 * -(-(high - low) // (365 * (DELAY_BINS_MAX - 1)))
    return width, -(-low // width), -(-high // width)


def _status_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
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

    counts = _status_counts(rows)
    others = len(rows) - sum(counts.values())  # a status this version does not know: counted, drawn grey
    dated = [r for r in rows if r["roadmap_delay_days"] is not None]
    width, first, last = _delay_bins([r["roadmap_delay_days"] for r in dated])
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


def chart_roadmap_delays(territories: pl.DataFrame, as_of: dt.date, footnote: str) -> str | None:
    """Each territory's roadmap: days between its due date and its annexion; a missing one is marked. Beyond
    CHART_TERRITORIES_MAX territories, the distribution of those days instead (one bar per class of days)."""
    from matplotlib.patches import Patch

    rows = [r for r in territories.iter_rows(named=True) if r["roadmap_status"] is not None]
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


def _partner_key(code: str) -> tuple[int, str]:
    return (NATIONAL_PARTNERS.index(code), "") if code in NATIONAL_PARTNERS else (len(NATIONAL_PARTNERS), code)


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


def _quarter_label(day: dt.date) -> str:
    """'T2 2023' for a quarter end, else the date itself, short ('15/05/2023')."""
    if day.month % 3 == 0 and (day + dt.timedelta(days=1)).day == 1:
        return f"T{day.month // 3} {day.year}"
    return day.strftime("%d/%m/%Y")


def chart_history(rows: list[dict[str, Any]], as_of: dt.date, footnote: str) -> str | None:
    """Quarter by quarter (national_history): the share of due actions done on time, and the amounts granted."""
    if not rows:
        return None
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    labels = [_quarter_label(r["evaluation_date"]) for r in rows]
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


def _history_table(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f'<tr><th scope="row">{esc(_quarter_label(r["evaluation_date"]))}</th>'
        f"{_num(format_number(r['territories']))}{_num(_ratio(r['actions_on_time'], r['actions_due']))}"
        f"{_num(format_percent(r['share']))}{_num(format_euros(r['amount_granted']))}</tr>" for r in rows)
    return ('<details><summary>Les valeurs du graphique</summary><div class="table-wrap"><table>'
            '<thead><tr><th>Date d\'évaluation</th><th class="num">Territoires évalués</th>'
            '<th class="num">Actions à temps / échues</th><th class="num">Part à temps</th>'
            f'<th class="num">Montants accordés</th></tr></thead><tbody>{body}</tbody></table></div></details>')


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


def chart_instruction_delays(mobilisation: pl.DataFrame, national: pl.DataFrame, as_of: dt.date,
                             footnote: str, many: bool | None = None) -> str | None:
    """Per national partner: the pooled national median of instruction days (bar) and each territory's (points;
    with many territories, more than CHART_TERRITORIES_MAX unless told, a box: their quartiles and deciles)."""
    from matplotlib.patches import Patch

    if many is None:
        many = mobilisation["territory_id"].n_unique() > CHART_TERRITORIES_MAX
    pooled = {r["indicator"]: indicator_value(r) for r in national.iter_rows(named=True)}
    per_territory = {p: sorted(v for v in mobilisation.filter(pl.col("partner") == p)["median_instruction_days"]
                               .to_list() if not _is_null(v)) for p in NATIONAL_PARTNERS}
    partners = [p for p in NATIONAL_PARTNERS
                if per_territory[p] or not _is_null(pooled.get(f"median_instruction_days_{p}"))]
    if not partners:
        return None
    medians = [pooled.get(f"median_instruction_days_{p}") for p in partners]
    heights = [0.0 if _is_null(m) else m for m in medians]
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


def top_reused(territories: pl.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The territories with practices documented, split into the TOP_TERRITORIES most reused (most reuses by
    other territories, then most practices shared, then most documented, then by name) and the others."""
    rows = [r for r in territories.iter_rows(named=True) if r["practices_documented"] is not None]
    rows.sort(key=lambda r: (-(r["reuse_links"] or 0), -(r["practices_shared"] or 0), -r["practices_documented"],
                             r["name"] or r["territory_id"], r["territory_id"]))
    return rows[:TOP_TERRITORIES], rows[TOP_TERRITORIES:]


def _practices_left_out(territories: pl.DataFrame) -> str:
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

    rows = [r for r in territories.iter_rows(named=True) if r["practices_documented"] is not None]
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
            ax.set_title(f"{shown}\n{_practices_left_out(territories)}", pad=8, fontsize=9, fontweight="normal",
                         linespacing=1.5)
            figure.subplots_adjust(top=1 - (_TITLE + subtitle) / figure.get_size_inches()[1])
            label = f"Bonnes pratiques documentées, partagées et réutilisées : {shown[0].lower()}{shown[1:]}"
        return _svg(figure, label, footnote)


# -- HTML --------------------------------------------------------------------------------------------------

def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _na() -> str:
    return f'<span class="na" title="non renseigné">{NA}</span>'


def _cell(text: str, cls: str = "") -> str:
    shown = _na() if text == NA else esc(text)
    return f'<td class="{cls}">{shown}</td>' if cls else f"<td>{shown}</td>"


def _num(text: str) -> str:
    return _cell(text, "num")


CSS = """
:root { --bleu: #000091; --bleu-clair: #e3e3fd; --texte: #1e1e1e; --gris: #666666; --bord: #dddddd;
  --fond: #f6f6f6; --ok: #18753c; --retard: #ce0500; --attention: #b34000; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: var(--fond); color: var(--texte);
  font: 15px/1.5 Arial, "Liberation Sans", "Helvetica Neue", "DejaVu Sans", sans-serif; }
a { color: var(--bleu); }
nav.site { background: #ffffff; border-bottom: 1px solid var(--bord); }
nav.site ul { list-style: none; margin: 0 auto; padding: 8px 24px; max-width: 1200px; display: flex;
  flex-wrap: wrap; gap: 6px 22px; font-size: 14px; }
nav.site a { text-decoration: none; }
nav.site a:hover { text-decoration: underline; }
header.masthead { background: var(--bleu); color: #ffffff; }
header.masthead .inner { margin: 0 auto; max-width: 1200px; padding: 22px 24px 18px; }
header.masthead .kicker { margin: 0; font-size: 13px; letter-spacing: .04em; text-transform: uppercase;
  opacity: .85; }
header.masthead h1 { margin: 4px 0 6px; font-size: 28px; line-height: 1.2; }
header.masthead .meta { margin: 0; font-size: 14px; }
header.masthead .meta strong { font-size: 15px; }
main { margin: 0 auto; max-width: 1200px; padding: 8px 24px 32px; }
section { background: #ffffff; border: 1px solid var(--bord); border-radius: 4px; padding: 16px 20px;
  margin: 18px 0; }
h2 { margin: 0 0 12px; font-size: 20px; color: var(--bleu); }
h3 { margin: 18px 0 8px; font-size: 16px; }
p.note { color: var(--gris); font-size: 13px; margin: 8px 0 0; }
p.intro { margin-top: 14px; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.92em; }
.banner { margin: 18px 0 0; padding: 12px 16px; border-left: 6px solid; border-radius: 2px; }
.banner p { margin: 4px 0; }
.banner-illustrative { background: #fff4e5; border-color: var(--attention); color: #3d1f00; }
.banner-real { background: #e8f5ec; border-color: var(--ok); color: #0b3d1e; }
.banner-unknown { background: #f3f3f3; border-color: var(--gris); }
.banner-asof { background: #eef3fd; border-color: #0063cb; color: #1e1e1e; font-size: 1.05em; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
.kpi { border: 1px solid var(--bord); border-top: 4px solid var(--bleu); border-radius: 3px; padding: 10px 12px; }
.kpi .value { display: block; font-size: 24px; font-weight: bold; line-height: 1.2;
  font-variant-numeric: tabular-nums; }
.kpi .label { display: block; font-size: 13px; color: #333333; margin-top: 2px; }
.kpi .basis { display: block; font-size: 12px; color: var(--gris); margin-top: 4px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
caption { text-align: left; font-size: 13px; color: var(--gris); caption-side: bottom; padding-top: 6px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--bord); vertical-align: top; text-align: left; }
thead th { background: var(--bleu-clair); color: #161616; font-size: 12.5px; vertical-align: bottom; }
tbody tr:nth-child(even) { background: #fafafa; }
tfoot td, tfoot th { font-weight: bold; border-top: 2px solid #999999; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.num { text-align: right; }
th[scope=row] { font-weight: normal; }
td .sub, th .sub { display: block; color: var(--gris); font-size: 12px; white-space: normal; }
table.territories { font-size: 13px; }
.table-wrap.long { max-height: 85vh; overflow: auto; border: 1px solid var(--bord); }
.table-wrap.long thead th { position: sticky; top: 0; z-index: 2; box-shadow: inset 0 -1px 0 #b8b8d8; }
.table-wrap.long tbody th[scope=row] { position: sticky; left: 0; z-index: 1; background: #ffffff;
  box-shadow: inset -1px 0 0 var(--bord); }
.table-wrap.long tbody tr:nth-child(even) th[scope=row] { background: #fafafa; }
.table-wrap.long thead th:first-child { left: 0; z-index: 3; }
table.territories th[scope=row] { min-width: 190px; }
table.territories td:nth-child(4) { min-width: 110px; }
table.territories td:nth-child(7) { min-width: 120px; }
.prov { display: block; white-space: nowrap; font-size: 12px; color: #444444; margin-bottom: 3px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.facts dt { color: #444444; }
dl.facts dd { margin: 0; font-weight: bold; }
.na { color: var(--gris); }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: bold;
  white-space: nowrap; }
.status-on_time { background: #dff3e6; color: var(--ok); }
.status-late { background: #fde4e2; color: var(--retard); }
.status-missing { background: #e9e9e9; color: #3a3a3a; }
.status-pending { background: #e9e9e9; color: #3a3a3a; }
.badge-chef { background: var(--bleu-clair); color: var(--bleu); }
.badge-real { background: #dff3e6; color: var(--ok); }
.badge-illustrative { background: #fff0db; color: var(--attention); }
ul.late { list-style: none; padding: 0; margin: 0; }
ul.late li { border-left: 4px solid var(--retard); background: #fff7f6; padding: 8px 12px; margin: 0 0 8px; }
ul.late li.ok { border-left-color: var(--ok); background: #f3faf5; }
figure { margin: 0 0 22px; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; width: 100%; height: auto; max-width: 980px; }
figcaption { font-size: 13px; color: #444444; margin-top: 6px; }
.empty { color: var(--gris); font-style: italic; }
footer { margin: 0 auto; max-width: 1200px; padding: 0 24px 32px; font-size: 12.5px; color: var(--gris); }
@media print {
  @page { size: A4 portrait; margin: 12mm; }
  body { background: #ffffff; font-size: 10.5pt; }
  nav.site { display: none; }
  header.masthead .inner, main, footer { max-width: none; padding-left: 0; padding-right: 0; }
  section { border: none; padding: 0; margin: 10mm 0 0; }
  a { color: inherit; text-decoration: none; }
  .table-wrap, .table-wrap.long { overflow: visible; max-height: none; border: none; }
  .table-wrap.long thead th, .table-wrap.long tbody th[scope=row] { position: static; box-shadow: none; }
  table { font-size: 8.5pt; }
  th, td { padding: 3px 4px; }
  thead { display: table-header-group; }
  tfoot { display: table-row-group; }
  tr, .kpi, .banner, figure, ul.late li { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  figure svg { max-width: 100%; max-height: 150mm; }
  .print-break { break-before: page; page-break-before: always; }
}
"""

# No script, no outside resource: the policy enforces what the page promises, in any browser that opens it.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _page(title: str, heading: str, kicker: str, meta: str, nav: str, banner: str, body: str, footer: str,
          landscape: bool = False) -> str:
    page_css = "@media print { @page { size: A4 landscape; } }" if landscape else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="{GENERATOR}">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}{page_css}</style>\n</head>\n<body>\n"
        f'<nav class="site" aria-label="Navigation du rapport"><ul>{nav}</ul></nav>\n'
        f'<header class="masthead"><div class="inner"><p class="kicker">{esc(kicker)}</p>'
        f"<h1>{esc(heading)}</h1><p class=\"meta\">{meta}</p></div></header>\n"
        f"<main>\n{banner}\n{body}\n</main>\n<footer>{footer}</footer>\n</body>\n</html>\n"
    )


@dataclass(frozen=True)
class _Context:
    release: Release
    names: dict[str, str]  # territory id -> name (or the id when the registry has none)

    @property
    def as_of(self) -> dt.date:
        return self.release.as_of

    def meta(self) -> str:
        published = (f" · publiée le {esc(format_date(self.release.published_at.date()))}"
                     if self.release.published_at else "")
        return (f"Situation au <strong>{esc(format_date(self.as_of))}</strong> · Publication des données "
                f"<code>{esc(self.release.release_id)}</code>{published}")

    def footer(self) -> str:
        return (f"<p>Rapport produit par qp-analytics à partir de la publication <code>{esc(self.release.release_id)}"
                f"</code> des marts d'évaluation (date d'évaluation : {esc(format_date(self.as_of))}). Chaque "
                "chiffre est calculé à cette date : un fait daté après elle n'est pas compté. Les montants sont en "
                "euros, arrondis à l'euro ; les durées sont en jours. « — » : valeur non renseignée ou sans objet "
                "(par exemple une médiane sans aucune valeur).</p>")


def _provenance_counts(values: Iterable[str | None]) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def _provenance_phrase(values: Sequence[str | None], singular: str, plural: str) -> str:
    counts = _provenance_counts(values)
    parts = []
    for key, word in (("real", "réelle"), ("illustrative", "illustrative")):
        if counts.get(key):
            parts.append(f"{format_number(counts[key])} {word}{'s' if counts[key] > 1 else ''}")
    unknown = sum(n for k, n in counts.items() if k not in ("real", "illustrative"))
    if unknown:
        parts.append(f"{format_number(unknown)} de provenance non renseignée")
    return f"{plural if len(values) > 1 else singular} : {', '.join(parts) if parts else 'aucune'}"


def _footnote(ctx: _Context, territories: pl.DataFrame, documents: Sequence[str]) -> str:
    parts = []
    if "convention" in documents:
        parts.append(_provenance_phrase(territories["convention_provenance"].to_list(), "convention", "conventions"))
    if "roadmap" in documents:
        parts.append(_provenance_phrase(territories["roadmap_provenance"].to_list(),
                                        "feuille de route", "feuilles de route"))
    return (f"Situation au {format_date(ctx.as_of)} · publication {ctx.release.release_id}\n"
            f"Documents sources : {' ; '.join(parts)}")


def _territory_link(ctx: _Context, territory_id: str, prefix: str) -> str:
    name = ctx.names.get(territory_id)
    if name is None:  # a territory named in the data but absent from this publication: no page to link to
        return esc(territory_id)
    return f'<a href="{esc(prefix + TERRITORY_FOLDER + "/" + territory_id + ".html")}">{esc(name)}</a>'


def _status_badge(status: str | None) -> str:
    if status is None:
        return _na()
    return f'<span class="badge status-{esc(status)}">{esc(STATUS_BADGES.get(status, status))}</span>'


def _provenance_badge(value: str | None) -> str:
    if value not in PROVENANCE_LABELS:
        return '<span class="na" title="provenance non renseignée">non renseignée</span>'
    return f'<span class="badge badge-{value}">{esc(PROVENANCE_LABELS[value])}</span>'


def _delay_text(days: int | None) -> str:
    if days is None:
        return NA
    if days == 0:
        return "à l'échéance"
    word = "jour" if abs(days) < 2 else "jours"
    return f"{format_number(abs(days))}{NBSP}{word} {'de retard' if days > 0 else 'd’avance'}"


def _national_banner(territories: pl.DataFrame) -> str:
    conventions = territories["convention_provenance"].to_list()
    roadmaps = territories["roadmap_provenance"].to_list()
    everything = conventions + roadmaps
    real_conventions = [r["name"] or r["territory_id"] for r in territories.iter_rows(named=True)
                        if r["convention_provenance"] == "real"]
    real_roadmaps = [r["name"] or r["territory_id"] for r in territories.iter_rows(named=True)
                     if r["roadmap_provenance"] == "real"]
    detail = ("<p>Documents sources de cette publication — "
              + esc(f"{_provenance_phrase(conventions, 'convention', 'conventions')} ; "
                    f"{_provenance_phrase(roadmaps, 'feuille de route', 'feuilles de route')}.") + "</p>")

    def listed(names: list[str]) -> str:  # a few names; beyond, their number (the table says which)
        if len(names) <= CHART_TERRITORIES_MAX:
            return ", ".join(names)
        return (f"{format_count(len(names), 'territoire', 'territoires')} (colonne « Provenance » du tableau des "
                "territoires)")

    reals = []
    if real_conventions:
        reals.append(f"conventions d'engagement : {listed(real_conventions)}")
    if real_roadmaps:
        reals.append(f"feuilles de route : {listed(real_roadmaps)}")
    real_line = f"<p>Documents réels — {esc(' ; '.join(reals))}.</p>" if reals else ""
    if "illustrative" in everything:
        return ('<div class="banner banner-illustrative" role="note" id="provenance">'
                "<p><strong>Données en partie illustratives.</strong> Une partie des documents lus n'est pas réelle : "
                "ils ont été produits par le générateur du projet à partir du modèle national, pour illustrer la "
                "méthode. Les chiffres qui en dépendent ne décrivent pas la situation réelle des territoires.</p>"
                f"{detail}{real_line}</div>")
    if any(v not in ("real", "illustrative") for v in everything):
        return ('<div class="banner banner-unknown" role="note" id="provenance"><p><strong>Provenance '
                "partiellement non renseignée.</strong> Le manifeste des données ne dit pas si certains documents "
                f"sont réels.</p>{detail}</div>")
    return ('<div class="banner banner-real" role="note" id="provenance"><p><strong>Données réelles.</strong> '
            f"Tous les documents lus sont réels.</p>{detail}</div>")


def _territory_banner(row: dict[str, Any]) -> str:
    convention, roadmap = row["convention_provenance"], row["roadmap_provenance"]
    lines = (f"<p>Convention d'engagement : {_provenance_badge(convention)} · Feuille de route : "
             f"{_provenance_badge(roadmap)}"
             + (f" · Avenants pris en compte : {esc(format_number(row['avenants_effective']))} (provenance non "
                "publiée dans les marts)" if row["avenants_effective"] else "")
             + "</p>")
    illustrative = [label for label, value in (("la convention d'engagement", convention),
                                               ("la feuille de route", roadmap)) if value == "illustrative"]
    if illustrative:
        subject = " et ".join(illustrative)
        plural = len(illustrative) > 1
        return ('<div class="banner banner-illustrative" role="note" id="provenance"><p><strong>Données '
                f"illustratives.</strong> {esc(subject[0].upper() + subject[1:])} de ce territoire "
                f"{'sont des documents illustratifs, produits' if plural else 'est un document illustratif, produit'}"
                " par le générateur du projet et non par le territoire : les chiffres qui en dépendent ne "
                f"décrivent pas sa situation réelle.</p>{lines}</div>")
    if convention == "real" and roadmap == "real":
        return ('<div class="banner banner-real" role="note" id="provenance"><p><strong>Données réelles.</strong> '
                f"La convention et la feuille de route de ce territoire sont des documents réels.</p>{lines}</div>")
    return ('<div class="banner banner-unknown" role="note" id="provenance"><p><strong>Provenance en partie non '
            f"renseignée.</strong></p>{lines}</div>")


def _figure(svg: str | None, caption: str, empty: str) -> str:
    if svg is None:
        return f'<p class="empty">{esc(empty)}</p>'
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _kpi(value: str, label: str, basis: str = "") -> str:
    shown = _na() if value == NA else esc(value)
    extra = f'<span class="basis">{esc(basis)}</span>' if basis else ""
    return f'<div class="kpi"><span class="value">{shown}</span><span class="label">{esc(label)}</span>{extra}</div>'


def indicator_value(row: dict[str, Any]) -> int | Decimal | float | None:
    """The value of a row of mart_evaluation_national: its count, amount or measure, whichever is given."""
    for column in ("value_count", "value_amount", "value_measure"):
        if not _is_null(row.get(column)):
            return row[column]
    return None


def _indicator_value(value: int | Decimal | float | None, unit: str | None) -> str:
    if unit in ("share", "rate"):
        return format_percent(value)
    if unit == "EUR":
        return format_euros(value)
    if unit == "days":
        return format_days(value)
    return format_number(value, 2, trim=True)


def _td(text: str, sub: str = "", num: bool = False) -> str:
    """A cell: its value ("—" when null) and, below it, a line of detail."""
    shown = _na() if text == NA else esc(text)
    detail = f'<span class="sub">{esc(sub)}</span>' if sub else ""
    return f'<td class="num">{shown}{detail}</td>' if num else f"<td>{shown}{detail}</td>"


def _ratio(part: int | None, whole: int | None) -> str:
    return NA if part is None or whole is None else f"{format_number(part)} / {format_number(whole)}"


def _term_text(end: dt.date | None, in_force: bool | None) -> str:
    if end is None or in_force is None:
        return ""
    return f"en vigueur jusqu'au {format_date(end)}" if in_force else f"terminée le {format_date(end)}"


def _median_text(days: float | None) -> str:
    return "" if _is_null(days) else f"instruction : {format_days(days)} (médiane)"


def _share_text(share: float | None) -> str:
    return "" if _is_null(share) else f"{format_percent(share)} du total accordé"


def _reuse_text(links: int | None) -> str:
    if links is None:
        return ""
    return "aucune réutilisation" if links == 0 else format_count(links, "réutilisation", "réutilisations")


def plural(value: float | int | Decimal | None, singular: str, plural_form: str) -> str:
    """The word for this many, as French has it: singular below 2 (0 and 1 included)."""
    return singular if value is not None and not _is_null(value) and abs(value) < 2 else plural_form


SIGNATURE_TEXTS = {"undated": "non datée", "not_yet_signed": "non signée"}


def signature_text(row: dict[str, Any], as_of: dt.date) -> str:
    """'19 mai 2021'; 'non datée' when the document leaves the date blank; 'non signée au …' when it was signed
    after as_of (not yet signed then); '—' when nothing is known."""
    state = row.get("convention_signature_state")
    if row["convention_signature_date"] is not None:
        return format_date(row["convention_signature_date"])
    if state == "not_yet_signed":
        return f"non signée au {format_date(as_of)}"
    return SIGNATURE_TEXTS.get(state, NA)


def _as_of_note(as_of: dt.date) -> str:
    """The evaluation date, prominent, and how to get the report at another date."""
    return ('<div class="banner banner-asof" role="note" id="date-evaluation"><p><strong>Date d\'évaluation : '
            f"{esc(format_date(as_of))}.</strong> Chaque chiffre est calculé à cette date : un fait daté après elle "
            "(une signature, une annexion, une décision, un jalon atteint) n'est pas encore compté.</p>"
            "<p>Pour une autre date, relancer le calcul, qui publie les marts et réécrit ce rapport : "
            "<code>qp-analytics materialize --as-of AAAA-MM-JJ</code> (par exemple "
            "<code>--as-of 2024-06-30</code>) ; sans <code>--as-of</code>, la date est celle du jour.</p></div>")


def render_national(ctx: _Context) -> str:
    marts = ctx.release.marts
    territories = marts["mart_evaluation_territories"].sort("territory_id")
    national = marts["mart_evaluation_national"]
    indicators = {r["indicator"]: r for r in national.iter_rows(named=True)}
    n_territories = territories.height

    def ind(name: str) -> tuple[float | None, int | None, str | None]:
        row = indicators.get(name)
        return (indicator_value(row), row["territories"], row["unit"]) if row else (None, None, None)

    def basis(name: str) -> str:
        count = ind(name)[1]
        return "" if count is None else f"sur {format_count(count, 'territoire', 'territoires')}"

    def kpi(name: str, label: str, value_format: Callable[[float | None], str], label_plural: str = "") -> str:
        value = ind(name)[0]
        return _kpi(value_format(value), plural(value, label, label_plural) if label_plural else label, basis(name))

    as_int: Callable[[float | None], str] = lambda v: format_number(v)  # noqa: E731
    on_time, share = ind("roadmaps_on_time")[0], ind("roadmaps_on_time_share")[0]
    signed, undated = ind("conventions_signed")[0], ind("conventions_undated")[0]
    national_granted = [ind(f"total_granted_{p}")[0] for p in NATIONAL_PARTNERS]
    total_national = None if any(_is_null(v) for v in national_granted) or not indicators else sum(national_granted)
    kpis = "".join([
        kpi("territories_in_programme", "territoire labellisé", as_int, "territoires labellisés"),
        _kpi(format_number(signed) if not _is_null(signed) else NA,
             plural(signed, "convention signée et datée", "conventions signées et datées"),
             basis("conventions_signed") + (f" ; {format_number(undated)} {plural(undated, 'non datée', 'non datées')}"
                                            " (signée, date laissée en blanc)" if undated else "")),
        kpi("roadmaps_annexed", "feuille de route annexée", as_int, "feuilles de route annexées"),
        _kpi(format_number(on_time) if not _is_null(on_time) else NA,
             plural(on_time, "feuille de route annexée dans les délais", "feuilles de route annexées dans les délais"),
             (f"soit {format_percent(share)} des feuilles de route échues ou annexées" if not _is_null(share)
              else basis("roadmaps_on_time"))),
        kpi("median_roadmap_delay_days", "écart médian à l'échéance d'annexion (négatif : en avance)", format_days),
        kpi("conventions_in_force", "convention en vigueur", as_int, "conventions en vigueur"),
        kpi("action_on_time_rate", "des actions échues achevées à temps", format_percent),
        _kpi(format_euros(total_national), "accordés par les cinq partenaires nationaux",
             "somme des montants accordés par l'État, l'ANCT, l'ANRU, la Banque des Territoires et Bpifrance"),
        kpi("practices_shared", "bonne pratique partagée", as_int, "bonnes pratiques partagées"),
        kpi("reuse_links", "réutilisation de bonnes pratiques", as_int, "réutilisations de bonnes pratiques"),
    ])
    partner_rows = "".join(
        f'<tr><th scope="row">{esc(PARTNER_LABELS[p])}</th>'
        f"{_num(format_euros(ind(f'total_granted_{p}')[0]))}{_num(format_number(ind(f'total_granted_{p}')[1]))}"
        f"{_num(format_days(ind(f'median_instruction_days_{p}')[0]))}"
        f"{_num(format_number(ind(f'median_instruction_days_{p}')[1]))}</tr>"
        for p in NATIONAL_PARTNERS)
    all_rows = "".join(
        f'<tr><th scope="row">{esc(INDICATOR_LABELS.get(r["indicator"], r["indicator"]))}'
        f'<span class="sub"><code>{esc(r["indicator"])}</code></span></th>'
        f"{_num(_indicator_value(indicator_value(r), r['unit']))}{_num(format_number(r['territories']))}</tr>"
        for r in national.iter_rows(named=True))
    totals = f"""
<section id="indicateurs" aria-labelledby="h-indicateurs">
<h2 id="h-indicateurs">Le programme en chiffres</h2>
<div class="kpis">{kpis}</div>
<h3>Partenaires nationaux</h3>
<div class="table-wrap"><table>
<thead><tr><th>Partenaire</th><th class="num">Montants accordés</th><th class="num">Territoires financés</th>
<th class="num">Délai médian d'instruction</th><th class="num">Territoires avec une décision</th></tr></thead>
<tbody>{partner_rows}</tbody>
<caption>Délai d'instruction : médiane, sur toutes les demandes décidées par le partenaire, des jours entre la demande
et la décision.</caption>
</table></div>
<h3>Tous les indicateurs nationaux</h3>
<div class="table-wrap"><table>
<thead><tr><th>Indicateur</th><th class="num">Valeur</th><th class="num">Territoires pris en compte</th></tr></thead>
<tbody>{all_rows or '<tr><td colspan="3" class="empty">Aucun indicateur dans cette publication.</td></tr>'}</tbody>
</table></div>
</section>"""

    table_rows = []
    for r in territories.iter_rows(named=True):
        delay = r["roadmap_delay_days"]
        roadmap = _status_badge(r["roadmap_status"])
        if delay is not None:
            roadmap += f'<span class="sub">{esc(_delay_text(delay))}</span>'
        elif r["roadmap_status"] in ("missing", "pending") and r["roadmap_due_date"] is not None:
            roadmap += f'<span class="sub">attendue le {esc(format_date(r["roadmap_due_date"]))}</span>'
        table_rows.append(
            f'<tr><th scope="row">{_territory_link(ctx, r["territory_id"], "")}'
            f'<span class="sub">{esc(r["departement"] or NA)}</span></th>'
            f"{_td(partner_label(r['chef_de_file']) if r['chef_de_file'] else NA)}"
            f"<td>{roadmap}</td>"
            f"{_td(signature_text(r, ctx.as_of), _term_text(r['convention_end_date'], r['in_force']))}"
            f"{_td(_ratio(r['actions_on_time'], r['actions_due']), format_percent(r['action_on_time_rate']), True)}"
            f"{_td(_ratio(r['milestones_late'], r['milestones_due']), num=True)}"
            f"{_td(format_euros(r['total_amount_granted']), _median_text(r['median_instruction_days_all']), True)}"
            f"{_td(_ratio(r['practices_shared'], r['practices_documented']), _reuse_text(r['reuse_links']), True)}"
            f'<td><span class="prov">convention {_provenance_badge(r["convention_provenance"])}</span>'
            f'<span class="prov">feuille de route {_provenance_badge(r["roadmap_provenance"])}</span></td>'
            "</tr>")
    empty_row = '<tr><td colspan="9" class="empty">Aucun territoire dans cette publication.</td></tr>'
    long = n_territories > CHART_TERRITORIES_MAX
    # a long table scrolls in its own frame, its header and first column staying in view (CSS only)
    scroll_note = (f'<p class="note">Les {esc(format_number(n_territories))} territoires, classés par identifiant ; '
                   "le tableau défile dans son cadre, son en-tête et la colonne des noms restant visibles. La "
                   "recherche du navigateur (Ctrl+F) trouve un territoire par son nom ou son département.</p>"
                   if long else "")
    table = f"""
<section id="territoires" aria-labelledby="h-territoires" class="print-break">
<h2 id="h-territoires">Les territoires côte à côte</h2>
{scroll_note}
<div class="table-wrap{' long' if long else ''}"><table class="territories">
<thead><tr><th>Territoire</th><th>Chef de file</th><th>Feuille de route</th><th>Convention signée le</th>
<th class="num">Actions à temps / échues</th><th class="num">Jalons en retard / échus</th>
<th class="num">Montants accordés</th><th class="num">Bonnes pratiques partagées / documentées</th>
<th>Provenance</th></tr></thead>
<tbody>{''.join(table_rows) or empty_row}</tbody>
<caption>Montants accordés : tous financeurs, avec le délai médian d'instruction de toutes les demandes décidées du
territoire. Réutilisations : reprises de ses bonnes pratiques par d'autres territoires. Le nom de chaque territoire
mène à sa page.</caption>
</table></div>
</section>"""

    mobilisation = marts["mart_partner_mobilisation"]
    both, roadmaps_only = ("convention", "roadmap"), ("roadmap",)
    many = n_territories > CHART_TERRITORIES_MAX
    if many:
        counts = _status_counts(territories.iter_rows(named=True))
        left_out = _practices_left_out(territories)
        roadmap_caption = (
            f"Répartition des {format_number(n_territories)} territoires selon l'écart entre l'échéance de leur "
            "feuille de route (fixée par la convention) et son annexion, par classe de jours (chaque barre compte "
            "les feuilles de route dont l'écart tombe dans la classe, borne de droite incluse). "
            + " ; ".join(f"{STATUS_LABELS[s]} : {format_number(n)}" for s, n in counts.items()
                         if n or s in ("on_time", "late"))
            + ". Les feuilles de route non annexées n'ont pas d'écart : elles sont comptées sans être représentées. "
            "Le détail par territoire est dans le tableau ci-dessus.")
        delays_caption = ("Barre : médiane nationale des délais d'instruction de toutes les demandes décidées par le "
                          "partenaire. Boîte : médianes des territoires (quartiles, médiane ; moustaches aux 1er et 9e "
                          "déciles).")
        practices_caption = (
            f"Les {format_number(min(TOP_TERRITORIES, n_territories))} territoires sur {format_number(n_territories)} "
            "ayant le plus de réutilisations de leurs bonnes pratiques par d'autres territoires (à égalité : le plus "
            "de pratiques partagées, puis documentées, puis par nom) : bonnes pratiques documentées dans la feuille "
            "de route, partagées avec le réseau national à la date d'évaluation, et nombre de reprises. "
            f"{left_out[0].upper()}{left_out[1:]} : voir le tableau ci-dessus.")
    else:
        roadmap_caption = ("Écart entre l'échéance de la feuille de route (fixée par la convention) et son annexion. "
                           "Une feuille de route non annexée est signalée avec son échéance.")
        delays_caption = ("Barre : médiane nationale des délais d'instruction de toutes les demandes décidées par le "
                          "partenaire. Points : médiane de chaque territoire.")
        practices_caption = ("Bonnes pratiques documentées dans la feuille de route, partagées avec le réseau national "
                             "à la date d'évaluation, et nombre de reprises par d'autres territoires.")
    history = national_history(marts["mart_history"])
    charts = f"""
<section id="graphiques" aria-labelledby="h-graphiques" class="print-break">
<h2 id="h-graphiques">Graphiques</h2>
<h3 id="evolution">Évolution depuis la labellisation</h3>
{_figure(chart_history(history, ctx.as_of, _footnote(ctx, territories, both)),
         "Chaque fin de trimestre depuis la labellisation (et la date d'évaluation si elle n'en est pas une), les "
         "indicateurs recalculés à cette date, tous territoires ensemble : part des actions échues à cette date "
         "achevées à temps, et montants accordés par toutes les décisions prises à cette date.",
         "Aucune date d'évaluation à représenter.")}
{_history_table(history) if history else ""}
{_figure(chart_roadmap_delays(territories, ctx.as_of, _footnote(ctx, territories, both)), roadmap_caption,
         "Aucune feuille de route à représenter.")}
{_figure(chart_partners(mobilisation, ctx.as_of, _footnote(ctx, territories, roadmaps_only)),
         "Montants accordés (décisions favorables prises à la date d'évaluation) et nombre d'actions où chaque "
         "partenaire intervient, avec le nombre de territoires concernés ; les autres partenaires (collectivités, "
         "chambres consulaires, réseaux) sont regroupés.", "Aucun partenaire à représenter.")}
{_figure(chart_instruction_delays(mobilisation, national, ctx.as_of, _footnote(ctx, territories, roadmaps_only),
                                  many), delays_caption, "Aucune demande décidée à représenter.")}
{_figure(chart_practices(territories, ctx.as_of, _footnote(ctx, territories, roadmaps_only)), practices_caption,
         "Aucune bonne pratique à représenter.")}
</section>"""

    nav = ('<li><a href="#indicateurs">Le programme en chiffres</a></li>'
           '<li><a href="#territoires">Les territoires</a></li><li><a href="#graphiques">Graphiques</a></li>'
           '<li><a href="#evolution">Évolution</a></li>'
           '<li><a href="#provenance">Provenance des données</a></li>')
    intro = (f'<p class="note intro">{format_count(n_territories, "territoire", "territoires")} '
             f"dans cette publication. Chaque indicateur est calculé au {esc(format_date(ctx.as_of))}.</p>")
    return _page(f"Évaluation Quartiers productifs — situation au {format_date(ctx.as_of)}",
                 "Évaluation du programme Quartiers productifs", "Rapport d'évaluation · national", ctx.meta(), nav,
                 _as_of_note(ctx.as_of) + _national_banner(territories) + intro, totals + table + charts,
                 ctx.footer(), landscape=True)


def _late_items(r: dict[str, Any], as_of: dt.date) -> str:
    items: list[tuple[bool, str]] = []
    status, due = r["roadmap_status"], r["roadmap_due_date"]
    if status == "late":
        items.append((True, f"Feuille de route annexée le {format_date(r['roadmap_annexed_date'])}, "
                            f"{_delay_text(r['roadmap_delay_days'])} sur l'échéance du {format_date(due)}."))
    elif status == "missing":
        overdue = (as_of - due).days if due is not None else None
        items.append((True, f"Feuille de route non annexée au {format_date(as_of)} : elle était attendue le "
                            f"{format_date(due)}"
                            + (f", soit {format_count(overdue, 'jour', 'jours')} de retard à cette date."
                               if overdue is not None else ".")))
    elif status == "on_time":
        items.append((False, f"Feuille de route annexée le {format_date(r['roadmap_annexed_date'])}, dans les délais "
                             f"({_delay_text(r['roadmap_delay_days'])} sur l'échéance du {format_date(due)})."))
    elif status == "pending":
        items.append((False, f"Feuille de route attendue le {format_date(due)} : échéance non atteinte."))
    due_actions, on_time = r["actions_due"], r["actions_on_time"]
    if due_actions:
        late = due_actions - (on_time or 0)
        text = (f"{format_count(late, 'action échue', 'actions échues')} sur {format_number(due_actions)} "
                f"{'n’a' if late < 2 else 'n’ont'} pas été {'achevée' if late < 2 else 'achevées'} à temps "
                "(achevées après la fin prévue, ou pas encore achevées)." if late else
                ("L'action échue a été achevée à temps." if due_actions == 1 else
                 f"Les {format_count(due_actions, 'action échue', 'actions échues')} ont été achevées à temps."))
        items.append((late > 0, text))
    elif due_actions == 0:
        items.append((False, f"Aucune action n'arrivait à échéance au {format_date(as_of)}."))
    due_milestones, late_milestones = r["milestones_due"], r["milestones_late"]
    if due_milestones:
        median = r["median_milestone_delay_days"]
        median_text = (f" Écart médian entre date prévue et date réelle des jalons atteints : {format_days(median)} "
                       "(négatif : en avance)."
                       if not _is_null(median) else "")
        text = (f"{format_count(late_milestones, 'jalon échu', 'jalons échus')} sur {format_number(due_milestones)} "
                f"en retard (atteints après la date prévue, ou pas encore atteints).{median_text}"
                if late_milestones else
                ("Le jalon échu a été atteint à temps." if due_milestones == 1 else
                 f"Les {format_count(due_milestones, 'jalon échu', 'jalons échus')} ont été atteints à temps.")
                + median_text)
        items.append((bool(late_milestones), text))
    elif due_milestones == 0:
        items.append((False, f"Aucun jalon n'arrivait à échéance au {format_date(as_of)}."))
    if not items:
        return '<p class="empty">Les données ne permettent pas de dire si des éléments sont en retard.</p>'
    return '<ul class="late">' + "".join(
        f'<li class="{"late" if late else "ok"}">{esc(text)}</li>' for late, text in items) + "</ul>"


ITEM_TYPE_LABELS = {"roadmap": "Feuille de route", "action": "Action", "milestone": "Jalon"}


def _late_items_table(items: pl.DataFrame, as_of: dt.date) -> str:
    """Each item of mart_late_items: what, due when, done when (or not yet), how many days late."""
    if items.is_empty():
        return f'<p class="empty">Aucun élément en retard au {esc(format_date(as_of))}.</p>'
    rows = []
    for r in items.iter_rows(named=True):
        what = esc(r["item"]) + (f' <span class="sub">action <code>{esc(r["action_id"])}</code></span>'
                                 if r["item_type"] == "milestone" else
                                 f' <span class="sub"><code>{esc(r["action_id"])}</code></span>' if r["action_id"]
                                 else "")
        done = (format_date(r["done_date"]) if r["done_date"] is not None
                else f"pas encore au {format_date(as_of)}")
        rows.append(f"<tr>{_cell(ITEM_TYPE_LABELS.get(r['item_type'], r['item_type']))}<td>{what}</td>"
                    f"{_cell(format_date(r['due_date']))}{_cell(done)}"
                    f"{_num(format_count(r['days_late'], 'jour', 'jours'))}</tr>")
    count = format_count(items.height, "élément en retard", "éléments en retard")
    return (f'<div class="table-wrap"><table><caption>{esc(count)} au {esc(format_date(as_of))} : échus et non '
            "réalisés à leur échéance. Retard : jours entre l'échéance et la réalisation, ou jusqu'à la date "
            "d'évaluation s'ils ne sont pas encore réalisés.</caption>"
            "<thead><tr><th>Type</th><th>Élément</th><th>Échéance</th><th>Réalisé le</th>"
            f'<th class="num">Retard</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _funding_table(funding: pl.DataFrame, as_of: dt.date) -> str:
    """mart_funding of a territory: per axe and financeur, requests, amounts, pending requests and their age."""
    if funding.is_empty():
        return f'<p class="empty">Aucune demande de financement au {esc(format_date(as_of))}.</p>'
    rows = []
    for r in funding.iter_rows(named=True):
        pending = (f"{format_number(r['pending_requests'])} en instruction"
                   + (f", la plus ancienne depuis {format_count(r['oldest_pending_days'], 'jour', 'jours')}"
                      if r["oldest_pending_days"] is not None else "") if r["pending_requests"] else "")
        rows.append(f"<tr>{_cell(_code_label(AXE_LABELS, r['axe']))}{_cell(partner_label(r['financeur']))}"
                    f"{_td(format_number(r['requests']), pending, True)}{_num(format_euros(r['amount_requested']))}"
                    f"{_num(format_euros(r['amount_granted']))}{_num(format_euros(r['amount_paid']))}</tr>")
    return ('<div class="table-wrap"><table><thead><tr><th>Axe</th><th>Financeur</th><th class="num">Demandes</th>'
            '<th class="num">Sollicité</th><th class="num">Accordé</th><th class="num">Versé</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody><caption>Demandes faites au {esc(format_date(as_of))}, par axe de "
            "l'action financée ; accordé et versé : demandes accordées à cette date.</caption></table></div>")


def render_territory(ctx: _Context, territory_id: str, row: dict[str, Any], partners: pl.DataFrame,
                     practices: pl.DataFrame, reused_here: pl.DataFrame, previous: str | None, following: str | None,
                     late_items: pl.DataFrame | None = None, funding: pl.DataFrame | None = None) -> str:
    late_items = ctx.release.marts["mart_late_items"].clear() if late_items is None else late_items
    funding = ctx.release.marts["mart_funding"].clear() if funding is None else funding
    as_of = ctx.as_of
    name = row["name"] or territory_id
    chef = row["chef_de_file"]
    facts = [
        ("Identifiant", f"<code>{esc(territory_id)}</code>"),
        ("Intercommunalité", esc(name)),
        ("Département", esc(f"{row['departement']} ({row['departement_code']})") if row["departement"] else _na()),
        ("SIREN", esc(row["siren"]) if row["siren"] else _na()),
        ("Chef de file", esc(partner_label(chef)) if chef else _na()),
    ]
    identity = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)

    def fact(label: str, text: str) -> str:
        return f"<dt>{esc(label)}</dt><dd>{_na() if text == NA else esc(text)}</dd>"

    calendar = "".join([
        fact("Labellisation", format_date(row["labellisation_date"])),
        fact("Convention signée le", signature_text(row, as_of)),
        fact("Fin de la convention", format_date(row["convention_end_date"])),
        fact(f"En vigueur au {format_date(as_of)}", format_bool(row["in_force"])),
        fact("Avenants pris en compte", format_number(row["avenants_effective"])),
        fact("Feuille de route due le", format_date(row["roadmap_due_date"])),
        fact("Feuille de route annexée le", format_date(row["roadmap_annexed_date"])),
        f"<dt>Statut de la feuille de route</dt><dd>{_status_badge(row['roadmap_status'])}</dd>",
        fact("Écart à l'échéance", _delay_text(row["roadmap_delay_days"])),
    ])
    kpis = "".join([
        _kpi(format_percent(row["action_on_time_rate"]), "des actions échues achevées à temps",
             (f"{format_number(row['actions_on_time'])} sur "
              f"{format_count(row['actions_due'], 'action échue', 'actions échues')}" if row["actions_due"]
              else "aucune action échue")
             + f" ; {format_count(row['actions_total'], 'action', 'actions')} au total"
             if row["actions_due"] is not None else ""),
        _kpi(format_number(row["milestones_late"]), plural(row["milestones_late"], "jalon en retard",
                                                           "jalons en retard"),
             (f"sur {format_count(row['milestones_due'], 'jalon échu', 'jalons échus')}" if row["milestones_due"]
              else "aucun jalon échu") if row["milestones_due"] is not None else ""),
        _kpi(format_euros(row["total_amount_granted"]), "accordés, tous financeurs",
             f"sur {format_euros(row['total_amount_requested'])} sollicités ; {format_euros(row['total_amount_paid'])} "
             "versés"),
        _kpi(format_days(row["median_instruction_days_all"]), "délai médian d'instruction",
             f"toutes demandes décidées ; {format_count(row['total_pending_requests'], 'demande', 'demandes')} en "
             "instruction"),
        _kpi(format_number(row["partners_involved"]),
             plural(row["partners_involved"], "partenaire impliqué", "partenaires impliqués")
             + " dans au moins une action"),
        _kpi(f"{format_number(row['practices_shared'])} / {format_number(row['practices_documented'])}"
             if row["practices_documented"] is not None else NA, "bonnes pratiques partagées / documentées",
             _reuse_text(row["reuse_links"]) + (
                 f" par {format_count(row['reusing_territories'], 'autre territoire', 'autres territoires')}"
                 if row["reuse_links"] else " par d'autres territoires")),
    ])
    chef_block = (
        f"<p>Le chef de file désigné par la convention est <strong>{esc(partner_label(chef))}</strong>.</p>"
        '<dl class="facts">'
        + fact("Actions où il intervient", f"{format_number(row['chef_actions_involved'])} "
               f"({format_percent(row['chef_actions_share'])} des actions)"
               if row["chef_actions_involved"] is not None else NA)
        + fact("Montants qu'il a accordés", format_euros(row["chef_amount_granted"]))
        + fact("Son délai médian d'instruction", format_days(row["chef_median_instruction_days"]))
        + fact("Sa présence aux réunions de gouvernance", format_percent(row["chef_attendance_rate"]))
        + "</dl>" if chef else "<p class=\"empty\">La convention lue ne nomme pas de chef de file.</p>")

    partner_rows = []
    partner_list = sorted(partners.iter_rows(named=True), key=lambda p: _partner_key(p["partner"]))
    for p in partner_list:
        badge = ' <span class="badge badge-chef">chef de file</span>' if p["is_chef_de_file"] else ""
        actions_detail = (f"dont {format_number(p['pilot_actions'])} en pilote · "
                          f"{format_percent(p['actions_share'])} des actions")
        requests_detail = (f"{format_count(p['decided_requests'], 'décidée', 'décidées')} · "
                           f"{format_number(p['pending_requests'])} en instruction")
        attendance = _ratio(p["meetings_attended"], p["meetings_total"]) if p["meetings_total"] else NA
        partner_rows.append(
            f'<tr><th scope="row">{esc(partner_label(p["partner"]))}{badge}</th>'
            f"{_td(format_number(p['actions_involved']), actions_detail, True)}"
            f"{_td(format_euros(p['amount_requested']), num=True)}"
            f"{_td(format_euros(p['amount_granted']), _share_text(p['grant_share']), True)}"
            f"{_td(format_euros(p['amount_paid']), num=True)}"
            f"{_td(format_number(p['requests']), requests_detail, True)}"
            f"{_td(format_days(p['median_instruction_days']), num=True)}"
            f"{_td(attendance, format_percent(p['attendance_rate']) if p['meetings_total'] else '', True)}</tr>")
    empty_row = '<tr><td colspan="8" class="empty">Aucun partenaire.</td></tr>'
    partner_table = f"""
<div class="table-wrap"><table>
<thead><tr><th>Partenaire</th><th class="num">Actions où il intervient</th><th class="num">Sollicité</th>
<th class="num">Accordé</th><th class="num">Versé</th><th class="num">Demandes de financement</th>
<th class="num">Délai médian d'instruction</th><th class="num">Présence aux réunions de gouvernance</th></tr></thead>
<tbody>{''.join(partner_rows) or empty_row}</tbody>
<tfoot><tr><th scope="row">Tous les financeurs</th><td></td>
{_td(format_euros(row['total_amount_requested']), num=True)}{_td(format_euros(row['total_amount_granted']), num=True)}
{_td(format_euros(row['total_amount_paid']), num=True)}
{_td(format_number(row['total_requests']), f"{format_number(row['total_pending_requests'])} en instruction", True)}
{_td(format_days(row['median_instruction_days_all']), num=True)}<td></td></tr></tfoot>
<caption>Sollicité : demandes faites à la date d'évaluation ; accordé et versé : demandes accordées à cette date (part
du total accordé au territoire). Délai d'instruction : jours entre la demande et la décision, médiane des demandes
décidées. Présence : réunions de gouvernance tenues à cette date auxquelles le partenaire a participé.</caption>
</table></div>"""
    # no chart here: the table says it all, and a page costs next to nothing to render (1 400 of them must)
    no_request = ("" if any((p["requests"] or 0) > 0 for p in partner_list) else
                  f'<p class="empty">Aucune demande de financement au {esc(format_date(as_of))}.</p>')

    practice_rows = []
    for p in sorted(practices.iter_rows(named=True), key=lambda p: p["pratique_id"]):
        shared = (format_date(p["date_partage"]) if p["date_partage"] is not None
                  else f"non partagée au {format_date(as_of)}")
        reusers = ", ".join(_territory_link(ctx, t, "../") for t in (p["reused_by"] or [])) or _na()
        practice_rows.append(
            f"<tr><td><code>{esc(p['pratique_id'])}</code></td>{_cell(p['titre'] or NA)}"
            f"{_cell(_code_label(AXE_LABELS, p['axe']))}{_cell(shared)}{_cell(_code_label(CANAL_LABELS, p['canal']))}"
            f"<td>{reusers}</td></tr>")
    practice_table = (
        '<div class="table-wrap"><table><thead><tr><th>Réf.</th><th>Bonne pratique</th><th>Axe</th>'
        "<th>Partagée le</th><th>Canal</th><th>Réutilisée par</th></tr></thead><tbody>"
        + "".join(practice_rows) + "</tbody></table></div>"
        if practice_rows else '<p class="empty">Aucune bonne pratique documentée dans la feuille de route.</p>')
    reused_rows = "".join(
        f"<tr><td>{_territory_link(ctx, p['territory_id'], '../')}</td><td><code>{esc(p['pratique_id'])}</code></td>"
        f"{_cell(p['titre'] or NA)}{_cell(_code_label(AXE_LABELS, p['axe']))}</tr>"
        for p in sorted(reused_here.iter_rows(named=True), key=lambda p: (p["territory_id"], p["pratique_id"])))
    reused_table = (
        '<div class="table-wrap"><table><thead><tr><th>Territoire d\'origine</th><th>Réf.</th><th>Bonne pratique</th>'
        f"<th>Axe</th></tr></thead><tbody>{reused_rows}</tbody></table></div>" if reused_rows
        else '<p class="empty">Ce territoire ne reprend aucune bonne pratique d\'un autre territoire.</p>')
    documented = format_count(row["practices_documented"], "bonne pratique documentée", "bonnes pratiques documentées")
    practices_summary = (
        "<p>" + esc(f"{documented}, dont {format_count(row['practices_shared'], 'partagée', 'partagées')} avec le "
                    f"réseau national au {format_date(as_of)} ({format_percent(row['shared_rate'])}) ; "
                    f"{format_count(row['axes_covered'], 'axe couvert', 'axes couverts')} ; délai médian entre la fin "
                    f"de l'action et le partage : {format_days(row['median_days_to_share'])}.") + "</p>"
        if row["practices_documented"] else "")

    body = f"""
<section id="synthese" aria-labelledby="h-synthese">
<h2 id="h-synthese">Synthèse</h2>
<div class="kpis">{kpis}</div>
</section>
<section id="identite" aria-labelledby="h-identite">
<h2 id="h-identite">Le territoire et sa convention</h2>
<dl class="facts">{identity}{calendar}</dl>
</section>
<section id="retards" aria-labelledby="h-retards">
<h2 id="h-retards">Éléments en retard au {esc(format_date(as_of))}</h2>
{_late_items(row, as_of)}
{_late_items_table(late_items, as_of)}
</section>
<section id="chef-de-file" aria-labelledby="h-chef">
<h2 id="h-chef">Chef de file</h2>
{chef_block}
</section>
<section id="partenaires" aria-labelledby="h-partenaires">
<h2 id="h-partenaires">Partenaires et financements</h2>
{partner_table}
{no_request}
<h3 id="financements-axe">Financements par axe</h3>
{_funding_table(funding, as_of)}
</section>
<section id="pratiques" aria-labelledby="h-pratiques">
<h2 id="h-pratiques">Bonnes pratiques</h2>
{practices_summary}
<h3>Ses bonnes pratiques</h3>
{practice_table}
<h3>Bonnes pratiques d'autres territoires qu'il a reprises</h3>
{reused_table}
</section>"""
    nav_items = ['<li><a href="../index.html">← Rapport national</a></li>']
    if previous:
        nav_items.append(f'<li><a href="{esc(previous)}.html">‹ {esc(ctx.names[previous])}</a></li>')
    if following:
        nav_items.append(f'<li><a href="{esc(following)}.html">{esc(ctx.names[following])} ›</a></li>')
    nav_items += ['<li><a href="#retards">Retards</a></li>', '<li><a href="#partenaires">Partenaires</a></li>',
                  '<li><a href="#financements-axe">Financements par axe</a></li>',
                  '<li><a href="#pratiques">Bonnes pratiques</a></li>']
    return _page(f"{name} — évaluation Quartiers productifs au {format_date(as_of)}", name,
                 f"Rapport d'évaluation · territoire · chef de file : {partner_label(chef) if chef else NA}",
                 ctx.meta(), "".join(nav_items), _as_of_note(as_of) + _territory_banner(row), body, ctx.footer())


# -- writing -----------------------------------------------------------------------------------------------

def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / REPORT_MANIFEST).is_file():
        raise ReportError(f"{out_dir}: this folder is not empty and holds no report ({REPORT_MANIFEST} missing); "
                          "the report replaces its whole folder: give a new or empty folder with --out")


def _write_whole(out_dir: Path, pages: dict[str, str], manifest: dict[str, Any]) -> None:
    """Write every page into a fresh folder beside out_dir, then put it in out_dir's place.

    Until the first rename out_dir is untouched; the two renames are back to back (out_dir is missing only
    between them, and put back if the second fails). Leftovers of an interrupted run are removed later."""
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = parent / f".{out_dir.name}.tmp-{token}"
    old = parent / f".{out_dir.name}.old-{token}"
    staging.mkdir()
    moved = False
    try:
        (staging / TERRITORY_FOLDER).mkdir()
        # each file written and synced to disk before the swap; several at once (the disk, not the CPU, is
        # what they wait for: 1 400 pages one after the other take seconds)
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            for _ in pool.map(lambda item: _fsync_write(staging / item[0], item[1].encode("utf-8")),
                              pages.items()):
                pass  # an error is raised here; the pages still being written finish before the pool closes
        _fsync_write(staging / REPORT_MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        if out_dir.exists():
            os.rename(out_dir, old)
            moved = True
        os.rename(staging, out_dir)
    except BaseException:
        if moved and not out_dir.exists():
            os.rename(old, out_dir)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)
    # an interrupted run's leftovers; a folder being written right now by another run is younger than this
    stale = dt.datetime.now().timestamp() - 3600
    for leftover in [*parent.glob(f".{out_dir.name}.tmp-*"), *parent.glob(f".{out_dir.name}.old-*")]:
        try:
            if leftover.stat().st_mtime < stale:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def _write_pages(out_dir: Path, pages: dict[str, str], manifest: dict[str, Any]) -> None:
    """Replace some pages of a report in place, each in one rename, and record them in its manifest."""
    (out_dir / TERRITORY_FOLDER).mkdir(parents=True, exist_ok=True)
    try:
        existing = json.loads((out_dir / REPORT_MANIFEST).read_text(encoding="utf-8"))
        existing_pages = existing.get("pages") if isinstance(existing, dict) else None
    except (OSError, ValueError):
        existing_pages = None
    recorded = dict(existing_pages) if isinstance(existing_pages, dict) else {}
    recorded.update(manifest["pages"])
    for relative, text in {**pages, REPORT_MANIFEST: json.dumps({**manifest, "pages": recorded}, indent=2,
                                                                ensure_ascii=False)}.items():
        target = out_dir / relative
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            _fsync_write(tmp, text.encode("utf-8"))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _drawn_by() -> str:
    """The version of the code that draws the report: this module, and what it reads the release with."""
    return modules_version("report", "publication", "marts")


def shows_release(out_dir: str | Path, release: str | Path) -> bool:
    """Whether out_dir is already the whole report of this release folder, drawn by this code: every page
    there (the national one and one per territory of the release), each stamped with the release and this
    code, and each as it was written (its SHA-256)."""
    out, folder = Path(out_dir), Path(release).resolve()
    try:
        manifest = json.loads((out / REPORT_MANIFEST).read_text(encoding="utf-8"))
        described = json.loads((folder / "release.json").read_text(encoding="utf-8"))
        territories = int(described["files"]["mart_evaluation_territories.parquet"]["rows"])
        pages = manifest["pages"]
        if manifest.get("release_dir") != str(folder) or "index.html" not in pages or len(pages) != territories + 1:
            return False
        code = _drawn_by()
        return all(stamp["release"] == described["release"] and stamp["code_version"] == code
                   and stamp["sha256"] == hashlib.sha256((out / relative).read_bytes()).hexdigest()
                   for relative, stamp in pages.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _by_territory(frame: pl.DataFrame, key: str, only: Sequence[str] | None = None) -> dict[str, pl.DataFrame]:
    """The rows of each territory (by the key column; only those listed, if told), in their order in the frame.

    One pass for them all; polars' partition_by(as_dict=True) costs a query per territory to name its part."""
    if only is not None:
        frame = frame.filter(pl.col(key).is_in(list(only)))
    return {part[key][0]: part for part in frame.drop_nulls(key).partition_by(key, maintain_order=True)}


def build_report(marts_dir: str | Path, out_dir: str | Path, territories: Sequence[str] | None = None,
                 release: str | Path | None = None) -> ReportResult:
    """Render the evaluation report of one release of the marts into out_dir.

    release: a release folder (`<marts_dir>/releases/<id>`) to render instead of the current one.
    territories: render only these territories' pages (the national page and the others are left as they
    are); None renders the whole report, which replaces out_dir as a whole.
    Everything is rendered in memory before anything is written: a failure leaves the previous report."""
    out = Path(out_dir)
    data = load_release(marts_dir, release)
    marts = data.marts
    evaluation = marts["mart_evaluation_territories"].sort("territory_id")
    ids = evaluation["territory_id"].to_list()
    unsafe = [t for t in ids if not is_territory_id(t)]
    if unsafe:  # ids become file names: the pipeline checks them, a hand-made release might not
        raise ReportError(f"{data.folder}: invalid territory id(s) {', '.join(map(repr, unsafe))} in "
                          "mart_evaluation_territories")
    if territories is not None:
        wanted = list(dict.fromkeys(territories))
        unknown = [t for t in wanted if t not in ids]
        if unknown or not wanted:
            raise ReportError(f"unknown territory id(s): {', '.join(unknown) or '(none given)'}; release "
                              f"{data.release_id} has: {', '.join(ids) or '(no territory)'}")
    else:
        wanted = ids
    _check_out_dir(out)

    ctx = _Context(data, {r["territory_id"]: r["name"] or r["territory_id"]
                          for r in evaluation.select("territory_id", "name").iter_rows(named=True)})
    only = wanted if territories is not None else None  # a refresh of a few pages: no need to split every mart
    partners = _by_territory(marts["mart_partner_mobilisation"], "territory_id", only)
    diffusion = marts["mart_practice_diffusion"]
    practices = _by_territory(diffusion, "territory_id", only)
    empty_partners = marts["mart_partner_mobilisation"].clear()
    empty_practices = diffusion.clear()
    # the practices each territory reused, found once for all (not one filter of the whole mart per page)
    reused = _by_territory(diffusion.with_columns(reuser=pl.col("reused_by")).explode("reuser")
                           .unique(subset=["territory_id", "pratique_id", "reuser"], keep="first",
                                   maintain_order=True), "reuser", only)
    late_items = _by_territory(marts["mart_late_items"], "territory_id", only)
    funding = _by_territory(marts["mart_funding"], "territory_id", only)
    rows = {r["territory_id"]: r for r in evaluation.iter_rows(named=True)}
    positions = {t: i for i, t in enumerate(ids)}
    pages: dict[str, str] = {}
    if territories is None:
        pages["index.html"] = render_national(ctx)
    for territory_id in wanted:
        position = positions[territory_id]
        pages[f"{TERRITORY_FOLDER}/{territory_id}.html"] = render_territory(
            ctx, territory_id, rows[territory_id], partners.get(territory_id, empty_partners),
            practices.get(territory_id, empty_practices), reused.get(territory_id, empty_practices),
            ids[position - 1] if position > 0 else None, ids[position + 1] if position + 1 < len(ids) else None,
            late_items.get(territory_id), funding.get(territory_id))
    stamp = {"release": data.release_id, "as_of": data.as_of.isoformat(), "code_version": _drawn_by()}
    manifest = {"generator": GENERATOR, **stamp, "release_dir": str(data.folder),
                "pages": {relative: {**stamp, "sha256": _sha256(text)} for relative, text in pages.items()}}
    if territories is None:
        _write_whole(out, pages, manifest)
    else:
        _write_pages(out, pages, manifest)
    return ReportResult(out, [out / relative for relative in pages], data.as_of, data.release_id, data.folder,
                        national=territories is None)
