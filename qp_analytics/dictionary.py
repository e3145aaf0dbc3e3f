"""The data dictionary: the marts' columns, the template's field names they are computed from, and the national
indicators. (The warehouse carries the same column descriptions as comments: see warehouse.ensure_tables.)

The columns come from qp_analytics.schema (columns_frame, columns_markdown); the template's fields
are those of the national roadmap template (ROADMAP_TEMPLATE.md), whose French names the definitions use
(fin_prevue, date_reelle, montant_accorde, ...); the national indicators are schema.NATIONAL_INDICATORS.
"""

import datetime as dt
from collections.abc import Mapping

import polars as pl

from qp_analytics.schema import (
    AMOUNT_UNITS,
    COUNT_UNITS,
    MARTS,
    MEASURE_UNITS,
    NATIONAL_INDICATORS,
    Table,
    release_name,
)

_PARTNERS = ("etat, anct, anru, banque_des_territoires, bpifrance, or another organisation's name as written "
             "(e.g. Région Sud)")
_DATES = "a date (Excel date, JJ/MM/AAAA or AAAA-MM-JJ; empty: unknown)"

# What each field of the template holds, sheet by sheet in the template's order. A sheet may come as a CSV
# export `<territory_id>.<sheet>.csv` instead of a workbook sheet.
TEMPLATE_FIELDS: dict[str, dict[str, str]] = {
    "fiche": {
        "territoire_id": "The territory's id (lower-case slug).",
        "territoire": "The territory's name.",
        "version": "Roadmap version, 1 for the first.",
        "date_adoption": "Date the intercommunalité's council adopted the roadmap.",
        "date_annexion": "Date the roadmap was annexed to the convention: roadmap timeliness is measured on "
            "it (mart_timeliness.roadmap_annexed_date, mart_late_items.done_date of the roadmap).",
        "coordonnateur_designe_le": "Date the Coordonnateur was designated (empty: not yet).",
        "referent_etat_designe_le": "Date the State designated its référent (empty: not yet).",
    },
    "actions": {
        "action_id": "The action's id, unique within the workbook (e.g. AMP-03).",
        "axe": "Area of work: entrepreneuriat, commerce_artisanat, implantation_activites, "
            "transition_numerique_ecologique (mart_funding.axe).",
        "intitule": "The action's title (mart_late_items.item of an action).",
        "qpv": "QPV codes the action targets, separated by ; (may be empty).",
        "porteur": "Lead organisation, free text.",
        "statut": "a_lancer, en_cours, realisee, abandonnee: an abandonnee action is never due.",
        "debut_prevu": f"Planned start: {_DATES}.",
        "fin_prevue": f"Planned end: the action is due once fin_prevue ≤ the evaluation date; {_DATES}.",
        "debut_reel": f"Actual start: {_DATES}.",
        "fin_reelle": "Actual end: on time when fin_reelle ≤ fin_prevue; empty (or after the evaluation "
            "date): not finished.",
    },
    "partenaires": {
        "action_id": "An action of the sheet actions.",
        "partenaire": f"The partner: {_PARTNERS}.",
        "role": "pilote, cofinanceur, ingenierie, expertise, relais.",
    },
    "financements": {
        "action_id": "The action funded (its axe is the funding's axe).",
        "financeur": f"The funder, same codes as partenaire: {_PARTNERS}.",
        "type_credit": "droit_commun or specifique.",
        "nature": "subvention, pret, fonds_propres, garantie, ingenierie.",
        "montant_sollicite": "Euros requested (≥ 0; amounts as numbers or French text such as "
            "1 250 000,50 €; empty: unknown, never 0).",
        "montant_accorde": "Euros granted (counted when the decision is accordee by the evaluation "
            "date).",
        "montant_verse": "Euros paid (≤ montant_accorde).",
        "date_sollicitation": "Date of the request: a request made after the evaluation date does "
            "not exist yet.",
        "date_decision": "Date of the decision (≥ date_sollicitation): a decision dated after the "
            "evaluation date is not taken yet.",
        "decision": "accordee, refusee, en_instruction (pending).",
    },
    "jalons": {
        "action_id": "The action the milestone belongs to.",
        "jalon": "The milestone's label (mart_late_items.item of a milestone).",
        "date_prevue": "Planned date: the milestone is due once date_prevue ≤ the evaluation date.",
        "date_reelle": "Date reached (empty, or after the evaluation date: not reached); late when after "
            "date_prevue.",
    },
    "gouvernance": {
        "date": "Date of the governance meeting.",
        "instance": "comite_pilotage, comite_technique, revue_de_projet.",
        "participants": "Partner codes or names, separated by ;.",
    },
    "bonnes_pratiques": {
        "pratique_id": "The practice's id, unique within the workbook.",
        "action_id": "The action the practice comes from (its axe counts in axes_covered).",
        "titre": "The practice's title.",
        "date_partage": "Date it was shared with the national network (empty: not yet shared).",
        "canal": "atelier_reseau, fiche_capitalisation, webinaire, visite.",
        "reutilisee_par": "Ids of the territories that reused it, separated by ;.",
    },
}

