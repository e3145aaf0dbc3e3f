"""Data-quality checks of the warehouse with Great Expectations, run in memory on DataFrames.

`validate_core` checks the core tables (keys, code sets, dates, amounts, references between tables),
`validate_marts` the marts (every territory present, keys, ratios, row counts, one as_of, counts in
order). Each check is one or more GX expectations on one frame (a table, or a query over it when the rule
spans tables or rows); each gives a `CheckOutcome` with the rule in words and a sample of what breaks it.

GX has no DuckDB dialect, so every frame is read with DuckDB into pandas and validated by a pandas data
source of an ephemeral context (no project folder). GX is imported only when a frame has rows to validate (the
import takes seconds), and a content that passed the same suites before is not validated again (see the end of
this module and pipelines.quality.checks). An in-process run of `run_pipeline` validates in a process of its
own, a `Validator` started with the run and handed to its checks, where GX is imported while the run does its
other work, and which shares each batch of frames with forked copies of itself on a small run (see
`validator_for_run`).

Blocking: a failed blocking check means a published figure could be wrong. Non-blocking checks are the
pure-format ones (SIREN, SHA-256, QPV code shapes), the commitments' party codes (no figure uses them) and
rows of territories outside territories.csv (every mart is computed for the listed territories only).
"""

import atexit
import concurrent.futures
import contextlib
import datetime as dt
import decimal
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import signal
import threading
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from qp_analytics.marts.compute import AMOUNT_UNITS, COUNT_UNITS, MEASURE_UNITS, NATIONAL_PARTNERS
from qp_analytics.parallel import worker_count
from qp_analytics.reading.roadmap import CODES, QPV_CODE
from qp_analytics.schema import MARTS, TABLES, Table
from qp_analytics.text import sql_literal
from qp_analytics.warehouse.database import id_list
from qp_analytics.warehouse.incremental import modules_version

CHEFS_DE_FILE = ("anct", "anru", "banque_des_territoires", "bpifrance")
PARTIES = ("etat", "intercommunalite", "chef_de_file", "partenaires")
ROADMAP_STATUSES = ("on_time", "late", "missing", "pending")
SIGNATURE_STATES = ("signed", "undated", "not_yet_signed")
PLAUSIBLE_DATES = (dt.date(2000, 1, 1), dt.date(2100, 12, 31))
RATIO_COLUMNS = ("action_on_time_rate", "actions_share", "grant_share", "attendance_rate", "shared_rate",
                 "chef_actions_share", "chef_attendance_rate")
SIGNED_COLUMNS = ("roadmap_delay_days",)  # integer mart columns that may be negative (early annexion)
SAMPLE_SIZE = 10


@dataclass
class CheckOutcome:
    table: str  # e.g. "core.funding_requests" or "marts.mart_timeliness"
    name: str  # short id, unique within the table
    expectation: str  # the rule in words
    passed: bool
    unexpected_count: int
    element_count: int
    sample: list  # up to 10 failing values or rows (JSON-able: str/int/float/bool/None, dates ISO)
    blocking: bool  # a failure could let a wrong figure be published


# -- declaring checks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    kind: str  # GX expectation class name (great_expectations.expectations.<kind>)
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Check:
    name: str
    expectation: str
    expects: tuple[Expect, ...]
    blocking: bool = True
    rows: bool = False  # sample the failing rows (id columns + values) rather than the bare values


@dataclass
class Frame:
    table: str  # the table the outcomes are reported under
    sql: str  # the query giving the frame validated
    ids: list[str]  # columns identifying a row in samples
    checks: list[Check] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)  # computed columns ("<expr> AS <name>") over sql's rows, as t
    registry: list[str] = field(default_factory=list)  # the territory ids the extras find in `registry`
    due: bool = True  # False: the frame's content was validated before and is not looked at again

    def query(self) -> str:
        """The frame's query, with the computed columns when there are any. Values are SQL literals (no bound
        parameter: its first use has DuckDB import pandas, which the run's process may not need otherwise)."""
        if not self.extras:
            return self.sql
        return (f"WITH registry AS (SELECT unnest({id_list(self.registry)}) AS territory_id) "
                f"SELECT *, {', '.join(self.extras)} FROM ({self.sql}) AS t")

    def add(self, name: str, expectation: str, *expects: Expect, blocking: bool = True, rows: bool = False
            ) -> None:
        self.checks.append(Check(name, expectation, expects, blocking, rows))


def expect(kind: str, **kwargs: Any) -> Expect:
    return Expect(kind, kwargs)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _words(values: Sequence[str]) -> str:
    return "{" + ", ".join(values) + "}"


def _key_checks(frame: Frame, table: Table, unique_name: str = "key_unique", unique_words: str = "") -> None:
    key = table.key
    unique = (expect("ExpectCompoundColumnsToBeUnique", column_list=key) if len(key) > 1
              else expect("ExpectColumnValuesToBeUnique", column=key[0]))
    frame.add(unique_name, unique_words or f"({', '.join(key)}) unique: no two rows share a key", unique, rows=True)
    frame.add("key_present", f"{', '.join(key)} never null",
              *[expect("ExpectColumnValuesToNotBeNull", column=c) for c in key], rows=True)


def _not_found(frame: Frame, name: str, words: str, column: str, ref: str, missing: str, blocking: bool = True
               ) -> None:
    """A reference check. The query computes `column`: the reference (`ref`) on rows where it is not found
    (`missing`), else null. GX expects it null, and the sample lists the references not found. Done in SQL
    because an ExpectColumnValuesToBeInSet over thousands of values costs GX seconds per expectation."""
    frame.extras.append(f"CASE WHEN {missing} THEN {ref} END AS {column}")
    frame.add(name, words, expect("ExpectColumnValuesToBeNull", column=column), blocking=blocking)


def _listed(frame: Frame, column: str, ids: Sequence[str], name: str, what: str, blocking: bool = True) -> None:
    """`column` (null allowed) is a territory of territories.csv."""
    frame.registry = list(ids)
    _not_found(frame, name, f"{column} in {what} (null allowed)", f"unlisted_{column}", f"t.{column}",
               f"t.{column} IS NOT NULL AND t.{column} NOT IN (SELECT territory_id FROM registry)", blocking)


def _in_set(frame: Frame, column: str, values: Sequence[str], name: str = "", blocking: bool = True) -> None:
    frame.add(name or f"{column}_in_codes", f"{column} in {_words(values)} (null allowed)",
              expect("ExpectColumnValuesToBeInSet", column=column, value_set=list(values)), blocking=blocking)


def _dates_plausible(frame: Frame, table: Table) -> None:
    cols = [c.name for c in table.columns if c.type == "DATE"]
    if not cols:
        return
    low, high = (dt.datetime.combine(d, dt.time()) for d in PLAUSIBLE_DATES)
    frame.add("dates_plausible", f"{', '.join(cols)} between {PLAUSIBLE_DATES[0]} and {PLAUSIBLE_DATES[1]} "
              "(null allowed)",
              *[expect("ExpectColumnValuesToBeBetween", column=c, min_value=low, max_value=high) for c in cols],
              rows=True)


def _in_order(frame: Frame, name: str, later: str, earlier: str, strict: bool = False) -> None:
    sign = ">" if strict else "≥"
    frame.add(name, f"{later} {sign} {earlier} on every row where both are given",
              expect("ExpectColumnPairValuesAToBeGreaterThanB", column_A=later, column_B=earlier, or_equal=not strict,
                 ignore_row_if="either_value_is_missing"), rows=True)


def _non_negative(frame: Frame, name: str, cols: Sequence[str], what: str = "") -> None:
    if cols:
        frame.add(name, f"{what or ', '.join(cols)} ≥ 0 (null allowed)",
                  *[expect("ExpectColumnValuesToBeBetween", column=c, min_value=0) for c in cols], rows=True)


# -- the core tables ----------------------------------------------------------------------------------------

_REFERENCING_ACTIONS = ("core.action_qpv", "core.action_partners", "core.funding_requests", "core.milestones",
                        "core.good_practices")


# the other core tables whose rows a table's checks read (its references), besides its own
CORE_READS: dict[str, tuple[str, ...]] = {**{name: ("core.actions",) for name in _REFERENCING_ACTIONS},
                                          "core.meeting_participants": ("core.governance_meetings",),
                                          "core.practice_reuse": ("core.good_practices",)}
