"""The HTML evaluation report: values, French formatting, provenance, atomic writing, the command, the asset,
and what a person sees in a real browser.

The marts are made by hand here (three territories, values chosen for the cases that matter: a null, a late
and a missing roadmap, amounts with cents, a name to escape); expected texts are written by hand or computed
from the Parquet files with DuckDB, never copied from the report. Sixty territories made from them, with
roadmap delays and reuses chosen here, check what the national charts draw for many territories.
"""

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import qp_analytics.report.pages as pages_module
from pipelines.cli.report import report
from qp_analytics.marts.compute import value_column
from qp_analytics.publication.release import current_release, publish_release
from qp_analytics.report.ahead import PagesAhead
from qp_analytics.report.charts import DELAY_BINS_MAX, ChartMemo, chart_footnote, chart_roadmap_delays, delay_bins
from qp_analytics.report.formatting import plural, signature_text
from qp_analytics.report.national import national_view
from qp_analytics.report.pages import (
    FileWriter,
    Renderer,
    ReportError,
    build_report,
    format_date,
    format_days,
    format_euros,
    format_number,
    format_percent,
    shows_release,
)
from qp_analytics.report.source import load_release
from qp_analytics.report.territory import TerritorySources
from qp_analytics.report.writing import report_version
from qp_analytics.schema import MARTS, release_name

AS_OF = dt.date(2023, 6, 30)
NATIONAL = ("etat", "anct", "anru", "banque_des_territoires", "bpifrance")
THIN, NBSP = "\u202f", "\u00a0"
ALPHA, BETA, GAMMA = "alpha-ville", "beta-sur-mer", "gamma"
BETA_NAME = "Métropole <Beta> & Cie"
OTHER_PARTNER = "Fonds $Avenir$ Région Sud"  # named as written in a workbook; `$` means maths to matplotlib


def _partner(territory_id, partner, chef, **values):
    row = {"territory_id": territory_id, "partner": partner, "is_national_partner": partner in NATIONAL,
           "is_chef_de_file": partner == chef, "actions_involved": 0, "actions_share": 0.0, "pilot_actions": 0,
           "amount_requested": Decimal("0"), "amount_granted": Decimal("0"), "amount_paid": Decimal("0"),
           "grant_share": None, "requests": 0, "decided_requests": 0, "pending_requests": 0,
           "median_instruction_days": None, "meetings_total": 4, "meetings_attended": 2, "attendance_rate": 0.5,
           "as_of": AS_OF}
    row.update(values)
    return row


# (convention, roadmap) provenance per territory: beta's roadmap is not in the data manifest
MIXED = {ALPHA: ("real", "illustrative"), BETA: ("illustrative", None), GAMMA: ("illustrative", "illustrative")}
ALL_REAL = {t: ("real", "real") for t in MIXED}


# alpha: the roadmap (late, 25 days), 3 actions late (4 due, 1 on time), 2 milestones late; beta: the roadmap
# missing since 18/03/2022; gamma: nothing late
LATE_ITEMS = [
    {"territory_id": ALPHA, "item_type": "roadmap", "action_id": None, "item": "feuille de route",
     "due_date": dt.date(2021, 9, 18), "done_date": dt.date(2021, 10, 13), "days_late": 25, "state": "done_late"},
    {"territory_id": ALPHA, "item_type": "action", "action_id": "ALP-02", "item": "Fabrique à entreprendre",
     "due_date": dt.date(2022, 12, 31), "done_date": dt.date(2023, 2, 15), "days_late": 46, "state": "done_late"},
    {"territory_id": ALPHA, "item_type": "action", "action_id": "ALP-03", "item": "Foncière <commerciale>",
     "due_date": dt.date(2023, 3, 31), "done_date": None, "days_late": 91, "state": "overdue"},
    {"territory_id": ALPHA, "item_type": "action", "action_id": "ALP-04", "item": "Hôtel d'entreprises",
     "due_date": AS_OF, "done_date": None, "days_late": 0, "state": "overdue"},
    {"territory_id": ALPHA, "item_type": "milestone", "action_id": "ALP-02", "item": "Lancement",
     "due_date": dt.date(2021, 10, 1), "done_date": dt.date(2021, 10, 2), "days_late": 1, "state": "done_late"},
    {"territory_id": ALPHA, "item_type": "milestone", "action_id": "ALP-03", "item": "Ouverture",
     "due_date": dt.date(2022, 9, 1), "done_date": None, "days_late": 302, "state": "overdue"},
    {"territory_id": BETA, "item_type": "roadmap", "action_id": None, "item": "feuille de route",
     "due_date": dt.date(2022, 3, 18), "done_date": None, "days_late": 469, "state": "overdue"},  # 365 + 104
]
# territory, axe, financeur, requested, granted, paid, pending, oldest pending days: mart_partner_mobilisation's
# amounts split by axe (bpifrance's 2 requests of alpha, 1 500 000 and 1 234 567,89 in all)
FUNDING = [
    (ALPHA, "commerce_artisanat", "bpifrance", "500000.00", "234567.89", "200000.00", 0, None),
    (ALPHA, "commerce_artisanat", OTHER_PARTNER, "9999.99", "0", "0", 1, 120),
    (ALPHA, "entrepreneuriat", "anru", "50000.50", "40000.25", "40000.25", 0, None),
    (ALPHA, "entrepreneuriat", "bpifrance", "1000000.00", "1000000.00", "800000.00", 0, None),
    (GAMMA, "transition_numerique_ecologique", "etat", "20000.00", "12345.00", "0.00", 0, None),
]
QUARTERS = (dt.date(2022, 12, 31), dt.date(2023, 3, 31), AS_OF)
# per quarter: actions due, on time, amount granted (the last one is mart_timeliness's and the partners' at as_of)
HISTORY = {ALPHA: [(2, 1, "1040000.25"), (3, 1, "1274568.14"), (4, 1, "1274568.14")],
           BETA: [(0, 0, "0"), (0, 0, "0"), (0, 0, "0")],
           GAMMA: [(1, 1, "0"), (2, 2, "12345"), (2, 2, "12345")]}


