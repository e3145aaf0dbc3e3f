"""The evaluation marts, computed from the core tables for one evaluation date (`as_of`).

Each definition follows INDICATORS.md; the column descriptions in qp_analytics.schema.MARTS say it in
words and are published with the data. The rules that cut across definitions:
- facts dated after as_of do not exist yet: a milestone reached, a roadmap annexed, a practice shared, a
  request made, a decision taken, an avenant or a convention signed after as_of count as not (yet) done;
- a median of nothing and a ratio over zero are null; counts and sums are 0 where there is nothing;
- unknown amounts (empty cells) are left out of sums, never read as 0.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl

from qp_analytics.french import add_months
from qp_analytics.schema import MARTS

NATIONAL_PARTNERS = ("etat", "anct", "anru", "banque_des_territoires", "bpifrance")

# Requests as they stand at as_of: made by then (or undated), and decided only if decided by then.
_REQUESTS = """
    SELECT r.*,
           CASE WHEN r.decision IN ('accordee', 'refusee') AND (r.date_decision IS NULL OR r.date_decision <= $as_of)
                THEN r.decision ELSE 'en_instruction' END AS decision_at
    FROM core.funding_requests r
    WHERE r.territory_id IN (SELECT unnest($ids::VARCHAR[]))
      AND (r.date_sollicitation IS NULL OR r.date_sollicitation <= $as_of)
"""

_TIMELINESS = """
WITH t AS (SELECT unnest($ids::VARCHAR[]) AS territory_id),
act AS (
    SELECT territory_id, count(*) AS actions_total,
           count(*) FILTER (WHERE statut <> 'abandonnee' AND fin_prevue <= $as_of) AS actions_due,
           count(*) FILTER (WHERE statut <> 'abandonnee' AND fin_prevue <= $as_of AND fin_reelle <= fin_prevue)
               AS actions_on_time
    FROM core.actions GROUP BY territory_id),
ms AS (
    SELECT m.territory_id,
           count(*) FILTER (WHERE m.date_prevue <= $as_of) AS milestones_due,
           count(*) FILTER (WHERE m.date_prevue <= $as_of AND (m.date_reelle IS NULL OR m.date_reelle > $as_of
                                                               OR m.date_reelle > m.date_prevue)) AS milestones_late,
           median(m.date_reelle - m.date_prevue) FILTER (WHERE m.date_reelle <= $as_of AND m.date_prevue IS NOT NULL)
               AS median_milestone_delay_days
    FROM core.milestones m JOIN core.actions a USING (territory_id, action_id)
    WHERE a.statut <> 'abandonnee' GROUP BY m.territory_id)
SELECT t.territory_id,
       c.labellisation_date, c.roadmap_due_date,
       CASE WHEN r.date_annexion <= $as_of THEN r.date_annexion END AS roadmap_annexed_date,
       CASE WHEN r.date_annexion <= $as_of THEN r.date_annexion - c.roadmap_due_date END AS roadmap_delay_days,
       CASE WHEN c.roadmap_due_date IS NULL THEN NULL
            WHEN r.date_annexion <= $as_of THEN
                 CASE WHEN r.date_annexion - c.roadmap_due_date <= 0 THEN 'on_time' ELSE 'late' END
            WHEN $as_of > c.roadmap_due_date THEN 'missing' ELSE 'pending' END AS roadmap_status,
       CASE WHEN c.signature_date <= $as_of THEN c.signature_date END AS convention_signature_date,
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
LEFT JOIN act USING (territory_id)
LEFT JOIN ms USING (territory_id)
ORDER BY t.territory_id
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
          UNION ALL SELECT territory_id, financeur, action_id FROM req)
    GROUP BY ALL),
pilots AS (
    SELECT territory_id, partenaire AS partner, count(DISTINCT action_id) AS pilot_actions
    FROM core.action_partners WHERE role = 'pilote' GROUP BY ALL),
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
actions AS (SELECT territory_id, count(*) AS actions_total FROM core.actions GROUP BY ALL),
meetings AS (SELECT territory_id, source_row FROM core.governance_meetings WHERE date <= $as_of),
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
WITH t AS (SELECT unnest($ids::VARCHAR[]) AS territory_id),
p AS (
    SELECT g.territory_id, count(*) AS practices_documented,
           count(*) FILTER (WHERE g.date_partage <= $as_of) AS practices_shared,
           count(DISTINCT a.axe) AS axes_covered,
           median(g.date_partage - a.fin_reelle) FILTER (WHERE g.date_partage <= $as_of AND a.fin_reelle <= $as_of)
               AS median_days_to_share
    FROM core.good_practices g LEFT JOIN core.actions a USING (territory_id, action_id) GROUP BY ALL),
