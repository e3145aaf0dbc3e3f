"""The evaluation marts, computed from the core tables for one evaluation date (`as_of`).

Each definition follows INDICATORS.md; the column descriptions in qp_analytics.schema.MARTS say it in
words and are published with the data. The rules that cut across definitions:
- facts dated after as_of do not exist yet: a milestone reached, a roadmap annexed, a practice shared, a
  request made, a decision taken, an avenant or a convention signed after as_of count as not (yet) done;
- a median of nothing and a ratio over zero are null; counts and sums are 0 where there is nothing;
- unknown amounts (empty cells) are left out of sums, never read as 0.
"""

import calendar
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from qp_analytics.french import add_months
from qp_analytics.schema import (
    AMOUNT_UNITS,
    COUNT_UNITS,
    MARTS,
    MEASURE_UNITS,
    NATIONAL_INDICATORS,
    NATIONAL_PARTNERS,
)
from qp_analytics.warehouse.database import id_list

__all__ = ["AMOUNT_UNITS", "COUNT_UNITS", "MEASURE_UNITS", "NATIONAL", "NATIONAL_INDICATORS", "NATIONAL_PARTNERS",
           "SOURCES", "compute_marts", "evaluation_dates", "national_mart", "quarter_ends", "sources_digests",
           "territory_marts", "value_column"]


# $at: the territories and the date each is evaluated at (column at_date): every territory at as_of for the marts,
# every territory at each of its evaluation dates for mart_history, in one query (see `_at_sql`).

# Requests as they stand at at_date: made by then (or undated), and decided only if decided by then.
_REQUESTS = """
    SELECT t.at_date, r.*,
           CASE WHEN r.decision IN ('accordee', 'refusee')
                     AND (r.date_decision IS NULL OR r.date_decision <= t.at_date)
                THEN r.decision ELSE 'en_instruction' END AS decision_at
    FROM core.funding_requests r JOIN $at t USING (territory_id)
    WHERE r.date_sollicitation IS NULL OR r.date_sollicitation <= t.at_date
"""

_TIMELINESS = """
WITH t AS (SELECT * FROM $at),
act AS (
    SELECT t.territory_id, t.at_date, count(*) AS actions_total,
           count(*) FILTER (WHERE a.statut <> 'abandonnee' AND a.fin_prevue <= t.at_date) AS actions_due,
           count(*) FILTER (WHERE a.statut <> 'abandonnee' AND a.fin_prevue <= t.at_date
                                  AND a.fin_reelle <= a.fin_prevue) AS actions_on_time
    FROM t JOIN core.actions a USING (territory_id) GROUP BY t.territory_id, t.at_date),
ms AS (
    SELECT t.territory_id, t.at_date,
           count(*) FILTER (WHERE m.date_prevue <= t.at_date) AS milestones_due,
           count(*) FILTER (WHERE m.date_prevue <= t.at_date
                                  AND (m.date_reelle IS NULL OR m.date_reelle > t.at_date
                                       OR m.date_reelle > m.date_prevue)) AS milestones_late,
           median(m.date_reelle - m.date_prevue) FILTER (WHERE m.date_reelle <= t.at_date
                                                          AND m.date_prevue IS NOT NULL)
               AS median_milestone_delay_days
    FROM t JOIN core.milestones m USING (territory_id) JOIN core.actions a USING (territory_id, action_id)
    WHERE a.statut <> 'abandonnee' GROUP BY t.territory_id, t.at_date)
SELECT t.territory_id, t.at_date,
       c.labellisation_date, c.roadmap_due_date,
       CASE WHEN r.date_annexion <= t.at_date THEN r.date_annexion END AS roadmap_annexed_date,
       CASE WHEN r.date_annexion <= t.at_date THEN r.date_annexion - c.roadmap_due_date END AS roadmap_delay_days,
       CASE WHEN c.roadmap_due_date IS NULL THEN NULL
            WHEN r.date_annexion <= t.at_date THEN
                 CASE WHEN r.date_annexion - c.roadmap_due_date <= 0 THEN 'on_time' ELSE 'late' END
            WHEN t.at_date > c.roadmap_due_date THEN 'missing' ELSE 'pending' END AS roadmap_status,
       CASE WHEN c.signature_date <= t.at_date THEN c.signature_date END AS convention_signature_date,
       coalesce(act.actions_total, 0) AS actions_total,
       coalesce(act.actions_due, 0) AS actions_due,
       coalesce(act.actions_on_time, 0) AS actions_on_time,
       act.actions_on_time / nullif(act.actions_due, 0) AS action_on_time_rate,
       coalesce(ms.milestones_due, 0) AS milestones_due,
       coalesce(ms.milestones_late, 0) AS milestones_late,
       ms.median_milestone_delay_days
FROM t
LEFT JOIN core.conventions c USING (territory_id)
LEFT JOIN core.roadmaps r USING (territory_id)
LEFT JOIN act USING (territory_id, at_date)
LEFT JOIN ms USING (territory_id, at_date)
ORDER BY t.territory_id, t.at_date
"""

