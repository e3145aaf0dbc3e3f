"""The report's pages drawn from their Jinja2 templates (templates/, styles in report.css), values escaped once
by autoescaping."""

import datetime as dt
import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from qp_analytics.report.charts import ChartMemo
from qp_analytics.report.formatting import NA, format_count, format_date, format_number
from qp_analytics.report.labels import PROVENANCE_LABELS, STATUS_BADGES
from qp_analytics.report.national import national_view
from qp_analytics.report.source import Release
from qp_analytics.report.territory import TerritoryInputs, territory_view

GENERATOR = "qp-analytics report"
STYLESHEET = "report.css"
TEMPLATES = "templates"
# No script, no outside resource: the policy enforces what the page promises, in any browser that opens it.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True)
class Stamp:
    """What a page says of the release it was drawn from: its id, evaluation date and day of publication."""
    release: str
    as_of: dt.date
    published: dt.date | None

    @classmethod
    def of(cls, release: Release) -> "Stamp":
        return cls(release.release_id, release.as_of,
                   release.published_at.date() if release.published_at is not None else None)


# a release's id as publish_release names it (its time to the microsecond, then six hex digits)
_RELEASE_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{6}")


def restamped(page: str, before: Stamp, after: Stamp) -> str | None:
    """A page drawn from release `before`, as drawn from release `after` when nothing else it shows differs (the
    same marts, evaluation date and code): the release's id put in wherever the page names it (masthead, footer,
    the charts' footnotes) and its day of publication in the masthead. None when text replacement cannot be
    trusted to give the page a drawing would: an id not named as publish_release names releases (it could be
    part of other words), or a page that does not name its release's day once."""
    if before.as_of != after.as_of or before.release == after.release or \
            (before.published is None) != (after.published is None) or \
            not all(_RELEASE_ID.fullmatch(r) for r in (before.release, after.release)) or before.release not in page:
        return None
    page = page.replace(before.release, after.release)
    if before.published is not None and after.published is not None:
        old, new = (str(escape(f"· publiée le {format_date(day)}")) for day in (before.published, after.published))
        if page.count(old) != 1:
            return None
        page = page.replace(old, new)
    return page


def _package_files() -> list[Any]:
    """The templates and the stylesheet, in a fixed order."""
    root = resources.files("qp_analytics.report")
    return [root / STYLESHEET, *sorted((f for f in (root / TEMPLATES).iterdir() if f.name.endswith(".html")),
                                       key=lambda f: f.name)]


def templates_digest() -> str:
    """SHA-256 of the templates and the stylesheet (each name and its bytes): part of the report's code."""
    digest = hashlib.sha256()
    for resource in _package_files():
        digest.update(resource.name.encode())
        digest.update(resource.read_bytes())
    return digest.hexdigest()


NULL_MARK = Markup(f'<span class="na" title="non renseigné">{NA}</span>')


def shown(text: Any) -> Any:
    """A value as a page prints it: "—" (null, or nothing to say) as the null mark, anything else as it is (the
    template escapes it)."""
    return NULL_MARK if text == NA else text


@functools.cache
def environment() -> Environment:
    """The templates' environment, made once: autoescaping on, so a value from a document is escaped once,
    where it is printed; a name a template uses but its view lacks is an error, not an empty string. The
    templates are the package's and do not change under a running process: a template, once loaded, is not looked
    at again on disk (`auto_reload` off; on, every page drawn looked at its templates' files: 1,400 territory pages
    drawn in 0.95 s instead of 0.89 s)."""
    env = Environment(loader=PackageLoader("qp_analytics.report", TEMPLATES), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True, undefined=StrictUndefined, keep_trailing_newline=True, auto_reload=False)
    env.filters.update(shown=shown, date=format_date, number=format_number, counted=format_count)
    css = (resources.files("qp_analytics.report") / STYLESHEET).read_text(encoding="utf-8")
    env.globals.update(NA=NA, STATUS_BADGES=STATUS_BADGES, PROVENANCE_LABELS=PROVENANCE_LABELS,
                       css=Markup(css), csp=Markup(CSP), generator=GENERATOR)  # ours: put in as they are
    return env


class Renderer:
    """Draws the report's pages: the national one from a whole release, a territory's from its inputs. A
    seam for tests, which may make a page fail to draw."""

    def national(self, release: Release, names: dict[str, str], charts: ChartMemo | None = None) -> str:
        view = national_view(release, names, charts)
        return environment().get_template("national.html").render(view=view, stamp=Stamp.of(release))

    def territory(self, inputs: TerritoryInputs, stamp: Stamp) -> str:
        return environment().get_template("territory.html").render(view=territory_view(inputs), stamp=stamp)
