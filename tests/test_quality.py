"""The data-quality checks (qp_analytics.quality.suites) on small hand-made warehouses.

Each validation costs about a second, so each kind of warehouse is validated once (module fixtures): a good
one where everything passes, empty ones, and broken ones where every rule is broken by its own bad value,
in a way that breaks no other rule; one test per rule then checks that its outcome failed and shows the bad
value, and one test that no other outcome failed.
"""

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pytest

from qp_analytics.marts.compute import compute_marts
from qp_analytics.quality import suites
from qp_analytics.quality.suites import (
    CORE_READS,
    CheckOutcome,
    Frame,
    KeptValidator,
    Validator,
    ValidatorError,
    core_contents,
    core_frames,
    expect,
    frame_contents,
    marts_contents,
    registry_content,
    run_frames,
    validate_core,
    validate_marts,
    validator_for_run,
)
from qp_analytics.schema import MARTS, TABLES, Table
from qp_analytics.warehouse.database import ensure_tables

IDS = ["t1", "t2"]
AS_OF = dt.date(2024, 6, 30)
SHA = "a" * 64
D = dt.date


def put(con: duckdb.DuckDBPyConnection, table: str, *rows: dict) -> None:
    for row in rows:
        cols = ", ".join(f'"{c}"' for c in row)
        con.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def plain_table(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """The table without its PRIMARY KEY nor NOT NULL, so that duplicate or null keys can be written."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.name.split('.')[0]}")
    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
    con.execute(f"CREATE TABLE {table.name} ({cols})")


def convention(tid: str, **changes) -> dict:
    row = {"territory_id": tid, "territory_name": f"CA {tid}", "chef_de_file": "anct",
           "labellisation_date": D(2021, 3, 18), "roadmap_deadline_months": 6, "roadmap_due_date": D(2021, 9, 18),
           "duration_months": 60, "end_date": D(2026, 3, 18), "signature_date": D(2021, 4, 1), "warning_count": 0,
           "source_path": f"{tid}.txt", "source_sha256": SHA}
    return row | changes


def action(tid: str, aid: str, row: int, **changes) -> dict:
    return {"territory_id": tid, "action_id": aid, "axe": "entrepreneuriat", "intitule": f"Action {aid}",
            "statut": "realisee", "debut_prevu": D(2022, 1, 1), "fin_prevue": D(2022, 12, 31),
            "debut_reel": D(2022, 2, 1), "fin_reelle": D(2022, 11, 30), "source_row": row} | changes


def request(tid: str, row: int, aid: str, financeur: str, **changes) -> dict:
    return {"territory_id": tid, "source_row": row, "action_id": aid, "financeur": financeur,
            "type_credit": "specifique", "nature": "subvention", "montant_sollicite": 1000, "montant_accorde": 800,
            "montant_verse": 500, "date_sollicitation": D(2022, 1, 10), "date_decision": D(2022, 3, 1),
            "decision": "accordee"} | changes


def fill_good_core(con: duckdb.DuckDBPyConnection) -> None:
    put(con, "core.territories",
        {"territory_id": "t1", "name": "CA Un", "siren": "200000001", "departement_code": "13",
         "departement": "Bouches-du-Rhône"},
        {"territory_id": "t2", "name": "CA Deux", "siren": "200000002", "departement_code": "974",
         "departement": "La Réunion"})
    put(con, "core.conventions", convention("t1"), convention("t2", chef_de_file="bpifrance", signature_date=None))
    put(con, "core.convention_commitments",
        {"territory_id": "t1", "position": 1, "party": "etat", "ref": "i", "text": "Accompagner.", "page": 2})
    put(con, "core.roadmaps",
        {"territory_id": "t1", "date_adoption": D(2021, 9, 1), "date_annexion": D(2021, 9, 10),
         "source_path": "t1.xlsx", "source_sha256": SHA})
    put(con, "core.actions", action("t1", "A1", 2), action("t1", "A2", 3, statut="en_cours", fin_reelle=None),
        action("t2", "B1", 2, fin_reelle=D(2023, 2, 1)))
    put(con, "core.action_qpv", {"territory_id": "t1", "action_id": "A1", "qpv_code": "QP013001"})
    put(con, "core.action_partners",
        {"territory_id": "t1", "source_row": 2, "action_id": "A1", "partenaire": "anct", "role": "pilote"},
        {"territory_id": "t1", "source_row": 3, "action_id": "A2", "partenaire": "Mairie d'Un", "role": "relais"},
        {"territory_id": "t2", "source_row": 2, "action_id": "B1", "partenaire": "anru", "role": "pilote"})
    put(con, "core.funding_requests", request("t1", 2, "A1", "anct"),
        request("t2", 2, "B1", "bpifrance", type_credit="droit_commun", nature="pret", montant_accorde=None,
                montant_verse=None, date_decision=None, decision="en_instruction"))
    put(con, "core.milestones",
        {"territory_id": "t1", "source_row": 2, "action_id": "A1", "jalon": "Lancement",
         "date_prevue": D(2022, 6, 1), "date_reelle": D(2022, 7, 1)})
    put(con, "core.governance_meetings",
        {"territory_id": "t1", "source_row": 2, "date": D(2022, 2, 1), "instance": "comite_pilotage"})
    put(con, "core.meeting_participants", {"territory_id": "t1", "source_row": 2, "participant": "anct"},
        {"territory_id": "t1", "source_row": 2, "participant": "etat"})
    put(con, "core.good_practices",
        {"territory_id": "t1", "pratique_id": "BP1", "action_id": "A1", "titre": "Guichet unique",
         "date_partage": D(2023, 1, 15), "canal": "webinaire", "source_row": 2})
    put(con, "core.practice_reuse", {"territory_id": "t1", "pratique_id": "BP1", "reused_by": "t2"})
    put(con, "core.avenants",
        {"territory_id": "t1", "number": 1, "extension_months": 12, "signature_date": D(2023, 5, 1),
         "source_path": "t1-avenant.txt", "source_sha256": SHA})


def fill_marts(target: duckdb.DuckDBPyConnection, core: duckdb.DuckDBPyConnection) -> None:
    for name, frame in compute_marts(core, IDS, AS_OF).items():
        target.register("_mart", frame.to_arrow())
        target.execute(f"INSERT INTO {name} SELECT * FROM _mart")
        target.unregister("_mart")


def by_key(outcomes: list[CheckOutcome]) -> dict[tuple[str, str], CheckOutcome]:
    keyed = {(o.table, o.name): o for o in outcomes}
    assert len(keyed) == len(outcomes), "check names must be unique within a table"
    return keyed


def failed(outcomes: list[CheckOutcome]) -> set[tuple[str, str]]:
    return {(o.table, o.name) for o in outcomes if not o.passed}


def in_sample(value, sample: list) -> bool:
    return any(value == s or (isinstance(s, dict) and value in s.values()) for s in sample)


@pytest.fixture(scope="module")
def good():
    con = duckdb.connect()
    ensure_tables(con)
    ensure_tables(con, tables=list(MARTS), definitions=MARTS)
    fill_good_core(con)
    fill_marts(con, con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def good_core(good):
    return validate_core(good, IDS)


@pytest.fixture(scope="module")
def good_marts(good):
    return validate_marts(good, IDS)


def test_good_warehouse_passes(good_core, good_marts):
    outcomes = good_core + good_marts
    assert [(o.table, o.name, o.sample) for o in outcomes if not o.passed] == []
    keyed = by_key(good_core) | by_key(good_marts)
    assert keyed["core.actions", "key_unique"].element_count == 3
    assert keyed["marts.mart_partner_mobilisation", "one_row_per_national_partner"].element_count == 10
    assert all(o.expectation and o.sample == [] for o in outcomes)
    json.dumps([o.__dict__ for o in outcomes])


def test_outcomes_where_all_holds_are_counted_as_gx_counts_them(good, broken_core_warehouse):
    # where every expectation of a frame holds, GX is asked only whether they hold, and the counts are made
    # here: the outcomes must be those of GX's own counts (detailed), frame by frame, in a good warehouse and
    # in one where some frames fail (answered from GX's counts in both ways)
    with suites._quiet_gx():  # noqa: SLF001  GX's import warns (run alone, this test imports it first)
        gx = suites._Gx()  # noqa: SLF001
    for con in (good, broken_core_warehouse):
        frames = core_frames(IDS) + (suites._mart_frames(IDS) if con is good else [])  # noqa: SLF001
        for n, frame in enumerate(frames):
            df = suites._pandas(con.execute(frame.query()).to_arrow_table())  # noqa: SLF001
            assert gx.validate(n, frame, df) == gx.validate(n, frame, df, detailed=True), frame.table


def test_fields_kept_during_a_validation_give_gx_own_outcomes(good, broken_core_warehouse, broken_marts_warehouse,
                                                              monkeypatch):
    # each expectation's fields made once per validation (_FieldsKept) against GX's own configuration property
    # (the same _Gx, the keeping turned off): the same outcomes, quick and detailed, on good and broken rows
    import contextlib

    with suites._quiet_gx():  # noqa: SLF001  GX's import warns (run alone, this test imports it first)
        gx = suites._Gx()  # noqa: SLF001
    cases = [(good, core_frames(IDS) + suites._mart_frames(IDS)),  # noqa: SLF001
             (broken_core_warehouse, core_frames([*IDS, "t3"])), (broken_marts_warehouse, suites._mart_frames(IDS))]  # noqa: SLF001
    kept = []
    for con, frames in cases:
        for n, frame in enumerate(frames):
            df = suites._pandas(con.execute(frame.query()).to_arrow_table())  # noqa: SLF001
            kept.append((gx.validate(n, frame, df), gx.validate(n, frame, df, detailed=True)))
    assert not suites._FIELDS.fields and suites._FIELDS.thread is None  # noqa: SLF001  nothing held after
    monkeypatch.setattr(suites._FIELDS, "kept", contextlib.nullcontext)  # noqa: SLF001
    own = []
    for con, frames in cases:
        for n, frame in enumerate(frames):
            df = suites._pandas(con.execute(frame.query()).to_arrow_table())  # noqa: SLF001
            own.append((gx.validate(n, frame, df), gx.validate(n, frame, df, detailed=True)))
    assert kept == own
    assert any(not o.passed for quick, _ in own for o in quick)  # the broken rows did fail


def test_every_required_check_is_there(good_core, good_marts):
    keyed = by_key(good_core) | by_key(good_marts)
    for table in ("core.actions", "core.action_partners", "core.funding_requests", "core.milestones",
                  "core.governance_meetings", "core.good_practices", "core.conventions"):
        assert (table, "key_present") in keyed
    for table in ("core.action_partners", "core.funding_requests", "core.milestones", "core.good_practices"):
        assert (table, "action_exists") in keyed
    for mart in ("mart_timeliness", "mart_good_practices", "mart_evaluation_territories", "mart_partner_mobilisation"):
        assert (f"marts.{mart}", "territories_present") in keyed
    assert ("marts.*", "single_as_of") in keyed
    blocking = {k for k, o in keyed.items() if o.blocking}
    assert all(k in blocking for k in keyed if k[0].startswith("marts"))
    assert {k for k in keyed if k not in blocking} == {
        ("core.territories", "siren_format"), ("core.conventions", "source_sha256_format"),
        ("core.action_qpv", "qpv_code_format"), ("core.convention_commitments", "party_in_codes"),
        *((t, "territory_known") for t in TABLES if t.startswith("core.") and t != "core.territories")}


def test_empty_warehouse_passes_but_territories_missing():
    con = duckdb.connect()
    ensure_tables(con)
    ensure_tables(con, tables=list(MARTS), definitions=MARTS)
    core, marts = validate_core(con, IDS), validate_marts(con, IDS)
    assert failed(core) == {("core.territories", "territories_present")}
    assert failed(marts) == {(f"marts.{m}", "territories_present") for m in (
        "mart_timeliness", "mart_good_practices", "mart_evaluation_territories", "mart_partner_mobilisation")}
    for o in core + marts:
        if not o.passed:
            assert o.sample == IDS and o.unexpected_count == 2 and o.blocking


# -- core: every rule broken once ---------------------------------------------------------------------------

CORE_BREAKS = [  # (table, check, bad value that must be in its sample)
    ("core.territories", "territories_present", "t3"),
    ("core.territories", "siren_format", "12345"),
    ("core.conventions", "one_convention_per_territory", "t1"),
    ("core.conventions", "chef_de_file_in_codes", "etat"),
    ("core.conventions", "roadmap_due_after_labellisation", "2020-01-31"),
    ("core.conventions", "end_after_labellisation", "2019-12-31"),
    ("core.conventions", "durations_positive", 0),
    ("core.conventions", "dates_plausible", "1899-12-30"),
    ("core.conventions", "source_sha256_format", "not-a-sha"),
    ("core.convention_commitments", "party_in_codes", "maire"),
    ("core.actions", "key_unique", "A1"),
    ("core.actions", "axe_in_codes", "sport"),
    ("core.actions", "statut_in_codes", "fini"),
    ("core.actions", "actual_end_after_start", "2021-05-01"),
    ("core.action_qpv", "qpv_code_format", "XX12"),
    ("core.action_qpv", "action_exists", "t1/A404"),
    ("core.action_partners", "role_in_codes", "mecene"),
    ("core.action_partners", "action_exists", "t2/Z9"),
    ("core.funding_requests", "type_credit_in_codes", "credit_magique"),
    ("core.funding_requests", "nature_in_codes", "don"),
    ("core.funding_requests", "decision_in_codes", "peut_etre"),
    ("core.funding_requests", "amounts_non_negative", -5.0),
    ("core.funding_requests", "payments_within_grants", 2000.0),
    ("core.funding_requests", "decision_after_request", "2021-12-01"),
    ("core.funding_requests", "dates_plausible", "2150-01-01"),
    ("core.funding_requests", "action_exists", "t1/A77"),
    ("core.milestones", "key_present", None),
    ("core.milestones", "action_exists", "t1/A5"),
    ("core.governance_meetings", "instance_in_codes", "apero"),
    ("core.meeting_participants", "meeting_exists", "t1/99"),
    ("core.good_practices", "canal_in_codes", "pigeon_voyageur"),
    ("core.good_practices", "action_exists", "t2/B404"),
    ("core.practice_reuse", "practice_exists", "t1/BP404"),
    ("core.practice_reuse", "reused_by_known", "atlantide"),
    ("core.avenants", "territory_known", "zz"),
]


@pytest.fixture(scope="module")
def broken_core_warehouse():
    con = duckdb.connect()
    for name in ("core.actions", "core.conventions", "core.milestones"):
        plain_table(con, TABLES[name])  # ensure_tables keeps these (CREATE TABLE IF NOT EXISTS)
    ensure_tables(con)
    fill_good_core(con)
    put(con, "core.conventions",
        convention("t1"),  # a second convention for t1
        convention("t3", chef_de_file="etat", roadmap_due_date=D(2020, 1, 31), end_date=D(2019, 12, 31),
                   duration_months=0, signature_date=D(1899, 12, 30), source_sha256="not-a-sha"))
    con.execute("UPDATE core.territories SET siren = '12345' WHERE territory_id = 't2'")
    put(con, "core.convention_commitments",
        {"territory_id": "t1", "position": 2, "party": "maire", "text": "Animer."})
    put(con, "core.actions", action("t1", "A1", 2),  # the same action twice
        action("t1", "A3", 4, axe="sport"), action("t1", "A4", 5, statut="fini"),
        action("t2", "B2", 3, debut_reel=D(2022, 6, 1), fin_reelle=D(2021, 5, 1)))
    put(con, "core.action_qpv", {"territory_id": "t1", "action_id": "A2", "qpv_code": "XX12"},
        {"territory_id": "t1", "action_id": "A404", "qpv_code": "QP013002"})
    put(con, "core.action_partners",
        {"territory_id": "t1", "source_row": 4, "action_id": "A1", "partenaire": "anru", "role": "mecene"},
        {"territory_id": "t2", "source_row": 3, "action_id": "Z9", "partenaire": "anct", "role": "expertise"})
    put(con, "core.funding_requests",
        request("t1", 3, "A1", "anru", type_credit="credit_magique"), request("t1", 4, "A1", "anru", nature="don"),
        request("t1", 5, "A2", "etat", decision="peut_etre"),
        request("t1", 6, "A2", "etat", montant_accorde=-5, montant_verse=None),
        request("t2", 3, "B1", "anct", montant_accorde=1000, montant_verse=2000),
        request("t2", 4, "B1", "anct", date_sollicitation=D(2022, 1, 10), date_decision=D(2021, 12, 1)),
        request("t2", 5, "B1", "anct", date_sollicitation=D(2150, 1, 1), date_decision=None),
        request("t1", 7, "A77", "anct"))
    put(con, "core.milestones",
        {"territory_id": "t1", "source_row": None, "action_id": "A2", "jalon": "Sans ligne"},
        {"territory_id": "t1", "source_row": 3, "action_id": "A5", "jalon": "Orphelin"})
    put(con, "core.governance_meetings",
        {"territory_id": "t2", "source_row": 2, "date": D(2022, 3, 1), "instance": "apero"})
    put(con, "core.meeting_participants", {"territory_id": "t1", "source_row": 99, "participant": "anct"})
    put(con, "core.good_practices",
        {"territory_id": "t1", "pratique_id": "BP2", "action_id": "A2", "titre": "Pigeons",
         "canal": "pigeon_voyageur", "source_row": 3},
        {"territory_id": "t2", "pratique_id": "BP3", "action_id": "B404", "titre": "Orpheline", "source_row": 2})
    put(con, "core.practice_reuse", {"territory_id": "t1", "pratique_id": "BP404", "reused_by": "t2"},
        {"territory_id": "t1", "pratique_id": "BP1", "reused_by": "atlantide"})
    put(con, "core.avenants", {"territory_id": "zz", "number": 1, "extension_months": 6,
                               "source_path": "zz.txt", "source_sha256": SHA})
    yield con
    con.close()


@pytest.fixture(scope="module")
def broken_core(broken_core_warehouse):
    return validate_core(broken_core_warehouse, [*IDS, "t3"])


def test_core_breaks_fail_only_their_checks(broken_core):
    assert failed(broken_core) == {(t, n) for t, n, _ in CORE_BREAKS}


@pytest.mark.parametrize(("table", "name", "bad"), CORE_BREAKS, ids=[f"{t}:{n}" for t, n, _ in CORE_BREAKS])
def test_core_rule_broken(broken_core, table, name, bad):
    outcome = by_key(broken_core)[table, name]
    assert not outcome.passed
    assert outcome.unexpected_count >= 1 and outcome.element_count >= outcome.unexpected_count
    assert in_sample(bad, outcome.sample), outcome.sample
    assert len(outcome.sample) <= 10
    json.dumps(outcome.sample)


def test_core_samples_show_rows_for_pairs(broken_core):
    outcome = by_key(broken_core)["core.funding_requests", "payments_within_grants"]
    assert outcome.sample == [{"territory_id": "t2", "source_row": 3, "montant_accorde": 1000.0,
                               "montant_verse": 2000.0}]
    assert by_key(broken_core)["core.conventions", "one_convention_per_territory"].unexpected_count == 2


def test_a_date_past_what_nanosecond_timestamps_hold_is_found_too():
    """GX gets dates as nanosecond timestamps (compared as a whole column), but a column with a date past 2262
    cannot be one: it stays a date, compared row by row, and the same check still finds the date."""
    con = duckdb.connect()
    ensure_tables(con)
    fill_good_core(con)
    con.execute("UPDATE core.conventions SET signature_date = DATE '9999-12-31' WHERE territory_id = 't1'")
    con.execute("UPDATE core.milestones SET date_reelle = DATE '2199-01-01'")
    frame = suites._pandas(con.execute(  # noqa: SLF001
        "SELECT c.signature_date, c.labellisation_date FROM core.conventions c").to_arrow_table())
    assert str(frame["labellisation_date"].dtype) == "datetime64[ns]"
    assert str(frame["signature_date"].dtype) != "datetime64[ns]"
    outcomes = by_key(validate_core(con, IDS))
    assert failed(outcomes.values()) == {("core.conventions", "dates_plausible"),
                                         ("core.milestones", "dates_plausible")}
    assert in_sample("9999-12-31", outcomes["core.conventions", "dates_plausible"].sample)
    assert in_sample("2199-01-01", outcomes["core.milestones", "dates_plausible"].sample)


# -- marts: every rule broken once --------------------------------------------------------------------------

MOB = "marts.mart_partner_mobilisation"
MART_BREAKS = [
    ("marts.mart_timeliness", "territories_present", "t2"),
    ("marts.mart_timeliness", "ratios_within_0_1", 1.5),
    ("marts.mart_timeliness", "roadmap_status_in_codes", "early"),
    ("marts.mart_timeliness", "milestones_late_within_milestones_due", 6),
    ("marts.mart_good_practices", "key_unique", "t1"),
    ("marts.mart_good_practices", "counts_non_negative", -1),
    ("marts.mart_evaluation_territories", "only_listed_territories", "zz"),
    ("marts.mart_evaluation_territories", "actions_on_time_within_actions_due", 102),
    ("marts.mart_evaluation_territories", "actions_due_within_actions_total", 2),
    (MOB, "ratios_within_0_1", 2.0),
    (MOB, "one_row_per_national_partner", "anru"),
    (MOB, "at_least_five_rows_per_territory", "t2"),
    ("marts.mart_practice_diffusion", "reused_by_count_matches", 3),
    ("marts.mart_evaluation_national", "ratios_within_0_1", 1.7),
    ("marts.mart_evaluation_national", "key_present", None),
    ("marts.*", "single_as_of", "2024-07-01"),
    ("marts.mart_evaluation_national", "value_in_its_column", "median_roadmap_delay_days"),
    ("marts.mart_late_items", "days_late_as_defined", "t1/Action A2"),
    # t1's broken timeliness row (milestones_late + 5, roadmap_status 'early') no longer agrees with the new marts
    ("marts.mart_late_items", "rows_agree_with_timeliness", "t1"),
    ("marts.mart_history", "as_of_row_repeats_the_marts", "t1"),
    ("marts.mart_history", "quarter_end_or_as_of", "t2/2021-05-05"),
    ("marts.mart_funding", "oldest_pending_only_when_pending", "t1/entrepreneuriat/anct"),
]


@pytest.fixture(scope="module")
def broken_marts_warehouse(good):
    con = duckdb.connect()
    for table in MARTS.values():
        plain_table(con, table)  # no primary keys: duplicates can be written
    fill_marts(con, good)
    con.execute("DELETE FROM marts.mart_timeliness WHERE territory_id = 't2'")
    con.execute("UPDATE marts.mart_timeliness SET action_on_time_rate = 1.5, roadmap_status = 'early', "
                "milestones_late = milestones_due + 5 WHERE territory_id = 't1'")
    con.execute("INSERT INTO marts.mart_good_practices SELECT * FROM marts.mart_good_practices "
                "WHERE territory_id = 't1'")
    con.execute("UPDATE marts.mart_good_practices SET reuse_links = -1 WHERE territory_id = 't2'")
    con.execute("INSERT INTO marts.mart_evaluation_territories SELECT * REPLACE ('zz' AS territory_id) "
                "FROM marts.mart_evaluation_territories WHERE territory_id = 't2'")
    con.execute("UPDATE marts.mart_evaluation_territories SET actions_on_time = actions_due + 100 "
                "WHERE territory_id = 't1'")
    con.execute("UPDATE marts.mart_evaluation_territories SET actions_due = actions_total + 1 "
                "WHERE territory_id = 't2'")
    con.execute(f"UPDATE {MOB} SET grant_share = 2.0 WHERE territory_id = 't1' AND partner = 'anct'")
    con.execute(f"DELETE FROM {MOB} WHERE territory_id = 't1' AND partner = 'anru'")  # t1 keeps 5 rows
    con.execute(f"DELETE FROM {MOB} WHERE territory_id = 't2' AND partner IN ('etat', 'anct')")  # 3 rows
    con.execute("UPDATE marts.mart_practice_diffusion SET reused_by_count = 3, as_of = DATE '2024-07-01'")
    con.execute("UPDATE marts.mart_evaluation_national SET value_measure = 1.7 WHERE unit = 'share'")
    con.execute("INSERT INTO marts.mart_evaluation_national (indicator, value_measure, unit, as_of) "
                "VALUES (NULL, 3, 'days', DATE '2024-06-30')")
    con.execute("UPDATE marts.mart_evaluation_national SET value_count = 2 "
                "WHERE indicator = 'median_roadmap_delay_days'")
    con.execute("UPDATE marts.mart_late_items SET days_late = days_late + 1 WHERE item = 'Action A2'")
    con.execute("UPDATE marts.mart_history SET evaluation_date = DATE '2021-05-05' "
                "WHERE territory_id = 't2' AND evaluation_date = DATE '2021-06-30'")
    con.execute("UPDATE marts.mart_funding SET oldest_pending_days = 5 WHERE territory_id = 't1'")
    yield con
    con.close()


@pytest.fixture(scope="module")
def broken_marts(broken_marts_warehouse):
    return validate_marts(broken_marts_warehouse, IDS)


def test_mart_breaks_fail_only_their_checks(broken_marts):
    # A territory with fewer than five rows necessarily lacks a national partner's row: t2's missing rows
    # also fail one_row_per_national_partner, already failed by t1's missing anru.
    assert failed(broken_marts) == {(t, n) for t, n, _ in MART_BREAKS}


@pytest.mark.parametrize(("table", "name", "bad"), MART_BREAKS, ids=[f"{t}:{n}" for t, n, _ in MART_BREAKS])
def test_mart_rule_broken(broken_marts, table, name, bad):
    outcome = by_key(broken_marts)[table, name]
    assert not outcome.passed and outcome.blocking
    assert in_sample(bad, outcome.sample), outcome.sample
    json.dumps(outcome.sample)


def test_mart_samples_name_the_rows(broken_marts):
    keyed = by_key(broken_marts)
    missing = keyed[MOB, "one_row_per_national_partner"].sample
    assert {"territory_id": "t1", "partner": "anru", "row_count": 0} in missing
    assert keyed[MOB, "at_least_five_rows_per_territory"].sample == [{"territory_id": "t2", "row_count": 3}]
    assert keyed["marts.mart_timeliness", "territories_present"].sample == ["t2"]
    as_of = keyed["marts.*", "single_as_of"]
    assert {"mart": "marts.mart_practice_diffusion", "as_of": "2024-07-01"} in as_of.sample
    assert as_of.unexpected_count == 2


def test_scoped_validation_looks_at_the_scope_and_the_whole_registry():
    """Incremental runs validate the core rows of changed territories only (and the registry whole)."""
    con = duckdb.connect()
    ensure_tables(con)
    fill_good_core(con)
    put(con, "core.actions", action("t2", "B2", 3, debut_reel=D(2022, 6, 1), fin_reelle=D(2021, 5, 1)))
    full = validate_core(con, IDS)
    assert failed(full) == {("core.actions", "actual_end_after_start")}

    only_t1 = validate_core(con, IDS, scope=["t1"])
    assert set(by_key(only_t1)) == set(by_key(full)) and failed(only_t1) == set()
    assert by_key(only_t1)[("core.actions", "actual_end_after_start")].element_count == 2  # t1's two actions
    assert failed(validate_core(con, IDS, scope=["t2"])) == {("core.actions", "actual_end_after_start")}

    nothing = by_key(validate_core(con, IDS, scope=[]))
    assert all(o.passed for o in nothing.values()) and nothing[("core.actions", "key_unique")].element_count == 0
    con.execute("DELETE FROM core.territories WHERE territory_id = 't2'")
    assert ("core.territories", "territories_present") in failed(validate_core(con, IDS, scope=[]))


def test_contents_change_with_the_rows_not_their_order():
    """The digests that decide whether rows are validated again follow the rows, table by table, whatever the
    order they were written in; a table's checks look at the rows it refers to as well; the marts' digests
    follow the territory ids too."""
    con, other = duckdb.connect(), duckdb.connect()
    for c in (con, other):
        ensure_tables(c)
        ensure_tables(c, tables=list(MARTS), definitions=MARTS)
    fill_good_core(con)
    base = core_contents(con)
    assert sorted(base["core.actions"]) == sorted(IDS) and sorted(base["core.milestones"]) == ["t1"]
    assert base["core.meeting_participants"] and base["core.avenants"] and not base["core.action_qpv"].get("t2")
    for name in [n for n in TABLES if n.startswith("core.")]:  # the same rows, written in the opposite order
        reversed_rows = con.execute(f"SELECT * FROM {name}").pl().to_dicts()[::-1]
        put(other, name, *reversed_rows)
    assert core_contents(other) == base
    assert registry_content(other, IDS) == registry_content(con, IDS)
    assert core_contents(con, ["t2"]) == {name: {t: d for t, d in digests.items() if t == "t2"}
                                          for name, digests in base.items()}

    con.execute("UPDATE core.actions SET statut = 'abandonnee' WHERE territory_id = 't2' AND action_id = 'B1'")
    after = core_contents(con)
    assert {(name, t) for name in base for t in base[name] if after[name][t] != base[name][t]} == {
        ("core.actions", "t2")}
    looked, looked_after = frame_contents(base), frame_contents(after)
    # t2's funding request refers to its action B1: what that table's checks read changed; its own rows did not
    assert {(name, t) for name in looked for t in looked[name] if looked_after[name][t] != looked[name][t]} == {
        ("core.actions", "t2"), ("core.funding_requests", "t2"), ("core.action_partners", "t2")}
    assert registry_content(con, IDS) != registry_content(con, [*IDS, "t3"])
    marts_all, marts_t1 = marts_contents(con, IDS), marts_contents(con, ["t1"])
    assert sorted(marts_all) == sorted(MARTS) and all(marts_all[m] != marts_t1[m] for m in MARTS)


def test_suites_run_on_the_tables_and_marts_due_only():
    """A scope per table validates those rows of that table only; marts not due are not looked at."""
    con = duckdb.connect()
    ensure_tables(con)
    fill_good_core(con)
    put(con, "core.actions", action("t2", "B2", 3, debut_reel=D(2022, 6, 1), fin_reelle=D(2021, 5, 1)))
    assert failed(validate_core(con, IDS, {"core.actions": ["t2"]})) == {("core.actions", "actual_end_after_start")}
    elsewhere = by_key(validate_core(con, IDS, {"core.milestones": ["t1"], "core.actions": ["t1"]}))
    assert all(o.passed for o in elsewhere.values())
    assert elsewhere[("core.milestones", "key_unique")].element_count == 1  # t1's one milestone was looked at
    assert elsewhere[("core.funding_requests", "key_unique")].element_count == 0  # not in the scope

    marts = duckdb.connect()
    ensure_tables(marts, tables=list(MARTS), definitions=MARTS)
    fill_marts(marts, con)
    marts.execute("UPDATE marts.mart_timeliness SET as_of = DATE '2020-01-01', roadmap_status = 'inconnu' "
                  "WHERE territory_id = 't1'")
    assert failed(validate_marts(marts, IDS)) == {("marts.*", "single_as_of"),
                                                  ("marts.mart_timeliness", "roadmap_status_in_codes")}
    # the as_of check is due with any mart; the timeliness mart's own checks only with it
    assert failed(validate_marts(marts, IDS, due=["marts.mart_partner_mobilisation"])) == {("marts.*", "single_as_of")}
    assert failed(validate_marts(marts, IDS, due=[])) == set()


def test_nothing_due_means_no_great_expectations_import():
    """With no changed rows and a registry and marts that passed before, GX is not even imported."""
    code = textwrap.dedent("""
        import sys, duckdb
        from qp_analytics.quality.suites import validate_core, validate_marts
        from qp_analytics.schema import MARTS
        from qp_analytics.warehouse.database import ensure_tables
        con = duckdb.connect()
        ensure_tables(con)
        ensure_tables(con, tables=list(MARTS), definitions=MARTS)
        outcomes = validate_core(con, ["t1"], scope=[], registry=False) + validate_marts(con, ["t1"], due=False)
        assert outcomes and all(o.passed for o in outcomes)
        print("great_expectations" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    # the same call with the registry due fails its presence check: it was really looked at
    con = duckdb.connect()
    ensure_tables(con)
    assert failed(validate_core(con, ["t1"], scope=[], registry=True)) == {("core.territories", "territories_present")}


def test_a_check_across_the_marts_shows_under_each_mart():
    """single_as_of spans every mart: its failure fails the Dagster check of each mart (it was reported under
    none, so the run published)."""
    from pipelines.quality.checks import check_results

    con = duckdb.connect()
    ensure_tables(con)
    fill_good_core(con)
    marts = duckdb.connect()
    ensure_tables(marts, tables=list(MARTS), definitions=MARTS)
    fill_marts(marts, con)
    marts.execute("UPDATE marts.mart_timeliness SET as_of = DATE '2020-01-01' WHERE territory_id = 't1'")
    results = list(check_results(validate_marts(marts, IDS), list(MARTS)))
    assert [r.asset_key.path[-1] for r in results] == [name.split(".")[1] for name in MARTS]
    assert all(not r.passed and r.metadata["failed"].value == ["single_as_of"] for r in results)
    good = list(check_results(validate_marts(marts, IDS, due=[]), list(MARTS)))
    assert all(r.passed for r in good)


def test_the_tables_a_check_refers_to_are_in_its_fingerprint():
    """A check reading another core table (in SQL) must name it in CORE_READS, else a change there would not
    have the check run again."""
    referring = set()
    for frame in core_frames(IDS):
        referred = {name for extra in frame.extras for name in re.findall(r"core\.\w+", extra)} - {frame.table}
        assert referred <= set(CORE_READS.get(frame.table, ())), frame.table
        referring |= {frame.table} if referred else set()
    assert referring == set(CORE_READS)  # and every entry is used
    assert set(CORE_READS) == {"core.action_qpv", "core.action_partners", "core.funding_requests", "core.milestones",
                               "core.good_practices", "core.meeting_participants", "core.practice_reuse"}


# -- GX in the validator process ----------------------------------------------------------------------------


@pytest.fixture
def validator():
    with Validator() as started:
        yield started
    assert not started.usable()  # stopped with its block


@pytest.mark.parametrize(("copies", "batch_bytes"), [(1, None), (3, None), (2, 1)],
                         ids=["alone", "three copies", "a batch per frame"])
def test_the_validator_process_gives_the_outcomes_of_this_one(broken_core_warehouse, broken_core,
                                                              broken_marts_warehouse, broken_marts, copies,
                                                              batch_bytes, monkeypatch):
    """The broken warehouses validated in the validator process (their rows sent as Arrow), alone or sharing each
    batch with forked copies of it, in one batch or one per frame: the outcomes of the validation in this process
    (every rule broken, with its samples), in the same order, and the frames were validated there."""
    if batch_bytes is not None:
        monkeypatch.setattr(suites, "BATCH_BYTES", batch_bytes)
    with Validator(copies) as validator:
        remote = validate_core(broken_core_warehouse, [*IDS, "t3"], validator=validator)
        assert validator.frames > 1
        assert remote == broken_core
        sent = validator.frames
        assert validate_marts(broken_marts_warehouse, IDS, validator=validator) == broken_marts
        assert validator.frames > sent


def test_a_validator_lost_leaves_the_checks_to_this_process(broken_core_warehouse, broken_core, validator):
    """Its process killed (out of memory, by hand) while the checks hold it: they run here, with a warning."""
    os.kill(validator.pid, signal.SIGKILL)
    with pytest.warns(RuntimeWarning, match="the GX validator process ended .*; validating in this process"):
        again = validate_core(broken_core_warehouse, [*IDS, "t3"], validator=validator)
    assert again == broken_core
    assert validator.frames == 0 and not validator.usable()  # not asked again


def test_an_error_of_gx_in_the_validator_is_raised_with_its_traceback(validator):
    con = duckdb.connect()
    unknown = Frame("core.example", "SELECT 1 AS a", ["a"])
    unknown.add("unknown", "a rule GX has not", expect("ExpectNothingInParticular"))
    with pytest.raises(ValidatorError, match=r"(?s)core\.example, in the validator process.*ExpectNothingInParticular"):
        run_frames(con, [unknown], validator)
    # it still serves, and the failed frame left nothing behind (the same asset name again)
    fine = Frame("core.example", "SELECT 1 AS a UNION ALL SELECT NULL", ["a"])
    fine.add("not_null", "a is set", expect("ExpectColumnValuesToNotBeNull", column="a"))
    sent = validator.frames
    for _ in range(2):
        (outcome,) = run_frames(con, [fine], validator)
        assert (outcome.passed, outcome.unexpected_count, outcome.element_count) == (False, 1, 2)
    assert validator.frames == sent + 2


def test_checks_run_in_the_validator_they_are_handed_and_nowhere_else():
    """A validator is asked by the checks it is handed to only, and not once stopped (the run's end): then
    they run here, without a warning."""
    con = duckdb.connect()
    frame = Frame("core.example", "SELECT 1 AS a", ["a"])
    frame.add("not_null", "a is set", expect("ExpectColumnValuesToNotBeNull", column="a"))
    with validator_for_run() as validator:
        assert [o.passed for o in run_frames(con, [frame], validator)] == [True]
        assert validator.frames == 1
        assert [o.passed for o in run_frames(con, [frame])] == [True]
        assert validator.frames == 1
    assert not validator.usable()
    assert [o.passed for o in run_frames(con, [frame], validator)] == [True]  # warnings are errors here
    assert validator.frames == 1
    with validator_for_run(wanted=False) as none:
        assert none is None


def test_a_kept_validator_serves_the_next_runs_of_the_process_and_is_replaced_once_lost():
    """Kept: the second run gets the first's validator (GX imported once), with its own copies, still running
    after the run; killed, the next run starts another one, which validates the same."""
    con = duckdb.connect()
    frame = Frame("core.example", "SELECT 1 AS a UNION ALL SELECT NULL", ["a"])
    frame.add("not_null", "a is set", expect("ExpectColumnValuesToNotBeNull", column="a"))
    kept = KeptValidator()
    with validator_for_run(copies=1, kept=kept) as first:
        assert [o.unexpected_count for o in run_frames(con, [frame], first)] == [1]
    assert first.usable() and kept.validator is first
    with validator_for_run(copies=2, kept=kept) as second:
        assert second is first and second.copies == 2
        assert [o.unexpected_count for o in run_frames(con, [frame, frame], second)] == [1, 1]
    assert first.frames == 3
    os.kill(first.pid, signal.SIGKILL)
    with pytest.warns(RuntimeWarning, match="the GX validator process ended"):
        assert [o.unexpected_count for o in run_frames(con, [frame], first)] == [1]  # here, with a warning
    with validator_for_run(kept=kept) as third:
        assert third is not first and third.usable()
        assert [o.unexpected_count for o in run_frames(con, [frame], third)] == [1]
    third.stop()
    assert not third.usable()
    # started ahead of a run (the command line, before it imports the graph): the run gets that one; started
    # again while it is usable, it stays the same process
    kept.start()
    ahead = kept.validator
    assert ahead is not None and ahead is not third and ahead.usable()
    kept.start()
    assert kept.validator is ahead
    with validator_for_run(kept=kept) as fourth:
        assert fourth is ahead
        assert [o.unexpected_count for o in run_frames(con, [frame], fourth)] == [1]
    ahead.stop()


def test_work_given_for_the_wait_for_gx_runs_on_a_thread_once_and_only_while_gx_is_imported():
    """A question that finds GX still being imported starts the work given (while_importing) on another thread,
    once for the validator's life; a validator whose GX was imported before its first question never does."""
    con = duckdb.connect()
    frame = Frame("core.example", "SELECT 1 AS a UNION ALL SELECT NULL", ["a"])
    frame.add("not_null", "a is set", expect("ExpectColumnValuesToNotBeNull", column="a"))
    done: list[str] = []

    def work() -> None:
        done.append(threading.current_thread().name)

    def failing() -> None:
        raise ImportError("left to the step that needs it")

    with Validator(1) as importing:
        importing.while_importing(failing, work)
        importing.while_importing(work)  # given again (a kept validator's next run): not done twice
        assert not importing.ready()  # GX takes seconds to import: asked at once, the question waits for it
        assert [o.unexpected_count for o in run_frames(con, [frame], importing)] == [1]
        importing.meanwhile_thread.join(timeout=60)
        assert done == ["qp-while-gx-imports"]  # after the failing piece, on its own thread
        assert [o.unexpected_count for o in run_frames(con, [frame], importing)] == [1]
        assert done == ["qp-while-gx-imports"]
    with Validator(1) as imported:
        deadline = time.monotonic() + 120
        while not imported.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        imported.while_importing(work)
        assert [o.unexpected_count for o in run_frames(con, [frame], imported)] == [1]
        assert imported.meanwhile_thread is None and done == ["qp-while-gx-imports"]


def _core_copy(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another in-memory warehouse with the same core rows (through Arrow: the same types), to change."""
    copy = duckdb.connect()
    copy.execute("CREATE SCHEMA core")
    for name in TABLES:
        if name.startswith("core."):
            rows = con.execute(f"SELECT * FROM {name}").to_arrow_table()  # noqa: F841 (read by DuckDB by name)
            copy.execute(f"CREATE TABLE {name} AS SELECT * FROM rows")
    return copy


def _cursors(con: duckdb.DuckDBPyConnection):
    return lambda: contextlib.nullcontext(con.cursor())


def test_checks_started_ahead_are_taken_when_their_frames_and_rows_are_the_same(broken_core_warehouse, broken_core,
                                                                                validator):
    """Every frame of the broken warehouse sent ahead (at a lower priority, in forked copies) before the
    checks come to it: the checks take every outcome (nothing more is sent), and they are the outcomes of the
    validation in this process, every rule broken."""
    ids = [*IDS, "t3"]
    validator.ahead.start(_cursors(broken_core_warehouse), lambda con: core_frames(ids))
    sent = validator.ahead.sent()
    assert sent > 5  # every frame with rows (or a rule on a whole column)
    assert validate_core(broken_core_warehouse, ids, validator=validator) == broken_core
    assert len(validator.ahead.taken) == sent and validator.frames == sent
    assert validator.ahead.sent() == 0


def test_a_frame_whose_rows_changed_after_it_was_sent_ahead_is_validated_again(broken_core_warehouse, broken_core,
                                                                               validator):
    """Rows changed after the frames were sent: the changed frame is validated then, on its rows of then, the
    others taken; the outcomes are those of a validation in this process of the changed warehouse."""
    ids = [*IDS, "t3"]
    con = _core_copy(broken_core_warehouse)
    validator.ahead.start(_cursors(con), lambda c: core_frames(ids))
    sent = validator.ahead.sent()
    con.execute("UPDATE core.conventions SET chef_de_file = 'anct' WHERE territory_id = 't3'")  # mends one break
    remote = validate_core(con, ids, validator=validator)
    assert remote == validate_core(con, ids)  # in this process, without a validator
    outcome = {(o.table, o.name): o for o in remote}[("core.conventions", "chef_de_file_in_codes")]
    assert outcome.passed and not by_key(broken_core)[("core.conventions", "chef_de_file_in_codes")].passed
    assert "core.conventions" not in validator.ahead.taken and len(validator.ahead.taken) == sent - 1
    assert validator.frames == sent + 1


def test_checks_other_than_those_sent_ahead_are_not_taken(broken_core_warehouse, broken_core, validator):
    """Frames sent ahead with other checks (the territory ids of another territories.csv): none is taken."""
    validator.ahead.start(_cursors(broken_core_warehouse), lambda con: core_frames(IDS))
    sent = validator.ahead.sent()
    assert validate_core(broken_core_warehouse, [*IDS, "t3"], validator=validator) == broken_core
    assert validator.ahead.taken == [] and validator.frames == 2 * sent
    validator.ahead.finish()
    assert validator.ahead.sent() == 0


def test_checks_sent_ahead_to_a_validator_lost_are_validated_here(broken_core_warehouse, broken_core, validator):
    os.kill(validator.pid, signal.SIGKILL)
    validator.ahead.start(_cursors(broken_core_warehouse), lambda con: core_frames([*IDS, "t3"]))
    with pytest.warns(RuntimeWarning, match="the GX validator process ended .*; validating in this process"):
        assert validate_core(broken_core_warehouse, [*IDS, "t3"], validator=validator) == broken_core
    assert validator.ahead.taken == [] and not validator.usable()


def test_a_copy_validating_ahead_runs_only_on_a_core_nothing_else_wants():
    script = ("import os\nfrom qp_analytics.quality.suites import _lower_priority\n_lower_priority()\n"
              "print(os.sched_getscheduler(0) == os.SCHED_IDLE or os.nice(0) == 19)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_copies_the_run_waits_for_are_replaced_at_its_priority_once_it_hurries(monkeypatch):
    """Copies at the lowest priority that get no core (here: they never start validating) are stopped when the
    run hurries the validator, and their frames validated again: the answers of a validation at the run's
    priority, long before the copies would have answered."""
    con = duckdb.connect()
    frames = []
    for n in range(3):
        frame = Frame(f"core.example_{n}", f"SELECT {n} AS a UNION ALL SELECT NULL", ["a"])
        frame.add("not_null", "a is set", expect("ExpectColumnValuesToNotBeNull", column="a"))
        frames.append((n, frame, con.execute(frame.sql).to_arrow_table()))
    with suites._quiet_gx():
        gx = suites._Gx()
        expected = suites._answers(gx, "", frames, 2)
    assert [[(o.passed, o.unexpected_count) for o in outcomes] for _, outcomes in expected] == [[(False, 1)]] * 3
    monkeypatch.setattr(suites, "_lower_priority", lambda: time.sleep(120))  # in the forked copies
    monkeypatch.setattr(suites, "_HURRIED", [False])
    monkeypatch.setattr(suites, "_STOPPED", [])
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    previous = signal.signal(signal.SIGUSR1, suites._hurried)
    try:
        started = time.monotonic()
        with suites._quiet_gx():
            assert suites._answers(gx, "", frames, 2, lower=True) == expected
        assert time.monotonic() - started < 60
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert suites._HURRIED == [True]  # still: the next batch started ahead is not left to wait either
    assert len(suites._STOPPED) == 2  # the copies stopped, not waited for (a copy of that class may exit slowly)
    deadline = time.monotonic() + 30
    while suites._STOPPED and time.monotonic() < deadline:  # reaped once they have exited
        suites._reap_stopped()
        time.sleep(0.05)
    assert suites._STOPPED == []


def test_a_hurried_validator_goes_on_serving(validator):
    """The run's signal that it waits (SIGUSR1) is handled by the validator, which would end without a
    handler: it answers the next frames, here."""
    con = duckdb.connect()
    frame = Frame("core.example", "SELECT 1 AS a UNION ALL SELECT NULL", ["a"])
    frame.add("not_null", "a is set", expect("ExpectColumnValuesToNotBeNull", column="a"))
    deadline = time.monotonic() + 120
    while not validator.ready() and time.monotonic() < deadline:  # GX imported there: the handler is in place
        time.sleep(0.05)
    validator.hurry()
    assert validator.hurried
    (outcome,) = run_frames(con, [frame], validator)
    assert (outcome.passed, outcome.unexpected_count) == (False, 1)
    assert validator.usable() and validator.frames == 1


def test_what_gx_imports_for_statistical_tests_is_loaded_on_first_use_only():
    """In a fresh interpreter, as in the validator process: with scipy.stats deferred, GX imports without
    loading it, validates a frame, and scipy.stats still answers in full when used (the normal CDF at 0 is 1/2)."""
    script = textwrap.dedent("""
        import importlib.util, sys
        from qp_analytics.quality import suites
        assert suites.defer_imports() == ["scipy.stats"]
        gx = suites._Gx()
        frame = suites.Frame("t", "SELECT 1 AS a", ["a"])
        frame.add("not_null", "a is set", suites.expect("ExpectColumnValuesToNotBeNull", column="a"))
        (outcome,) = gx.validate(0, frame, suites._pandas(suites.duckdb.sql(frame.sql).to_arrow_table()))
        stats = sys.modules["scipy.stats"]
        print(outcome.passed, type(stats).__name__, suites.defer_imports())
        print(stats.norm.cdf(0.0), type(stats).__name__)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["True _LazyModule []", "0.5 module"]
