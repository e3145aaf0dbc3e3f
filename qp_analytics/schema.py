"""The warehouse's tables, column by column: one definition for the DDL, the Dagster metadata and the docs."""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

_POLARS_TYPES = {"VARCHAR": pl.String, "JSON": pl.String, "INTEGER": pl.Int32, "BIGINT": pl.Int64,
                 "DATE": pl.Date, "TIMESTAMP": pl.Datetime("us"), "BOOLEAN": pl.Boolean, "DOUBLE": pl.Float64,
                 "DECIMAL(14,2)": pl.Decimal(14, 2)}
AMOUNT = "DECIMAL(14,2)"  # euros, exact to the cent


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    description: str
    key: bool = False  # part of the primary key
    nullable: bool = True
    # a mart's column: the core columns ("core.<table>.<column>") it is computed from, read from the marts' SQL
    # (qp_analytics.marts.compute): values, and what selects or orders the rows counted (the column lineage)
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    name: str  # schema.table, also the Dagster asset key
    description: str
    columns: tuple[Column, ...]

    @property
    def key(self) -> list[str]:
        return [c.name for c in self.columns if c.key]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def polars_schema(self) -> dict[str, Any]:
        return {c.name: _POLARS_TYPES[c.type] for c in self.columns}

    def frame(self, records: list[dict[str, Any]]) -> pl.DataFrame:
        """Rows as a DataFrame typed like the table (an empty list gives an empty, typed frame)."""
        return pl.DataFrame(records, schema=self.polars_schema())

    def ddl(self) -> str:
        cols = [f'"{c.name}" {c.type}{"" if c.nullable or c.key else " NOT NULL"}' for c in self.columns]
        if self.key:
            cols.append(f"PRIMARY KEY ({', '.join(self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"


T = "territory_id"
_TID = Column(T, "VARCHAR", "Territory id (lower-case slug, the partition key).", key=True)

TABLES: dict[str, Table] = {t.name: t for t in [
    Table("raw.convention_documents", "Each territory's convention as read: text layer, sha256, pages.", (
        _TID,
        Column("path", "VARCHAR", "File the text was read from, as given to the pipeline.", nullable=False),
        Column("format", "VARCHAR", "pdf, docx or txt.", nullable=False),
        Column("sha256", "VARCHAR", "SHA-256 of the file's bytes.", nullable=False),
        Column("page_count", "INTEGER", "Pages (a text file without form feeds is one page).", nullable=False),
        Column("char_count", "INTEGER", "Characters of extracted text.", nullable=False),
        Column("text", "VARCHAR", "Extracted text, pages separated by a form feed (\\f); a Word file's paragraphs "
               "one a line; a scanned page's text as read by OCR.", nullable=False),
        Column("ocr_words", "JSON", "Words read by OCR: [start, end, confidence 0-100] with offsets in `text` "
               "(null: no page was a scan)."),
        Column("read_at", "TIMESTAMP", "When the file was read (UTC).", nullable=False),
    )),
    Table("staging.convention_parses", "Each convention parsed: every field with its provenance, as JSON.", (
        _TID,
        Column("sha256", "VARCHAR", "SHA-256 of the document parsed.", nullable=False),
        Column("parsed", "JSON", "The parse result (same object as `qp-analytics parse convention --json`).",
               nullable=False),
        Column("warning_count", "INTEGER", "Warnings raised while reading (blank date, ...).", nullable=False),
        Column("parsed_at", "TIMESTAMP", "When it was parsed (UTC).", nullable=False),
    )),
    Table("staging.rejections", "Inputs rejected by the latest run of each stage; the territory keeps its "
          "last good rows.", (
        _TID,
        Column("stage", "VARCHAR", "Where it was rejected: registry, read or parse.", key=True),
        Column("problem_no", "INTEGER", "1, 2, ... for several problems of one input.", key=True),
        Column("file", "VARCHAR", "The file at fault (null when the file itself is missing)."),
        Column("problem", "VARCHAR", "What is wrong and what was expected, naming file and place.",
               nullable=False),
        Column("rejected_at", "TIMESTAMP", "When (UTC).", nullable=False),
    )),
    Table("staging.input_fingerprints", "What each stage last processed for each territory, so that unchanged "
          "inputs are not read or parsed again (see qp_analytics.warehouse.incremental).", (
        _TID,
        Column("stage", "VARCHAR", "convention_read, convention_parse, convention_core, roadmap_parse, roadmap_core, "
               "avenants; or what last passed the Great Expectations suites: core_validated:<table> (a territory's "
               "rows in one core table), registry_validated and marts_validated:<mart> (recorded under the "
               "territory_id '*').",
               key=True),
        Column("fingerprint", "VARCHAR", "SHA-256 of the stage's input (file bytes or upstream hash, path, "
               "provenance; for the *_validated stages, the rows validated) and of the code version.",
               nullable=False),
        Column("recorded_at", "TIMESTAMP", "When the stage processed it (UTC).", nullable=False),
    )),
    Table("core.territories", "The territory registry (territories.csv), one row per territory.", (
        _TID,
        Column("name", "VARCHAR", "Signatory intercommunalité, as in the registry.", nullable=False),
        Column("siren", "VARCHAR", "SIREN of the intercommunalité (9 digits)."),
        Column("departement_code", "VARCHAR", "Département code (e.g. 13, 974)."),
        Column("departement", "VARCHAR", "Département name."),
    )),
    Table("core.conventions", "One convention d'engagement per territory, its fields as the document states "
          "them.", (
        _TID,
        Column("territory_name", "VARCHAR", "The intercommunalité bénéficiaire as the convention names it.",
               nullable=False),
        Column("representative_name", "VARCHAR", "Who signs for the intercommunalité (null: not named)."),
        Column("representative_title", "VARCHAR", "Their title (Président, Présidente, ...)."),
        Column("state_representative", "VARCHAR", "Who represents the State, as written."),
        Column("chef_de_file", "VARCHAR", "Chef de file: anct, anru, banque_des_territoires or bpifrance.",
               nullable=False),
        Column("labellisation_date", "DATE", "Date of the Labellisation the convention states.", nullable=False),
        Column("roadmap_deadline_months", "INTEGER", "Months allowed to annex the feuille de route.",
               nullable=False),
        Column("roadmap_due_date", "DATE", "Labellisation + deadline months (clamped to month end)."),
        Column("duration_months", "INTEGER", "The convention's duration in months.", nullable=False),
        Column("end_date", "DATE", "Labellisation + duration months, before any avenant."),
        Column("signature_place", "VARCHAR", "Place of signature (null: left blank)."),
        Column("signature_date", "DATE", "Date of signature (null: left blank)."),
        Column("warning_count", "INTEGER", "Warnings raised while reading.", nullable=False),
        Column("source_path", "VARCHAR", "File read.", nullable=False),
        Column("source_sha256", "VARCHAR", "SHA-256 of the file read.", nullable=False),
        Column("source_provenance", "VARCHAR", "real or illustrative, from the data manifest (null: unlisted)."),
    )),
    Table("core.convention_commitments", "Each party's numbered commitments, in document order.", (
        _TID,
        Column("position", "INTEGER", "Order in the document (1, 2, ...).", key=True),
        Column("party", "VARCHAR", "etat, intercommunalite, chef_de_file or partenaires.", nullable=False),
        Column("ref", "VARCHAR", "The item's number as written: i, ii, ... (null: unnumbered)."),
        Column("text", "VARCHAR", "The commitment's text.", nullable=False),
        Column("page", "INTEGER", "Page it was read on (null in a Word file)."),
        Column("paragraph", "INTEGER", "Paragraph it was read in, for a Word file (which has no pages)."),
    )),
    Table("core.convention_field_sources", "Where each convention field was read: the traceability of "
          "core.conventions.", (
        _TID,
        Column("field", "VARCHAR", "Field of core.conventions (or commitments[n]).", key=True),
        Column("page", "INTEGER", "1-based page (null in a Word file)."),
        Column("paragraph", "INTEGER", "1-based paragraph of a Word file (one a line of the text; null otherwise)."),
        Column("read_by", "VARCHAR", "How the value was read: text (a text file), text layer (PDF), word (.docx) or "
               "ocr (a scanned page; see ocr_confidence)."),
        Column("ocr_confidence", "DOUBLE", "For a value read by OCR: the lowest word confidence (0-100) of its "
               "sentence; a value whose own words are under 70 is also a warning."),
        Column("start_offset", "INTEGER", "Start offset in raw.convention_documents.text."),
        Column("end_offset", "INTEGER", "End offset (exclusive)."),
        Column("excerpt", "VARCHAR", "The characters read."),
        Column("sentence", "VARCHAR", "The sentence they were read from; for computed fields, what they are "
               "computed from."),
    )),
    Table("core.convention_warnings", "What a convention leaves blank or unclear (null fields are flagged "
          "here).", (
        _TID,
        Column("warning_no", "INTEGER", "1, 2, ... within the territory.", key=True),
        Column("field", "VARCHAR", "The field concerned.", nullable=False),
        Column("code", "VARCHAR", "Machine-readable code (undated, signature_place_blank, ...).", nullable=False),
        Column("message", "VARCHAR", "Explanation for a person.", nullable=False),
    )),
]}

_ROW = Column("source_row", "INTEGER", "Row of the workbook sheet it was read from (header = row 1).", key=True)
_ROW_INFO = Column("source_row", "INTEGER", "Row of the workbook sheet it was read from (header = row 1).",
                   nullable=False)
_ACTION = Column("action_id", "VARCHAR", "The action (core.actions.action_id).", nullable=False)


def _partner(name: str, meaning: str) -> Column:
    return Column(name, "VARCHAR", f"{meaning}: etat, anct, anru, banque_des_territoires, bpifrance, or another "
                  "organisation's name as written (trimmed).", nullable=False)


TABLES.update({t.name: t for t in [
    Table("staging.roadmap_parses", "Each territory's feuille de route, checked against the template and "
          "normalised, as JSON.", (
        _TID,
        Column("path", "VARCHAR", "Workbook (or CSV exports) read.", nullable=False),
        Column("format", "VARCHAR", "xlsx or csv.", nullable=False),
        Column("sha256", "VARCHAR", "SHA-256 of the workbook (of the CSV files, concatenated in sheet order).",
               nullable=False),
        Column("parsed", "JSON", "Same object as `qp-analytics parse roadmap --json`.", nullable=False),
        Column("source_rows", "JSON", "For each sheet, the workbook row of each row object.", nullable=False),
        Column("parsed_at", "TIMESTAMP", "When it was read (UTC).", nullable=False),
    )),
    Table("core.roadmaps", "The roadmap's fiche: one row per territory that sent a workbook.", (
        _TID,
        Column("territoire", "VARCHAR", "The territory's name as the fiche gives it."),
        Column("version", "INTEGER", "Roadmap version (1 for the first)."),
        Column("date_adoption", "DATE", "Adopted by the intercommunalité's council."),
        Column("date_annexion", "DATE", "Annexed to the convention (timeliness is measured on it; null: not yet)."),
        Column("coordonnateur_designe_le", "DATE", "Coordonnateur designated (null: not yet)."),
        Column("referent_etat_designe_le", "DATE", "State référent designated (null: not yet)."),
        Column("source_path", "VARCHAR", "File read.", nullable=False),
        Column("source_sha256", "VARCHAR", "Its SHA-256.", nullable=False),
        Column("source_provenance", "VARCHAR", "real or illustrative, from the data manifest (null: unlisted)."),
    )),
    Table("core.actions", "The roadmap's actions.", (
        _TID,
        Column("action_id", "VARCHAR", "Action id as written in the sheet 'actions' (unique per territory).",
               key=True),
        Column("axe", "VARCHAR", "entrepreneuriat, commerce_artisanat, implantation_activites or "
               "transition_numerique_ecologique.", nullable=False),
        Column("intitule", "VARCHAR", "Title.", nullable=False),
        Column("porteur", "VARCHAR", "Lead organisation (free text)."),
        Column("statut", "VARCHAR", "a_lancer, en_cours, realisee or abandonnee.", nullable=False),
        Column("debut_prevu", "DATE", "Planned start."),
        Column("fin_prevue", "DATE", "Planned end."),
        Column("debut_reel", "DATE", "Actual start."),
        Column("fin_reelle", "DATE", "Actual end."),
        _ROW_INFO,
    )),
    Table("core.action_qpv", "The QPV each action targets (one row per action and QPV code).", (
        _TID,
        Column("action_id", "VARCHAR", "The action.", key=True),
        Column("qpv_code", "VARCHAR", "QPV code, upper case: 2015 geography QP + département on 3 characters + "
               "3 digits (QP013001), 2024 geography QN + département + 2 digits + N, M or I (QN06201M).", key=True),
    )),
    Table("core.action_partners", "Who is involved in each action, in which role (sheet 'partenaires').", (
        _TID, _ROW, _ACTION, _partner("partenaire", "Partner"),
        Column("role", "VARCHAR", "pilote, cofinanceur, ingenierie, expertise or relais.", nullable=False),
    )),
    Table("core.funding_requests", "Funding requests and their decisions (sheet 'financements').", (
        _TID, _ROW, _ACTION, _partner("financeur", "Funder"),
        Column("type_credit", "VARCHAR", "droit_commun or specifique."),
        Column("nature", "VARCHAR", "subvention, pret, fonds_propres, garantie or ingenierie."),
        Column("montant_sollicite", AMOUNT, "Euros requested (null: unknown, never 0 for unknown)."),
        Column("montant_accorde", AMOUNT, "Euros granted."),
        Column("montant_verse", AMOUNT, "Euros paid (≤ granted)."),
        Column("date_sollicitation", "DATE", "Requested on."),
        Column("date_decision", "DATE", "Decided on (≥ requested on)."),
        Column("decision", "VARCHAR", "accordee, refusee or en_instruction.", nullable=False),
    )),
    Table("core.milestones", "Milestones of the actions (sheet 'jalons').", (
        _TID, _ROW, _ACTION,
        Column("jalon", "VARCHAR", "Label.", nullable=False),
        Column("date_prevue", "DATE", "Planned date."),
        Column("date_reelle", "DATE", "Date reached (null: not reached)."),
    )),
    Table("core.governance_meetings", "Governance meetings (sheet 'gouvernance').", (
        _TID, _ROW,
        Column("date", "DATE", "Date of the meeting.", nullable=False),
        Column("instance", "VARCHAR", "comite_pilotage, comite_technique or revue_de_projet.", nullable=False),
    )),
    Table("core.meeting_participants", "Who took part in each governance meeting.", (
        _TID, _ROW,
        Column("participant", "VARCHAR", "Partner code, or another organisation's name as written.", key=True),
    )),
    Table("core.good_practices", "Good practices documented (sheet 'bonnes_pratiques').", (
        _TID,
        Column("pratique_id", "VARCHAR", "Practice id (unique per territory).", key=True),
        _ACTION,
        Column("titre", "VARCHAR", "Title.", nullable=False),
        Column("date_partage", "DATE", "Shared with the national network on (null: not yet)."),
        Column("canal", "VARCHAR", "atelier_reseau, fiche_capitalisation, webinaire or visite."),
        _ROW_INFO,
    )),
    Table("core.practice_reuse", "Which territories reused which practice (one row per practice and reuser).", (
        _TID,
        Column("pratique_id", "VARCHAR", "The practice (of territory_id).", key=True),
        Column("reused_by", "VARCHAR", "Territory id that reused it.", key=True),
    )),
    Table("core.avenants", "Amendments to the conventions: extensions of their duration.", (
        _TID,
        Column("number", "INTEGER", "Avenant number (n° 1, 2, ...).", key=True),
        Column("territory_name", "VARCHAR", "The intercommunalité as the avenant names it."),
        Column("extension_months", "INTEGER", "Months added to the convention's duration (null if a new end date "
               "is set instead)."),
        Column("new_end_date", "DATE", "New end date of the convention (null if extended by months)."),
        Column("signature_place", "VARCHAR", "Place of signature (null: left blank)."),
        Column("signature_date", "DATE", "Date of signature (null: left blank; an undated avenant extends "
               "anyway)."),
        Column("source_path", "VARCHAR", "File read.", nullable=False),
        Column("source_sha256", "VARCHAR", "Its SHA-256.", nullable=False),
        Column("source_provenance", "VARCHAR", "real or illustrative, from the data manifest."),
    )),
]})


# -- the evaluation marts (INDICATORS.md): descriptions are the definitions, as published -----------------

NATIONAL_PARTNERS = ("etat", "anct", "anru", "banque_des_territoires", "bpifrance")
# The national indicators (mart_evaluation_national): name -> (unit, definition). The unit says which value column
# holds the value: a count (value_count), an amount (value_amount) or a measure (value_measure).
COUNT_UNITS = ("territories", "conventions", "roadmaps", "practices", "links")
AMOUNT_UNITS = ("EUR",)
MEASURE_UNITS = ("days", "share", "rate")
NATIONAL_INDICATORS: dict[str, tuple[str, str]] = {
    "territories_in_programme": ("territories", "Rows of territories.csv."),
    "conventions_signed": ("conventions", "Conventions with a signature date ≤ as_of."),
    "conventions_undated": ("conventions", "Conventions whose document leaves the signature date blank (signed, "
                                           "undated: not counted in conventions_signed)."),
    "roadmaps_annexed": ("roadmaps", "Roadmaps annexed by as_of."),
    "roadmaps_on_time": ("roadmaps", "Roadmaps annexed by their due date."),
    "roadmaps_on_time_share": ("share", "roadmaps_on_time / territories whose roadmap is annexed or overdue "
                                        "(status on_time, late or missing)."),
    "median_roadmap_delay_days": ("days", "Median of roadmap_delay_days over annexed roadmaps."),
    "conventions_in_force": ("conventions", "Conventions with as_of ≤ convention_end_date."),
    "action_on_time_rate": ("rate", "Sum of actions_on_time / sum of actions_due over all territories."),
    **{f"total_granted_{p}": ("EUR", f"Sum of amount_granted of {p} over all territories.")
       for p in NATIONAL_PARTNERS},
    **{f"median_instruction_days_{p}": ("days", "Median of date_decision − date_sollicitation over all decided "
                                                f"requests to {p} (pooled).") for p in NATIONAL_PARTNERS},
    "practices_shared": ("practices", "Sum of practices_shared over all territories."),
    "reuse_links": ("links", "Sum of reuse_links over all territories."),
}


_ASOF = Column("as_of", "DATE", "Evaluation date the row was computed for.", nullable=False)  # a parameter
_MTID = Column(T, "VARCHAR", "Territory id.", key=True)
_RATE = "DOUBLE"


def _from(*columns: str) -> tuple[str, ...]:
    """Core columns named "<table>.<column>", as lineage sources (core.<table>.<column>), each once."""
    return tuple(dict.fromkeys(f"core.{c}" for c in columns))


def _sourced(columns: tuple[Column, ...], sources: Mapping[str, tuple[str, ...]]) -> tuple[Column, ...]:
    """The columns, those named in `sources` with their lineage."""
    unknown = set(sources) - {c.name for c in columns}
    if unknown:
        raise ValueError(f"lineage of no column: {sorted(unknown)}")
    return tuple(replace(c, sources=sources[c.name]) if c.name in sources else c for c in columns)


# Lineage shared by several marts' columns.
_LISTED = _from("territories.territory_id")  # the territories of territories.csv: a row each
_ROADMAP = ("conventions.roadmap_due_date", "roadmaps.date_annexion")
_END = ("conventions.labellisation_date", "conventions.duration_months", "avenants.number",
        "avenants.extension_months", "avenants.new_end_date", "avenants.signature_date")
_DUE_ACTIONS = ("actions.statut", "actions.fin_prevue")
_DUE_MILESTONES = ("milestones.action_id", "milestones.date_prevue", "actions.statut")
_REQUESTS = ("funding_requests.financeur", "funding_requests.date_sollicitation")  # made by as_of, per financeur
_DECISIONS = (*_REQUESTS, "funding_requests.decision", "funding_requests.date_decision")  # as they stand at as_of
_INVOLVED = ("action_partners.partenaire", "action_partners.action_id", *_REQUESTS, "funding_requests.action_id")
_MEETINGS = ("governance_meetings.date", "governance_meetings.source_row")
_ATTENDED = (*_MEETINGS, "meeting_participants.participant", "meeting_participants.source_row")
_SHARED = ("good_practices.pratique_id", "good_practices.date_partage")
_REUSE = ("practice_reuse.pratique_id", "practice_reuse.reused_by")

_TIMELINESS = _sourced((
    Column("labellisation_date", "DATE", "From the convention."),
    Column("roadmap_due_date", "DATE", "labellisation_date + the roadmap deadline in months the convention "
           "states (a missing day clamps to the month's end)."),
    Column("roadmap_annexed_date", "DATE", "fiche.date_annexion of the roadmap (null: not annexed, or annexed "
           "after as_of, or no roadmap sent)."),
    Column("roadmap_delay_days", "INTEGER", "roadmap_annexed_date − roadmap_due_date in days (negative: early); "
           "null if not annexed."),
    Column("roadmap_status", "VARCHAR", "on_time (delay ≤ 0), late (delay > 0), missing (not annexed and "
           "as_of > due), pending (not annexed and as_of ≤ due); null without a convention."),
    Column("convention_signature_date", "DATE", "Null when the document leaves it blank (or it is after as_of)."),
    Column("convention_end_date", "DATE", "labellisation_date + duration months + months added by the avenants "
           "signed by as_of or undated, in number order; an avenant setting a new end date sets it, and later "
           "avenants' months count from it."),
    Column("in_force", "BOOLEAN", "as_of ≤ convention_end_date (whether or not the signature date is known)."),
    Column("actions_total", "INTEGER", "All actions of the roadmap."),
    Column("actions_due", "INTEGER", "Actions not abandonnee whose fin_prevue ≤ as_of."),
    Column("actions_on_time", "INTEGER", "Of actions_due, those with fin_reelle ≤ fin_prevue."),
    Column("action_on_time_rate", _RATE, "actions_on_time / actions_due (null when none is due)."),
    Column("milestones_due", "INTEGER", "Milestones of actions not abandonnee whose date_prevue ≤ as_of."),
    Column("milestones_late", "INTEGER", "Of milestones_due, those reached after date_prevue, or not reached "
           "by as_of."),
    Column("median_milestone_delay_days", _RATE, "Median of date_reelle − date_prevue over milestones reached by "
           "as_of (of actions not abandonnee); null if none."),
), {
    "labellisation_date": _from("conventions.labellisation_date"),
    "roadmap_due_date": _from("conventions.roadmap_due_date"),
    "roadmap_annexed_date": _from("roadmaps.date_annexion"),
    "roadmap_delay_days": _from(*_ROADMAP),
    "roadmap_status": _from(*_ROADMAP),
    "convention_signature_date": _from("conventions.signature_date"),
    "convention_end_date": _from(*_END),
    "in_force": _from(*_END),
    "actions_total": _from("actions.action_id"),
    "actions_due": _from(*_DUE_ACTIONS),
    "actions_on_time": _from(*_DUE_ACTIONS, "actions.fin_reelle"),
    "action_on_time_rate": _from(*_DUE_ACTIONS, "actions.fin_reelle"),
    "milestones_due": _from(*_DUE_MILESTONES),
    "milestones_late": _from(*_DUE_MILESTONES, "milestones.date_reelle"),
    "median_milestone_delay_days": _from(*_DUE_MILESTONES, "milestones.date_reelle"),
})
_MOBILISATION = _sourced((
    Column("partner", "VARCHAR", "etat, anct, anru, banque_des_territoires, bpifrance, or another organisation "
           "named in partenaires or financements (as written, trimmed).", key=True),
    Column("is_national_partner", "BOOLEAN", "One of the five national partners."),
    Column("is_chef_de_file", "BOOLEAN", "The convention names it chef de file."),
    Column("actions_involved", "INTEGER", "Distinct actions where it appears in partenaires or as financeur."),
    Column("actions_share", _RATE, "actions_involved / actions_total of the territory (null if no action)."),
    Column("pilot_actions", "INTEGER", "Distinct actions where its role is pilote."),
    Column("amount_requested", "DECIMAL(18,2)", "Sum of montant_sollicite of its requests made by as_of "
           "(unknown amounts left out; 0 when none)."),
    Column("amount_granted", "DECIMAL(18,2)", "Sum of montant_accorde over its requests decided accordee by as_of."),
    Column("amount_paid", "DECIMAL(18,2)", "Sum of montant_verse over the same requests."),
    Column("grant_share", _RATE, "amount_granted / the territory's total granted, all financeurs (null if 0)."),
    Column("requests", "INTEGER", "Its funding requests made by as_of (undated requests count)."),
    Column("decided_requests", "INTEGER", "Those decided accordee or refusee by as_of (a decision dated after "
           "as_of is still pending)."),
    Column("pending_requests", "INTEGER", "Those en_instruction at as_of."),
    Column("median_instruction_days", _RATE, "Median of date_decision − date_sollicitation over decided requests "
           "with both dates."),
    Column("meetings_total", "INTEGER", "The territory's governance meetings dated ≤ as_of."),
    Column("meetings_attended", "INTEGER", "Of those, the ones it took part in."),
    Column("attendance_rate", _RATE, "meetings_attended / meetings_total (null if no meeting)."),
), {
    "partner": _from("action_partners.partenaire", "funding_requests.financeur"),
    "is_national_partner": _from("action_partners.partenaire", "funding_requests.financeur"),
    "is_chef_de_file": _from("conventions.chef_de_file", "action_partners.partenaire", "funding_requests.financeur"),
    "actions_involved": _from(*_INVOLVED),
    "actions_share": _from(*_INVOLVED, "actions.action_id"),
    "pilot_actions": _from("action_partners.partenaire", "action_partners.role", "action_partners.action_id"),
    "amount_requested": _from(*_REQUESTS, "funding_requests.montant_sollicite"),
    "amount_granted": _from(*_DECISIONS, "funding_requests.montant_accorde"),
    "amount_paid": _from(*_DECISIONS, "funding_requests.montant_verse"),
    "grant_share": _from(*_DECISIONS, "funding_requests.montant_accorde"),
    "requests": _from(*_REQUESTS),
    "decided_requests": _from(*_DECISIONS),
    "pending_requests": _from(*_DECISIONS),
    "median_instruction_days": _from(*_DECISIONS),
    "meetings_total": _from(*_MEETINGS),
    "meetings_attended": _from(*_ATTENDED),
    "attendance_rate": _from(*_ATTENDED),
})
_PRACTICES = _sourced((
    Column("practices_documented", "INTEGER", "Rows of bonnes_pratiques."),
    Column("practices_shared", "INTEGER", "Those with date_partage ≤ as_of."),
    Column("shared_rate", _RATE, "practices_shared / practices_documented (null if none)."),
    Column("reuse_links", "INTEGER", "Sum over its practices of the number of other territories that reused "
           "each (reuse is undated: every reuse listed counts)."),
    Column("reusing_territories", "INTEGER", "Distinct other territories that reused at least one of its "
           "practices."),
    Column("axes_covered", "INTEGER", "Distinct axe of the actions its practices belong to."),
    Column("median_days_to_share", _RATE, "Median of date_partage − fin_reelle of the practice's action, over "
           "shared practices whose action has a fin_reelle by as_of."),
), {
    "practices_documented": _from("good_practices.pratique_id"),
    "practices_shared": _from(*_SHARED),
    "shared_rate": _from(*_SHARED),
    "reuse_links": _from(*_REUSE),
    "reusing_territories": _from(*_REUSE),
    "axes_covered": _from("good_practices.action_id", "actions.axe"),
    "median_days_to_share": _from(*_SHARED, "good_practices.action_id", "actions.fin_reelle"),
})

_MOBILISATION_COLUMNS = {c.name: c for c in _MOBILISATION}


def _at_evaluation_date(mart: str, columns: tuple[Column, ...], names: tuple[str, ...]) -> list[Column]:
    """mart_history's columns computed as their namesakes in another mart, at evaluation_date."""
    by_name = {c.name: c for c in columns}
    return [Column(n, by_name[n].type, f"As {mart}.{n}, at evaluation_date: {by_name[n].description}",
                   sources=by_name[n].sources) for n in names]  # mart_funding's columns of the same meaning

MARTS: dict[str, Table] = {t.name: t for t in [
    Table("marts.mart_timeliness", "Did each territory annex its roadmap and deliver its actions and milestones "
          "on time; is its convention in force. One row per territory.",
          _sourced((_MTID, *_TIMELINESS, _ASOF), {T: _LISTED})),
    Table("marts.mart_partner_mobilisation", "How each partner is involved in each territory: actions, roles, "
          "funding, instruction delays, attendance. One row per territory and partner: always the five "
          "national partners, plus any other partner named in partenaires or financements.",
          _sourced((_MTID, *_MOBILISATION, _ASOF), {T: _LISTED})),
    Table("marts.mart_good_practices", "Good practices documented, shared and reused. One row per territory.",
          _sourced((_MTID, *_PRACTICES, _ASOF), {T: _LISTED})),
    Table("marts.mart_practice_diffusion", "Each good practice, where it comes from and who reused it.", _sourced((
        _MTID,
        Column("pratique_id", "VARCHAR", "Practice id.", key=True),
        Column("titre", "VARCHAR", "Title."),
        Column("axe", "VARCHAR", "Axe of the practice's action."),
        Column("date_partage", "DATE", "Shared on (null: not shared by as_of)."),
        Column("canal", "VARCHAR", "Channel it was shared through."),
        Column("reused_by_count", "INTEGER", "Other territories that reused it."),
        Column("reused_by", "VARCHAR[]", "Their ids, sorted."),
        _ASOF), {
        T: _from("good_practices.territory_id"),
        "pratique_id": _from("good_practices.pratique_id"),
        "titre": _from("good_practices.titre"),
        "axe": _from("good_practices.action_id", "actions.axe"),
        "date_partage": _from("good_practices.date_partage"),
        "canal": _from("good_practices.canal"),
        "reused_by_count": _from(*_REUSE),
        "reused_by": _from(*_REUSE),
    })),
    Table("marts.mart_evaluation_territories", "Each territory's reference data and every indicator side by "
          "side, with the chef de file's and all partners' figures: the table an evaluator reads first.", _sourced((
        _MTID,
        Column("name", "VARCHAR", "The intercommunalité (territories.csv)."),
        Column("siren", "VARCHAR", "Its SIREN."),
        Column("departement_code", "VARCHAR", "Département code."),
        Column("departement", "VARCHAR", "Département."),
        Column("chef_de_file", "VARCHAR", "Chef de file named by the convention."),
        Column("convention_provenance", "VARCHAR", "real or illustrative (data manifest) for the convention read."),
        Column("roadmap_provenance", "VARCHAR", "real or illustrative for the roadmap read (null: none)."),
        *_TIMELINESS,
        Column("convention_signature_state", "VARCHAR", "signed (signature date ≤ as_of), undated (the document "
               "leaves the date blank: convention_signature_date is null, yet it is not 'unsigned'), not_yet_signed "
               "(signature date after as_of); null without a convention."),
        Column("avenants_effective", "INTEGER", "Avenants signed by as_of or undated."),
        *_PRACTICES,
        Column("chef_actions_involved", "INTEGER", "actions_involved of the chef de file."),
        Column("chef_actions_share", _RATE, "actions_share of the chef de file."),
        Column("chef_amount_granted", "DECIMAL(18,2)", "amount_granted of the chef de file."),
        Column("chef_median_instruction_days", _RATE, "median_instruction_days of the chef de file."),
        Column("chef_attendance_rate", _RATE, "attendance_rate of the chef de file."),
        Column("partners_involved", "INTEGER", "Partners (national or not) involved in at least one action."),
        Column("total_amount_requested", "DECIMAL(18,2)", "amount_requested, all financeurs."),
        Column("total_amount_granted", "DECIMAL(18,2)", "amount_granted, all financeurs."),
        Column("total_amount_paid", "DECIMAL(18,2)", "amount_paid, all financeurs."),
        Column("total_requests", "INTEGER", "requests, all financeurs."),
        Column("total_pending_requests", "INTEGER", "pending_requests, all financeurs."),
        Column("median_instruction_days_all", _RATE, "median_instruction_days over all decided requests."),
        _ASOF), {
        T: _LISTED,
        **{c: _from(f"territories.{c}") for c in ("name", "siren", "departement_code", "departement")},
        "chef_de_file": _from("conventions.chef_de_file"),
        "convention_provenance": _from("conventions.source_provenance"),
        "roadmap_provenance": _from("roadmaps.source_provenance"),
        "convention_signature_state": _from("conventions.territory_id", "conventions.signature_date"),
        "avenants_effective": _from("avenants.number", "avenants.signature_date"),
        **{f"chef_{c}": (*_from("conventions.chef_de_file"), *_MOBILISATION_COLUMNS[c].sources)
           for c in ("actions_involved", "actions_share", "amount_granted", "median_instruction_days",
                     "attendance_rate")},
        "partners_involved": _from(*_INVOLVED),
        **{f"total_{c}": _MOBILISATION_COLUMNS[c].sources
           for c in ("amount_requested", "amount_granted", "amount_paid", "requests", "pending_requests")},
        "median_instruction_days_all": _from(*_DECISIONS),
    })),
    Table("marts.mart_evaluation_national", "The programme's indicators, one row per indicator. The value is in "
          "the one column of its kind: value_count (counts), value_amount (euros) or value_measure (medians, "
          "shares, rates); the other two are null.", _sourced((
        Column("indicator", "VARCHAR", "Indicator name, one of: " + ", ".join(NATIONAL_INDICATORS) + ". Its "
               "definition is in this row's definition column; the same list with units and value columns is "
               "qp_analytics.dictionary's National indicators (indicators_frame).", key=True),
        Column("value_count", "BIGINT", "The value of a count (units territories, conventions, roadmaps, "
               "practices, links); null for the other kinds."),
        Column("value_amount", "DECIMAL(18,2)", "The value of an amount in euros (unit EUR); null for the other "
               "kinds."),
        Column("value_measure", "DOUBLE", "The value of a median or a ratio (units days, share, rate); null for "
               "the other kinds, and when there is nothing to compute it on (a median of nothing, a ratio over "
               "zero)."),
        Column("unit", "VARCHAR", "territories, conventions, roadmaps, practices, links (counts); EUR (amounts); "
               "days, share, rate (measures)."),
        Column("territories", "INTEGER", "How many territories the value rests on."),
        Column("definition", "VARCHAR", "How it is computed."),
        _ASOF), {  # indicator, unit and definition are the indicators' own (NATIONAL_INDICATORS)
        "value_count": _from("territories.territory_id", "conventions.signature_date", *_ROADMAP, *_END, *_SHARED,
                             *_REUSE),
        "value_amount": _from(*_DECISIONS, "funding_requests.montant_accorde"),
        "value_measure": _from(*_ROADMAP, *_DUE_ACTIONS, "actions.fin_reelle", *_DECISIONS),
        "territories": _from("territories.territory_id", "conventions.signature_date", *_ROADMAP, *_END,
                             *_DUE_ACTIONS, *_DECISIONS, "funding_requests.montant_accorde", *_SHARED),
    })),
    Table("marts.mart_late_items", "What was not done by its due date, at as_of: each territory's roadmap, its "
          "actions not abandonnee and the milestones of those actions, when due (due_date ≤ as_of) and not done by "
          "then (done_date empty, or after due_date). Per territory: a roadmap row iff roadmap_status is late or "
          "missing, actions_due − actions_on_time action rows, milestones_late milestone rows (mart_timeliness). "
          "One row per late item (no key: two milestones of an action may share label and dates).", _sourced((
        Column(T, "VARCHAR", "Territory id.", nullable=False),
        Column("item_type", "VARCHAR", "roadmap, action or milestone.", nullable=False),
        Column("action_id", "VARCHAR", "The action (of the milestone); null for the roadmap."),
        Column("item", "VARCHAR", "'feuille de route'; the action's intitule; the milestone's jalon.", nullable=False),
        Column("due_date", "DATE", "roadmap_due_date; fin_prevue; date_prevue.", nullable=False),
        Column("done_date", "DATE", "fiche.date_annexion; fin_reelle; date_reelle (null: empty, or after as_of)."),
        Column("days_late", "INTEGER", "done_date − due_date when done (> 0), else as_of − due_date (≥ 0: an item "
               "due on as_of itself and not done is 0 days late; a missing roadmap is > 0).", nullable=False),
        Column("state", "VARCHAR", "done_late (done_date not null) or overdue (not done at as_of).", nullable=False),
        _ASOF), {
        T: _from("territories.territory_id", "actions.territory_id", "milestones.territory_id"),
        "item_type": _from(*_ROADMAP, "actions.action_id", "milestones.source_row"),
        "action_id": _from("actions.action_id", "milestones.action_id"),
        "item": _from("actions.intitule", "milestones.jalon"),
        "due_date": _from("conventions.roadmap_due_date", "actions.fin_prevue", "milestones.date_prevue"),
        "done_date": _from("roadmaps.date_annexion", "actions.fin_reelle", "milestones.date_reelle"),
        "days_late": _from(*_ROADMAP, "actions.fin_prevue", "actions.fin_reelle", "milestones.date_prevue",
                           "milestones.date_reelle"),
        "state": _from("roadmaps.date_annexion", "actions.fin_reelle", "milestones.date_reelle"),
    })),
    Table("marts.mart_funding", "Funding by axe: one row per territory × axe × financeur with at least one request "
          "at as_of (requested by then, or undated). The axe is that of the request's action.", _sourced((
        _MTID,
        Column("axe", "VARCHAR", "axe of the requests' action: entrepreneuriat, commerce_artisanat, "
               "implantation_activites or transition_numerique_ecologique.", key=True),
        Column("financeur", "VARCHAR", "etat, anct, anru, banque_des_territoires, bpifrance, or another funder's "
               "name as written (trimmed), as in mart_partner_mobilisation.", key=True),
        *[_MOBILISATION_COLUMNS[name] for name in ("requests", "amount_requested", "amount_granted", "amount_paid",
                                                    "pending_requests")],
        Column("oldest_pending_days", "INTEGER", "as_of − the earliest date_sollicitation among pending requests; "
               "null when none is pending (or none of them is dated)."),
        _ASOF), {
        T: _from("funding_requests.territory_id"),
        "axe": _from("funding_requests.action_id", "actions.axe"),
        "financeur": _from("funding_requests.financeur"),
        "oldest_pending_days": _from(*_DECISIONS),
    })),
    Table("marts.mart_history", "The indicators at each evaluation date of each territory: every quarter end (31 "
          "March, 30 June, 30 September, 31 December) on or after its labellisation date and on or before as_of, "
          "and as_of itself when it is not a quarter end. Each column is computed as its namesake in "
          "mart_timeliness, mart_partner_mobilisation (summed over all financeurs) or mart_good_practices, with "
          "evaluation_date in place of as_of: the row at evaluation_date = as_of repeats those marts.", _sourced((
        _MTID,
        Column("evaluation_date", "DATE", "The date the row is computed for (a quarter end, or as_of).", key=True),
        *_at_evaluation_date("mart_timeliness", _TIMELINESS, ("roadmap_status",)),
        Column("in_force", "BOOLEAN", "evaluation_date ≤ convention_end_date with the avenants signed by then or "
               "undated (dates only: a convention counts from its labellisation, signed or not)."),
        *_at_evaluation_date("mart_timeliness", _TIMELINESS,
                             ("actions_due", "actions_on_time", "milestones_due", "milestones_late")),
        Column("requests", "INTEGER", "Funding requests made by evaluation_date, all financeurs."),
        Column("amount_requested", "DECIMAL(18,2)", "Sum of montant_sollicite of those requests, all financeurs."),
        Column("amount_granted", "DECIMAL(18,2)", "Sum of montant_accorde over requests decided accordee by "
               "evaluation_date, all financeurs (0 when none yet)."),
        *_at_evaluation_date("mart_good_practices", _PRACTICES, ("practices_shared",)),
        Column("as_of", "DATE", "The run's as_of (the last evaluation date).", nullable=False)), {
        T: _LISTED,
        "evaluation_date": _from("conventions.labellisation_date"),
        "in_force": _from(*_END),
        "requests": _from(*_REQUESTS),
        "amount_requested": _from(*_REQUESTS, "funding_requests.montant_sollicite"),
        "amount_granted": _from(*_DECISIONS, "funding_requests.montant_accorde"),
    })),
]}
_POLARS_TYPES["VARCHAR[]"] = pl.List(pl.String)
_POLARS_TYPES["DECIMAL(18,2)"] = pl.Decimal(18, 2)


def release_name(table_name: str) -> str:
    """A table's name in a release: a mart by its own name (mart_timeliness), a core table as core_<table>."""
    schema, table = table_name.split(".", 1)
    return table if schema == "marts" else f"{schema}_{table}"