_MOBILISATION = f"""
WITH t AS (SELECT unnest($ids::VARCHAR[]) AS territory_id),
req AS ({_REQUESTS}),
partners AS (
    SELECT t.territory_id, p.partner FROM t CROSS JOIN (SELECT unnest($national::VARCHAR[]) AS partner) p
    UNION SELECT territory_id, partenaire FROM core.action_partners WHERE territory_id IN (SELECT territory_id FROM t)
    UNION SELECT territory_id, financeur FROM core.funding_requests WHERE territory_id IN (SELECT territory_id FROM t)),
involvement AS (
    SELECT territory_id, partner, count(DISTINCT action_id) AS actions_involved
    FROM (SELECT territory_id, partenaire AS partner, action_id FROM core.action_partners
          WHERE territory_id IN (SELECT territory_id FROM t)
          UNION ALL SELECT territory_id, financeur, action_id FROM req)
    GROUP BY ALL),
pilots AS (
    SELECT territory_id, partenaire AS partner, count(DISTINCT action_id) AS pilot_actions
    FROM core.action_partners WHERE role = 'pilote' AND territory_id IN (SELECT territory_id FROM t) GROUP BY ALL),
money AS (
    SELECT territory_id, financeur AS partner,
           sum(montant_sollicite) AS amount_requested,
           sum(montant_accorde) FILTER (WHERE decision_at = 'accordee') AS amount_granted,
           sum(montant_verse) FILTER (WHERE decision_at = 'accordee') AS amount_paid,
           count(*) AS requests,
           count(*) FILTER (WHERE decision_at IN ('accordee', 'refusee')) AS decided_requests,
           count(*) FILTER (WHERE decision_at = 'en_instruction') AS pending_requests,
           median(date_decision - date_sollicitation) FILTER (WHERE decision_at IN ('accordee', 'refusee'))
               AS median_instruction_days
    FROM req GROUP BY ALL),
territory_grants AS (
    SELECT territory_id, sum(montant_accorde) FILTER (WHERE decision_at = 'accordee') AS total_granted
    FROM req GROUP BY ALL),
actions AS (SELECT territory_id, count(*) AS actions_total FROM core.actions
            WHERE territory_id IN (SELECT territory_id FROM t) GROUP BY ALL),
meetings AS (SELECT territory_id, source_row FROM core.governance_meetings
             WHERE date <= $as_of AND territory_id IN (SELECT territory_id FROM t)),
meeting_totals AS (SELECT territory_id, count(*) AS meetings_total FROM meetings GROUP BY ALL),
attendance AS (
    SELECT p.territory_id, p.participant AS partner, count(DISTINCT p.source_row) AS meetings_attended
    FROM core.meeting_participants p JOIN meetings m USING (territory_id, source_row) GROUP BY ALL)
SELECT p.territory_id, p.partner,
       list_contains($national::VARCHAR[], p.partner) AS is_national_partner,
       coalesce(c.chef_de_file = p.partner, false) AS is_chef_de_file,
       coalesce(i.actions_involved, 0) AS actions_involved,
       coalesce(i.actions_involved, 0) / nullif(a.actions_total, 0) AS actions_share,
       coalesce(pil.pilot_actions, 0) AS pilot_actions,
       coalesce(mo.amount_requested, 0) AS amount_requested,
       coalesce(mo.amount_granted, 0) AS amount_granted,
       coalesce(mo.amount_paid, 0) AS amount_paid,
       coalesce(mo.amount_granted, 0) / nullif(tg.total_granted, 0) AS grant_share,
       coalesce(mo.requests, 0) AS requests,
       coalesce(mo.decided_requests, 0) AS decided_requests,
       coalesce(mo.pending_requests, 0) AS pending_requests,
       mo.median_instruction_days,
       coalesce(mt.meetings_total, 0) AS meetings_total,
       coalesce(att.meetings_attended, 0) AS meetings_attended,
       coalesce(att.meetings_attended, 0) / nullif(mt.meetings_total, 0) AS attendance_rate
FROM partners p
LEFT JOIN core.conventions c USING (territory_id)
LEFT JOIN involvement i USING (territory_id, partner)
LEFT JOIN pilots pil USING (territory_id, partner)
LEFT JOIN money mo USING (territory_id, partner)
LEFT JOIN territory_grants tg USING (territory_id)
LEFT JOIN actions a USING (territory_id)
LEFT JOIN meeting_totals mt USING (territory_id)
LEFT JOIN attendance att USING (territory_id, partner)
ORDER BY p.territory_id, is_national_partner DESC, p.partner
"""

