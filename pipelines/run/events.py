"""A finished run's Dagster events read into its summary: failed steps (or why the run failed without one), the
processes its steps ran in, what each step left unchanged, the release published, every check's evaluation."""

import datetime as dt
import time
from pathlib import Path
from typing import Any

from pipelines.run.summary import RunSummary, count_in_warehouse

# what was left unchanged -> the asset whose materialisation counts it (metadata `unchanged`)
UNCHANGED_FROM = {"conventions": ["raw", "convention_documents"], "roadmaps": ["staging", "roadmap_parses"],
                  "avenant sets": ["core", "avenants"]}


def innermost(error: Any) -> str:
    """The message of the user-code exception Dagster wrapped, not of the wrapper."""
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error is not None else "unknown error"


def summarise(result: Any, work: Path, selected: list[str], as_of: dt.date, started: float,
              warehouse: Path) -> RunSummary:
    """The run's summary from its events (failures, checks, what was unchanged, the release) and from its copy of
    the warehouse (what it holds for the selected territories)."""
    from dagster import AssetCheckSeverity  # loaded already: the result is Dagster's

    summary = RunSummary(selected, as_of, time.perf_counter() - started, result.success, warehouse)
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE" and event.step_failure_data:
            summary.failures.append(f"{event.step_key}: {innermost(event.step_failure_data.error)}")
    if not result.success and not summary.failures:
        # the run failed outside its steps (a step's process could not load the job, a resource did not start...):
        # a failure like a step's, so that nothing of the run is kept, with Dagster's reason
        errors = [innermost(e.event_specific_data.error) for e in result.all_events
                  if getattr(getattr(e, "event_specific_data", None), "error", None) is not None]
        ended = [e.message for e in result.all_events if e.event_type_value == "RUN_FAILURE" and e.message]
        reasons = (list(dict.fromkeys(errors)) or ended[-1:]
                   or ["Dagster reports the run failed, with no step failed and no reason given"])
        summary.failures.append("run: " + "; ".join(reasons))
    summary.step_processes = len({e.pid for e in result.all_events if e.event_type_value == "STEP_START"})
    materialised = result.get_asset_materialization_events()
    for what, key in UNCHANGED_FROM.items():
        for e in materialised:
            if e.materialization.asset_key.path == key and "unchanged" in e.materialization.metadata:
                summary.unchanged[what] = int(e.materialization.metadata["unchanged"].value)
    published = [e for e in materialised if e.materialization.asset_key.path == ["published", "marts"]]
    if published:
        metadata = published[0].materialization.metadata
        summary.release = Path(str(metadata["release"].value))
        summary.release_unchanged = bool(metadata["unchanged_release"].value) if "unchanged_release" in metadata \
            else False
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            detail = ""
        elif "rejected_territories" in evaluation.metadata:
            detail = f"{evaluation.metadata['rejected_territories'].value} territories rejected"
        else:
            samples = evaluation.metadata["failing_samples"].value
            detail = "; ".join(f"{check} (e.g. {str(sample)[:160]})" for check, sample in samples.items())
        summary.checks.append((name, evaluation.passed, detail))
        if not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN:
            summary.warned.append(name)
    count_in_warehouse(summary, work)
    return summary
