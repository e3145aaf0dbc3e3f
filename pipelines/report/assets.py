"""The evaluation report: HTML pages drawn from the marts release this run published."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from pipelines.resources import QpSettings
from qp_analytics.publication.release import current_release
from qp_analytics.report.ahead import taken_ahead
from qp_analytics.report.pages import build_report, shows_release

PUBLISHED_MARTS = AssetKey(["published", "marts"])


def _release_of_this_run(context: AssetExecutionContext) -> Path | None:
    """The release the published marts asset wrote in this run, or None (then: the current release).

    A run of `qp-analytics materialize` writes its release without making it current (the CLI moves `current`
    once the warehouse is committed, after the run): reading `current` here would render the previous one."""
    event = context.instance.get_latest_materialization_event(PUBLISHED_MARTS)
    if event is None or event.run_id != context.run.run_id or event.asset_materialization is None:
        return None
    release = event.asset_materialization.metadata.get("release")
    return Path(str(release.value)) if release is not None else None


@asset(
    key=["published", "report"],
    group_name="publish",
    deps=[PUBLISHED_MARTS],
    kinds={"html"},
    description="The evaluation report in French: a national page (programme totals, every territory side by "
                "side, charts) and one page per territory, self-contained HTML that reads offline and prints, "
                "written atomically to the report folder (default: `report` beside the marts folder).",
)
def evaluation_report(context: AssetExecutionContext, settings: QpSettings) -> MaterializeResult:
    release = _release_of_this_run(context)
    out = settings.report_path
    shown = release or current_release(settings.marts_dir)
    if shown is not None and shows_release(out, shown):
        context.log.info(f"the report in {out} already shows release {shown.name}, whole: not drawn again")
        return MaterializeResult(metadata={"release": shown.name, "redrawn": False,
                                           "index": MetadataValue.path(str(out / "index.html"))})
    # a run whose caller makes its release current afterwards (the command line, once the warehouse is committed)
    # leaves its report beside the current one, swapped in with the release (pipelines.run.pipeline)
    pending = release is not None and not settings.activate_release
    ahead = taken_ahead()  # the territory pages the marts step had a worker draw meanwhile, if any
    try:
        result = build_report(settings.marts_dir, out, release=release, pending=pending, ahead=ahead)
    finally:
        if ahead is not None:
            ahead.close()
    context.log.info(f"report of release {result.release} (as_of {result.as_of.isoformat()}): "
                     f"{len(result.pages)} pages {'ready for' if pending else 'in'} {out}")
    return MaterializeResult(metadata={
        "pages": len(result.pages),
        "as_of": result.as_of.isoformat(),
        "release": result.release,
        "index": MetadataValue.path(str(result.index)),
        "territory_pages": MetadataValue.path(str(out / "territoires")),
        "redrawn": True,
        "pending": pending,
    })