def handmade_marts(as_of=AS_OF, provenance=MIXED) -> dict:
    """Three territories, typed like the published marts."""
    timeliness = [
        {"territory_id": ALPHA, "labellisation_date": dt.date(2021, 3, 18), "roadmap_due_date": dt.date(2021, 9, 18),
         "roadmap_annexed_date": dt.date(2021, 10, 13), "roadmap_delay_days": 25, "roadmap_status": "late",
         "convention_signature_date": dt.date(2021, 5, 19), "convention_end_date": dt.date(2024, 3, 18),
         "in_force": True, "actions_total": 10, "actions_due": 4, "actions_on_time": 1, "action_on_time_rate": 0.25,
         "milestones_due": 6, "milestones_late": 2, "median_milestone_delay_days": -3.5},
        {"territory_id": BETA, "labellisation_date": dt.date(2021, 3, 18), "roadmap_due_date": dt.date(2022, 3, 18),
         "roadmap_annexed_date": None, "roadmap_delay_days": None, "roadmap_status": "missing",
         "convention_signature_date": None, "convention_end_date": dt.date(2023, 3, 18), "in_force": False,
         "actions_total": 0, "actions_due": 0, "actions_on_time": 0, "action_on_time_rate": None,
         "milestones_due": 0, "milestones_late": 0, "median_milestone_delay_days": None},
        {"territory_id": GAMMA, "labellisation_date": dt.date(2021, 3, 18), "roadmap_due_date": dt.date(2021, 9, 18),
         "roadmap_annexed_date": dt.date(2021, 8, 31), "roadmap_delay_days": -18, "roadmap_status": "on_time",
         "convention_signature_date": dt.date(2021, 6, 29), "convention_end_date": dt.date(2023, 3, 18),
         "in_force": False, "actions_total": 5, "actions_due": 2, "actions_on_time": 2, "action_on_time_rate": 1.0,
         "milestones_due": 3, "milestones_late": 0, "median_milestone_delay_days": -1.0},
    ]
    for row in timeliness:
        row["as_of"] = as_of
    practices = [
        {"territory_id": ALPHA, "practices_documented": 2, "practices_shared": 1, "shared_rate": 0.5,
         "reuse_links": 1, "reusing_territories": 1, "axes_covered": 2, "median_days_to_share": 93.5},
        {"territory_id": BETA, "practices_documented": 0, "practices_shared": 0, "shared_rate": None,
         "reuse_links": 0, "reusing_territories": 0, "axes_covered": 0, "median_days_to_share": None},
        {"territory_id": GAMMA, "practices_documented": 1, "practices_shared": 0, "shared_rate": 0.0,
         "reuse_links": 2, "reusing_territories": 2, "axes_covered": 1, "median_days_to_share": None},
    ]
    for row in practices:
        row["as_of"] = as_of
    chefs = {ALPHA: "anru", BETA: "anct", GAMMA: "bpifrance"}
    mobilisation = [_partner(t, p, chefs[t], as_of=as_of) for t in (ALPHA, BETA, GAMMA) for p in NATIONAL]
    amounts = {  # (territory, partner): requested, granted, paid, requests, decided, median days
        (ALPHA, "bpifrance"): ("1500000.00", "1234567.89", "1000000.00", 2, 2, 105.5),
        (ALPHA, "anru"): ("50000.50", "40000.25", "40000.25", 1, 1, 30.0),
        (GAMMA, "etat"): ("20000.00", "12345.00", "0.00", 1, 1, 44.0),
    }
    for row in mobilisation:
        key = (row["territory_id"], row["partner"])
        if key in amounts:
            requested, granted, paid, requests, decided, days = amounts[key]
            row.update(amount_requested=Decimal(requested), amount_granted=Decimal(granted),
                       amount_paid=Decimal(paid), requests=requests, decided_requests=decided,
                       median_instruction_days=days, actions_involved=2, actions_share=0.2, pilot_actions=1)
    mobilisation.append(_partner(ALPHA, OTHER_PARTNER, "anru", as_of=as_of, actions_involved=1, actions_share=0.1,
                                 amount_requested=Decimal("9999.99"), requests=1, pending_requests=1))
    diffusion = [
        {"territory_id": ALPHA, "pratique_id": "ALP-BP1", "titre": "Guichet unique de la création",
         "axe": "entrepreneuriat", "date_partage": dt.date(2023, 1, 8), "canal": "webinaire",
         "reused_by_count": 1, "reused_by": [GAMMA], "as_of": as_of},
        {"territory_id": ALPHA, "pratique_id": "ALP-BP2", "titre": "Bail commercial à loyer progressif",
         "axe": "commerce_artisanat", "date_partage": None, "canal": None, "reused_by_count": 0, "reused_by": [],
         "as_of": as_of},
        {"territory_id": GAMMA, "pratique_id": "GAM-BP1", "titre": "Chèque numérique pour les TPE",
         "axe": "transition_numerique_ecologique", "date_partage": None, "canal": "visite", "reused_by_count": 2,
         "reused_by": [ALPHA, BETA], "as_of": as_of},
    ]
    reference = {ALPHA: ("Communauté d'agglomération Alpha", "200000001", "13", "Bouches-du-Rhône"),
                 BETA: (BETA_NAME, None, "59", "Nord"), GAMMA: ("Gamma Métropole", "200000003", "31", "Haute-Garonne")}
    territories = []
    for t, p in zip(timeliness, practices, strict=True):
        tid = t["territory_id"]
        partners = [m for m in mobilisation if m["territory_id"] == tid]
        chef = next(m for m in partners if m["is_chef_de_file"])
        territories.append({
            **t, **p, "name": reference[tid][0], "siren": reference[tid][1], "departement_code": reference[tid][2],
            "departement": reference[tid][3], "chef_de_file": chefs[tid],
            "convention_signature_state": "undated" if tid == BETA else "signed",
            "convention_provenance": provenance[tid][0], "roadmap_provenance": provenance[tid][1],
            "avenants_effective": 1 if tid == ALPHA else 0,
            "chef_actions_involved": chef["actions_involved"], "chef_actions_share": chef["actions_share"],
            "chef_amount_granted": chef["amount_granted"],
            "chef_median_instruction_days": chef["median_instruction_days"],
            "chef_attendance_rate": chef["attendance_rate"],
            "partners_involved": sum(1 for m in partners if m["actions_involved"] > 0),
            "total_amount_requested": sum(m["amount_requested"] for m in partners),
            "total_amount_granted": sum(m["amount_granted"] for m in partners),
            "total_amount_paid": sum(m["amount_paid"] for m in partners),
            "total_requests": sum(m["requests"] for m in partners),
            "total_pending_requests": sum(m["pending_requests"] for m in partners),
            # pooled over the territory's decided requests (not a median of the partners' medians): set by hand
            "median_instruction_days_all": {ALPHA: 67.0, BETA: None, GAMMA: 44.0}[tid],
        })
    national = [
        ("territories_in_programme", 3.0, "territories", 3), ("conventions_signed", 2.0, "conventions", 3),
        ("roadmaps_annexed", 2.0, "roadmaps", 3), ("roadmaps_on_time", 1.0, "roadmaps", 3),
        ("roadmaps_on_time_share", 1 / 3, "share", 3), ("median_roadmap_delay_days", 3.5, "days", 2),
        ("conventions_in_force", 1.0, "conventions", 3), ("action_on_time_rate", 0.5, "rate", 2),
        *[(f"total_granted_{p}", {"bpifrance": 1234567.89, "anru": 40000.25, "etat": 12345.0}.get(p, 0.0), "EUR",
           {"bpifrance": 1, "anru": 1, "etat": 1}.get(p, 0)) for p in NATIONAL],
        *[(f"median_instruction_days_{p}", {"bpifrance": 105.5, "anru": 30.0, "etat": 44.0}.get(p), "days",
           {"bpifrance": 1, "anru": 1, "etat": 1}.get(p, 0)) for p in NATIONAL],
        ("practices_shared", 1.0, "practices", 3), ("reuse_links", 3.0, "links", 3),
        ("conventions_undated", 1, "conventions", 3),
    ]
    frames = {
        "marts.mart_timeliness": timeliness,
        "marts.mart_partner_mobilisation": mobilisation,
        "marts.mart_good_practices": practices,
        "marts.mart_practice_diffusion": diffusion,
        "marts.mart_evaluation_territories": territories,
        "marts.mart_evaluation_national": [
            {"indicator": i, "value_count": None, "value_amount": None, "value_measure": None,
             value_column(u): None if v is None else int(v) if value_column(u) == "value_count" else v,
             "unit": u, "territories": n, "definition": "", "as_of": as_of}
            for i, v, u, n in national],
        "marts.mart_late_items": LATE_ITEMS,
        "marts.mart_funding": [
            {"territory_id": t, "axe": axe, "financeur": f, "requests": 1, "amount_requested": Decimal(asked),
             "amount_granted": Decimal(granted), "amount_paid": Decimal(paid), "pending_requests": pending,
             "oldest_pending_days": oldest} for t, axe, f, asked, granted, paid, pending, oldest in FUNDING],
        "marts.mart_history": [
            {"territory_id": t, "evaluation_date": day, "roadmap_status": "late", "in_force": True,
             "actions_due": due, "actions_on_time": done, "milestones_due": 0, "milestones_late": 0, "requests": 1,
             "amount_requested": Decimal(granted), "amount_granted": Decimal(granted), "practices_shared": 0}
            for t, values in HISTORY.items() for day, (due, done, granted) in zip(QUARTERS, values, strict=True)],
    }
    for rows in frames.values():
        for row in rows:
            row["as_of"] = as_of
    return {name: MARTS[name].frame(rows) for name, rows in frames.items()}


def publish(marts_dir: Path, as_of=AS_OF, provenance=MIXED, activate=True) -> Path:
    return publish_release(marts_dir, handmade_marts(as_of, provenance), as_of, run_id="test", activate=activate)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report of a hand-made release, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("report")
    release = publish(root / "marts")
    result = build_report(root / "marts", root / "out")
    return result, release


def page(result, territory_id=None) -> str:
    path = result.out_dir / ("index.html" if territory_id is None else f"territoires/{territory_id}.html")
    return path.read_text(encoding="utf-8")


def visible(text: str) -> str:
    """Text with the non-breaking spaces of French typography made ordinary spaces."""
    return text.replace(THIN, " ").replace(NBSP, " ")


# -- French formatting ---------------------------------------------------------------------------------------

def test_french_numbers_dates_and_nulls():
    assert format_number(1234567.891, 2) == f"1{THIN}234{THIN}567,89"
    assert format_number(999) == "999"
    assert format_number(-7.0) == "\u22127"
    assert format_euros(Decimal("1234567.50")) == f"1{THIN}234{THIN}568{NBSP}€"
    assert format_euros(Decimal("0.49")) == f"0{NBSP}€"
    assert format_percent(4 / 7) == f"57,1{THIN}%"
    assert format_percent(1.0) == f"100{THIN}%"
    assert format_days(93.5) == f"93,5{NBSP}jours"
    assert format_days(1) == f"1{NBSP}jour"
    assert format_days(-7.0) == f"\u22127{NBSP}jours"
    assert format_date(dt.date(2023, 6, 30)) == "30 juin 2023"
    assert format_date(dt.date(2023, 7, 1)) == "1er juillet 2023"
    assert format_date(dt.date(2021, 8, 13)) == "13 août 2021"
    for formatter in (format_number, format_euros, format_percent, format_days, format_date):
        assert formatter(None) == "—"
    assert format_number(float("nan")) == "—"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_grouping_keeps_every_digit(n):
    text = format_number(n)
    assert text.replace(THIN, "").replace("\u2212", "-") == str(n)
    assert all(len(group) == 3 for group in text.lstrip("\u2212").split(THIN)[1:])


# -- the pages and their values ----------------------------------------------------------------------------

def test_one_page_per_territory_with_release_and_as_of(built):
    result, release = built
    manifest = json.loads((release / "release.json").read_text())
    assert result.release == manifest["release"] == release.name
    assert result.as_of == AS_OF and result.national
    assert sorted(p.relative_to(result.out_dir).as_posix() for p in result.pages) == [
        "index.html", f"territoires/{ALPHA}.html", f"territoires/{BETA}.html", f"territoires/{GAMMA}.html"]
    for path in result.pages:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and '<html lang="fr">' in text
        assert "Situation au <strong>30 juin 2023</strong>" in text
        assert f"<code>{release.name}</code>" in text


def test_territory_page_shows_the_marts_values(built):
    result, release = built
    alpha = visible(page(result, ALPHA))
    # all financeurs' grants of alpha, summed from the Parquet file, rounded to the euro, grouped by hand
    granted = duckdb.sql(f"SELECT sum(amount_granted) FROM '{release}/mart_partner_mobilisation.parquet' "
                         f"WHERE territory_id = '{ALPHA}'").fetchone()[0]
    assert granted == Decimal("1274568.14")  # 1 234 567.89 + 40 000.25
    assert f"{round(granted):,} €".replace(",", " ") == "1 274 568 €"
    assert "1 274 568 €" in alpha
    assert "1 234 568 €" in alpha  # Bpifrance's grants
    assert "105,5 jours" in alpha  # its median instruction days
    assert "93,5 jours" in alpha  # median days to share a practice
    assert "Le chef de file désigné par la convention est <strong>ANRU</strong>" in alpha
    assert "Feuille de route annexée le 13 octobre 2021, 25 jours de retard sur l&#39;échéance du 18 septembre " \
           "2021." in alpha
    assert "3 actions échues sur 4 n’ont pas été achevées à temps" in alpha
    assert "2 jalons échus sur 6 en retard" in alpha
    assert f"<th scope=\"row\">{OTHER_PARTNER}</th>" in alpha  # a partner with a request but no grant yet
    assert "<svg" not in alpha and "<figure" not in alpha  # the funding is a table: no chart on a territory page
    # its practice reused by gamma links to gamma's page; gamma's practice it reused is listed too
    assert f'href="../territoires/{GAMMA}.html">Gamma Métropole</a>' in alpha
    assert "GAM-BP1" in alpha and "Chèque numérique pour les TPE" in alpha
    assert "non partagée au 30 juin 2023" in alpha  # ALP-BP2 has no date_partage


def test_nulls_are_dashes_and_text_is_escaped(built):
    result, _ = built
    beta = page(result, BETA)
    assert "<dt>Convention signée le</dt><dd>non datée</dd>" in beta  # the document leaves the date blank
    assert '<dt>SIREN</dt><dd><span class="na" title="non renseigné">—</span></dd>' in beta
    assert "Métropole &lt;Beta&gt; &amp; Cie" in beta and BETA_NAME not in beta
    assert "Feuille de route non annexée au 30 juin 2023 : elle était attendue le 18 mars 2022, soit " \
           f"{(AS_OF - dt.date(2022, 3, 18)).days}{NBSP}jours de retard à cette date." in beta
    assert "Aucune demande de financement au 30 juin 2023." in beta
    assert "Métropole &lt;Beta&gt; &amp; Cie" in page(result)