_DIFFUSION = """
WITH t AS (SELECT unnest($ids::VARCHAR[]) AS territory_id),
reuse AS (
    SELECT territory_id, pratique_id, list_sort(list(reused_by)) AS reused_by
    FROM core.practice_reuse WHERE reused_by <> territory_id GROUP BY ALL)
SELECT g.territory_id, g.pratique_id, g.titre, a.axe,
       CASE WHEN g.date_partage <= $as_of THEN g.date_partage END AS date_partage,
       g.canal,
       coalesce(len(r.reused_by), 0) AS reused_by_count,
       coalesce(r.reused_by, []::VARCHAR[]) AS reused_by
FROM core.good_practices g
JOIN t USING (territory_id)
LEFT JOIN core.actions a USING (territory_id, action_id)
LEFT JOIN reuse r USING (territory_id, pratique_id)
ORDER BY g.territory_id, g.pratique_id
"""

_GOOD_PRACTICES = """
WITH t AS (SELECT * FROM $at),
p AS (
    SELECT t.territory_id, t.at_date, count(*) AS practices_documented,
           count(*) FILTER (WHERE g.date_partage <= t.at_date) AS practices_shared,
           count(DISTINCT a.axe) AS axes_covered,
           median(g.date_partage - a.fin_reelle) FILTER (WHERE g.date_partage <= t.at_date
                                                          AND a.fin_reelle <= t.at_date)
               AS median_days_to_share
    FROM t JOIN core.good_practices g USING (territory_id) LEFT JOIN core.actions a USING (territory_id, action_id)
    GROUP BY t.territory_id, t.at_date),
r AS (
    SELECT territory_id, count(*) AS reuse_links, count(DISTINCT reused_by) AS reusing_territories
    FROM core.practice_reuse
    WHERE reused_by <> territory_id AND territory_id IN (SELECT territory_id FROM t) GROUP BY ALL)
SELECT t.territory_id, t.at_date,
       coalesce(p.practices_documented, 0) AS practices_documented,
       coalesce(p.practices_shared, 0) AS practices_shared,
       p.practices_shared / nullif(p.practices_documented, 0) AS shared_rate,
       coalesce(r.reuse_links, 0) AS reuse_links,
       coalesce(r.reusing_territories, 0) AS reusing_territories,
       coalesce(p.axes_covered, 0) AS axes_covered,
       p.median_days_to_share
FROM t LEFT JOIN p USING (territory_id, at_date) LEFT JOIN r USING (territory_id)
ORDER BY t.territory_id, t.at_date
"""


