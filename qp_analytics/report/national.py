"""What the national page shows: the programme's totals, every territory side by side and the five charts, as
plain values (French text, SVG) for its template to lay out."""

from collections.abc import Callable
from typing import Any

import polars as pl
from markupsafe import Markup

from qp_analytics.marts.compute import NATIONAL_PARTNERS
from qp_analytics.report.charts import (
    CHART_TERRITORIES_MAX,
    INSTRUCTION_CHART_COLUMNS,
    INSTRUCTION_INDICATORS,
    PRACTICE_CHART_COLUMNS,
    RELEASE_MARK,
    ROADMAP_CHART_COLUMNS,
    TOP_TERRITORIES,
    ChartMemo,
    chart_footnote,
    chart_history,
    chart_instruction_delays,
    chart_partners,
    chart_practices,
    chart_roadmap_delays,
    national_history,
    practices_left_out,
    status_counts,
)
from qp_analytics.report.formatting import (
    NA,
    View,
    delay_text,
    format_count,
    format_date,
    format_days,
    format_euros,
    format_number,
    format_percent,
    is_null,
    median_text,
    partner_label,
    plural,
    provenance_phrase,
    quarter_label,
    ratio,
    reuse_text,
    signature_text,
    term_text,
)
from qp_analytics.report.labels import INDICATOR_LABELS, PARTNER_LABELS, STATUS_LABELS
from qp_analytics.report.source import Release, indicator_value
from qp_analytics.report.territory import page_link


def indicator_text(value: Any, unit: str | None) -> str:
    """A national indicator's value as its unit reads: a share in %, an amount in euros, days, or a number."""
    if unit in ("share", "rate"):
        return format_percent(value)
    if unit == "EUR":
        return format_euros(value)
    if unit == "days":
        return format_days(value)
    return format_number(value, 2, trim=True)


def provenance_banner(territories: pl.DataFrame) -> View:
    """Which documents of the publication are real or illustrative: the banner's kind and its lines."""
    conventions = territories["convention_provenance"].to_list()
    roadmaps = territories["roadmap_provenance"].to_list()
    everything = conventions + roadmaps
    rows = list(territories.select("territory_id", "name", "convention_provenance", "roadmap_provenance")
                .iter_rows(named=True))
    real_conventions = [r["name"] or r["territory_id"] for r in rows if r["convention_provenance"] == "real"]
    real_roadmaps = [r["name"] or r["territory_id"] for r in rows if r["roadmap_provenance"] == "real"]
    detail = (f"{provenance_phrase(conventions, 'convention', 'conventions')} ; "
              f"{provenance_phrase(roadmaps, 'feuille de route', 'feuilles de route')}.")

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
    if "illustrative" in everything:
        kind = "illustrative"
    elif any(v not in ("real", "illustrative") for v in everything):
        kind = "unknown"
    else:
        kind = "real"
    return View(kind=kind, detail=detail, reals=" ; ".join(reals))


def _kpis(national: pl.DataFrame) -> list[View]:
    indicators = {r["indicator"]: r for r in national.iter_rows(named=True)}

    def ind(name: str) -> tuple[Any, int | None]:
        row = indicators.get(name)
        return (indicator_value(row), row["territories"]) if row else (None, None)

    def basis(name: str) -> str:
        count = ind(name)[1]
        return "" if count is None else f"sur {format_count(count, 'territoire', 'territoires')}"

    def kpi(name: str, label: str, value_format: Callable[[Any], str], label_plural: str = "") -> View:
        value = ind(name)[0]
        return View(value=value_format(value), basis=basis(name),
                    label=plural(value, label, label_plural) if label_plural else label)

    as_int: Callable[[Any], str] = lambda v: format_number(v)  # noqa: E731
    on_time, share = ind("roadmaps_on_time")[0], ind("roadmaps_on_time_share")[0]
    signed, undated = ind("conventions_signed")[0], ind("conventions_undated")[0]
    national_granted = [ind(f"total_granted_{p}")[0] for p in NATIONAL_PARTNERS]
    total_national = None if any(is_null(v) for v in national_granted) or not indicators else sum(national_granted)
    return [
        kpi("territories_in_programme", "territoire labellisé", as_int, "territoires labellisés"),
        View(value=format_number(signed) if not is_null(signed) else NA,
             label=plural(signed, "convention signée et datée", "conventions signées et datées"),
             basis=basis("conventions_signed") + (f" ; {format_number(undated)} "
                                                  f"{plural(undated, 'non datée', 'non datées')} (signée, date "
                                                  "laissée en blanc)" if undated else "")),
        kpi("roadmaps_annexed", "feuille de route annexée", as_int, "feuilles de route annexées"),
        View(value=format_number(on_time) if not is_null(on_time) else NA,
             label=plural(on_time, "feuille de route annexée dans les délais",
                          "feuilles de route annexées dans les délais"),
             basis=(f"soit {format_percent(share)} des feuilles de route échues ou annexées" if not is_null(share)
                    else basis("roadmaps_on_time"))),
        kpi("median_roadmap_delay_days", "écart médian à l'échéance d'annexion (négatif : en avance)", format_days),
        kpi("conventions_in_force", "convention en vigueur", as_int, "conventions en vigueur"),
        kpi("action_on_time_rate", "des actions échues achevées à temps", format_percent),
        View(value=format_euros(total_national), label="accordés par les cinq partenaires nationaux",
             basis="somme des montants accordés par l'État, l'ANCT, l'ANRU, la Banque des Territoires et "
                   "Bpifrance"),
        kpi("practices_shared", "bonne pratique partagée", as_int, "bonnes pratiques partagées"),
        kpi("reuse_links", "réutilisation de bonnes pratiques", as_int, "réutilisations de bonnes pratiques"),
    ]