def test_national_page_totals_table_and_charts(built):
    result, release = built
    index = page(result)
    text = visible(index)
    national = dict(duckdb.sql(f"SELECT indicator, coalesce(value_count::DOUBLE, value_amount::DOUBLE, value_measure) "
                               f"FROM '{release}/mart_evaluation_national.parquet'").fetchall())
    share = f"{national['roadmaps_on_time_share'] * 100:.1f} %".replace(".", ",")
    assert share == "33,3 %" and share in text
    bpifrance = f"{round(national['total_granted_bpifrance']):,} €".replace(",", " ")
    assert bpifrance == "1 234 568 €" and bpifrance in text
    assert "105,5 jours" in text
    assert "1 286 913 €" in text  # the five national partners' grants: 1 234 567.89 + 40 000.25 + 12 345
    for territory_id, name in ((ALPHA, "Communauté d&#39;agglomération Alpha"), (GAMMA, "Gamma Métropole")):
        assert f'<a href="territoires/{territory_id}.html">{name}</a>' in index
    svgs = re.findall(r"<svg\b[^>]*>", index)
    assert len(svgs) == 5 and all('role="img"' in s and "viewBox" in s for s in svgs)
    for title in ("Évolution trimestre par trimestre", "Annexion des feuilles de route",
                  "Partenaires : montants accordés et implication",
                  "Délais d'instruction des demandes de financement", "Bonnes pratiques : documentées"):
        assert title in index  # the charts' titles are text in the SVG, in French
    assert ("Documents sources : conventions : 1 réelle, 2 illustratives ; feuilles de route : 2 illustratives, "
            "1 de provenance non renseignée") in index
    # a few territories: one row (or point) per territory, a table without its own scrolling frame
    _, roadmaps, _, delays, practices = re.findall(r"<svg\b.*?</svg>", index, re.S)
    assert all("Gamma Métropole" in chart for chart in (roadmaps, practices))
    assert "Médiane d'un territoire" in delays  # matplotlib's SVG leaves apostrophes as they are
    assert '<div class="table-wrap"><table class="territories">' in index and "table-wrap long" not in index


# -- what analysts asked next: history, late items, funding by axe, plurals, signatures, the date --------------

def test_national_history_quarter_by_quarter(built):
    result, _ = built
    index = page(result)
    text = visible(index)
    assert '<h3 id="evolution">Évolution depuis la labellisation</h3>' in index
    chart = re.findall(r"<svg\b.*?</svg>", index, re.S)[0]
    assert "Évolution trimestre par trimestre, jusqu'au 30 juin 2023" in chart
    assert "Part des actions échues achevées à temps" in chart and "Montants accordés" in chart
    rows = re.findall(r'<tr><th scope="row">(T\d \d{4})</th>(.*?)</tr>', text)
    cells = {quarter: re.findall(r'<td class="num">(.*?)</td>', rest) for quarter, rest in rows}
    # all territories together: alpha 1/2, gamma 1/1 at T4 2022; alpha 1/3, gamma 2/2 at T1 2023; 1/4, 2/2 at as_of
    assert cells == {
        "T4 2022": ["3", "2 / 3", "66,7 %", "1 040 000 €"],  # 1 040 000,25
        "T1 2023": ["3", "3 / 5", "60 %", "1 286 913 €"],  # 1 274 568,14 + 12 345
        "T2 2023": ["3", "3 / 6", "50 %", "1 286 913 €"],
    }


def test_territory_page_lists_late_items_with_days_late(built):
    result, _ = built
    alpha = visible(page(result, ALPHA))
    table = alpha.split('id="h-retards"')[1].split("</section>")[0]
    found = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td class=\"num\">(.*?)</td>",
                       table)
    assert [(kind, re.sub(r"<.*?>", "", what), due, done, days) for kind, what, due, done, days in found] == [
        ("Feuille de route", "feuille de route", "18 septembre 2021", "13 octobre 2021", "25 jours"),
        ("Action", "Fabrique à entreprendre ALP-02", "31 décembre 2022", "15 février 2023", "46 jours"),
        ("Action", "Foncière &lt;commerciale&gt; ALP-03", "31 mars 2023", "pas encore au 30 juin 2023", "91 jours"),
        ("Action", "Hôtel d&#39;entreprises ALP-04", "30 juin 2023", "pas encore au 30 juin 2023", "0 jour"),
        ("Jalon", "Lancement action ALP-02", "1er octobre 2021", "2 octobre 2021", "1 jour"),
        ("Jalon", "Ouverture action ALP-03", "1er septembre 2022", "pas encore au 30 juin 2023", "302 jours"),
    ]
    assert "6 éléments en retard au 30 juin 2023" in table
    beta = visible(page(result, BETA))
    assert "<td>Feuille de route</td><td>feuille de route</td><td>18 mars 2022</td>" in beta
    assert '<td class="num">469 jours</td>' in beta
    assert "Aucun élément en retard au 30 juin 2023." in page(result, GAMMA)


def test_territory_page_shows_funding_by_axe(built):
    result, _ = built
    alpha = visible(page(result, ALPHA))
    table = alpha.split('id="financements-axe"')[1].split("</table>")[0]
    rows = [re.sub(r"<.*?>", "|", r) for r in re.findall(r"<tr><td>.*?</tr>", table)]
    cells = [[c for c in r.split("|") if c] for r in rows]
    assert cells == [
        ["Commerce et artisanat", "Bpifrance", "1", "500 000 €", "234 568 €", "200 000 €"],
        ["Commerce et artisanat", OTHER_PARTNER, "1", "1 en instruction, la plus ancienne depuis 120 jours",
         "10 000 €", "0 €", "0 €"],
        ["Entrepreneuriat", "ANRU", "1", "50 001 €", "40 000 €", "40 000 €"],
        ["Entrepreneuriat", "Bpifrance", "1", "1 000 000 €", "1 000 000 €", "800 000 €"],
    ]
    gamma = visible(page(result, GAMMA))
    assert "<td>Transition numérique et écologique</td><td>État</td>" in gamma
    assert "Aucune demande de financement au 30 juin 2023." in page(result, BETA).split('id="financements-axe"')[1]


def test_french_plurals_and_signature_states(built):
    result, _ = built
    index, gamma = visible(page(result)), visible(page(result, GAMMA))
    # conventions_in_force = 1: singular; 2 conventions signed and dated, beta's left undated
    assert '<span class="value">1</span><span class="label">convention en vigueur</span>' in index
    assert '<span class="value">2</span><span class="label">conventions signées et datées</span>' in index
    assert "1 non datée (signée, date laissée en blanc)" in index
    assert '<span class="value">3</span><span class="label">territoires labellisés</span>' in index
    assert '<span class="value">0</span><span class="label">jalon en retard</span>' in gamma  # 0 of 3 due
    assert '<span class="basis">sur 3 jalons échus</span>' in gamma
    alpha = visible(page(result, ALPHA))
    assert '<span class="value">2</span><span class="label">jalons en retard</span>' in alpha
    assert "<td>non datée<span" in index  # beta in the table of territories, not "—" nor "non signée"
    assert plural(1, "jalon", "jalons") == "jalon" and plural(25, "jalon", "jalons") == "jalons"
    row = {"convention_signature_date": None, "convention_signature_state": "not_yet_signed"}
    assert signature_text(row, AS_OF) == "non signée au 30 juin 2023"
    assert signature_text({**row, "convention_signature_state": "undated"}, AS_OF) == "non datée"
    assert signature_text({**row, "convention_signature_state": None}, AS_OF) == "—"


def test_evaluation_date_and_how_to_change_it_on_every_page(built):
    result, _ = built
    for path in result.pages:
        text = visible(path.read_text(encoding="utf-8"))
        note = text.split('id="date-evaluation">')[1].split("</div>")[0]
        assert "<strong>Date d'évaluation : 30 juin 2023.</strong>" in note
        assert "<code>qp-analytics materialize --as-of AAAA-MM-JJ</code>" in note
        assert text.index('id="date-evaluation"') < text.index('id="provenance"')  # before anything else


# -- many territories: distributions, not one bar per territory ---------------------------------------------

MANY = 60


def many_marts(n=MANY) -> tuple[dict, list[dict]]:
    """n territories made from alpha's rows, with values chosen here: 50 roadmaps annexed 30 days early to 30 days
    late (all distinct), 5 missing, 5 pending; reuses of their practices a permutation of 0..n-1."""
    base = handmade_marts()  # alpha's convention is real, its roadmap illustrative
    chosen = []
    for k in range(n):
        delay = (k * 7) % 61 - 30 if k < 50 else None  # 7 is invertible mod 61: distinct, from -30 (k=0) to 30
        status = ("on_time" if delay <= 0 else "late") if delay is not None else ("missing" if k < 55 else "pending")
        chosen.append({"territory_id": f"terr-{k:03d}", "name": f"Territoire {k:03d}", "delay": delay,
                       "status": status, "reuse_links": (k * 13) % n, "practices_shared": k % 4,
                       "practices_documented": 3})
    frames = {"marts.mart_evaluation_national": base["marts.mart_evaluation_national"]}
    for name, frame in base.items():
        if name in frames:
            continue
        template = [row for row in frame.to_dicts() if row["territory_id"] == ALPHA]
        rows = []
        for c in chosen:
            for row in template:
                row = {**row, "territory_id": c["territory_id"]}
                if "roadmap_due_date" in row:
                    due = row["roadmap_due_date"] if c["status"] != "pending" else AS_OF + dt.timedelta(days=30)
                    row.update(roadmap_due_date=due, roadmap_delay_days=c["delay"], roadmap_status=c["status"],
                               roadmap_annexed_date=due + dt.timedelta(days=c["delay"]) if c["delay"] is not None
                               else None)
                if "name" in row:
                    row["name"] = c["name"]
                if "reuse_links" in row:
                    row.update(reuse_links=c["reuse_links"], practices_shared=c["practices_shared"],
                               practices_documented=c["practices_documented"])
                if "pratique_id" in row:
                    row.update(pratique_id=f"{row['pratique_id']}-{c['territory_id']}", reused_by=[], reused_by_count=0)
                rows.append(row)
        frames[name] = MARTS[name].frame(rows)
    return frames, chosen