# Actions not abandonnee and their milestones, due by as_of and not done by their due date (a date after as_of is
# empty at as_of). The roadmap rows come from mart_timeliness (roadmap_status late or missing).
_LATE_ITEMS = """
WITH t AS (SELECT unnest($ids::VARCHAR[]) AS territory_id),
items AS (
    SELECT a.territory_id, 'action' AS item_type, a.action_id, a.intitule AS item, a.fin_prevue AS due_date,
           CASE WHEN a.fin_reelle <= $as_of THEN a.fin_reelle END AS done_date, 1 AS type_order, a.source_row
    FROM core.actions a JOIN t USING (territory_id)
    WHERE a.statut <> 'abandonnee'
    UNION ALL
    SELECT m.territory_id, 'milestone', m.action_id, m.jalon, m.date_prevue,
           CASE WHEN m.date_reelle <= $as_of THEN m.date_reelle END, 2, m.source_row
    FROM core.milestones m JOIN core.actions a USING (territory_id, action_id) JOIN t USING (territory_id)
    WHERE a.statut <> 'abandonnee')
SELECT territory_id, item_type, action_id, item, due_date, done_date,
       coalesce(done_date, $as_of) - due_date AS days_late,
       CASE WHEN done_date IS NULL THEN 'overdue' ELSE 'done_late' END AS state
FROM items
WHERE due_date <= $as_of AND (done_date IS NULL OR done_date > due_date)
ORDER BY territory_id, type_order, source_row
"""

_FUNDING = f"""
WITH req AS ({_REQUESTS})
SELECT r.territory_id, r.at_date, a.axe, r.financeur,
       count(*) AS requests,
       coalesce(sum(r.montant_sollicite), 0) AS amount_requested,
       coalesce(sum(r.montant_accorde) FILTER (WHERE r.decision_at = 'accordee'), 0) AS amount_granted,
       coalesce(sum(r.montant_verse) FILTER (WHERE r.decision_at = 'accordee'), 0) AS amount_paid,
       count(*) FILTER (WHERE r.decision_at = 'en_instruction') AS pending_requests,
       r.at_date - min(r.date_sollicitation) FILTER (WHERE r.decision_at = 'en_instruction')
           AS oldest_pending_days
FROM req r LEFT JOIN core.actions a USING (territory_id, action_id)
GROUP BY r.territory_id, r.at_date, a.axe, r.financeur
ORDER BY r.territory_id, r.at_date, a.axe, list_position($national::VARCHAR[], any_value(r.financeur)) NULLS LAST,
         r.financeur
"""


def convention_end_dates(con: duckdb.DuckDBPyConnection, at: Mapping[dt.date, Sequence[str]]
                         ) -> dict[tuple[str, dt.date], tuple[dt.date | None, int]]:
    """(territory, date) -> (end date with the avenants in force at that date, number of those avenants), for
    each date's territories (`at`, as `_at_sql` takes it) that have a convention."""
    ids = sorted({t for territories in at.values() for t in territories})
    conventions = dict((tid, (labellisation, duration)) for tid, labellisation, duration in con.execute(
        "SELECT territory_id, labellisation_date, duration_months FROM core.conventions "
        f"WHERE territory_id IN (SELECT unnest({id_list(ids)}))").fetchall())
    avenants: dict[str, list[tuple[dt.date | None, int | None, dt.date | None]]] = {}
    for tid, signed, months, new_end in con.execute(
            "SELECT territory_id, signature_date, extension_months, new_end_date FROM core.avenants "
            f"WHERE territory_id IN (SELECT unnest({id_list(ids)})) ORDER BY territory_id, number").fetchall():
        avenants.setdefault(tid, []).append((signed, months, new_end))
    out: dict[tuple[str, dt.date], tuple[dt.date | None, int]] = {}
    ends: dict[tuple[str, tuple[int, ...]], tuple[dt.date | None, int]] = {}  # by the avenants in force
    for day, territories in at.items():
        for tid in territories:
            if tid not in conventions:
                continue
            signed_by = avenants.get(tid, [])
            in_force = tuple(i for i, (signed, _, _) in enumerate(signed_by) if signed is None or signed <= day)
            if (tid, in_force) not in ends:
                base, months = conventions[tid]
                for i in in_force:
                    _, extension, new_end = signed_by[i]
                    if new_end is not None:
                        base, months = new_end, 0
                    else:
                        months += extension or 0
                ends[tid, in_force] = (add_months(base, months), len(in_force))
            out[tid, day] = ends[tid, in_force]
    return out