def _partners(national: pl.DataFrame) -> list[View]:
    indicators = {r["indicator"]: r for r in national.iter_rows(named=True)}

    def ind(name: str) -> tuple[Any, int | None]:
        row = indicators.get(name)
        return (indicator_value(row), row["territories"]) if row else (None, None)

    return [View(label=PARTNER_LABELS[p],
                 granted=format_euros(ind(f"total_granted_{p}")[0]),
                 funded=format_number(ind(f"total_granted_{p}")[1]),
                 days=format_days(ind(f"median_instruction_days_{p}")[0]),
                 decided=format_number(ind(f"median_instruction_days_{p}")[1])) for p in NATIONAL_PARTNERS]


def _territory_rows(territories: pl.DataFrame, as_of: Any, names: dict[str, str]) -> list[View]:
    rows = []
    for r in territories.iter_rows(named=True):
        delay = r["roadmap_delay_days"]
        if delay is not None:
            roadmap_sub = delay_text(delay)
        elif r["roadmap_status"] in ("missing", "pending") and r["roadmap_due_date"] is not None:
            roadmap_sub = f"attendue le {format_date(r['roadmap_due_date'])}"
        else:
            roadmap_sub = ""
        rows.append(View(
            link=page_link(r["territory_id"], names, ""),
            departement=r["departement"] or NA,
            chef=partner_label(r["chef_de_file"]) if r["chef_de_file"] else NA,
            status=r["roadmap_status"], roadmap_sub=roadmap_sub,
            signature=signature_text(r, as_of), term=term_text(r["convention_end_date"], r["in_force"]),
            actions=ratio(r["actions_on_time"], r["actions_due"]),
            actions_rate=format_percent(r["action_on_time_rate"]),
            milestones=ratio(r["milestones_late"], r["milestones_due"]),
            granted=format_euros(r["total_amount_granted"]),
            instruction=median_text(r["median_instruction_days_all"]),
            practices=ratio(r["practices_shared"], r["practices_documented"]),
            reuses=reuse_text(r["reuse_links"]),
            convention_provenance=r["convention_provenance"], roadmap_provenance=r["roadmap_provenance"],
        ))
    return rows