def _bars(svg: str, colour: str) -> list[tuple[float, float]]:
    """(left x, height) of the bars of this colour in a chart, left to right (a legend's patch is not clipped)."""
    bars = []
    for d in re.findall(rf'<path d="([^"]*)" clip-path="[^"]*" style="fill: {colour};', svg):
        x0, y0, _x1, _y0, _x1b, y1, *_ = (float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d))
        bars.append((x0, abs(y0 - y1)))
    return sorted(bars)


def test_many_territories_are_drawn_as_distributions(tmp_path):
    marts, chosen = many_marts()
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    result = build_report(tmp_path / "marts", tmp_path / "out")
    assert len(result.pages) == MANY + 1
    index = page(result)
    _, roadmaps, _, delays, practices = re.findall(r"<svg\b.*?</svg>", index, re.S)

    # roadmaps: a histogram of the delays; the roadmaps without one counted in the legend and the caption
    annexed = [c["delay"] for c in chosen if c["delay"] is not None]
    on_time, late = sum(d <= 0 for d in annexed), sum(d > 0 for d in annexed)
    assert len(annexed) == 50 and on_time > 10 and late > 10
    for label in (f"Dans les délais : {on_time}", f"En retard : {late}",
                  "Non annexée, échéance dépassée : 5 (hors histogramme)",
                  "Attendue, échéance non atteinte : 5 (hors histogramme)"):
        assert label in roadmaps
    caption = index.split(roadmaps)[1].split("</figcaption>")[0]
    assert (f"Dans les délais : {on_time} ; En retard : {late} ; Non annexée, échéance dépassée : 5 ; Attendue, "
            "échéance non atteinte : 5.") in caption
    # from -30 to 30 days, classes of 1 day would be 61 (more than 40): classes of 2 days, (2k-2, 2k]
    assert "50 feuilles de route annexées, par classe de 2 jours d'écart à l'échéance, sur 60 territoires" in \
        visible(roadmaps)
    assert "Territoire" not in roadmaps  # no territory named: not one bar each
    classes: dict[int, int] = {}
    for d in annexed:
        classes[-(-d // 2)] = classes.get(-(-d // 2), 0) + 1
    green, red = _bars(roadmaps, "#18753c"), _bars(roadmaps, "#ce0500")
    assert len(green) == len([k for k in classes if k <= 0]) and len(red) == len([k for k in classes if k > 0])
    unit = sum(h for _, h in green + red) / len(annexed)  # height of one territory
    assert [round(h / unit, 6) for _, h in green + red] == [classes[k] for k in sorted(classes)]
    assert all(x_green < x_red for x_green, _ in green for x_red, _ in red)  # in time left of late

    # practices: the 20 most reused territories, and what is left out
    ranked = sorted(chosen, key=lambda c: (-c["reuse_links"], -c["practices_shared"], c["name"]))
    top, rest = ranked[:20], ranked[20:]
    assert {c["reuse_links"] for c in top} == set(range(40, 60))
    for c in top:
        assert f">{c['name']}</text>" in practices
    assert not any(c["name"] in practices for c in rest)
    left_out = (f"40 autres territoires non représentés (ensemble : {sum(c['practices_documented'] for c in rest)} "
                f"documentées, {sum(c['practices_shared'] for c in rest)} partagées, "
                f"{sum(c['reuse_links'] for c in rest)} réutilisations)")
    assert sum(c["reuse_links"] for c in rest) == sum(range(40))
    assert left_out in visible(practices)
    assert "Les 20 territoires sur 60 ayant le plus de réutilisations par d'autres territoires" in practices
    assert left_out[0].upper() + left_out[1:] in visible(index)  # in the caption too

    # instruction delays: a box of the territories' medians per partner, not a point each
    assert "quartiles (boîte)" in delays and "un territoire" not in delays

    # the table still lists every territory, in a frame whose header stays in view
    assert index.count('<tr><th scope="row"><a href="territoires/terr-') == MANY
    assert '<div class="table-wrap long"><table class="territories">' in index
    assert ".table-wrap.long thead th { position: sticky; top: 0;" in index
    # the banner counts the territories whose convention is real instead of naming 60 of them
    assert ("Documents réels — conventions d&#39;engagement : 60 territoires (colonne « Provenance » du tableau "
            "des territoires).") in visible(index)
    # and no territory page has a chart
    for path in result.pages[1:]:
        assert "<svg" not in path.read_text(encoding="utf-8")


@given(st.lists(st.integers(min_value=-100_000, max_value=100_000), min_size=1, max_size=30))
def test_delay_classes_hold_every_delay(delays):
    width, first, last = delay_bins(delays)
    assert last - first + 1 <= DELAY_BINS_MAX and first <= 0 < last
    for d in delays:  # each delay in a class (k*width - width, k*width] within the range; 0 in the class ending at 0
        k = -(-d // width)
        assert first <= k <= last and k * width - width < d <= k * width


class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("href", "src", "srcset", "action", "data", "poster", "xlink:href") and value is not None:
                self.refs.append((tag, name, value))


def test_pages_are_self_contained_and_links_resolve(built):
    result, _ = built
    for path in result.pages:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text
        assert not re.search(r"url\((?!#)", text) and "@import" not in text  # url(#id): a clip path of a chart
        parser = _References()
        parser.feed(text)
        assert not parser.tags & {"script", "img", "iframe", "object", "embed", "link", "base", "form"}
        assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src' in text
        for tag, _name, ref in parser.refs:
            assert not ref.startswith("//") and ":" not in ref.split("#")[0], (path, tag, ref)
            target = ref.split("#")[0]
            if target:  # a relative link to another page of the report
                assert (path.parent / target).resolve().is_file(), (path, ref)


def test_provenance_banner_says_what_is_illustrative(built, tmp_path):
    result, _ = built
    index = page(result)
    assert 'class="banner banner-illustrative"' in index
    assert "Données en partie illustratives." in index
    assert "Documents réels — conventions d&#39;engagement : Communauté d&#39;agglomération Alpha." in index
    alpha = page(result, ALPHA)
    assert "La feuille de route de ce territoire est un document illustratif" in alpha
    assert 'Convention d\'engagement : <span class="badge badge-real">réelle</span>' in alpha
    assert 'Feuille de route : <span class="badge badge-illustrative">illustrative</span>' in alpha
    beta = page(result, BETA)
    assert "La convention d&#39;engagement de ce territoire est un document illustratif" in beta
    assert 'Feuille de route : <span class="na" title="provenance non renseignée">non renseignée</span>' in beta
    # a release whose documents are all real has no warning
    publish(tmp_path / "marts", provenance=ALL_REAL)
    real = build_report(tmp_path / "marts", tmp_path / "out")
    for path in real.pages:
        text = path.read_text(encoding="utf-8")
        assert 'class="banner banner-illustrative"' not in text and 'class="banner banner-real"' in text
        assert "Données réelles." in text


def test_same_release_same_bytes(built, tmp_path):
    result, release = built
    build_report(release.parent.parent, tmp_path / "again")
    for path in result.pages:
        assert (tmp_path / "again" / path.relative_to(result.out_dir)).read_bytes() == path.read_bytes()



def test_a_national_page_drawn_by_a_worker_is_the_one_drawn_here(built, tmp_path, monkeypatch):
    """With many territory pages to draw, the national page is drawn by a worker process meanwhile: the same
    pages, byte for byte, and the same manifest (its charts' memo included) as a report drawn in one process."""
    _, release = built
    started = []

    class Counted(pages_module.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            started.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setenv("QP_WORKERS", "2")
    monkeypatch.setattr(pages_module, "ProcessPoolExecutor", Counted)
    monkeypatch.setattr(pages_module, "MIN_PARALLEL", 10**6)
    here = build_report(release.parent.parent, tmp_path / "here")
    assert started == []
    monkeypatch.setattr(pages_module, "MIN_PARALLEL", 1)
    worker = build_report(release.parent.parent, tmp_path / "worker")
    assert len(started) == 1
    assert worker.redrawn[0].name == "index.html" and len(worker.redrawn) == len(here.redrawn)
    assert _snapshot(here.out_dir).keys() == _snapshot(worker.out_dir).keys()
    for name, data in _snapshot(here.out_dir).items():
        if name != "report.json":
            assert (worker.out_dir / name).read_bytes() == data, name
    manifests = [json.loads((r.out_dir / "report.json").read_text(encoding="utf-8")) for r in (here, worker)]
    for manifest in manifests:
        for record in manifest["pages"].values():
            record.pop("file")  # the file's inode and times
    assert manifests[0] == manifests[1] and set(manifests[0]["charts"]) == {
        "history", "delays", "partners", "practices", "roadmaps"}
    # the territory pages the worker takes once the national page is drawn: those drawn here
    release_read = load_release(release.parent.parent, release)
    ids = sorted(release_read.marts["mart_evaluation_territories"]["territory_id"].to_list())
    theirs = pages_module.territories_in_worker(release.parent.parent, str(release), ids,
                                                pages_module.Stamp.of(release_read))
    assert theirs == {t: (here.out_dir / "territoires" / f"{t}.html").read_text(encoding="utf-8") for t in ids}

def _report_files(out: Path) -> dict[str, bytes]:
    """The report's pages and its manifest, the manifest without the files' inodes and times."""
    files = _snapshot(out)
    manifest = json.loads(files.pop("report.json"))
    for record in manifest["pages"].values():
        record.pop("file")
    return {**files, "report.json": json.dumps(manifest, sort_keys=True).encode()}


def test_a_chunk_of_pages_gets_each_territorys_rows_in_the_marts_order_whatever_the_chunk(tmp_path):
    """Each territory's late items and funding rows, as the inputs of any chunk of pages hold them (chunks in any
    order, some repeated), are its rows of the mart in the mart's order: here the marts'
    rows shuffled, so that their order is neither the territories' nor the one they were written in."""
    frames, _ = many_marts(40)
    marts = {release_name(name): frame for name, frame in frames.items()}
    for name in ("mart_late_items", "mart_funding"):
        marts[name] = marts[name].sample(fraction=1.0, shuffle=True, seed=7)
    sources = TerritorySources(marts, AS_OF)
    ids = sorted(marts["mart_evaluation_territories"]["territory_id"].to_list())
    chunks = [ids[::-3], ids[5:9] + ids[5:6], [ids[-1], ids[0]], ids]
    for chunk in chunks:
        inputs = sources.inputs(chunk)
        assert list(inputs) == list(dict.fromkeys(chunk))
        for territory_id, page in inputs.items():
            for name, rows in (("mart_late_items", page.late_items), ("mart_funding", page.funding)):
                expected = [row for row in marts[name].to_dicts() if row["territory_id"] == territory_id]
                assert repr(rows) == repr(expected), (territory_id, name)
    assert any(page.late_items for page in sources.inputs(ids).values())


@pytest.mark.parametrize("renamed", [None, "terr-010", "another code"])
def test_pages_drawn_ahead_are_taken_only_where_they_are_the_pages_of_the_release(tmp_path, monkeypatch, renamed):
    """Pages a worker drew ahead from the marts (before their release existed, with a placeholder release) are
    taken where the release's marts are those, the release's id and day written in: the report is, byte for byte,
    the one drawn without them, and this process draws no page. Marts differing from the release's by one
    territory's name: the pages that show that name (its own, its two neighbours', the national page) are drawn
    here again, and only those. A report drawn by another code version than the worker's: every page here."""
    frames, _ = many_marts(40)
    marts_dir = tmp_path / "marts"
    publish_release(marts_dir, frames, AS_OF, run_id="test")
    code = "another code" if renamed == "another code" else None
    plain = build_report(marts_dir, tmp_path / "plain", code_version=code)
    marts = dict(load_release(marts_dir).marts)
    if renamed == "terr-010":
        evaluation = marts["mart_evaluation_territories"]
        marts["mart_evaluation_territories"] = _set(evaluation, pl.col("territory_id") == renamed, name="Autre nom")
    ahead = PagesAhead(marts, AS_OF, tmp_path / "ahead", chunk=8)
    for future in ahead.futures:
        future.result()  # all drawn before the report takes them
    drawn_here: list[str] = []
    territory, national = Renderer.territory, Renderer.national
    monkeypatch.setattr(Renderer, "territory", lambda self, inputs, stamp: drawn_here.append(inputs.territory_id)
                        or territory(self, inputs, stamp))
    monkeypatch.setattr(Renderer, "national", lambda self, *args: drawn_here.append("index") or national(self, *args))
    try:
        taken = build_report(marts_dir, tmp_path / "ahead", ahead=ahead, code_version=code)
    finally:
        ahead.close()
    assert _report_files(taken.out_dir) == _report_files(plain.out_dir)
    everything = sorted(["index", *(f"terr-{k:03d}" for k in range(40))])
    assert sorted(drawn_here) == {None: [], "terr-010": ["index", "terr-009", "terr-010", "terr-011"],
                                  "another code": everything}[renamed]


@pytest.mark.parametrize("worker", ["ready", "killed"])
def test_a_worker_made_ready_draws_the_national_page_and_one_that_died_leaves_it_to_the_report(tmp_path,
                                                                                              monkeypatch, worker):
    """A worker made ready for a refresh (no page drawn ahead, its chart modules imported): the report hands it
    the national page, and the report is byte for byte the one drawn without it. A worker killed before the report
    hands it anything: this process draws every page, and the report is the same."""
    frames, _ = many_marts(20)
    marts_dir = tmp_path / "marts"
    publish_release(marts_dir, frames, AS_OF, run_id="test")
    plain = build_report(marts_dir, tmp_path / "plain")
    ahead = PagesAhead(None, AS_OF, tmp_path / "ready")
    assert ahead.take() == [] and ahead.take_national() is None
    # the modules drawing imports, imported there (the one task a worker made ready is given)
    assert [future.result() for future in ahead.futures] == [None] and ahead.usable()
    if worker == "killed":
        os.kill(ahead.pool.submit(os.getpid).result(), 9)
        with pytest.raises(pages_module.BrokenExecutor):
            ahead.pool.submit(os.getpid).result()
    drawn_here: list[str] = []
    national = Renderer.national
    monkeypatch.setattr(Renderer, "national", lambda self, *args: drawn_here.append("index") or national(self, *args))
    try:
        taken = build_report(marts_dir, tmp_path / "ready", ahead=ahead)
    finally:
        ahead.close()
    assert _report_files(taken.out_dir) == _report_files(plain.out_dir)
    assert drawn_here == {"ready": [], "killed": ["index"]}[worker]


# -- writing: atomic, partial, safe ------------------------------------------------------------------------

def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class FailsOn(Renderer):
    """Draws pages as the report does, but fails on one territory's page."""

    def __init__(self, territory_id):
        self.territory_id = territory_id

    def territory(self, inputs, stamp):
        if inputs.territory_id == self.territory_id:
            raise RuntimeError("rendering failed (simulated)")
        return super().territory(inputs, stamp)


class CountingWriter(FileWriter):
    """Writes as the report does, remembering each file written or kept (from several threads at once); fails
    on the nth write when told to."""

    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.written: list[Path] = []
        self.kept: list[Path] = []
        self.lock = threading.Lock()

    def write(self, path, data):
        with self.lock:
            self.written.append(path)
            failing = len(self.written) == self.fail_on
        if failing:
            raise OSError("disk full (simulated)")
        super().write(path, data)

    def keep(self, source, target):
        with self.lock:
            self.kept.append(target)
        super().keep(source, target)

    def pages(self, kind="written") -> list[str]:
        """The pages written (or kept), by path within the report, whichever folder they went through."""
        return sorted(f"{p.parent.name}/{p.name}" if p.parent.name == "territoires" else p.name
                      for p in getattr(self, kind) if p.suffix == ".html")


def test_a_failed_run_leaves_the_previous_report(tmp_path):
    publish(tmp_path / "marts")
    out = tmp_path / "out"
    build_report(tmp_path / "marts", out)
    before = _snapshot(out)
    publish(tmp_path / "marts", as_of=dt.date(2024, 1, 31))
    with pytest.raises(RuntimeError, match="simulated"):
        build_report(tmp_path / "marts", out, territories=[ALPHA, GAMMA], renderer=FailsOn(GAMMA))
    assert _snapshot(out) == before  # not even alpha's page, rendered before gamma's failed

    with pytest.raises(OSError, match="simulated"):
        build_report(tmp_path / "marts", out, writer=CountingWriter(fail_on=3))
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marts", "out"]  # no half-written folder left
    assert "31 janvier 2024" in page(build_report(tmp_path / "marts", out))


# -- drawn again only where it changed ---------------------------------------------------------------------

def _short(marts: dict) -> dict:
    """A release's marts as the report reads them: by short name."""
    return {release_name(name): frame for name, frame in marts.items()}


def _changed(before: dict, after: dict) -> set[str]:
    return {t for t in after if before.get(t) != after[t]}


def _set(frame, where, **values):
    """The frame with these columns set on the rows matching `where`."""
    return frame.with_columns(**{c: pl.when(where).then(pl.lit(v, dtype=frame.schema[c])).otherwise(pl.col(c))
                                 for c, v in values.items()})


def test_a_page_digest_follows_each_of_its_inputs():
    """Each source a territory page is drawn from changes the digest of the pages that show it, and of no other:
    its own rows, another territory's practice it reused, its neighbours' names, the names it links to."""
    marts = _short(handmade_marts())
    base = TerritorySources(marts, AS_OF).digests("code")
    assert set(base) == {ALPHA, BETA, GAMMA}
    tid, pid = pl.col("territory_id"), pl.col("pratique_id")
    cases = [  # (mart, where, values, pages whose content changes)
        ("mart_evaluation_territories", tid == BETA, {"siren": "200000002"}, {BETA}),
        ("mart_partner_mobilisation", (tid == GAMMA) & (pl.col("partner") == "etat"),
         {"amount_granted": Decimal("12346.00")}, {GAMMA}),
        ("mart_practice_diffusion", pid == "ALP-BP2", {"titre": "Bail à loyer progressif"}, {ALPHA}),
        # gamma's practice, listed by alpha and beta among those they reused
        ("mart_practice_diffusion", pid == "GAM-BP1", {"titre": "Chèque numérique"}, {GAMMA, ALPHA, BETA}),
        ("mart_late_items", tid == BETA, {"days_late": 470}, {BETA}),
        ("mart_funding", tid == GAMMA, {"amount_paid": Decimal("1.00")}, {GAMMA}),
    ]
    for mart, where, values, expected in cases:
        changed = {**marts, mart: _set(marts[mart], where, **values)}
        assert _changed(base, TerritorySources(changed, AS_OF).digests("code")) == expected, (mart, values)
    assert _changed(base, TerritorySources(marts, dt.date(2023, 7, 1)).digests("code")) == set(base)
    assert _changed(base, TerritorySources(marts, AS_OF).digests("other code")) == set(base)
    assert TerritorySources(marts, AS_OF).digests("code", [BETA]) == {BETA: base[BETA]}

    # sixty territories: a name shows on its own page, its neighbours' (previous, next) and where it is a reuser
    many = _short(many_marts()[0])
    many["mart_practice_diffusion"] = _set(many["mart_practice_diffusion"], tid == "terr-010",
                                           reused_by=["terr-040"])
    before = TerritorySources(many, AS_OF).digests("code")
    renamed = {**many, "mart_evaluation_territories": _set(many["mart_evaluation_territories"],
                                                           tid == "terr-040", name="Territoire quarante")}
    assert _changed(before, TerritorySources(renamed, AS_OF).digests("code")) == {
        "terr-039", "terr-040", "terr-041", "terr-010"}


def test_a_page_digest_changes_with_any_value_of_its_rows_and_their_order():
    """The rows count by hashes of their values: a value made null and back, two values swapped between
    columns, a list's items in another order, rows in another order each change the digest of the pages that
    show them, and only theirs; a column's type changes every page's (the same values may print otherwise)."""
    marts = _short(handmade_marts())
    base = TerritorySources(marts, AS_OF).digests("code")
    tid, pid = pl.col("territory_id"), pl.col("pratique_id")
    late, funding, practices = marts["mart_late_items"], marts["mart_funding"], marts["mart_practice_diffusion"]
    alpha_late = late.filter(tid == ALPHA)
    gamma_funding = funding.filter(tid == GAMMA).row(0, named=True)
    reusers = practices.filter(pid == "GAM-BP1")["reused_by"][0].to_list()
    # what the cases need of the handmade marts: several rows, two amounts that differ, two reusers
    assert alpha_late.height >= 2 and alpha_late["days_late"][0] is not None and len(reusers) >= 2
    assert gamma_funding["amount_requested"] != gamma_funding["amount_granted"]
    cases = [  # (mart, its new rows, pages whose digest changes)
        ("mart_late_items", _set(late, tid == ALPHA, days_late=None), {ALPHA}),
        ("mart_funding", _set(funding, tid == GAMMA, amount_requested=gamma_funding["amount_granted"],
                              amount_granted=gamma_funding["amount_requested"]), {GAMMA}),
        ("mart_late_items", pl.concat([alpha_late.reverse(), late.filter(tid != ALPHA)]), {ALPHA}),
        # the practice's row, on its page and on those of the territories that reused it
        ("mart_practice_diffusion", _set(practices, pid == "GAM-BP1", reused_by=list(reversed(reusers))),
         {GAMMA, *reusers}),
        ("mart_late_items", late.with_columns(pl.col("days_late").cast(pl.Int64)), {ALPHA, BETA, GAMMA}),
    ]
    for mart, rows, expected in cases:
        assert rows.height == marts[mart].height
        assert _changed(base, TerritorySources({**marts, mart: rows}, AS_OF).digests("code")) == expected, mart
    # the value put back where it was made null: the digests of the rows as they were
    back = _set(late, tid == ALPHA, days_late=None).with_columns(days_late=late["days_late"])
    assert TerritorySources({**marts, "mart_late_items": back}, AS_OF).digests("code") == base


def test_a_page_digest_is_the_same_in_another_process(tmp_path):
    """The digests are kept in report.json and compared by the next run, another process: the rows' hashes must
    not depend on the process (a hash seeded per process would redraw every page on every run)."""
    import subprocess
    import sys

    marts = _short(handmade_marts())
    for name, frame in marts.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
    script = (
        "import datetime as dt, json, sys, pathlib, polars as pl\n"
        "from qp_analytics.report.territory import TerritorySources\n"
        "folder = pathlib.Path(sys.argv[1])\n"
        "marts = {p.stem: pl.read_parquet(p) for p in folder.glob('*.parquet')}\n"
        "print(json.dumps(TerritorySources(marts, dt.date.fromisoformat(sys.argv[2])).digests('code')))\n")
    there = subprocess.run([sys.executable, "-c", script, str(tmp_path), AS_OF.isoformat()], capture_output=True,
                           text=True, check=True, env={**os.environ, "POLARS_MAX_THREADS": "1"})
    assert json.loads(there.stdout) == TerritorySources(marts, AS_OF).digests("code")


def test_the_chart_modules_imported_ahead_are_all_the_charts_import(tmp_path):
    """A run imports the charts' modules while it waits with a core idle (import_chart_modules): drawing the
    national page afterwards, in a fresh process, imports no other module of matplotlib."""
    import subprocess
    import sys

    publish(tmp_path / "marts")
    script = (
        "import sys\n"
        "from qp_analytics.report.charts import import_chart_modules\n"
        "from qp_analytics.report.pages import build_report\n"
        "assert not any(m.startswith('matplotlib') for m in sys.modules)\n"
        "import_chart_modules()\n"
        "before = set(sys.modules)\n"
        "result = build_report(sys.argv[1], sys.argv[2])\n"
        "assert result.national\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('matplotlib')))\n")
    there = subprocess.run([sys.executable, "-c", script, str(tmp_path / "marts"), str(tmp_path / "out")],
                           capture_output=True, text=True, check=True)
    assert there.stdout.strip() == "[]"
    assert "<svg" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")


def _files(out: Path) -> dict[str, tuple[int, int]]:
    """Each page of a report: (inode, mtime_ns), which a page left as it was keeps."""
    return {p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.html")}


def test_only_the_pages_that_changed_are_drawn_again(tmp_path):
    marts = handmade_marts()
    first = publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    out = tmp_path / "out"
    writer = CountingWriter()
    result = build_report(tmp_path / "marts", out, writer=writer)
    pages = ["index.html", f"territoires/{ALPHA}.html", f"territoires/{BETA}.html", f"territoires/{GAMMA}.html"]
    assert writer.pages() == pages and result.redrawn == result.pages
    drawn = _files(out)

    # a new release where only beta's SIREN changed (shown on its page alone): beta's page and the national
    # page (it names the release) are drawn again; alpha's and gamma's are the same files as before
    marts["marts.mart_evaluation_territories"] = _set(marts["marts.mart_evaluation_territories"],
                                                      pl.col("territory_id") == BETA, siren="200000002")
    second = publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    writer = CountingWriter()
    result = build_report(tmp_path / "marts", out, writer=writer)
    assert writer.pages() == ["index.html", f"territoires/{BETA}.html"]
    assert writer.pages("kept") == [f"territoires/{ALPHA}.html", f"territoires/{GAMMA}.html"]
    assert [p.relative_to(out).as_posix() for p in result.redrawn] == ["index.html", f"territoires/{BETA}.html"]
    now = _files(out)
    assert {p for p in pages if now[p] == drawn[p]} == {f"territoires/{ALPHA}.html", f"territoires/{GAMMA}.html"}
    assert "200000002" in page(result, BETA) and second.name in page(result, BETA)
    assert second.name in page(result) and first.name not in page(result)
    # a page left as it was names the release it was drawn from; it is otherwise the page a fresh drawing of the
    # new release gives: nothing stale but the release it names
    recorded = json.loads((out / "report.json").read_text())["pages"]
    assert {p: recorded[p]["release"] for p in pages} == {
        "index.html": second.name, f"territoires/{ALPHA}.html": first.name,
        f"territoires/{BETA}.html": second.name, f"territoires/{GAMMA}.html": first.name}
    fresh = build_report(tmp_path / "marts", tmp_path / "fresh")
    for p in pages:
        assert page(result, None if p == "index.html" else p[len("territoires/"):-5]) == \
            (fresh.out_dir / p).read_text(encoding="utf-8").replace(second.name, recorded[p]["release"]), p
    assert shows_release(out, second)

    # the same release again: nothing to draw; a page deleted, another edited: those two are drawn again
    writer = CountingWriter()
    build_report(tmp_path / "marts", out, writer=writer)
    assert writer.pages() == [] and len(writer.pages("kept")) == 4
    (out / "territoires" / f"{GAMMA}.html").unlink()
    alpha = out / "territoires" / f"{ALPHA}.html"
    alpha.write_bytes(alpha.read_bytes().replace(b"Synth\xc3\xa8se", b"Edited"))
    assert not shows_release(out, second)
    writer = CountingWriter()
    build_report(tmp_path / "marts", out, writer=writer)
    assert writer.pages() == [f"territoires/{ALPHA}.html", f"territoires/{GAMMA}.html"]
    assert "Edited" not in alpha.read_text(encoding="utf-8") and (out / "territoires" / f"{GAMMA}.html").is_file()
    assert shows_release(out, second)

    # new code: every page drawn again; a territory gone from the release: its page goes, its neighbours change
    writer = CountingWriter()
    build_report(tmp_path / "marts", out, writer=writer, code_version="the next version of the report's code")
    assert writer.pages() == pages
    publish_release(tmp_path / "marts", {name: frame.filter(pl.col("territory_id") != BETA)
                                         if "territory_id" in frame.columns else frame
                                         for name, frame in marts.items()}, AS_OF, run_id="test")
    writer = CountingWriter()
    build_report(tmp_path / "marts", out, writer=writer)
    assert writer.pages() == ["index.html", f"territoires/{ALPHA}.html", f"territoires/{GAMMA}.html"]
    assert sorted(_files(out)) == ["index.html", f"territoires/{ALPHA}.html", f"territoires/{GAMMA}.html"]


def test_a_page_is_known_unchanged_by_its_file_state_else_by_its_bytes(tmp_path, monkeypatch):
    """A page whose inode, size and modification time are those recorded is kept without being read; one
    touched (same bytes, a new time) is read, hashed and kept; one edited to the same size is drawn again.
    The states recorded are those of the files in the report, whole or drawn one territory at a time."""
    from qp_analytics.report import writing

    publish(tmp_path / "marts")
    out = tmp_path / "out"
    build_report(tmp_path / "marts", out)

    def recorded() -> dict:
        return json.loads((out / "report.json").read_text())["pages"]

    assert all(r["file"] == writing.file_state(out / p) for p, r in recorded().items())
    hashed: list[int] = []
    monkeypatch.setattr(writing, "sha256", lambda data: hashed.append(len(data)) or hashlib.sha256(data).hexdigest())
    writer = CountingWriter()
    build_report(tmp_path / "marts", out, writer=writer)
    assert writer.pages() == [] and len(writer.pages("kept")) == 4 and hashed == []  # none read

    alpha, beta = out / "territoires" / f"{ALPHA}.html", out / "territoires" / f"{BETA}.html"
    os.utime(alpha, ns=(alpha.stat().st_atime_ns, alpha.stat().st_mtime_ns + 10**9))  # touched
    text = beta.read_bytes()
    beta.write_bytes(text.replace(b"Synth\xc3\xa8se", b"Synthxxse"))  # edited, the same size
    assert beta.stat().st_size == len(text)
    writer = CountingWriter()
    build_report(tmp_path / "marts", out, writer=writer)
    assert writer.pages() == [f"territoires/{BETA}.html"] and len(hashed) == 2  # alpha and beta read; beta drawn
    assert b"Synthxxse" not in beta.read_bytes()
    assert all(r["file"] == writing.file_state(out / p) for p, r in recorded().items())

    publish(tmp_path / "marts", as_of=dt.date(2024, 1, 31))
    build_report(tmp_path / "marts", out, territories=[GAMMA])
    assert all(r["file"] == writing.file_state(out / p) for p, r in recorded().items())


def test_one_territory_only(tmp_path):
    publish(tmp_path / "marts")
    out = tmp_path / "out"
    build_report(tmp_path / "marts", out)
    publish(tmp_path / "marts", as_of=dt.date(2024, 1, 31))
    result = build_report(tmp_path / "marts", out, territories=[BETA])
    assert not result.national and result.index is None
    assert result.pages == [out / "territoires" / f"{BETA}.html"]
    assert "31 janvier 2024" in page(result, BETA)
    assert "30 juin 2023" in page(result, ALPHA) and "30 juin 2023" in page(result)  # left as they were
    recorded = json.loads((out / "report.json").read_text())["pages"]
    assert recorded[f"territoires/{BETA}.html"]["as_of"] == "2024-01-31"
    assert recorded["index.html"]["as_of"] == "2023-06-30"
    fresh = build_report(tmp_path / "marts", tmp_path / "fresh", territories=[GAMMA])
    assert sorted(p.relative_to(fresh.out_dir).as_posix() for p in fresh.out_dir.rglob("*.html")) == [
        f"territoires/{GAMMA}.html"]


def test_a_whole_report_of_the_release_is_recognised(tmp_path):
    """shows_release says whether a run may leave the report as it is: the whole report of that release, every
    page as written by this code."""
    first = publish(tmp_path / "marts")
    out = tmp_path / "out"
    assert not shows_release(out, first)  # no report yet
    build_report(tmp_path / "marts", out)
    assert shows_release(out, first)
    second = publish(tmp_path / "marts", as_of=dt.date(2024, 1, 31))
    assert not shows_release(out, second)
    build_report(tmp_path / "marts", out, territories=[BETA])  # one page of the second release
    assert not shows_release(out, first) and not shows_release(out, second)
    build_report(tmp_path / "marts", out)
    assert shows_release(out, second)
    index = out / "index.html"
    drawn = index.read_bytes()
    index.write_bytes(drawn.replace(b"</body>", b"<p>edited</p></body>"))  # a page changed by hand
    assert not shows_release(out, second)
    index.write_bytes(drawn)
    assert shows_release(out, second)
    # new code redraws one page: the others are still the old code's
    new_code = "another version of the report's code"
    build_report(tmp_path / "marts", out, territories=[BETA], code_version=new_code)
    assert not shows_release(out, second, code_version=new_code)
    build_report(tmp_path / "marts", out, code_version=new_code)
    assert shows_release(out, second, code_version=new_code) and not shows_release(out, second)
    (out / "territoires" / f"{GAMMA}.html").unlink()
    assert not shows_release(out, second, code_version=new_code)


def test_a_folder_that_is_not_a_report_is_not_replaced(built, tmp_path):
    _, release = built
    out = tmp_path / "documents"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ReportError, match="not empty and holds no report"):
        build_report(release.parent.parent, out)
    assert (out / "notes.txt").read_text() == "mine" and sorted(os.listdir(out)) == ["notes.txt"]


def test_an_explicit_release_is_rendered_instead_of_current(tmp_path):
    first = publish(tmp_path / "marts")
    second = publish(tmp_path / "marts", as_of=dt.date(2024, 1, 31), activate=False)
    assert current_release(tmp_path / "marts") == first.resolve()
    assert build_report(tmp_path / "marts", tmp_path / "a", territories=[BETA]).as_of == AS_OF
    result = build_report(tmp_path / "marts", tmp_path / "b", territories=[BETA], release=second)
    assert (result.release, result.as_of) == (second.name, dt.date(2024, 1, 31))
    assert "Situation au <strong>31 janvier 2024</strong>" in page(result, BETA)


def test_an_inconsistent_release_is_refused(tmp_path):
    release = publish(tmp_path / "marts")
    written = (release / "release.json").read_text()
    (release / "release.json").write_text(json.dumps({**json.loads(written), "as_of": "2022-01-01"}))
    with pytest.raises(ReportError, match="says as_of 2022-01-01: the release is inconsistent"):
        build_report(tmp_path / "marts", tmp_path / "out")
    (release / "release.json").write_text(written)
    (release / "mart_good_practices.parquet").unlink()
    with pytest.raises(ReportError, match="mart_good_practices.parquet: missing; this release is incomplete"):
        build_report(tmp_path / "marts", tmp_path / "out")


def test_an_indicator_is_read_from_its_units_column(tmp_path):
    """The national indicators' value is in the column the marts' value_column names for its unit; a unit the
    marts do not know means another version wrote the release."""
    marts = handmade_marts()
    national = marts["marts.mart_evaluation_national"]
    # a stray count beside roadmaps_on_time_share's measure (1/3): the measure is the value, the count ignored
    marts["marts.mart_evaluation_national"] = _set(national, pl.col("indicator") == "roadmaps_on_time_share",
                                                   value_count=7)
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    index = visible(page(build_report(tmp_path / "marts", tmp_path / "out")))
    assert "soit 33,3 % des feuilles de route échues ou annexées" in index
    marts["marts.mart_evaluation_national"] = _set(national, pl.col("indicator") == "reuse_links", unit="furlongs")
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    with pytest.raises(ReportError, match="unit\\(s\\) 'furlongs' unknown to this version"):
        build_report(tmp_path / "marts", tmp_path / "out")


# -- the command --------------------------------------------------------------------------------------------

def test_command_writes_the_report_and_lists_the_pages(built, tmp_path):
    _, release = built
    out = tmp_path / "rapport"
    result = CliRunner().invoke(report, ["--marts-dir", str(release.parent.parent), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"release {release.name} (as_of 2023-06-30): 4 pages in {out}" in result.stdout
    assert f"  {out / 'index.html'}" in result.stdout.splitlines()
    assert f"  {out / 'territoires' / (GAMMA + '.html')}" in result.stdout.splitlines()
    one = CliRunner().invoke(report, ["--marts-dir", str(release.parent.parent), "--out", str(out),
                                      "--territory", ALPHA])
    assert one.exit_code == 0 and "the national page was not rewritten" in one.stdout


def test_command_unknown_territory_exits_2_with_the_known_ids(built, tmp_path):
    _, release = built
    result = CliRunner().invoke(report, ["--marts-dir", str(release.parent.parent), "--out", str(tmp_path / "o"),
                                         "--territory", GAMMA, "--territory", "atlantis"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: unknown territory id(s): atlantis; release {release.name} has: "
                                     f"{ALPHA}, {BETA}, {GAMMA}")
    assert not (tmp_path / "o").exists()


def test_command_without_published_marts_exits_2(tmp_path):
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(report, ["--marts-dir", str(missing), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {missing}: marts folder not found; run `qp-analytics materialize` "
                                     "first to publish the marts, or give --marts-dir")
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(report, ["--marts-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'empty'} has no current release ({tmp_path / 'empty' / 'current'} is missing" \
           in result.stderr and "run `qp-analytics materialize` first" in result.stderr


# -- the Dagster asset --------------------------------------------------------------------------------------

def test_asset_renders_the_release_its_run_published(tmp_path):
    from dagster import AssetExecutionContext, DagsterInstance, MaterializeResult, asset, materialize

    from pipelines.report.assets import evaluation_report
    from pipelines.resources import QpSettings

    marts = tmp_path / "data" / "marts"
    first = publish(marts)

    @asset(key=["published", "marts"], group_name="publish")
    def published_marts_like_the_cli(context: AssetExecutionContext) -> MaterializeResult:
        # as in a `qp-analytics materialize` run: written, not yet current
        release = publish(marts, as_of=dt.date(2024, 1, 31), activate=False)
        return MaterializeResult(metadata={"release": str(release)})

    settings = QpSettings(raw_dir="unused", warehouse="unused", marts_dir=str(marts))
    with DagsterInstance.ephemeral() as instance:
        alone = materialize([evaluation_report], instance=instance, resources={"settings": settings})
        assert alone.success
        [event] = [e for e in alone.get_asset_materialization_events()
                    if e.materialization.asset_key.path == ["published", "report"]]
        metadata = event.materialization.metadata
        assert (metadata["release"].value, metadata["as_of"].value, metadata["pages"].value) == (
            first.name, "2023-06-30", 4)
        assert metadata["index"].value == str(tmp_path / "data" / "report" / "index.html")
        both = materialize([published_marts_like_the_cli, evaluation_report], instance=instance,
                           resources={"settings": settings})
        assert both.success
    assert current_release(marts) == first.resolve()
    index = (tmp_path / "data" / "report" / "index.html").read_text(encoding="utf-8")
    assert "Situation au <strong>31 janvier 2024</strong>" in index and first.name not in index


# -- in a real browser --------------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1280,900")


@pytest.fixture
def browser(tmp_path):
    """Debian's Chromium, headless, driven by Selenium through Debian's chromedriver (same version)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = (f"the browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver; "
                   "pip install -r requirements-dev.lock)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _screenshot(driver, path: Path, record_property) -> None:
    """The whole page, as a person scrolling it would see it."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(height, 12000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")
    record_property(f"screenshot_{path.stem}", str(path))


def test_a_person_reads_the_report_in_chromium(built, browser, tmp_path, record_property):
    from selenium.webdriver.common.by import By

    result, release = built
    browser.get(result.index.as_uri())
    body = visible(browser.find_element(By.TAG_NAME, "body").text)
    assert "Évaluation du programme Quartiers productifs" in body
    assert "Situation au 30 juin 2023" in body and release.name in body
    banner = browser.find_element(By.ID, "provenance")
    assert banner.is_displayed() and banner.size["height"] > 20
    assert "Données en partie illustratives." in banner.text
    assert "1 234 568 €" in body and "33,3 %" in body and "105,5 jours" in body
    charts = browser.find_elements(By.CSS_SELECTOR, "figure svg")
    assert len(charts) == 5  # history, roadmaps, partners, instruction delays, practices
    assert "Date d'évaluation : 30 juin 2023." in browser.find_element(By.ID, "date-evaluation").text
    for chart in charts:
        assert chart.is_displayed() and chart.size["width"] > 400 and chart.size["height"] > 150
    # nothing was fetched: no font, script, style or image from anywhere
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    _screenshot(browser, tmp_path / "rapport-national.png", record_property)

    browser.find_element(By.LINK_TEXT, "Communauté d'agglomération Alpha").click()
    assert browser.current_url.endswith(f"/territoires/{ALPHA}.html")
    body = visible(browser.find_element(By.TAG_NAME, "body").text)
    assert "Communauté d'agglomération Alpha" in body
    assert "Situation au 30 juin 2023" in body and release.name in body
    assert "Données illustratives." in browser.find_element(By.ID, "provenance").text
    assert "Le chef de file désigné par la convention est ANRU." in body
    assert "25 jours de retard" in body and "1 274 568 €" in body
    assert not browser.find_elements(By.CSS_SELECTOR, "svg")  # no chart: the funding is in the partners' table
    funding = browser.find_element(By.CSS_SELECTOR, "#partenaires table")
    assert funding.is_displayed() and "Bpifrance" in funding.text and "1 234 568 €" in visible(funding.text)
    _screenshot(browser, tmp_path / f"territoire-{ALPHA}.png", record_property)

    # printed: no navigation, the content stays
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, "nav.site").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, 'nav.site a[href="../index.html"]').is_displayed()
    assert browser.find_element(By.ID, "retards").is_displayed()


@pytest.mark.parametrize("many", [False, True], ids=["few territories", "many territories"])
def test_a_chart_kept_by_the_memo_is_the_chart_drawn_for_the_release(tmp_path, many):
    """Each national chart, taken from the memo of a report drawn from the same marts (another release), is the
    chart drawn anew for this release: the same SVG, the release's id in its footnote; and the national page is
    the same bytes as one drawn into an empty folder."""
    # many: more territories than a chart shows one by one (distributions, the territories that stand out)
    marts = many_marts()[0] if many else handmade_marts()
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    out = tmp_path / "out"
    build_report(tmp_path / "marts", out)
    second = publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")  # same marts, another id
    memo = ChartMemo(report_version(), json.loads((out / "report.json").read_text())["charts"])
    release = load_release(tmp_path / "marts")
    assert release.release_id == second.name
    names = {t: n for t, n in release.marts["mart_evaluation_territories"].select("territory_id", "name").iter_rows()}
    kept = national_view(release, names, memo).charts
    assert sorted(memo.reused) == ["delays", "history", "partners", "practices", "roadmaps"]
    fresh = national_view(release, names, ChartMemo(report_version())).charts
    for name in ("history", "roadmaps", "partners", "delays", "practices"):
        assert getattr(kept, name) == getattr(fresh, name)
        assert second.name in getattr(kept, name)
    # drawn directly with the release's id, not through the mark: the same element
    territories = release.marts["mart_evaluation_territories"].sort("territory_id")
    direct = chart_roadmap_delays(territories, AS_OF, chart_footnote(AS_OF, second.name, territories,
                                                                     ("convention", "roadmap")))
    assert str(kept.roadmaps) == direct
    # the whole page, through the memo, against a page drawn into an empty folder
    build_report(tmp_path / "marts", out)
    alone = tmp_path / "alone"
    build_report(tmp_path / "marts", alone)
    assert (out / "index.html").read_bytes() == (alone / "index.html").read_bytes()
    shutil.rmtree(alone)


def charts_recorded(tmp_path: Path, marts: dict) -> tuple[dict[str, str], ChartMemo]:
    """These marts published, and the national page's charts drawn from them: the territories' names, the memo."""
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    first = load_release(tmp_path / "marts")
    names = dict(first.marts["mart_evaluation_territories"].select("territory_id", "name").iter_rows())
    recorded = ChartMemo(report_version())
    national_view(first, names, recorded)
    return names, recorded


@pytest.mark.parametrize("many", [False, True], ids=["few territories", "many territories"])
def test_a_chart_of_the_territories_is_kept_when_only_columns_it_does_not_show_changed(tmp_path, many):
    """The roadmaps' and the practices' charts are keyed on the columns they show: after a change of one
    territory's roadmap delay, the practices' chart is the one recorded and the roadmaps' is drawn again; after a
    change of its practices, the other way round. Either way each chart is the one drawn without a memo."""
    marts = many_marts()[0] if many else handmade_marts()
    name = "marts.mart_evaluation_territories"
    names, recorded = charts_recorded(tmp_path, marts)
    territory = sorted(names)[0]
    one = pl.col("territory_id") == territory
    for changed, redrawn in ((pl.when(one).then(pl.lit(999)).otherwise(pl.col("roadmap_delay_days"))
                              .alias("roadmap_delay_days"), "roadmaps"),
                             (pl.when(one).then(pl.lit(77)).otherwise(pl.col("reuse_links")).alias("reuse_links"),
                              "practices")):
        release = publish_release(tmp_path / "marts", {**marts, name: marts[name].with_columns(changed)}, AS_OF,
                                  run_id="test")
        data = load_release(tmp_path / "marts", release)
        memo = ChartMemo(report_version(), recorded.drawn)
        kept = national_view(data, names, memo).charts
        fresh = national_view(data, names, ChartMemo(report_version())).charts
        assert redrawn not in memo.reused and {"roadmaps", "practices"} - {redrawn} <= set(memo.reused)
        assert kept.roadmaps == fresh.roadmaps and kept.practices == fresh.practices


def test_the_instruction_delays_chart_is_kept_when_other_national_indicators_changed(tmp_path):
    """The instruction delays' chart is keyed on the partners' instruction medians (per territory and national):
    another national indicator changed keeps it; a national median of instruction days changed redraws it, as
    drawn without the memo."""
    marts = handmade_marts()
    name = "marts.mart_evaluation_national"
    names, recorded = charts_recorded(tmp_path, marts)
    for indicator, kept in (("median_roadmap_delay_days", True), ("median_instruction_days_anct", False)):
        assert indicator in marts[name]["indicator"].to_list()
        changed = marts[name].with_columns(pl.when(pl.col("indicator") == indicator).then(pl.lit(432.0))
                                           .otherwise(pl.col("value_measure")).alias("value_measure"))
        release = publish_release(tmp_path / "marts", {**marts, name: changed}, AS_OF, run_id="test")
        data = load_release(tmp_path / "marts", release)
        memo = ChartMemo(report_version(), recorded.drawn)
        charts = national_view(data, names, memo).charts
        assert ("delays" in memo.reused) == kept, indicator
        assert charts.delays == national_view(data, names, ChartMemo(report_version())).charts.delays
        # the bar's label, as written by hand (not "432" anywhere: a coordinate of the drawing may hold it)
        assert (">432\u00a0jours</text>" in str(charts.delays)) != kept


class CountingNational(Renderer):
    """Draws pages as the report does, counting the national pages it draws."""

    def __init__(self):
        self.national_pages = 0

    def national(self, *args, **kwargs):
        self.national_pages += 1
        return super().national(*args, **kwargs)


def test_the_national_page_of_the_same_marts_is_the_page_there_with_the_new_release_named(tmp_path):
    """A new release with the same marts (a document's bytes changed, say), published another day: the national
    page there, the new release's id and day put in, not drawn again; byte for byte the page drawn into an empty
    folder (the id in the masthead, the footer and every chart's footnote). Other marts, or the page edited on
    disk: drawn."""
    marts = many_marts()[0]
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    out = tmp_path / "out"
    build_report(tmp_path / "marts", out)
    second = publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    described = json.loads((second / "release.json").read_text(encoding="utf-8"))
    described["published_at"] = "2031-05-04T10:00:00+00:00"
    (second / "release.json").write_text(json.dumps(described), encoding="utf-8")
    renderer = CountingNational()
    result = build_report(tmp_path / "marts", out, renderer=renderer)
    assert renderer.national_pages == 0 and result.redrawn == [out / "index.html"]
    alone = build_report(tmp_path / "marts", tmp_path / "alone")
    assert page(result) == page(alone)
    assert page(result).count(second.name) >= 6 and "publiée le 4 mai 2031" in visible(page(result))

    (out / "index.html").write_text(page(result).replace("<footer>", "<footer>Edited"), encoding="utf-8")
    third = publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    result = build_report(tmp_path / "marts", out, renderer=renderer)
    assert renderer.national_pages == 1 and third.name in page(result) and "Edited" not in page(result)

    marts["marts.mart_evaluation_territories"] = marts["marts.mart_evaluation_territories"].with_columns(
        pl.lit("200000009").alias("siren"))
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    build_report(tmp_path / "marts", out, renderer=renderer)
    assert renderer.national_pages == 2


def test_territory_digests_are_taken_from_the_manifest_only_when_every_page_was_drawn_from_those_marts(
        tmp_path, monkeypatch):
    """A release with the same marts as the report drawn whole: the territory pages' digests are those the
    manifest records (not computed), and the report is the one the computed digests give (a second report, drawn
    through the same releases with the digests always computed). After a page drawn from other marts (one
    territory's, from another release), the recorded digests are not all those of the marts: they are computed,
    and that page is drawn again from the release's own rows."""
    computed = []
    digests = TerritorySources.digests

    def counted(self, *args, **kwargs):
        computed.append(1)
        return digests(self, *args, **kwargs)

    monkeypatch.setattr(TerritorySources, "digests", counted)
    recorded = pages_module._recorded_digests
    out, control = tmp_path / "out", tmp_path / "control"

    def both(**kwargs) -> None:  # `out` as the report is drawn, `control` with every digest computed
        build_report(tmp_path / "marts", out, **kwargs)
        monkeypatch.setattr(pages_module, "_recorded_digests", lambda *args: None)
        try:
            build_report(tmp_path / "marts", control, **kwargs)
        finally:
            monkeypatch.setattr(pages_module, "_recorded_digests", recorded)
        names = sorted(p.relative_to(out) for p in out.rglob("*.html"))
        assert names == sorted(p.relative_to(control) for p in control.rglob("*.html")) and len(names) == MANY + 1
        for name in names:
            assert (out / name).read_bytes() == (control / name).read_bytes(), name

    marts = many_marts()[0]
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    both()
    assert len(computed) == 2
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")  # the same marts: a document's bytes changed
    computed.clear()
    both()
    assert len(computed) == 1  # the control's only

    # one territory's page from another release, whose marts name it otherwise
    other = dict(marts)
    other["marts.mart_evaluation_territories"] = marts["marts.mart_evaluation_territories"].with_columns(
        pl.when(pl.col("territory_id") == "terr-007").then(pl.lit("Autre nom")).otherwise(pl.col("name"))
        .alias("name"))
    publish_release(tmp_path / "marts", other, AS_OF, run_id="test")
    both(territories=["terr-007"])
    assert "Autre nom" in (out / "territoires" / "terr-007.html").read_text(encoding="utf-8")
    # then a release with the first marts again: the national page's content is its own, the pages' are not all
    publish_release(tmp_path / "marts", marts, AS_OF, run_id="test")
    computed.clear()
    both()
    assert len(computed) == 2
    assert "Autre nom" not in (out / "territoires" / "terr-007.html").read_text(encoding="utf-8")


def test_a_release_id_with_markup_is_escaped_in_a_kept_chart_as_when_drawn():
    from qp_analytics.report.charts import RELEASE_MARK

    marts = handmade_marts()
    territories = marts["marts.mart_evaluation_territories"].sort("territory_id")
    odd = "r&d<1>"
    drawn = chart_roadmap_delays(territories, AS_OF, chart_footnote(AS_OF, odd, territories, ("convention",)))
    memo = ChartMemo("test")
    marked = memo.chart("roadmaps", odd, chart_footnote(AS_OF, RELEASE_MARK, territories, ("convention",)),
                        lambda note: chart_roadmap_delays(territories, AS_OF, note), territories, AS_OF)
    assert marked == drawn and "r&amp;d&lt;1&gt;" in drawn