r AS (
    SELECT territory_id, count(*) AS reuse_links, count(DISTINCT reused_by) AS reusing_territories
    FROM core.practice_reuse WHERE reused_by <> territory_id GROUP BY ALL)
SELECT t.territory_id,
       coalesce(p.practices_documented, 0) AS practices_documented,
       coalesce(p.practices_shared, 0) AS practices_shared,
       p.practices_shared / nullif(p.practices_documented, 0) AS shared_rate,
       coalesce(r.reuse_links, 0) AS reuse_links,
       coalesce(r.reusing_territories, 0) AS reusing_territories,
       coalesce(p.axes_covered, 0) AS axes_covered,
       p.median_days_to_share
FROM t LEFT JOIN p USING (territory_id) LEFT JOIN r USING (territory_id)
ORDER BY t.territory_id
"""


def convention_end_dates(con: duckdb.DuckDBPyConnection, ids: Sequence[str], as_of: dt.date
                         ) -> dict[str, tuple[dt.date | None, int]]:
    """territory -> (end date with the avenants in force at as_of, number of those avenants)."""
    conventions = con.execute(
        "SELECT territory_id, labellisation_date, duration_months FROM core.conventions "
        "WHERE territory_id IN (SELECT unnest(?::VARCHAR[]))", [list(ids)]).fetchall()
    avenants: dict[str, list[tuple[int, int | None, dt.date | None]]] = {}
    for tid, number, months, new_end in con.execute(
            "SELECT territory_id, number, extension_months, new_end_date FROM core.avenants "
            "WHERE (signature_date IS NULL OR signature_date <= ?) ORDER BY territory_id, number", [as_of]).fetchall():
        avenants.setdefault(tid, []).append((number, months, new_end))
    out: dict[str, tuple[dt.date | None, int]] = {}
    for tid, labellisation, duration in conventions:
        base, months = labellisation, duration
        effective = avenants.get(tid, [])
        for _, extension, new_end in effective:
            if new_end is not None:
                base, months = new_end, 0
            else:
                months += extension or 0
        out[tid] = (add_months(base, months), len(effective))
    return out


def _frame(mart: str, df: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Columns in the published order and types, with the as_of column."""
    df = df.with_columns(pl.lit(as_of).alias("as_of"))
    schema = MARTS[mart].polars_schema()
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return con.execute(sql, used).pl()


def compute_marts(con: duckdb.DuckDBPyConnection, territory_ids: Sequence[str], as_of: dt.date
                  ) -> dict[str, pl.DataFrame]:
    """Every mart for these territories (all of territories.csv) at as_of, from the core tables."""
    params = {"ids": list(territory_ids), "as_of": as_of, "national": list(NATIONAL_PARTNERS)}
    timeliness = _query(con, _TIMELINESS, params)
    ends = convention_end_dates(con, territory_ids, as_of)
    end_dates = [ends.get(t, (None, 0))[0] for t in timeliness["territory_id"]]
    timeliness = timeliness.with_columns(
        pl.Series("convention_end_date", end_dates, dtype=pl.Date),
        pl.Series("avenants_effective", [ends.get(t, (None, 0))[1] for t in timeliness["territory_id"]],
                  dtype=pl.Int32),
    ).with_columns(in_force=pl.lit(as_of) <= pl.col("convention_end_date"))
    mobilisation = _query(con, _MOBILISATION, params)
    practices = _query(con, _GOOD_PRACTICES, params)
    diffusion = _query(con, _DIFFUSION, params)
    territories = _territories(con, params, timeliness, mobilisation, practices)
    marts = {
        "marts.mart_timeliness": timeliness,
        "marts.mart_partner_mobilisation": mobilisation,
        "marts.mart_good_practices": practices,
        "marts.mart_practice_diffusion": diffusion,
        "marts.mart_evaluation_territories": territories,
        "marts.mart_evaluation_national": national_indicators(con, params, timeliness, mobilisation, practices),
    }
    return {name: _frame(name, df, as_of) for name, df in marts.items()}


