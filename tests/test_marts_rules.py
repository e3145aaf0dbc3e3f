"""Property tests of the marts' date rules on the real mart code: medians, lateness, ratios over zero."""

import datetime as dt
import statistics

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qp_analytics.marts.compute import compute_marts
from qp_analytics.warehouse.database import ensure_tables

AS_OF = dt.date(2023, 6, 30)
day = st.dates(min_value=dt.date(2022, 1, 1), max_value=dt.date(2024, 12, 31))
milestone = st.tuples(st.booleans(), day, st.one_of(st.none(), day))  # (action abandoned?, prevue, reelle)


def warehouse_with(milestones) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_tables(con)
    con.execute("INSERT INTO core.actions (territory_id, action_id, axe, intitule, statut, source_row) VALUES "
                "('t', 'A', 'entrepreneuriat', 'a', 'en_cours', 2), "
                "('t', 'B', 'entrepreneuriat', 'b', 'abandonnee', 3)")
    for i, (abandoned, prevue, reelle) in enumerate(milestones, start=2):
        con.execute("INSERT INTO core.milestones VALUES ('t', ?, ?, 'j', ?, ?)",
                    [i, "B" if abandoned else "A", prevue, reelle])
    return con


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(milestone, max_size=12))
def test_milestone_rules(milestones):
    con = warehouse_with(milestones)
    row = compute_marts(con, ["t"], AS_OF)["marts.mart_timeliness"].to_dicts()[0]
    live = [(p, r) for abandoned, p, r in milestones if not abandoned]
    due = [(p, r) for p, r in live if p <= AS_OF]
    late = [(p, r) for p, r in due if r is None or r > AS_OF or r > p]
    delays = [(r - p).days for p, r in live if r is not None and r <= AS_OF]
    assert row["milestones_due"] == len(due)
    assert row["milestones_late"] == len(late)
    assert row["median_milestone_delay_days"] == (statistics.median(delays) if delays else None)
    assert row["action_on_time_rate"] is None  # no action has a fin_prevue: nothing due, ratio over zero
    assert row["as_of"] == AS_OF


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(day, st.integers(min_value=0, max_value=400), st.sampled_from(
    ["accordee", "refusee", "en_instruction"])), max_size=10))
def test_instruction_median_and_pending(requests):
    con = duckdb.connect()
    ensure_tables(con)
    for i, (asked, days, decision) in enumerate(requests, start=2):
        decided = None if decision == "en_instruction" else asked + dt.timedelta(days=days)
        con.execute("INSERT INTO core.funding_requests (territory_id, source_row, action_id, financeur, "
                    "date_sollicitation, date_decision, decision) VALUES ('t', ?, 'A', 'anct', ?, ?, ?)",
                    [i, asked, decided, decision])
    rows = compute_marts(con, ["t"], AS_OF)["marts.mart_partner_mobilisation"].to_dicts()
    anct = next(r for r in rows if r["partner"] == "anct")
    existing = [(a, d, s) for a, d, s in requests if a <= AS_OF]
    decided = [d for a, d, s in existing if s != "en_instruction" and a + dt.timedelta(days=d) <= AS_OF]
    assert anct["requests"] == len(existing)
    assert anct["decided_requests"] == len(decided)
    assert anct["pending_requests"] == len(existing) - len(decided)
    assert anct["median_instruction_days"] == (statistics.median(decided) if decided else None)
    assert anct["grant_share"] is None and anct["attendance_rate"] is None  # denominators are zero
    assert {r["partner"] for r in rows} == {"etat", "anct", "anru", "banque_des_territoires", "bpifrance"}


def test_the_marts_read_no_core_table_outside_their_sources():
    """A territory's marts are computed again when its rows of SOURCES change: every core table the marts' code
    names must be one of them, or a change there would leave its marts as they were."""
    import inspect
    import re

    from qp_analytics.marts import compute

    named = set(re.findall(r"\bcore\.\w+", inspect.getsource(compute)))
    assert named and named <= set(compute.SOURCES), named - set(compute.SOURCES)