Scope = Sequence[str] | Mapping[str, Sequence[str]] | None


def _scope_of(scope: Scope, table: str) -> list[str] | None:
    if scope is None or isinstance(scope, Sequence):
        return None if scope is None else list(scope)
    return list(scope.get(table, ()))


def core_frames(territory_ids: Sequence[str], scope: Scope = None, registry: bool = True) -> list[Frame]:
    """The core tables' checks. With a scope, the rows of those territories only (one list for every table,
    or one per table; a table not in the mapping has none): every check but the registry's is within one
    territory (keys and references all include territory_id), so the rows of the other, unchanged
    territories need no new look. The registry is checked whole, unless `registry` is False (its content was
    validated before)."""
    ids = list(territory_ids)
    frames: dict[str, Frame] = {}
    for name, table in TABLES.items():
        if not name.startswith("core."):
            continue
        if name == "core.territories":
            frame = Frame(name, f"SELECT * FROM {name}", table.key, due=registry)
        elif (territories := _scope_of(scope, name)) is None:
            frame = Frame(name, f"SELECT * FROM {name}", table.key)
        else:
            frame = Frame(name, f"SELECT * FROM {name} WHERE territory_id IN (SELECT unnest({id_list(territories)}))",
                          table.key, due=bool(territories))
        if name == "core.conventions":
            _key_checks(frame, table, "one_convention_per_territory",
                        "territory_id unique: one convention per territory")
        else:
            _key_checks(frame, table)
        _dates_plausible(frame, table)
        if name in _REFERENCING_ACTIONS:
            _not_found(frame, "action_exists", "every action_id is an action of the same territory in core.actions "
                       "(sample: territory_id/action_id)", "unknown_action", "t.territory_id || '/' || t.action_id",
                       "t.action_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM core.actions a "
                       "WHERE a.territory_id = t.territory_id AND a.action_id = t.action_id)")
        frames[name] = frame

    f = frames["core.territories"]
    f.add("territories_present", "every territory of territories.csv has its row",
          expect("ExpectColumnDistinctValuesToContainSet", column="territory_id", value_set=ids))
    f.add("siren_format", "siren is 9 digits (null allowed)",
          expect("ExpectColumnValuesToMatchRegex", column="siren", regex=r"^\d{9}$"), blocking=False)

    f = frames["core.conventions"]
    _in_set(f, "chef_de_file", CHEFS_DE_FILE)
    _in_order(f, "roadmap_due_after_labellisation", "roadmap_due_date", "labellisation_date")
    _in_order(f, "end_after_labellisation", "end_date", "labellisation_date")
    f.add("durations_positive", "roadmap_deadline_months ≥ 0 and duration_months ≥ 1",
          expect("ExpectColumnValuesToBeBetween", column="roadmap_deadline_months", min_value=0),
          expect("ExpectColumnValuesToBeBetween", column="duration_months", min_value=1), rows=True)
    f.add("source_sha256_format", "source_sha256 is 64 lower-case hex digits",
          expect("ExpectColumnValuesToMatchRegex", column="source_sha256", regex=r"^[0-9a-f]{64}$"), blocking=False)

    _in_set(frames["core.convention_commitments"], "party", PARTIES, blocking=False)

    f = frames["core.actions"]
    _in_set(f, "axe", CODES["axe"])
    _in_set(f, "statut", CODES["statut"])
    _in_order(f, "actual_end_after_start", "fin_reelle", "debut_reel")

    f = frames["core.action_qpv"]
    f.add("qpv_code_format", "qpv_code is a 2015 code (QP + département + 3 digits) or a 2024 one (QN + "
          "département + 2 digits + N, M or I)",
          expect("ExpectColumnValuesToMatchRegex", column="qpv_code", regex=f"^{QPV_CODE}$"), blocking=False)

    _in_set(frames["core.action_partners"], "role", CODES["role"])

    f = frames["core.funding_requests"]
    for col in ("type_credit", "nature", "decision"):
        _in_set(f, col, CODES[col])
    _non_negative(f, "amounts_non_negative", ["montant_sollicite", "montant_accorde", "montant_verse"])
    f.add("payments_within_grants", "montant_verse ≤ montant_accorde on every request where both are given",
          expect("ExpectColumnPairValuesAToBeGreaterThanB", column_A="montant_accorde", column_B="montant_verse",
             or_equal=True, ignore_row_if="either_value_is_missing"), rows=True)
    _in_order(f, "decision_after_request", "date_decision", "date_sollicitation")

    _in_set(frames["core.governance_meetings"], "instance", CODES["instance"])
    _not_found(frames["core.meeting_participants"], "meeting_exists",
               "every participant's meeting (territory_id, source_row) is in core.governance_meetings "
               "(sample: territory_id/source_row)", "unknown_meeting", "t.territory_id || '/' || t.source_row",
               "t.source_row IS NOT NULL AND NOT EXISTS (SELECT 1 FROM core.governance_meetings g "
               "WHERE g.territory_id = t.territory_id AND g.source_row = t.source_row)")

    _in_set(frames["core.good_practices"], "canal", CODES["canal"])

    f = frames["core.practice_reuse"]
    _not_found(f, "practice_exists", "every reused practice is in core.good_practices of its territory "
               "(sample: territory_id/pratique_id)", "unknown_practice", "t.territory_id || '/' || t.pratique_id",
               "t.pratique_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM core.good_practices g "
               "WHERE g.territory_id = t.territory_id AND g.pratique_id = t.pratique_id)")
    _listed(f, "reused_by", ids, "reused_by_known", "the territories of territories.csv")

    for name, frame in frames.items():
        if name != "core.territories":
            _listed(frame, "territory_id", ids, "territory_known", "the territories of territories.csv",
                    blocking=False)
    return list(frames.values())


# -- the marts ----------------------------------------------------------------------------------------------

ACROSS_MARTS = "marts.*"  # the table the checks spanning every mart are reported under
_PER_TERRITORY = ("marts.mart_timeliness", "marts.mart_good_practices", "marts.mart_evaluation_territories")
# marts with rows for every territory (late items, funding, practices and history may have none for one)
_EVERY_TERRITORY = (*_PER_TERRITORY, "marts.mart_partner_mobilisation")
ITEM_TYPES = ("roadmap", "action", "milestone")
ITEM_STATES = ("done_late", "overdue")
LATE = "marts.mart_late_items"
FUNDING = "marts.mart_funding"
HISTORY = "marts.mart_history"


def _national_checks(frame: Frame) -> None:
    units = (*COUNT_UNITS, *AMOUNT_UNITS, *MEASURE_UNITS)
    _in_set(frame, "unit", units, name="unit_in_codes")
    _not_found(frame, "value_in_its_column", "each value in the column of its unit's kind: value_count for "
               f"{_words(COUNT_UNITS)}, value_amount for {_words(AMOUNT_UNITS)}, value_measure for "
               f"{_words(MEASURE_UNITS)}; the other two null; counts and amounts never null (sample: indicators)",
               "misplaced_value", "t.indicator",
               f"(t.value_count IS NULL) = list_contains({id_list(COUNT_UNITS)}, t.unit) "
               f"OR (t.value_amount IS NULL) = list_contains({id_list(AMOUNT_UNITS)}, t.unit) "
               f"OR (t.value_measure IS NOT NULL AND NOT list_contains({id_list(MEASURE_UNITS)}, t.unit))")


def _late_item_checks(frame: Frame) -> None:
    _in_set(frame, "item_type", ITEM_TYPES, name="item_type_in_codes")
    _in_set(frame, "state", ITEM_STATES, name="state_in_codes")
    _in_order(frame, "done_after_due", "done_date", "due_date", strict=True)
    _in_order(frame, "due_by_as_of", "as_of", "due_date")
    _in_order(frame, "done_by_as_of", "as_of", "done_date")
    _not_found(frame, "days_late_as_defined", "days_late = done_date − due_date when done, else as_of − due_date; "
               "state done_late iff done_date is given; action_id null iff the item is the roadmap "
               "(sample: territory_id/item)", "wrong_item", "t.territory_id || '/' || t.item",
               "t.days_late IS DISTINCT FROM coalesce(t.done_date, t.as_of) - t.due_date "
               "OR (t.state = 'done_late') <> (t.done_date IS NOT NULL) "
               "OR (t.item_type = 'roadmap') <> (t.action_id IS NULL)")


