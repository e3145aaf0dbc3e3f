"""What a command line's run stores on the Dagster instance does not grow with its territories: the same events,
type by type, for a run over 3 generated territories and one over 9."""

import collections
import datetime as dt
import random
import shutil

import pytest

from pipelines.definitions import defs
from pipelines.instance import project_instance
from pipelines.run import run_pipeline
from qp_analytics.generators.conventions import synthetic_territories
from qp_analytics.generators.raw_folder import write_raw_folder
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # runs the pipeline twice

AS_OF = dt.date(2023, 6, 30)


def test_the_events_a_run_stores_do_not_grow_with_its_territories(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"  # an instance of its own: the two runs are the only ones on it
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for n in (3, 9):
        raw = tmp_path / f"raw_{n}"
        write_raw_folder(raw, synthetic_territories(n, random.Random(n)), seed=n)
        summary = run_pipeline(raw, tmp_path / f"w_{n}.duckdb", tmp_path / f"marts_{n}", AS_OF, [],
                               echo=lambda m: None)
        assert summary.exit_code == 0 and len(summary.territories) == n, summary.render()

    stored: dict[int, collections.Counter] = {}
    started: dict[int, list[str]] = {}  # the steps in the order they started
    with project_instance() as instance:
        runs = instance.get_runs()
        assert len(runs) == 2
        for run in runs:
            records = instance.get_records_for_run(run.run_id, limit=100_000).records
            # a log line has no Dagster event: counted under its level, so that one stored would show
            stored[int(run.tags["qp/territory_count"])] = collections.Counter(
                r.event_log_entry.dagster_event_type.value if r.event_log_entry.is_dagster_event
                else f"log line at level {r.event_log_entry.level}" for r in records)
            started[int(run.tags["qp/territory_count"])] = [
                r.event_log_entry.step_key for r in records if r.event_log_entry.is_dagster_event
                and r.event_log_entry.dagster_event_type.value == "STEP_START"]
    assert stored[3] == stored[9]
    graph = defs.resolve_asset_graph()
    # one materialisation per asset and one evaluation per check, whatever the number of territories
    assert stored[9]["ASSET_MATERIALIZATION"] == len(graph.materializable_asset_keys)
    assert stored[9]["ASSET_CHECK_EVALUATION"] == len(graph.asset_check_keys)
    # the steps' own log lines (progress per territory, rejections) are not stored for the command line's runs
    assert not [kind for kind in stored[9] if kind.startswith("log line")]
    # where the graph leaves the order open, pipelines.stages.STEP_ORDER gives it: the roadmaps checked, the
    # conventions read (their parses started ahead), the roadmaps normalised meanwhile, then the parses taken
    order = ["core__avenants", "staging__roadmap_parses", "raw__convention_documents", "core_roadmaps",
             "staging__convention_parses"]
    assert [step for step in started[9] if step in order] == order