VALUE_COLUMNS = {"value_count": COUNT_UNITS, "value_amount": AMOUNT_UNITS, "value_measure": MEASURE_UNITS}


def template_frame() -> pl.DataFrame:
    """sheet, field, meaning: the roadmap template's field names the marts' definitions use."""
    return pl.DataFrame([{"sheet": s, "field": f, "meaning": m} for s, fields in TEMPLATE_FIELDS.items()
                         for f, m in fields.items()],
                        schema={"sheet": pl.String, "field": pl.String, "meaning": pl.String})


def indicators_frame() -> pl.DataFrame:
    """indicator, unit, value_column, definition: the national indicators of mart_evaluation_national."""
    column = {unit: name for name, units in VALUE_COLUMNS.items() for unit in units}
    return pl.DataFrame(
        [{"indicator": i, "unit": u, "value_column": column[u], "definition": d}
         for i, (u, d) in NATIONAL_INDICATORS.items()],
        schema={"indicator": pl.String, "unit": pl.String, "value_column": pl.String, "definition": pl.String})


def _md(text: str) -> str:
    return text.replace("|", "/")


def indicators_markdown() -> str:
    lines = ["## National indicators (mart_evaluation_national)", "",
             "Each row holds its value in one column, by the kind of its unit: "
             + "; ".join(f"{c} for {', '.join(units)}" for c, units in VALUE_COLUMNS.items())
             + ". The other two are null.", "", "| indicator | unit | value column | definition |", "|---|---|---|---|"]
    lines += [f"| {r['indicator']} | {r['unit']} | {r['value_column']} | {_md(r['definition'])} |"
              for r in indicators_frame().iter_rows(named=True)]
    return "\n".join(lines) + "\n"


def template_markdown() -> str:
    lines = ["## The roadmap template's field names", "",
             "Definitions use the field names of the national roadmap template (one workbook per territory, sheets "
             "fiche, actions, partenaires, financements, jalons, gouvernance, bonnes_pratiques). What each holds:", "",
             "| sheet | field | meaning |", "|---|---|---|"]
    lines += [f"| {s} | {f} | {_md(m)} |" for s, fields in TEMPLATE_FIELDS.items() for f, m in fields.items()]
    return "\n".join(lines) + "\n"


def columns_frame(tables: Mapping[str, Table] = MARTS) -> pl.DataFrame:
    """table, column, type, key, meaning: the same definitions as the Dagster metadata."""
    return pl.DataFrame(
        [{"table": release_name(t.name), "column": c.name, "type": c.type, "key": c.key, "meaning": c.description}
         for t in tables.values() for c in t.columns],
        schema={"table": pl.String, "column": pl.String, "type": pl.String, "key": pl.Boolean, "meaning": pl.String},
    )


def columns_markdown(tables: Mapping[str, Table] = MARTS, as_of: dt.date | None = None) -> str:
    lines = ["# Data dictionary of the evaluation marts", ""]
    if as_of:
        lines += [f"Computed for as_of = {as_of.isoformat()}.", ""]
    lines += ["Rules for every mart: facts dated after as_of do not exist yet; a median of nothing and a ratio "
              "over zero are null; counts and sums are 0 where there is nothing; unknown amounts are left out of "
              "sums. Amounts are euros. Durations are whole days.", ""]
    for t in tables.values():
        lines += [f"## {release_name(t.name)}", "", t.description, "", "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| {c.name}{' (key)' if c.key else ''} | {c.type} | {c.description.replace('|', '/')} |"
                  for c in t.columns]
        lines.append("")
    return "\n".join(lines)


def dictionary_markdown(tables: Mapping[str, Table] = MARTS, as_of: dt.date | None = None) -> str:
    """The tables' columns (the marts by default; a release's marts and core tables), then the national
    indicators and the template's field names."""
    return "\n".join([columns_markdown(tables, as_of=as_of).rstrip("\n"), "", indicators_markdown(),
                      template_markdown()])