def _funding_checks(frame: Frame) -> None:
    frame.add("paid_within_granted", "amount_paid ≤ amount_granted on every row",
              expect("ExpectColumnPairValuesAToBeGreaterThanB", column_A="amount_granted", column_B="amount_paid",
                 or_equal=True, ignore_row_if="either_value_is_missing"), rows=True)
    frame.add("at_least_one_request", "requests ≥ 1 on every row (a row per axe and financeur with a request)",
              expect("ExpectColumnValuesToBeBetween", column="requests", min_value=1), rows=True)
    _not_found(frame, "oldest_pending_only_when_pending", "oldest_pending_days null when pending_requests is 0 "
               "(sample: territory_id/axe/financeur)", "pending_mismatch",
               "t.territory_id || '/' || t.axe || '/' || t.financeur",
               "t.pending_requests = 0 AND t.oldest_pending_days IS NOT NULL")


def _history_checks(frame: Frame) -> None:
    _in_order(frame, "evaluation_date_by_as_of", "as_of", "evaluation_date")
    _not_found(frame, "quarter_end_or_as_of", "evaluation_date is a quarter end (31/03, 30/06, 30/09, 31/12) or "
               "as_of (sample: territory_id/evaluation_date)", "odd_date",
               "t.territory_id || '/' || t.evaluation_date",
               "t.evaluation_date <> t.as_of AND (month(t.evaluation_date) % 3 <> 0 "
               "OR t.evaluation_date <> last_day(t.evaluation_date))")


_NEW_MART_CHECKS = {"marts.mart_evaluation_national": _national_checks, LATE: _late_item_checks,
                    FUNDING: _funding_checks, HISTORY: _history_checks}


def _consistency_frames() -> list[Frame]:
    """The rules that tie the new marts to mart_timeliness, mart_partner_mobilisation and mart_good_practices
    (INDICATORS.md), reported under the new mart."""
    frames = []
    f = Frame(LATE, f"""
        SELECT m.territory_id,
               CASE WHEN m.roadmap_status IN ('late', 'missing') THEN 1 ELSE 0 END AS roadmap_expected,
               count(*) FILTER (WHERE l.item_type = 'roadmap') AS roadmap_rows,
               m.actions_due - m.actions_on_time AS action_expected,
               count(*) FILTER (WHERE l.item_type = 'action') AS action_rows,
               m.milestones_late AS milestone_expected,
               count(*) FILTER (WHERE l.item_type = 'milestone') AS milestone_rows
        FROM marts.mart_timeliness m LEFT JOIN {LATE} l USING (territory_id)
        GROUP BY ALL""", ["territory_id"])
    f.add("rows_agree_with_timeliness", "per territory: a roadmap row iff roadmap_status is late or missing, "
          "actions_due − actions_on_time action rows and milestones_late milestone rows (mart_timeliness)",
          *[expect("ExpectColumnPairValuesToBeEqual", column_A=f"{kind}_expected", column_B=f"{kind}_rows")
            for kind in ("roadmap", "action", "milestone")], rows=True)
    frames.append(f)
    f = Frame(FUNDING, f"""
        SELECT m.territory_id, m.partner, m.requests AS requests_expected, coalesce(sum(f.requests), 0) AS requests,
               m.amount_granted AS granted_expected, coalesce(sum(f.amount_granted), 0) AS amount_granted
        FROM marts.mart_partner_mobilisation m LEFT JOIN {FUNDING} f
             ON f.territory_id = m.territory_id AND f.financeur = m.partner
        GROUP BY ALL""", ["territory_id", "partner"])
    f.add("adds_up_to_mobilisation", "per territory and financeur, requests and amount_granted summed over the axes "
          "equal mart_partner_mobilisation's",
          expect("ExpectColumnPairValuesToBeEqual", column_A="requests_expected", column_B="requests"),
          expect("ExpectColumnPairValuesToBeEqual", column_A="granted_expected", column_B="amount_granted"), rows=True)
    frames.append(f)
    compared = ("roadmap_status", "in_force", "actions_due", "actions_on_time", "milestones_due", "milestones_late",
                "practices_shared")
    f = Frame(HISTORY, f"""
        SELECT m.territory_id,
               {", ".join(f"(h.{c} IS NOT DISTINCT FROM m.{c}) AS same_{c}" for c in compared)}
        FROM (SELECT t.*, g.practices_shared FROM marts.mart_timeliness t
              JOIN marts.mart_good_practices g USING (territory_id)) m
        JOIN {HISTORY} h ON h.territory_id = m.territory_id AND h.evaluation_date = m.as_of""", ["territory_id"])
    f.add("as_of_row_repeats_the_marts", "the row at evaluation_date = as_of has mart_timeliness's and "
          "mart_good_practices' values", *[expect("ExpectColumnValuesToBeInSet", column=f"same_{c}", value_set=[True])
                                           for c in compared], rows=True)
    frames.append(f)
    return frames


def _mart_frames(territory_ids: Sequence[str]) -> list[Frame]:
    ids = list(territory_ids)
    frames: list[Frame] = []
    for name, table in MARTS.items():
        cols = set(table.column_names)
        extra = ""
        if name == "marts.mart_evaluation_national":
            extra = ", CASE WHEN unit IN ('share', 'rate') THEN value_measure END AS ratio_value"
        required = [c.name for c in table.columns if not c.nullable and c.name != "as_of"]
        frame = Frame(name, f"SELECT *{extra} FROM {name}", table.key or required)
        frames.append(frame)
        words = ""
        if name in _PER_TERRITORY:
            words = "territory_id unique: at most one row per territory"
        elif name == "marts.mart_partner_mobilisation":
            words = "(territory_id, partner) unique: at most one row per partner of a territory"
        if table.key:
            _key_checks(frame, table, unique_words=words)
        else:  # one row per item, which has no key of its own
            frame.add("required_present", f"{', '.join(required)} never null",
                      *[expect("ExpectColumnValuesToNotBeNull", column=c) for c in required], rows=True)
        if "territory_id" in cols:
            if name in _EVERY_TERRITORY:
                frame.add("territories_present", "every territory of territories.csv has its rows",
                          expect("ExpectColumnDistinctValuesToContainSet", column="territory_id", value_set=ids))
            _listed(frame, "territory_id", ids, "only_listed_territories",
                    "the territories of territories.csv: no row for any other territory")
        ratios = [c for c in RATIO_COLUMNS if c in cols]
        if name == "marts.mart_evaluation_national":
            ratios = ["ratio_value"]
        if ratios:
            what = "value of the indicators of unit share or rate" if ratios == ["ratio_value"] else ", ".join(ratios)
            frame.add("ratios_within_0_1", f"{what} between 0 and 1 (null allowed)",
                      *[expect("ExpectColumnValuesToBeBetween", column=c, min_value=0, max_value=1) for c in ratios],
                      rows=True)
        counts = [c.name for c in table.columns if c.type in ("INTEGER", "BIGINT", "DECIMAL(18,2)") and not c.key
                  and c.name not in SIGNED_COLUMNS]
        _non_negative(frame, "counts_non_negative", counts, what=f"counts and amounts ({', '.join(counts)})")
        if "roadmap_status" in cols:
            _in_set(frame, "roadmap_status", ROADMAP_STATUSES, name="roadmap_status_in_codes")
        if "convention_signature_state" in cols:
            _in_set(frame, "convention_signature_state", SIGNATURE_STATES, name="signature_state_in_codes")
        for later, earlier in (("actions_due", "actions_on_time"), ("actions_total", "actions_due"),
                               ("milestones_due", "milestones_late"), ("practices_documented", "practices_shared"),
                               ("requests", "decided_requests"), ("requests", "pending_requests"),
                               ("meetings_total", "meetings_attended")):
            if later in cols and earlier in cols:
                frame.add(f"{earlier}_within_{later}", f"{earlier} ≤ {later} on every row where both are given",
                          expect("ExpectColumnPairValuesAToBeGreaterThanB", column_A=later, column_B=earlier,
                             or_equal=True, ignore_row_if="either_value_is_missing"), rows=True)
        if name in _NEW_MART_CHECKS:
            _NEW_MART_CHECKS[name](frame)
        if name == "marts.mart_practice_diffusion":
            frame.add("reused_by_count_matches", "reused_by_count = the length of reused_by",
                      expect("ExpectColumnPairValuesToBeEqual", column_A="reused_by_count", column_B="reused_by_len",
                         ignore_row_if="both_values_are_missing"), rows=True)
            frame.sql = f"SELECT *, len(reused_by) AS reused_by_len FROM {name}"

    # Row counts the definitions imply, over the territories each mart has (a territory missing
    # altogether is the failure of its territories_present check).
    mob = "marts.mart_partner_mobilisation"
    f = Frame(mob, f"SELECT territory_id, count(*) AS row_count FROM {mob} GROUP BY ALL", ["territory_id"])
    f.add("at_least_five_rows_per_territory", "each territory has at least 5 rows (the national partners, plus "
          "any other partner named)",
          expect("ExpectColumnValuesToBeBetween", column="row_count", min_value=len(NATIONAL_PARTNERS)), rows=True)
    frames.append(f)
    f = Frame(mob, f"""
        SELECT t.territory_id, p.partner, count(m.partner) AS row_count
        FROM (SELECT DISTINCT territory_id FROM {mob}) t
        CROSS JOIN (SELECT unnest({id_list(NATIONAL_PARTNERS)}) AS partner) p
        LEFT JOIN {mob} m ON m.territory_id = t.territory_id AND m.partner = p.partner
        GROUP BY ALL""", ["territory_id", "partner"])
    f.add("one_row_per_national_partner", f"each territory has exactly one row for each of "
          f"{_words(NATIONAL_PARTNERS)}",
          expect("ExpectColumnValuesToBeBetween", column="row_count", min_value=1, max_value=1), rows=True)
    frames.append(f)

    frames += _consistency_frames()
    union = " UNION ALL ".join(f"SELECT DISTINCT {sql_literal(m)} AS mart, as_of FROM {m}" for m in MARTS)
    f = Frame(ACROSS_MARTS, f"SELECT * FROM ({union}) ORDER BY ALL", ["mart"])
    f.add("single_as_of", "all the marts' rows carry one and the same as_of",
          expect("ExpectColumnUniqueValueCountToBeBetween", column="as_of", max_value=1), rows=True)
    frames.append(f)
    return frames