def _captions(territories: pl.DataFrame, many: bool) -> View:
    n_territories = territories.height
    if not many:
        return View(roadmaps="Écart entre l'échéance de la feuille de route (fixée par la convention) et son "
                             "annexion. Une feuille de route non annexée est signalée avec son échéance.",
                    delays="Barre : médiane nationale des délais d'instruction de toutes les demandes décidées par "
                           "le partenaire. Points : médiane de chaque territoire.",
                    practices="Bonnes pratiques documentées dans la feuille de route, partagées avec le réseau "
                              "national à la date d'évaluation, et nombre de reprises par d'autres territoires.")
    counts = status_counts(territories.select("roadmap_status").iter_rows(named=True))
    left_out = practices_left_out(territories)
    return View(
        roadmaps=(
            f"Répartition des {format_number(n_territories)} territoires selon l'écart entre l'échéance de leur "
            "feuille de route (fixée par la convention) et son annexion, par classe de jours (chaque barre compte "
            "les feuilles de route dont l'écart tombe dans la classe, borne de droite incluse). "
            + " ; ".join(f"{STATUS_LABELS[s]} : {format_number(n)}" for s, n in counts.items()
                         if n or s in ("on_time", "late"))
            + ". Les feuilles de route non annexées n'ont pas d'écart : elles sont comptées sans être représentées. "
            "Le détail par territoire est dans le tableau ci-dessus."),
        delays=("Barre : médiane nationale des délais d'instruction de toutes les demandes décidées par le "
                "partenaire. Boîte : médianes des territoires (quartiles, médiane ; moustaches aux 1er et 9e "
                "déciles)."),
        practices=(
            f"Les {format_number(min(TOP_TERRITORIES, n_territories))} territoires sur {format_number(n_territories)} "
            "ayant le plus de réutilisations de leurs bonnes pratiques par d'autres territoires (à égalité : le plus "
            "de pratiques partagées, puis documentées, puis par nom) : bonnes pratiques documentées dans la feuille "
            "de route, partagées avec le réseau national à la date d'évaluation, et nombre de reprises. "
            f"{left_out[0].upper()}{left_out[1:]} : voir le tableau ci-dessus."),
    )


def _svg(svg: str | None) -> Markup | None:
    """A chart drawn here by matplotlib, its labels escaped when drawn: put in the page as it is."""
    return None if svg is None else Markup(svg)


def national_view(release: Release, names: dict[str, str], charts: ChartMemo | None = None) -> View:
    """Everything the national page shows, drawn from the whole release (names: territory id -> its name);
    charts: those drawn before, taken where drawn from the same inputs (none by default)."""
    charts = charts if charts is not None else ChartMemo("")
    marts = release.marts
    as_of = release.as_of
    territories = marts["mart_evaluation_territories"].sort("territory_id")
    national = marts["mart_evaluation_national"]
    mobilisation = marts["mart_partner_mobilisation"]
    many = territories.height > CHART_TERRITORIES_MAX
    both, roadmaps_only = ("convention", "roadmap"), ("roadmap",)

    def footnote(documents: tuple[str, ...]) -> str:  # naming the release by its mark (ChartMemo)
        return chart_footnote(as_of, RELEASE_MARK, territories, documents)

    def chart(name: str, documents: tuple[str, ...], draw: Callable[..., str | None], *inputs: Any) -> Markup | None:
        return _svg(charts.chart(name, release.release_id, footnote(documents),
                                 lambda note: draw(*inputs, note), *inputs))

    history = national_history(marts["mart_history"])
    return View(
        territories=territories.height,
        long=many,
        banner=provenance_banner(territories),
        kpis=_kpis(national),
        partners=_partners(national),
        indicators=[View(label=INDICATOR_LABELS.get(r["indicator"], r["indicator"]), code=r["indicator"],
                         value=indicator_text(indicator_value(r), r["unit"]),
                         territories=format_number(r["territories"])) for r in national.iter_rows(named=True)],
        rows=_territory_rows(territories, as_of, names),
        captions=_captions(territories, many),
        history=[View(label=quarter_label(r["evaluation_date"]), territories=format_number(r["territories"]),
                      on_time=ratio(r["actions_on_time"], r["actions_due"]), share=format_percent(r["share"]),
                      granted=format_euros(r["amount_granted"])) for r in history],
        charts=View(
            history=chart("history", both, chart_history, history, as_of),
            # the charts of territories' rows from the columns they show: a chart stays as drawn (ChartMemo) when
            # the marts changed elsewhere (a practices' chart when a roadmap's deadline did)
            roadmaps=chart("roadmaps", both, chart_roadmap_delays, territories.select(ROADMAP_CHART_COLUMNS), as_of),
            partners=chart("partners", roadmaps_only, chart_partners, mobilisation, as_of),
            delays=chart("delays", roadmaps_only, lambda m, n, day, many, note: chart_instruction_delays(
                m, n, day, note, many), mobilisation.select(INSTRUCTION_CHART_COLUMNS),
                national.filter(pl.col("indicator").str.starts_with(INSTRUCTION_INDICATORS)), as_of, many),
            practices=chart("practices", roadmaps_only, chart_practices, territories.select(PRACTICE_CHART_COLUMNS),
                            as_of),
        ),
    )
