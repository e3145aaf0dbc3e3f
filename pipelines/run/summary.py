"""The summary of a run that `qp-analytics materialize` prints: what it loaded, rejected and checked, what it
published, and whether the run is kept; counted, for the run's territories, in the run's copy of the warehouse."""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from qp_analytics.warehouse.database import connect, ensure_tables, id_list

REPORT_STEP = "published__report"
PUBLISHED_STEP = "published__marts"
SUMMARY_TABLES = ("raw.convention_documents", "core.territories", "core.conventions", "core.convention_commitments",
                  "core.convention_warnings", "core.roadmaps", "core.actions", "core.action_partners",
                  "core.funding_requests", "core.milestones", "core.governance_meetings", "core.good_practices",
                  "core.practice_reuse", "core.avenants")


@dataclass
class RunSummary:
    """What one run did: the command line prints it (render) and exits with its exit_code."""

    territories: list[str]
    as_of: dt.date
    seconds: float
    success: bool
    warehouse: Path
    loaded: dict[str, int] = field(default_factory=dict)  # table -> rows for the run's territories
    rejections: list[tuple[str, str, str]] = field(default_factory=list)  # (territory, stage, problem)
    stale_since: dict[str, str] = field(default_factory=dict)  # rejected territory -> last good read
    with_data: set[str] = field(default_factory=set)  # territories whose convention is loaded (this run or earlier)
    failures: list[str] = field(default_factory=list)  # failed steps (bugs, not bad input)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)  # checks failed with severity WARN: non-blocking, shown only
    without_roadmap: list[str] = field(default_factory=list)
    release: Path | None = None  # the marts release this run published
    release_unchanged: bool = False  # the marts were those of the current release: it stays, no new one
    unknown_files: list[str] = field(default_factory=list)  # raw files that belong to no known territory
    unchanged: dict[str, int] = field(default_factory=dict)  # what -> territories skipped (inputs unchanged)
    step_processes: int = 1  # distinct processes the steps ran in (other than this one when out of process)

    @property
    def exit_code(self) -> int:
        clean = (self.success and not self.rejections and not self.failures and not self.unknown_files
                 and not self.failed_quality)
        return 0 if clean else 1

    @property
    def data_failures(self) -> list[str]:
        """Failures that discard the run (all but the report's: it is drawn from marts already published)."""
        return [f for f in self.failures if not f.startswith(f"{REPORT_STEP}:")]

    @property
    def failed_quality(self) -> list[str]:
        """Great Expectations checks that failed a blocking expectation: the run's data is not trusted, nothing
        is kept. A check whose failures are all non-blocking (severity WARN) is a warning."""
        return [name for name, ok, _ in self.checks
                if not ok and name.endswith(":great_expectations") and name not in self.warned]

    def render(self) -> str:
        rejected = sorted({r[0] for r in self.rejections})
        ok = len(self.territories) - len(rejected)
        if self.data_failures:  # the counts below are those of the run's discarded copy
            lines = [f"Run FAILED after {self.seconds:.1f} s (as_of {self.as_of.isoformat()}): nothing of it is "
                     f"kept, {self.warehouse} is as it was; what the run had loaded:"]
        else:
            lines = [f"Materialised {ok}/{len(self.territories)} territories in {self.seconds:.1f} s "
                     f"(as_of {self.as_of.isoformat()}) into {self.warehouse}"]
        for table, n in self.loaded.items():
            lines.append(f"  {table:<34} {n:>7} rows")
        if self.without_roadmap:
            lines.append(f"  no roadmap loaded for {len(self.without_roadmap)}: {', '.join(self.without_roadmap)}")
        if any(self.unchanged.values()):
            lines.append("  unchanged since the last run, not read again: "
                         + ", ".join(f"{n} {what}" for what, n in self.unchanged.items()))
        passed = [c for c in self.checks if c[1]]
        failed = len(self.checks) - len(passed) - len(self.warned)
        lines.append(f"  checks: {len(passed)} passed, {failed} failed"
                     + (f", {len(self.warned)} with warnings" if self.warned else "")
                     + " (Great Expectations suites on every core table and mart, and input acceptance)")
        if self.step_processes > 1:
            lines.append(f"  steps ran in {self.step_processes} processes")
        for name, ok, detail in self.checks:
            if not ok:
                what = "WARNING (non-blocking)" if name in self.warned else "FAILED"
                lines.append(f"  check {what} {name}{(' — ' + detail) if detail else ''}")
        if rejected:
            lines.append(f"Rejected ({len(rejected)} territories; each keeps its last good data):")
            for tid in rejected:
                since = self.stale_since.get(tid)
                state = (f"stale: last good file read {since}" if since
                         else "its data loaded before is kept; the rejected file is left out" if tid in self.with_data
                         else "no data loaded yet")
                lines.append(f"  {tid} ({state})")
                for _, stage, problem in (r for r in self.rejections if r[0] == tid):
                    lines.append(f"    [{stage}] {problem}")
        if self.release and self.release_unchanged:
            lines.append(f"Marts unchanged: {self.release} stays the current release (query it with "
                         "`qp-analytics query`)")
        elif self.release:
            lines.append(f"Published marts: {self.release} (query them with `qp-analytics query`)")
        else:
            lines.append("Marts NOT published by this run: readers keep the previous publication")
        if self.unknown_files:
            lines.append(f"Files ignored ({len(self.unknown_files)}; they belong to no territory of territories.csv):")
            lines += [f"  {problem}" for problem in self.unknown_files]
        for failure in self.failures:
            lines.append(f"Step failed: {failure}")
        return "\n".join(lines)


def count_in_warehouse(summary: RunSummary, work: Path) -> None:
    """What the run's copy of the warehouse holds for the run's territories: rows per table, roadmaps, rejections
    (and since when a rejected territory's data is stale), territories with a convention loaded."""
    selected = summary.territories
    with connect(work) as con:
        ensure_tables(con)
        ids = id_list(selected)  # a literal: a bound parameter would have DuckDB import pandas
        for table in SUMMARY_TABLES:
            summary.loaded[table] = con.execute(
                f"SELECT count(*) FROM {table} WHERE territory_id IN (SELECT unnest({ids}))"
            ).fetchone()[0]
        with_roadmap = {r[0] for r in con.execute(
            f"SELECT territory_id FROM core.roadmaps WHERE territory_id IN (SELECT unnest({ids}))"
        ).fetchall()}
        summary.without_roadmap = [t for t in selected if t not in with_roadmap]
        summary.rejections = con.execute(
            "SELECT territory_id, stage, problem FROM staging.rejections "
            f"WHERE territory_id IN (SELECT unnest({ids})) ORDER BY territory_id, stage, problem_no"
        ).fetchall()
        for tid, since in con.execute("""
            SELECT territory_id, strftime(min(since), '%Y-%m-%d %H:%M UTC') FROM (
                SELECT r.territory_id, d.read_at AS since FROM staging.rejections r
                JOIN raw.convention_documents d USING (territory_id) WHERE r.stage IN ('read', 'parse')
                UNION ALL
                SELECT r.territory_id, p.parsed_at FROM staging.rejections r
                JOIN staging.roadmap_parses p USING (territory_id) WHERE r.stage = 'roadmap')
            GROUP BY territory_id""").fetchall():
            summary.stale_since[tid] = since
        summary.with_data = {r[0] for r in con.execute(
            f"SELECT DISTINCT territory_id FROM core.conventions WHERE territory_id IN (SELECT unnest({ids}))"
        ).fetchall()}