# -- running them -------------------------------------------------------------------------------------------


@contextmanager
def _quiet_gx() -> Iterator[None]:
    """Silence the warnings GX (and what it imports) emits, by category and message only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"module 'sre_\w+' is deprecated", category=DeprecationWarning)
        yield


def _plain(value: Any) -> Any:
    """A JSON-able version of a value GX returns (numpy scalars, Timestamps, Decimals, tuples)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else _plain(pd.Timestamp(value))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _outcome(frame: Frame, check: Check, results: list[Any], df: Any) -> CheckOutcome:
    passed, unexpected, elements, sample = True, 0, 0, []
    for expect, result in zip(check.expects, results, strict=True):
        passed = passed and bool(result.success)
        info = result.exception_info or {}
        if info.get("raised_exception"):
            sample.append(f"{expect.kind} raised: {info.get('exception_message')}")
            continue
        r = result.result or {}
        if expect.kind == "ExpectColumnDistinctValuesToContainSet":
            unexpected += int(r.get("missing_count") or 0)
            elements = max(elements, len(expect.kwargs["value_set"]))
            sample.extend(sorted(r.get("partial_missing_list") or []))
        elif expect.kind == "ExpectColumnUniqueValueCountToBeBetween":
            elements = max(elements, len(df))
            if not result.success:
                unexpected += int(r.get("observed_value") or 0)
                sample.extend(df.head(SAMPLE_SIZE).to_dict("records"))
        else:
            unexpected += int(r.get("unexpected_count") or 0)
            elements = max(elements, int(r.get("element_count") or 0))
            if not result.success:
                found = r.get("partial_unexpected_index_list" if check.rows else "partial_unexpected_list")
                sample.extend(found or [])
    return CheckOutcome(table=frame.table, name=check.name, expectation=check.expectation, passed=passed,
                        unexpected_count=unexpected, element_count=elements,
                        sample=[_plain(v) for v in sample[:SAMPLE_SIZE]], blocking=check.blocking)


def _held(frame: Frame, check: Check, results: list[Any], df: Any) -> CheckOutcome:
    """A check whose expectations all held (results without counts: BOOLEAN_ONLY, no `mostly`), as `_outcome`
    counts it: nothing unexpected, its elements those that GX would count (the expected set for
    ExpectColumnDistinctValuesToContainSet, every row for the others)."""
    assert all(r.success for r in results), "_held is for checks whose expectations all held"
    elements = max((len(e.kwargs["value_set"]) if e.kind == "ExpectColumnDistinctValuesToContainSet" else len(df)
                    for e in check.expects), default=0)
    return CheckOutcome(table=frame.table, name=check.name, expectation=check.expectation, passed=True,
                        unexpected_count=0, element_count=elements, sample=[], blocking=check.blocking)


# expectations about a whole column that an empty frame can fail; every other one is row-wise
_NOT_VACUOUS = {"ExpectColumnDistinctValuesToContainSet", "ExpectColumnUniqueValueCountToBeBetween"}


class _FieldsKept:
    """GX rebuilds an expectation's configuration each time it is asked for it (`Expectation.configuration`:
    pydantic's dict of the expectation's fields, then its type's snake-case name by regular expressions), some
    80 times per expectation and validation: a third of GX's time on the suites. While a suite is validated its
    expectations do not change, so within `kept()` the dict of each one's fields is made once, and each
    configuration is still a new object built from a copy of it, as GX builds it (a shallow copy: the lists
    in it, such as a value set of 1,400 territory ids, are shared by the configurations of one validation
    where GX copied them each time; nothing in GX's validation changes them). Installed once per process
    (`install`), on GX's pinned version; outside `kept()`, or on another thread, GX's own property answers.
    The outcomes are the same (tests compare them with GX's own on broken warehouses)."""

    def __init__(self) -> None:
        self.fields: dict[int, tuple[Any, dict[str, Any]]] = {}  # id -> (the expectation, kept alive: its id
        self.thread: int | None = None                           # is not reused meanwhile; its fields)
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        from great_expectations.expectations import expectation as module

        original = module.Expectation.configuration
        snake = functools.lru_cache(maxsize=None)(module.camel_to_snake)
        kept = self

        def configuration(expectation: Any) -> Any:
            if kept.thread != threading.get_ident():
                return original.fget(expectation)
            hit = kept.fields.get(id(expectation))
            if hit is None:
                hit = kept.fields[id(expectation)] = (expectation, expectation.dict(exclude_defaults=True))
            kwargs = dict(hit[1])
            return module.ExpectationConfiguration(
                type=snake(type(expectation).__name__), kwargs=kwargs, meta=kwargs.pop("meta", None),
                notes=kwargs.pop("notes", None), description=kwargs.pop("description", None),
                severity=kwargs.pop("severity", module.FailureSeverity.CRITICAL), id=kwargs.pop("id", None),
                rendered_content=kwargs.pop("rendered_content", None))

        module.Expectation.configuration = property(configuration, doc=original.__doc__)
        self.installed = True

    @contextmanager
    def kept(self) -> Iterator[None]:
        self.thread = threading.get_ident()
        try:
            yield
        finally:
            self.thread = None
            self.fields.clear()


_FIELDS = _FieldsKept()