def _frame(mart: str, df: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Columns in the published order and types, with the as_of column."""
    df = df.with_columns(pl.lit(as_of).alias("as_of"))
    schema = MARTS[mart].polars_schema()
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def _at_sql(at: Mapping[dt.date, Sequence[str]]) -> str:
    """$at as SQL: a table of (territory_id, at_date), each date's territories (`at`: date -> ids)."""
    parts = [f"SELECT unnest({id_list(ids)}) AS territory_id, DATE '{day.isoformat()}' AS at_date"
             for day, ids in at.items() if ids]
    if not parts:
        return "(SELECT NULL::VARCHAR AS territory_id, NULL::DATE AS at_date WHERE false)"
    return "(" + " UNION ALL ".join(parts) + ")"


def _sql(sql: str, params: dict[str, Any]) -> str:
    """The query with its $parameters as SQL literals (lists of ids, dates, the $at table): a bound parameter has
    DuckDB import pandas the first time, which a run that changes nothing would pay for nothing."""
    def literal(match: re.Match) -> str:
        value = params[match[1]]
        if isinstance(value, dt.date):
            return f"DATE '{value.isoformat()}'"
        return _at_sql(value) if isinstance(value, Mapping) else id_list(value)
    return re.sub(r"\$(\w+)", literal, sql)


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    return con.execute(_sql(sql, params)).pl()


def _timeliness(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> pl.DataFrame:
    """mart_timeliness (without as_of) for params' territories and dates ($at), with their at_date."""
    timeliness = _query(con, _TIMELINESS, params)
    ends = convention_end_dates(con, params["at"])
    keys = list(zip(timeliness["territory_id"], timeliness["at_date"], strict=True))
    return timeliness.with_columns(
        pl.Series("convention_end_date", [ends.get(k, (None, 0))[0] for k in keys], dtype=pl.Date),
        pl.Series("avenants_effective", [ends.get(k, (None, 0))[1] for k in keys], dtype=pl.Int32),
    ).with_columns(in_force=pl.col("at_date") <= pl.col("convention_end_date"))


def late_items(con: duckdb.DuckDBPyConnection, params: dict[str, Any], timeliness: pl.DataFrame) -> pl.DataFrame:
    """mart_late_items (without as_of): the roadmaps late or missing, then the actions and milestones."""
    as_of = params["as_of"]
    roadmaps = timeliness.filter(pl.col("roadmap_status").is_in(["late", "missing"])).select(
        "territory_id", item_type=pl.lit("roadmap"), action_id=pl.lit(None, pl.String),
        item=pl.lit("feuille de route"), due_date="roadmap_due_date", done_date="roadmap_annexed_date",
        days_late=(pl.col("roadmap_annexed_date").fill_null(as_of) - pl.col("roadmap_due_date")).dt.total_days(),
        state=pl.when(pl.col("roadmap_annexed_date").is_null()).then(pl.lit("overdue")).otherwise(pl.lit("done_late")))
    others = _query(con, _LATE_ITEMS, params)
    schema = MARTS["marts.mart_late_items"].polars_schema()
    both = pl.concat([frame.select([pl.col(c).cast(schema[c]) for c in others.columns])
                      for frame in (roadmaps, others)])
    return both.sort("territory_id", maintain_order=True)


def quarter_ends(start: dt.date, end: dt.date) -> list[dt.date]:
    """The quarter ends (31/03, 30/06, 30/09, 31/12) from start to end, both included."""
    out = []
    year, month = start.year, (start.month - 1) // 3 * 3 + 3
    while True:
        day = dt.date(year, month, calendar.monthrange(year, month)[1])
        if day > end:
            return out
        out.append(day)
        year, month = (year + 1, 3) if month == 12 else (year, month + 3)


def evaluation_dates(labellisation: dt.date | None, as_of: dt.date) -> list[dt.date]:
    """mart_history's dates for a territory: the quarter ends from its labellisation to as_of, then as_of itself
    when it is not a quarter end (a territory without a labellisation date: as_of alone, if not a quarter end)."""
    dates = quarter_ends(labellisation, as_of) if labellisation is not None else []
    if not quarter_ends(as_of, as_of):
        dates.append(as_of)
    return dates


def history(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> pl.DataFrame:
    """mart_history (without as_of): the same queries as the marts at as_of (timeliness, funding, good practices),
    each run once over every territory at each of its evaluation dates (their $at)."""
    labellisation = dict(con.execute(
        f"SELECT t.territory_id, c.labellisation_date FROM (SELECT unnest({id_list(params['ids'])}) AS territory_id) t "
        "LEFT JOIN core.conventions c USING (territory_id)").fetchall())
    by_date: dict[dt.date, list[str]] = {}
    for tid in params["ids"]:
        for day in evaluation_dates(labellisation.get(tid), params["as_of"]):
            by_date.setdefault(day, []).append(tid)
    at = {**params, "at": dict(sorted(by_date.items()))}

    def in_thread(sql: str) -> pl.DataFrame:
        with con.cursor() as own:  # a connection of its own to the same database, for its thread
            return _query(own, sql, at)

    # DuckDB runs a query without holding Python's lock: funding and practices while timeliness runs here
    with ThreadPoolExecutor(max_workers=1) as pool:
        funding, practices = pool.submit(in_thread, _FUNDING), pool.submit(in_thread, _GOOD_PRACTICES)
        timeliness = _timeliness(con, at)
        funding, practices = funding.result(), practices.result()
    keys = ["territory_id", "at_date"]
    money = funding.group_by(keys).agg(
        pl.col("requests").sum(), pl.col("amount_requested").sum(), pl.col("amount_granted").sum())
    rows = (timeliness.select(*keys, "roadmap_status", "in_force", "actions_due", "actions_on_time", "milestones_due",
                              "milestones_late")
            .join(money, on=keys, how="left")
            .join(practices.select(*keys, "practices_shared"), on=keys, how="left")
            .with_columns(pl.col("requests").fill_null(0), pl.col("amount_requested").fill_null(0),
                          pl.col("amount_granted").fill_null(0))
            .rename({"at_date": "evaluation_date"}))
    schema = MARTS["marts.mart_history"].polars_schema()
    return rows.select([pl.col(c).cast(t) for c, t in schema.items() if c != "as_of"]).sort(
        "territory_id", "evaluation_date")


NATIONAL = "marts.mart_evaluation_national"  # the one mart of the whole programme; the others: rows by territory
# The core tables the marts are computed from (a territory's rows in each: what its marts' rows depend on, with
# as_of and the code; see `sources_digests`)
SOURCES = ("core.territories", "core.conventions", "core.avenants", "core.roadmaps", "core.actions",
           "core.milestones", "core.action_partners", "core.funding_requests", "core.governance_meetings",
           "core.meeting_participants", "core.good_practices", "core.practice_reuse")


def compute_marts(con: duckdb.DuckDBPyConnection, territory_ids: Sequence[str], as_of: dt.date
                  ) -> dict[str, pl.DataFrame]:
    """Every mart for these territories (all of territories.csv) at as_of, from the core tables."""
    marts = territory_marts(con, territory_ids, as_of)
    national = national_mart(con, territory_ids, as_of, marts["marts.mart_timeliness"],
                             marts["marts.mart_partner_mobilisation"], marts["marts.mart_good_practices"])
    return {name: national if name == NATIONAL else marts[name] for name in MARTS}


def territory_marts(con: duckdb.DuckDBPyConnection, territory_ids: Sequence[str], as_of: dt.date
                    ) -> dict[str, pl.DataFrame]:
    """Every mart but the national one, for these territories at as_of: each territory's rows are computed from
    its own rows of the core tables (SOURCES) alone, whichever other territories are computed with it."""
    ids = list(territory_ids)
    params = {"ids": ids, "as_of": as_of, "at": {as_of: ids}, "national": list(NATIONAL_PARTNERS)}
    timeliness = _timeliness(con, params).drop("at_date")
    mobilisation = _query(con, _MOBILISATION, params)
    practices = _query(con, _GOOD_PRACTICES, params).drop("at_date")
    marts = {
        "marts.mart_timeliness": timeliness,
        "marts.mart_partner_mobilisation": mobilisation,
        "marts.mart_good_practices": practices,
        "marts.mart_practice_diffusion": _query(con, _DIFFUSION, params),
        "marts.mart_evaluation_territories": _territories(con, params, timeliness, mobilisation, practices),
        "marts.mart_late_items": late_items(con, params, timeliness),
        "marts.mart_funding": _query(con, _FUNDING, params),
        "marts.mart_history": history(con, params),
    }
    return {name: _frame(name, df, as_of) for name, df in marts.items()}


def national_mart(con: duckdb.DuckDBPyConnection, territory_ids: Sequence[str], as_of: dt.date,
                  timeliness: pl.DataFrame, mobilisation: pl.DataFrame, practices: pl.DataFrame) -> pl.DataFrame:
    """mart_evaluation_national for these territories (all of territories.csv), from their rows of
    mart_timeliness, mart_partner_mobilisation and mart_good_practices, and from the core tables."""
    ids = list(territory_ids)
    params = {"ids": ids, "as_of": as_of, "at": {as_of: ids}, "national": list(NATIONAL_PARTNERS)}
    return _frame(NATIONAL, national_indicators(con, params, timeliness, mobilisation, practices), as_of)


def sources_digests(con: duckdb.DuckDBPyConnection, territory_ids: Sequence[str]) -> dict[str, str]:
    """Each territory's rows of the core tables the marts are computed from (SOURCES), as a digest: for each
    table, its number of rows and two sums of their 64-bit hashes (DuckDB's `hash`, of the row and of the row with
    a salt; a multiset: the same rows in any order give the same digest). Same digest, same rows of its marts."""
    ids = list(territory_ids)
    wanted = f"territory_id IN (SELECT unnest({id_list(ids)}))"
    sums = " UNION ALL ".join(
        f"SELECT territory_id, {n} AS source, count(*) AS n, sum(hash(t)::HUGEINT) AS a, "
        f"sum(hash(t, 'qp')::HUGEINT) AS b FROM {name} AS t WHERE {wanted} GROUP BY territory_id"
        for n, name in enumerate(SOURCES))
    found = dict(con.execute(
        f"SELECT territory_id, string_agg(source || ':' || n || ':' || a || ':' || b, ',' ORDER BY source) "
        f"FROM ({sums}) GROUP BY territory_id").fetchall())
    return {t: found.get(t, "") for t in ids}


def _territories(con: duckdb.DuckDBPyConnection, params: dict[str, Any], timeliness: pl.DataFrame,
                 mobilisation: pl.DataFrame, practices: pl.DataFrame) -> pl.DataFrame:
    reference = _query(con, """
        SELECT t.territory_id, r.name, r.siren, r.departement_code, r.departement, c.chef_de_file,
               CASE WHEN c.territory_id IS NULL THEN NULL WHEN c.signature_date IS NULL THEN 'undated'
                    WHEN c.signature_date <= $as_of THEN 'signed' ELSE 'not_yet_signed' END
                   AS convention_signature_state,
               c.source_provenance AS convention_provenance, m.source_provenance AS roadmap_provenance
        FROM (SELECT unnest($ids::VARCHAR[]) AS territory_id) t
        LEFT JOIN core.territories r USING (territory_id)
        LEFT JOIN core.conventions c USING (territory_id)
        LEFT JOIN core.roadmaps m USING (territory_id)""", params)
    chef = mobilisation.filter(pl.col("is_chef_de_file")).select(
        "territory_id", chef_actions_involved="actions_involved", chef_actions_share="actions_share",
        chef_amount_granted="amount_granted", chef_median_instruction_days="median_instruction_days",
        chef_attendance_rate="attendance_rate")
    totals = mobilisation.group_by("territory_id").agg(
        partners_involved=(pl.col("actions_involved") > 0).sum(),
        total_amount_requested=pl.col("amount_requested").sum(),
        total_amount_granted=pl.col("amount_granted").sum(),
        total_amount_paid=pl.col("amount_paid").sum(),
        total_requests=pl.col("requests").sum(),
        total_pending_requests=pl.col("pending_requests").sum(),
    )
    all_days = _query(con, f"""
        SELECT territory_id, median(date_decision - date_sollicitation) AS median_instruction_days_all
        FROM ({_REQUESTS}) WHERE decision_at IN ('accordee', 'refusee') GROUP BY ALL""", params)
    return (reference.join(timeliness, on="territory_id", how="left")
            .join(practices, on="territory_id", how="left")
            .join(chef, on="territory_id", how="left")
            .join(totals, on="territory_id", how="left")
            .join(all_days, on="territory_id", how="left")
            .sort("territory_id"))


def value_column(unit: str) -> str:
    """The column of mart_evaluation_national that holds a value of this unit."""
    if unit in COUNT_UNITS:
        return "value_count"
    if unit in AMOUNT_UNITS:
        return "value_amount"
    if unit in MEASURE_UNITS:
        return "value_measure"
    raise ValueError(f"no value column for unit {unit!r}")


def national_indicators(con: duckdb.DuckDBPyConnection, params: dict[str, Any], timeliness: pl.DataFrame,
                        mobilisation: pl.DataFrame, practices: pl.DataFrame) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []

    def add(indicator: str, value: Any, territories: int) -> None:
        unit, definition = NATIONAL_INDICATORS[indicator]
        column = value_column(unit)
        if value is not None:
            value = {"value_count": int, "value_amount": Decimal, "value_measure": float}[column](value)
        rows.append({"indicator": indicator, "value_count": None, "value_amount": None, "value_measure": None,
                     column: value, "unit": unit, "territories": territories, "definition": definition})

    n = timeliness.height
    status = timeliness["roadmap_status"]
    add("territories_in_programme", n, n)
    add("conventions_signed", timeliness["convention_signature_date"].is_not_null().sum(), n)
    add("conventions_undated", con.execute(
        "SELECT count(*) FROM core.conventions WHERE signature_date IS NULL "
        f"AND territory_id IN (SELECT unnest({id_list(params['ids'])}))").fetchone()[0], n)
    add("roadmaps_annexed", timeliness["roadmap_annexed_date"].is_not_null().sum(), n)
    on_time = (status == "on_time").sum()
    add("roadmaps_on_time", on_time, n)
    assessed = status.is_in(["on_time", "late", "missing"]).sum()
    add("roadmaps_on_time_share", on_time / assessed if assessed else None, assessed)
    delays = timeliness["roadmap_delay_days"].drop_nulls()
    add("median_roadmap_delay_days", delays.median() if len(delays) else None, len(delays))
    add("conventions_in_force", timeliness["in_force"].fill_null(False).sum(), n)
    due, done = timeliness["actions_due"].sum(), timeliness["actions_on_time"].sum()
    add("action_on_time_rate", done / due if due else None, int((timeliness["actions_due"] > 0).sum()))
    for partner in NATIONAL_PARTNERS:
        rows_p = mobilisation.filter(pl.col("partner") == partner)
        add(f"total_granted_{partner}", rows_p["amount_granted"].sum(), int((rows_p["amount_granted"] > 0).sum()))
    pooled = _query(con, f"""
        SELECT financeur, median(date_decision - date_sollicitation) AS days, count(DISTINCT territory_id) AS n
        FROM ({_REQUESTS}) WHERE decision_at IN ('accordee', 'refusee')
          AND date_decision IS NOT NULL AND date_sollicitation IS NOT NULL GROUP BY ALL""", params)
    by_partner = {r["financeur"]: r for r in pooled.iter_rows(named=True)}
    for partner in NATIONAL_PARTNERS:
        r = by_partner.get(partner)
        add(f"median_instruction_days_{partner}", r["days"] if r else None, r["n"] if r else 0)
    with_practices = int((practices["practices_documented"] > 0).sum())
    add("practices_shared", practices["practices_shared"].sum(), with_practices)
    add("reuse_links", practices["reuse_links"].sum(), with_practices)
    assert [r["indicator"] for r in rows] == list(NATIONAL_INDICATORS), "every national indicator, in order"
    return MARTS["marts.mart_evaluation_national"].frame(rows).drop("as_of")