def _territories(con: duckdb.DuckDBPyConnection, params: dict[str, Any], timeliness: pl.DataFrame,
                 mobilisation: pl.DataFrame, practices: pl.DataFrame) -> pl.DataFrame:
    reference = _query(con, """
        SELECT t.territory_id, r.name, r.siren, r.departement_code, r.departement, c.chef_de_file,
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


def national_indicators(con: duckdb.DuckDBPyConnection, params: dict[str, Any], timeliness: pl.DataFrame,
                        mobilisation: pl.DataFrame, practices: pl.DataFrame) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []

    def add(indicator: str, value: Any, unit: str, territories: int, definition: str) -> None:
        rows.append({"indicator": indicator, "value": None if value is None else float(value), "unit": unit,
                     "territories": territories, "definition": definition})

    n = timeliness.height
    status = timeliness["roadmap_status"]
    add("territories_in_programme", n, "territories", n, "Rows of territories.csv.")
    signed = timeliness["convention_signature_date"].is_not_null().sum()
    add("conventions_signed", signed, "conventions", n, "Conventions with a signature date ≤ as_of.")
    annexed = timeliness["roadmap_annexed_date"].is_not_null().sum()
    add("roadmaps_annexed", annexed, "roadmaps", n, "Roadmaps annexed by as_of.")
    on_time = (status == "on_time").sum()
    add("roadmaps_on_time", on_time, "roadmaps", n, "Roadmaps annexed by their due date.")
    assessed = status.is_in(["on_time", "late", "missing"]).sum()
    add("roadmaps_on_time_share", on_time / assessed if assessed else None, "share", assessed,
        "roadmaps_on_time / territories whose roadmap is annexed or overdue (status on_time, late or missing).")
    delays = timeliness["roadmap_delay_days"].drop_nulls()
    add("median_roadmap_delay_days", delays.median() if len(delays) else None, "days", len(delays),
        "Median of roadmap_delay_days over annexed roadmaps.")
    in_force = timeliness["in_force"].fill_null(False).sum()
    add("conventions_in_force", in_force, "conventions", n, "Conventions with as_of ≤ convention_end_date.")
    due, done = timeliness["actions_due"].sum(), timeliness["actions_on_time"].sum()
    add("action_on_time_rate", done / due if due else None, "rate", int((timeliness["actions_due"] > 0).sum()),
        "Sum of actions_on_time / sum of actions_due over all territories.")
    for partner in NATIONAL_PARTNERS:
        rows_p = mobilisation.filter(pl.col("partner") == partner)
        granted = rows_p["amount_granted"].sum()
        add(f"total_granted_{partner}", granted, "EUR", int((rows_p["amount_granted"] > 0).sum()),
            f"Sum of amount_granted of {partner} over all territories.")
    pooled = _query(con, f"""
        SELECT financeur, median(date_decision - date_sollicitation) AS days, count(DISTINCT territory_id) AS n
        FROM ({_REQUESTS}) WHERE decision_at IN ('accordee', 'refusee')
          AND date_decision IS NOT NULL AND date_sollicitation IS NOT NULL GROUP BY ALL""", params)
    by_partner = {r["financeur"]: r for r in pooled.iter_rows(named=True)}
    for partner in NATIONAL_PARTNERS:
        r = by_partner.get(partner)
        add(f"median_instruction_days_{partner}", r["days"] if r else None, "days", r["n"] if r else 0,
            f"Median of date_decision − date_sollicitation over all decided requests to {partner} (pooled).")
    add("practices_shared", practices["practices_shared"].sum(), "practices",
        int((practices["practices_documented"] > 0).sum()), "Sum of practices_shared over all territories.")
    add("reuse_links", practices["reuse_links"].sum(), "links", int((practices["practices_documented"] > 0).sum()),
        "Sum of reuse_links over all territories.")
    return pl.DataFrame(rows, schema={"indicator": pl.String, "value": pl.Float64, "unit": pl.String,
                                      "territories": pl.Int32, "definition": pl.String})