class _Gx:
    """GX imported, with an ephemeral context and a pandas data source that frames are validated in."""

    def __init__(self) -> None:
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _FIELDS.install()
        self.gx, self.gxe = gx, gxe
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # one data asset for every frame, its rows given as the batch's parameter: each asset added or deleted
        # has GX write its whole configuration again (a tenth of a validation's time)
        self.frames = (self.context.data_sources.add_pandas("warehouse").add_dataframe_asset("frame")
                       .add_batch_definition_whole_dataframe("whole"))

    def validate(self, n: int, frame: Frame, df: Any, detailed: bool = False) -> list[CheckOutcome]:
        """The outcomes of the frame's checks on df (its rows), the frame being the n-th of its run; `detailed`:
        GX's counts at once, even where every expectation holds (the same outcomes, more slowly)."""
        # the suite made with its expectations, each kept: `add_expectation` compared each new one with all those
        # added before, to leave out an equal one (a tenth of GX's time here), where every check is wanted
        suite = self.gx.ExpectationSuite(name=f"{n}_{frame.table}", expectations=[
            getattr(self.gxe, expect.kind)(**expect.kwargs, meta={"check": [i, j]})
            for i, check in enumerate(frame.checks) for j, expect in enumerate(check.expects)])
        batch = self.frames.get_batch(batch_parameters={"dataframe": df})
        # first whether each expectation holds, which is most of the time all there is to say (GX then builds no
        # counts nor samples: about 40 % of its time); the counts and samples when one does not (or may count
        # rows it let pass: `mostly`), from a second look
        quick = not detailed and not any("mostly" in e.kwargs for c in frame.checks for e in c.expects)
        with _FIELDS.kept():
            result = batch.validate(suite, result_format="BOOLEAN_ONLY") if quick else None
            outcome = _held
            if result is None or not result.success:
                outcome = _outcome
                result = batch.validate(suite, result_format={
                    "result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE,
                    "unexpected_index_column_names": frame.ids, "return_unexpected_index_query": False})
        by_check: dict[int, dict[int, Any]] = {}
        for r in result.results:
            i, j = r.expectation_config.meta["check"]
            by_check.setdefault(i, {})[j] = r
        return [outcome(frame, check, [by_check.get(i, {})[j] for j in range(len(check.expects))], df)
                for i, check in enumerate(frame.checks)]


# the validator is sent the due frames in batches of about this many bytes (Arrow), each shared between its copies
BATCH_BYTES = 8 * 2**20


def run_frames(con: duckdb.DuckDBPyConnection, frames: list[Frame], validator: "Validator | None" = None
               ) -> list[CheckOutcome]:
    """Each frame's checks: in the validator process when one is given (and usable), the due frames sent in
    batches (BATCH_BYTES), else here one frame after the other, GX being imported (seconds) and given a context
    only when a frame has rows to validate."""
    remote = validator if validator is not None and validator.usable() else None
    local: _Gx | None = None
    found: dict[int, list[CheckOutcome]] = {}  # frame index -> its outcomes
    sent: list[tuple[int, Frame, Any]] = []  # the next batch for the validator
    size = 0  # its bytes
    with _quiet_gx():
        for n, frame in enumerate(frames):
            if frame.due and remote is not None and (taken := remote.ahead.take(con, frame)) is not None:
                found[n] = taken  # the same checks on the same rows, validated while the run did other work
                continue
            # as Arrow: compact to send to the validator, made pandas (_pandas) where GX runs
            rows = con.execute(frame.query()).to_arrow_table() if frame.due else None
            if rows is None or _vacuous(frame, rows):
                # not due: this content passed these suites before; empty (e.g. no changed territory): every
                # row-wise expectation holds
                found[n] = [CheckOutcome(frame.table, c.name, c.expectation, True, 0, 0, [], c.blocking)
                            for c in frame.checks]
            elif remote is not None:
                sent.append((n, frame, rows))
                size += rows.nbytes
                if size >= BATCH_BYTES:  # memory stays bounded on a large run
                    remote = _ask(remote, sent, found)
                    sent, size = [], 0
            else:
                if local is None:
                    local = _Gx()
                found[n] = local.validate(n, frame, _pandas(rows))
        if sent:
            _ask(remote, sent, found)
    return [outcome for n in sorted(found) for outcome in found[n]]


def _vacuous(frame: Frame, rows: Any) -> bool:
    """Whether every check of the frame holds on these rows without a look: none, and every expectation
    row-wise."""
    return rows.num_rows == 0 and all(e.kind not in _NOT_VACUOUS for c in frame.checks for e in c.expects)


def _ask(remote: "Validator | None", sent: list[tuple[int, Frame, Any]], found: dict[int, list[CheckOutcome]]
         ) -> "Validator | None":
    """The outcomes of the frames sent, from the validator (None: lost before) or, when it is lost, from GX
    here (with a warning); the validator to ask next (None once lost)."""
    if remote is not None:
        try:
            found.update(zip([n for n, _, _ in sent], remote.validate_all(sent), strict=True))
            return remote
        except ValidatorLost as lost:  # killed, or out of memory: the checks still run, here
            warnings.warn(f"{lost}; validating in this process instead", RuntimeWarning, stacklevel=3)
    local = _Gx()
    found.update((n, local.validate(n, frame, _pandas(rows))) for n, frame, rows in sent)
    return None


def _pandas(rows: Any) -> Any:
    """An Arrow table of a frame's rows as the pandas frame DuckDB would have given (the same conversion), in
    the types GX compares as whole columns (_comparable)."""
    return duckdb.from_arrow(_comparable(rows)).df()


def _comparable(rows: Any) -> Any:
    """The table with its dates as nanosecond timestamps, where every value of the column fits them (1677–2262),
    and its integers in 64 bits. GX compares such columns with a range as a whole; DuckDB's dates arrive in
    microseconds and its INTEGER columns in 32 bits, which GX compares row by row in Python (0.8 s of the 3 s the
    core suites took on 1,400 territories). A column with a date outside that range stays as it is: the same
    outcome, row by row."""
    import pyarrow as pa

    columns = []
    for column, kind in zip(rows.columns, rows.schema, strict=True):
        if pa.types.is_date(kind.type):
            with contextlib.suppress(pa.ArrowInvalid):
                column = column.cast(pa.timestamp("ns"))
        elif pa.types.is_integer(kind.type) and kind.type.bit_width < 64:
            column = column.cast(pa.int64())
        columns.append(column)
    return pa.table(columns, names=rows.column_names)


# -- GX in a process of its own -----------------------------------------------------------------------------
# Importing GX costs 3–7 s of CPU here: more than everything else a one-territory refresh does. An in-process run
# of `run_pipeline` starts a Validator first (`validator_for_run`), unless its process kept one from an earlier
# run (`KeptValidator`): a process that imports GX on another core while the run sets Dagster up, reads, parses
# and normalises; the run hands it to its checks (the `validator` resource), which send it their frames.


class ValidatorLost(Exception):
    """The validator process ended (killed, out of memory) before it answered."""


class ValidatorError(Exception):
    """GX raised an error while validating a frame in the validator process (the message has its traceback)."""


def _answer(gx: "_Gx | None", failure: str, request: tuple[int, Frame, Any]) -> tuple[str, Any]:
    """("ok", outcomes) for one frame sent to the validator, or ("error", traceback)."""
    import traceback

    n, frame, rows = request
    try:
        if gx is None:
            raise RuntimeError(failure)
        return "ok", gx.validate(n, frame, _pandas(rows))
    except Exception:
        return "error", traceback.format_exc()


def _weight(request: tuple[int, Frame, Any]) -> int:
    """A frame's validation cost, roughly: GX's time goes mostly per expectation, some per row."""
    _, frame, rows = request
    return sum(len(c.expects) for c in frame.checks) * (1 + rows.num_rows // 5000)


def _answers(gx: "_Gx | None", failure: str, requests: list[tuple[int, Frame, Any]], workers: int,
             lower: bool = False) -> list[tuple[str, Any]]:
    """Each request's answer, in order. With several frames and cores, shared between this process and copies of
    it forked once GX is imported (copy-on-write: no import again), the heaviest frames first to the least
    loaded; the run's process only waits for the answers meanwhile, so every core validates. `lower`: every
    share goes to a copy that runs only when a core has nothing else to run (_lower_priority): checks started
    ahead fill the cores the run leaves idle, without slowing what it does meanwhile; until the run hurries
    this process (_until_hurried)."""
    import pickle

    _reap_stopped()
    shares: list[list[int]] = [[] for _ in range(max(1, min(workers, len(requests))))]
    loads = [0] * len(shares)
    for i in sorted(range(len(requests)), key=lambda i: -_weight(requests[i])):
        least = loads.index(min(loads))
        shares[least].append(i)
        loads[least] += _weight(requests[i])
    copies: list[tuple[int, int, list[int]]] = []
    for share in shares if lower else shares[1:]:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: its share's answers through the pipe, then gone (no exit handler of the parent)
            status = 1
            try:
                os.close(read)
                if lower:
                    _lower_priority()
                with os.fdopen(write, "wb") as out:
                    pickle.dump([_answer(gx, failure, requests[i]) for i in share], out)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        copies.append((pid, read, share))
    answers: dict[int, tuple[str, Any]] = {} if lower else {i: _answer(gx, failure, requests[i]) for i in shares[0]}
    if lower:
        copies = _until_hurried(gx, failure, requests, list(copies), answers)
        if copies:  # the run waits for them: stopped, and their shares validated again at the run's priority
            for pid, read, _ in copies:
                os.kill(pid, signal.SIGKILL)
                os.close(read)
                _STOPPED.append(pid)  # not waited for: at the lowest priority, even exiting may wait for a core
            again = [i for _, _, share in copies for i in share]
            answers.update(zip(again, _answers(gx, failure, [requests[i] for i in again], workers), strict=True))
            copies = []
    _collect(gx, failure, requests, copies, answers)
    return [answers[i] for i in range(len(requests))]


def _collect(gx: "_Gx | None", failure: str, requests: list[tuple[int, Frame, Any]],
             copies: list[tuple[int, int, list[int]]], answers: dict[int, tuple[str, Any]]) -> None:
    """The answers of these copies (pid, the pipe they answer through, their share), waited for in turn; a
    copy that died has its share answered here."""
    for pid, read, share in copies:
        with os.fdopen(read, "rb") as got:
            data = got.read()
        os.waitpid(pid, 0)
        _share_answered(gx, failure, requests, share, data, answers)


def _share_answered(gx: "_Gx | None", failure: str, requests: list[tuple[int, Frame, Any]], share: list[int],
                    data: bytes, answers: dict[int, tuple[str, Any]]) -> None:
    """A copy's share answered from what it wrote (its answers, pickled), or here when it died first (nothing
    whole)."""
    import pickle

    try:
        answers.update(zip(share, pickle.loads(data), strict=True))
    except (EOFError, pickle.UnpicklingError, ValueError):
        answers.update((i, _answer(gx, failure, requests[i])) for i in share)


# Set in the validator process when the run waits for the checks it started ahead (SIGUSR1: Validator.hurry):
# copies at a lower priority may wait long for a core on a machine loaded by other work, the run waiting for
# them; hurried, they are replaced by copies at its priority. Cleared by the next request not started ahead.
_HURRIED = [False]


def _hurried(signum: int, frame: Any) -> None:
    _HURRIED[0] = True


_STOPPED: list[int] = []  # copies stopped by a hurry, not yet reaped


def _reap_stopped() -> None:
    """Reap the stopped copies that have exited, without waiting for the others."""
    for pid in list(_STOPPED):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _STOPPED.remove(pid)


def _until_hurried(gx: "_Gx | None", failure: str, requests: list[tuple[int, Frame, Any]],
                   copies: list[tuple[int, int, list[int]]], answers: dict[int, tuple[str, Any]]
                   ) -> list[tuple[int, int, list[int]]]:
    """The answers of the copies that finish before the run hurries this process (_HURRIED); the copies still
    working then, or still writing their answers (a copy at the lowest priority may write slowly too)."""
    import select

    got: dict[int, bytearray] = {read: bytearray() for _, read, _ in copies}
    while copies and not _HURRIED[0]:
        readable, _, _ = select.select([read for _, read, _ in copies], [], [], 0.02)
        for pid, read, share in [c for c in copies if c[1] in readable]:
            chunk = os.read(read, 1 << 20)
            if chunk:
                got[read] += chunk
                continue
            copies.remove((pid, read, share))  # its answers, whole (or none: it died)
            os.close(read)
            os.waitpid(pid, 0)
            _share_answered(gx, failure, requests, share, bytes(got.pop(read)), answers)
    return copies


def _lower_priority() -> None:
    """This process runs from now on only when a core has nothing else to run: Linux's SCHED_IDLE policy, else
    the highest niceness (19). On a machine loaded by other work it may wait long for a core: when the run comes
    to wait for it, it is replaced (Validator.hurry). A process may lower its priority, never raise it back: a
    forked copy does it, for its one batch."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


def _memory_giver() -> Callable[[], None]:
    """What hands the freed heap back to the system after a batch: garbage collected, then glibc's malloc_trim
    where there is one (a process that validated large frames otherwise keeps their memory until it ends)."""
    import ctypes
    import gc

    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the C library the process runs with
    except OSError:
        trim = None

    def give_back() -> None:
        gc.collect()
        if trim is not None:
            trim(0)

    return give_back


# What GX imports when it is imported but uses only for expectations the suites do not have: scipy.stats (its
# statistical tests; 0.8 s of GX's 3 s import here). The validator process defers it: importlib's LazyLoader puts
# the module in place unloaded, and loads it whole on its first use, if any.
DEFERRED_IMPORTS = ("scipy.stats",)


def defer_imports(names: Sequence[str] = DEFERRED_IMPORTS) -> list[str]:
    """Put these modules in place, loaded on first use (importlib.util.LazyLoader); those already imported or
    not installed are left alone. The names deferred."""
    import importlib.util
    import sys

    deferred = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)  # imports its parent package (scipy's own is light)
        except ImportError:
            continue
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        deferred.append(name)
    return deferred


def _serve(conn: Any) -> None:
    """The validator process: import GX at once, then validate the frames it is sent ((copies, a list)),
    answering each ("ok", outcomes) or ("error", traceback); with copies > 1, the list is shared with forked
    copies of it."""
    import gc
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run's process, which then ends this one
    signal.signal(signal.SIGUSR1, _hurried)  # before the run may send it (Validator.hurry, once it is ready)
    gx: _Gx | None = None
    failure = ""
    defer_imports()
    with _quiet_gx():
        try:
            gx = _Gx()  # the import, and a first context (what it imports on first use), before any request
            # and a first validation: what GX makes on first use (a progress bar's lock, a semaphore), made here
            # once, not in each forked copy, which would leave it to the resource tracker as leaked
            warm = Frame("warm_up", "SELECT 1 AS a", ["a"])
            warm.add("not_null", "a is set", expect("ExpectColumnValuesToNotBeNull", column="a"))
            gx.validate(-1, warm, _pandas(duckdb.sql(warm.sql).to_arrow_table()))
        except Exception:  # GX cannot be imported: every request gets the reason
            failure = traceback.format_exc()
        # GX's import leaves some 270,000 objects the collector tracks, which live as long as the process (a full
        # collection of them alone: 0.1 s): out of its sight (gc.freeze), each collection, automatic or after a
        # batch, looks at the batch's objects only, not at all of GX's again (a full run at 1,400 territories:
        # the core checks 1.8 → 1.45 s, the marts' 1.0 → 0.8 s; at 14, the core checks 0.62 → 0.41-0.48 s);
        # forked copies inherit it
        gc.freeze()
        try:
            give_back = _memory_giver()
            conn.send(("ready", None))
            while True:
                copies, requests, lower = conn.recv()
                if not lower:  # the run has moved on to checks it did not start ahead
                    _HURRIED[0] = False
                conn.send(_answers(gx, failure, requests, copies, lower))
                give_back()  # the batch's frames are freed: between batches, the process stays small
        except (EOFError, OSError):  # the pipe is closed: the run's process is done with it, or gone
            return


class Validator:
    """A process that validates frames with GX, so that GX is imported there, on another core, while the run
    does its other work. Started when made (GX imported there at once), stopped by `stop` or at the end of a
    `with` block; handed to the checks (`validate_core`, `validate_marts`: `validator`). Stopped when this process
    exits at the latest (a safety net: a run stops its own when it ends)."""

    def __init__(self, copies: int | None = None) -> None:
        """`copies`: processes that validate a batch of frames together (the validator and forked copies of it);
        None: one per core (worker_count)."""
        from qp_analytics.parallel import forkserver_context

        context = forkserver_context()
        self._conn, child = context.Pipe()
        self.copies = copies or worker_count()  # for each batch from now on (a run may set its own)
        self._process = context.Process(target=_serve, args=(child,),
                                        name="qp-analytics GX validator", daemon=True)
        self._process.start()
        child.close()
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._ready = False  # GX imported there (its first message)
        self.hurried = False  # the run waits for the checks it started ahead (hurry): sent at its priority
        self._sender: concurrent.futures.ThreadPoolExecutor | None = None  # asks it for `submit`, in order
        self.frames = 0  # frames validated there
        self.ahead = ChecksAhead(self)  # frames of this run sent to it before their checks come to them
        self._meanwhile: list[Callable[[], object]] = []  # work for this process while GX is imported there
        self.meanwhile_thread: threading.Thread | None = None  # started by the first wait for the import
        # after multiprocessing's exit handler (which kills daemons), so that this one runs first
        atexit.register(self.stop)

    def __enter__(self) -> "Validator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The validator process's id."""
        return self._process.pid

    def usable(self) -> bool:
        """Not stopped, and started by this process (a forked copy of the caller must not share its pipe). A
        process that died is found out when asked (ValidatorLost)."""
        return self._owner == os.getpid() and not self._conn.closed

    def validate_all(self, requests: list[tuple[int, Frame, Any]], lower: bool = False) -> list[list[CheckOutcome]]:
        """The outcomes of each frame (n, frame, rows as an Arrow table), validated in the validator process (and
        its forked copies, one per core); `lower`: by forked copies at a lower priority (`_answers`)."""
        if not self._lock.acquire(blocking=False):
            if not lower:  # what holds the pipe may wait for checks started ahead: the run waits for them now
                self.hurry()
            self._lock.acquire()
        try:
            try:
                if not self._ready:
                    if not self._conn.poll():  # GX is still being imported there: a core is idle meanwhile
                        self._start_meanwhile()
                    self._conn.recv()
                    self._ready = True
                self._conn.send((self.copies, requests, lower and not self.hurried))
                answers = self._conn.recv()
            except (EOFError, OSError):
                self.stop()
                raise ValidatorLost(f"the GX validator process ended (exit code {self._process.exitcode}) while "
                                    f"validating {', '.join(sorted({f.table for _, f, _ in requests}))}") from None
            except BaseException:  # interrupted between a question and its answer: the answer would be read
                self.stop()        # as the next question's, so this process is not asked again
                raise
        finally:
            self._lock.release()
        for (_, frame, _), (status, payload) in zip(requests, answers, strict=True):
            if status != "ok":
                raise ValidatorError(f"Great Expectations failed on {frame.table}, in the validator process:\n"
                                     f"{payload}")
        self.frames += len(requests)
        return [payload for _, payload in answers]

    def ready(self) -> bool:
        """Whether GX is imported in the validator (its first message came), without waiting for it."""
        if not self._ready and self.usable() and self._lock.acquire(blocking=False):
            try:
                if self._conn.poll():
                    self._conn.recv()
                    self._ready = True
            except (EOFError, OSError):
                pass  # lost: the next question says so
            finally:
                self._lock.release()
        return self._ready

    def while_importing(self, *work: Callable[[], object]) -> None:
        """Work for this process to do, on a thread, while it waits for GX's import in the validator: the core
        its question leaves idle imports what its later steps use (the report's charts: 0.3-0.4 s at 14
        territories). Started once, the first time a question finds GX still being imported, never when GX was
        imported before the first question; each piece's failure is left to the step that needs it."""
        self._meanwhile.extend(w for w in work if w not in self._meanwhile)

    def _start_meanwhile(self) -> None:
        if not self._meanwhile or self.meanwhile_thread is not None:
            return

        def run() -> None:
            for work in self._meanwhile:
                with contextlib.suppress(Exception):
                    work()

        self.meanwhile_thread = threading.Thread(target=run, name="qp-while-gx-imports")
        self.meanwhile_thread.start()

    def hurry(self) -> None:
        """The run waits for what it submitted at a lower priority: what is sent from now on is validated at its
        priority, and what the validator's copies are validating at the lower one is validated again at it
        (SIGUSR1, once the validator is ready: its handler is in place before)."""
        self.hurried = True
        if self._ready and self.usable():
            with contextlib.suppress(OSError):
                os.kill(self._process.pid, signal.SIGUSR1)

    def submit(self, requests: list[tuple[int, Frame, Any]], lower: bool = False
               ) -> "concurrent.futures.Future[list[list[CheckOutcome]]]":
        """`validate_all` started now, on a thread of this object's (the requests are sent, and their answers
        read, in the order submitted): its future."""
        if self._sender is None:
            self._sender = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="qp-validator-ahead")
        return self._sender.submit(self.validate_all, requests, lower)

    def stop(self) -> None:
        """End the process: once GX is imported, by closing the pipe (it ends as a process should, its
        resources released); while GX is still being imported (nothing was asked of it), at once."""
        if self._owner != os.getpid() or self._conn.closed:
            return
        atexit.unregister(self.stop)
        if self._sender is not None:  # what was submitted and not sent yet is cancelled; what was sent, lost
            self._sender.shutdown(wait=False, cancel_futures=True)
        try:
            ready = self._ready or self._conn.poll()
        except (EOFError, OSError):
            ready = False
        self._conn.close()
        self._process.join(timeout=5 if ready else 0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def frame_digest(con: duckdb.DuckDBPyConnection, frame: Frame) -> str:
    """What a frame's query gives, as a multiset of rows (_rows_digest): the same rows give the same digest."""
    return con.execute(_rows_digest(f"({frame.query()})")).fetchone()[0]


def _frame_key(frame: Frame) -> str:
    """What a frame's outcomes depend on besides its rows: its table, query, id columns and checks (with the
    values they compare with, such as the territory ids)."""
    return hashlib.sha256(repr((frame.table, frame.query(), frame.ids, frame.checks)).encode()).hexdigest()


# frames validated ahead and not yet answered, at most (each batch holds up to BATCH_BYTES of rows)
AHEAD_IN_FLIGHT = 2


class ChecksAhead:
    """Frames of a run sent to its validator before their checks come to them: a step that has written its
    tables starts (`start`) the checks of its rows on a thread of its own, which reads the frames and sends
    them in batches, and the run goes on while the validator works. When the checks come to a frame,
    `run_frames` takes its outcomes (`take`) only when the frame is the same (table, query, checks) and its
    query gives the same rows now (their digest, read again); any other frame is validated then. Outcomes
    are a function of the checks and the rows alone, so what was taken is what validating then would have
    given. A frame whose outcomes are not back when the checks come to it hurries the validator (`hurry`): its
    copies at the lowest priority may get no core on a loaded machine. What is not taken is dropped when the
    run ends (`finish`)."""

    def __init__(self, validator: "Validator") -> None:
        self.validator = validator
        self._thread: threading.Thread | None = None
        self._sent: dict[str, tuple[str, concurrent.futures.Future, int]] = {}  # key -> digest, batch, index
        self.taken: list[str] = []  # the tables of the frames whose outcomes were taken, since the validator started

    def start(self, connect: Callable[[], contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]],
              frames_of: Callable[[duckdb.DuckDBPyConnection], list[Frame]]) -> None:
        """Read the frames `frames_of` gives (on a connection from `connect`, in one transaction: rows and
        digests from one state of the warehouse) and send them to the validator, on a thread; a failure there
        only leaves the frames to be validated when their checks come."""
        self.finish()
        if not self.validator.usable():
            return
        self.validator.hurried = False
        self._thread = threading.Thread(target=self._send, args=(connect, frames_of), daemon=True,
                                        name="qp-checks-ahead")
        self._thread.start()

    def _send(self, connect: Callable[[], contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]],
              frames_of: Callable[[duckdb.DuckDBPyConnection], list[Frame]]) -> None:
        batches: list[concurrent.futures.Future] = []
        batch: list[tuple[int, Frame, Any]] = []
        keys: list[tuple[str, str]] = []  # each frame's of the batch: its key, the digest of its rows

        def send() -> None:
            if len(batches) >= AHEAD_IN_FLIGHT:  # the rows held here stay bounded
                concurrent.futures.wait([batches[-AHEAD_IN_FLIGHT]])
            future = self.validator.submit(list(batch), lower=True)
            batches.append(future)
            self._sent.update((key, (digest, future, i)) for i, (key, digest) in enumerate(keys))
            batch.clear()
            keys.clear()

        try:
            with connect() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    for n, frame in enumerate(frames_of(con)):
                        if not frame.due:
                            continue
                        rows = con.execute(frame.query()).to_arrow_table()
                        if _vacuous(frame, rows):
                            continue
                        batch.append((n, frame, rows))
                        keys.append((_frame_key(frame), frame_digest(con, frame)))
                        if sum(r.nbytes for _, _, r in batch) >= BATCH_BYTES:
                            send()
                    if batch:
                        send()
                finally:
                    con.execute("COMMIT")
        except Exception:  # noqa: BLE001 (the checks validate these frames themselves when they come)
            return

    def sent(self) -> int:
        """The frames sent ahead and not taken yet, once the thread that reads and sends them is done (hurried:
        it may be waiting for batches validated at the lowest priority)."""
        if self._thread is not None:
            if self._thread.is_alive():
                self.validator.hurry()
            self._thread.join()
        return len(self._sent)

    def take(self, con: duckdb.DuckDBPyConnection, frame: Frame) -> list[CheckOutcome] | None:
        """The frame's outcomes validated ahead, when it is the frame sent and its rows are the rows sent; else
        None (the frame is validated by the caller)."""
        if not self.sent():
            return None
        sent = self._sent.pop(_frame_key(frame), None)
        if sent is None:
            return None
        digest, future, index = sent
        if frame_digest(con, frame) != digest:
            return None
        if not future.done() and not self.validator.hurried:
            self.validator.hurry()  # the run waits for it now
        try:
            outcomes = future.result()[index]
        except (ValidatorLost, ValidatorError, concurrent.futures.CancelledError):
            return None  # validated again by the caller, which says what went wrong
        self.taken.append(frame.table)
        return outcomes

    def finish(self) -> None:
        """Drop what was not taken (the validator's answers to it are still read, and dropped); what is still
        being validated is hurried, so that the answers come soon (this process waits for them when it exits)."""
        self.sent()
        self._thread = None
        if any(not future.done() for _, future, _ in self._sent.values()):
            self.validator.hurry()
        self._sent.clear()


_RUN_VALIDATOR: list["Validator | None"] = [None]  # the validator of the in-process run under way (checks_ahead_in)


@contextmanager
def checks_ahead_in(validator: "Validator | None") -> Iterator[None]:
    """While the block runs (an in-process run), its steps may start checks ahead in this validator
    (run_validator); what was not taken is dropped when it ends."""
    _RUN_VALIDATOR[0] = validator
    try:
        yield
    finally:
        _RUN_VALIDATOR[0] = None
        if validator is not None:
            validator.ahead.finish()


def run_validator() -> "Validator | None":
    """The validator of the in-process run under way (checks_ahead_in), if any."""
    return _RUN_VALIDATOR[0]


@contextmanager
def validator_for_run(wanted: bool = True, copies: int | None = None, kept: "KeptValidator | None" = None
                      ) -> Iterator[Validator | None]:
    """The validator of a run: started now (when wanted), so that GX is imported there while the run does its
    other work, and stopped when the block ends; `copies` as Validator's. With `kept`, the validator it keeps
    for this process instead: started by its first run, kept running for the next ones. None when not wanted,
    or when it cannot start (then the checks validate in their own process; a warning says why)."""
    if not wanted:
        yield None
        return
    if kept is not None and kept.validator is not None and kept.validator.usable():
        kept.validator.copies = copies or worker_count()
        yield kept.validator
        return
    try:
        validator = Validator(copies)
    except OSError as exc:
        warnings.warn(f"the GX validator process could not start ({exc}); validating in this process",
                      RuntimeWarning, stacklevel=3)
        yield None
        return
    if kept is not None:  # stopped when this process exits (Validator's safety net), or when lost
        kept.validator = validator
        yield validator
        return
    with validator:
        yield validator


class KeptValidator:
    """A process's validator kept between its runs (`validator_for_run(kept=...)`): GX is imported once per
    process that runs several (a test session, a long-lived caller of `run_pipeline`) instead of once per run,
    3–5 s of CPU each. A validator that died or was stopped (an interrupted run) is replaced by the next run."""

    def __init__(self) -> None:
        self.validator: Validator | None = None

    def start(self) -> None:
        """A validator started now, unless a usable one is kept: a caller with more to import before its run
        (the command line) has GX imported meanwhile. One that cannot start is left to the run (which warns)."""
        if self.validator is None or not self.validator.usable():
            try:
                self.validator = Validator()
            except OSError:
                self.validator = None


def validate_core(con: duckdb.DuckDBPyConnection, territory_ids: list[str], scope: Scope = None,
                  registry: bool = True, validator: Validator | None = None) -> list[CheckOutcome]:
    """Check the core tables: keys, codes, dates, amounts, references between tables, one convention each;
    with a scope, the rows of those territories (per table if a mapping); the whole registry unless
    `registry` is False. In the validator process when one is given."""
    return run_frames(con, core_frames(territory_ids, scope, registry), validator)


def validate_marts(con: duckdb.DuckDBPyConnection, territory_ids: list[str], due: bool | Collection[str] = True,
                   validator: Validator | None = None) -> list[CheckOutcome]:
    """Check the marts: every territory present, keys, ratios, row counts, one as_of, counts in order.
    `due`: all of them (True), none (False) or the marts named. A mart not due (its content passed before)
    has every check reported passed without a look; the check that all carry one as_of is due with any. In the
    validator process when one is given."""
    names = set(MARTS) if due is True else set() if due is False else set(due)
    frames = _mart_frames(territory_ids)
    for frame in frames:
        frame.due = bool(names) if frame.table == ACROSS_MARTS else frame.table in names
    return run_frames(con, frames, validator)


# -- what a validation looked at ----------------------------------------------------------------------------
# A suite's outcome depends only on the rows it reads, the territory ids and the suites themselves, so a
# content validated before (and passed) need not be validated again. Each content is a digest of the rows as a
# multiset: their number and the sum of DuckDB's 64-bit hash of each whole row (the same rows give the same
# digest whatever their order in the table; any changed value changes its row's hash). DuckDB hashes the rows
# where they are, in parallel: sorting the rows as JSON for a SHA-256 took 0.5 s at 1,400 territories, and a
# one-territory refresh paid it for all of them. A digest that differs only revalidates (a DuckDB upgrade that
# hashed otherwise would cost one validation); the same digest for other rows would need two multisets whose
# 64-bit sums agree by chance.


def _rows_digest(table: str, where: str = "", group: str = "") -> str:
    """SQL giving the digest of a table's rows (their number and the sum of their hashes), per `group` column
    if given."""
    by = f"{group}, " if group else ""
    return (f"SELECT {by}count(*)::VARCHAR || ':' || coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR AS digest "
            f"FROM {table} AS t{where}{f' GROUP BY {group}' if group else ''}")


def core_contents(con: duckdb.DuckDBPyConnection, territories: Sequence[str] | None = None
                  ) -> dict[str, dict[str, str]]:
    """Per core table but the registry: per territory with rows there (all, or those given), the digest of its
    rows."""
    names = [n for n in TABLES if n.startswith("core.") and n != "core.territories"]
    where = "" if territories is None else (
        " WHERE territory_id IN (" + ", ".join(sql_literal(t) for t in territories) + ")" if territories else
        " WHERE false")
    per_table = " UNION ALL ".join(f"SELECT {sql_literal(n)} AS tbl, * FROM ({_rows_digest(n, where, 'territory_id')})"
                                   for n in names)
    contents: dict[str, dict[str, str]] = {n: {} for n in names}
    for table, territory, digest in con.execute(f"SELECT tbl, territory_id, digest FROM ({per_table})").fetchall():
        contents[table][territory] = digest
    return contents


def frame_contents(contents: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, list[str | None]]]:
    """Per core table: per territory with rows there, what its checks read: the digest of its rows, then
    those of the tables it refers to (CORE_READS; None where the territory has no rows there)."""
    return {table: {t: [digest, *[contents[other].get(t) for other in CORE_READS.get(table, ())]]
                    for t, digest in digests.items()}
            for table, digests in contents.items()}


def registry_content(con: duckdb.DuckDBPyConnection, territory_ids: Sequence[str]) -> str:
    """A SHA-256 of the registry rows' digest and of the territory ids checked against it."""
    (digest,) = con.execute(_rows_digest("core.territories")).fetchone()
    return hashlib.sha256(json.dumps([digest, sorted(territory_ids)]).encode()).hexdigest()


def marts_contents(con: duckdb.DuckDBPyConnection, territory_ids: Sequence[str]) -> dict[str, str]:
    """Per mart: a SHA-256 of its rows' digest and of the territory ids checked against them."""
    listed = sorted(territory_ids)
    return {name: hashlib.sha256(json.dumps([con.execute(_rows_digest(name)).fetchone()[0], listed]).encode()
                                 ).hexdigest() for name in MARTS}


def suites_version() -> str:
    """What the suites are: the code version, this module and the marts' (whose constants it uses), and the
    GX version."""
    return f"{modules_version('quality', 'marts')}+gx{importlib.metadata.version('great_expectations')}"
