"""The schedule and the sensor, evaluated with Dagster's test APIs."""

import datetime as dt
import json
import shutil

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context, instance_for_test

from pipelines.automation import raw_files_sensor, weekly_refresh
from pipelines.definitions import defs
from pipelines.jobs import evaluation_refresh
from pipelines.resources import QpSettings
from pipelines.selection import TERRITORIES_TAG
from qp_analytics.reading.raw_index import raw_fingerprints
from qp_analytics.reading.territories import read_registry

pytestmark = pytest.mark.slow  # runs the pipeline or a server: the full tier only


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def settings(raw):
    return {"settings": QpSettings(raw_dir=str(raw), warehouse="unused.duckdb", marts_dir="unused")}


def evaluate(raw, instance, cursor):
    # closed after use: an open context with resources leaves Dagster's defs-state storage set to its instance
    with build_sensor_context(instance=instance, cursor=cursor, resources=settings(raw)) as context:
        return raw_files_sensor(context)


def _cursor(raw):
    return json.dumps({"files": raw_fingerprints(raw), "territories": [t.territory_id for t in read_registry(raw)]})


def _territories(result):
    """The territories of the sensor's one run request, or [] when it requests none."""
    runs = result.run_requests or []
    assert len(runs) <= 1 and all(r.partition_key is None for r in runs)
    return sorted(runs[0].tags[TERRITORIES_TAG].split(",")) if runs else []


def test_first_look_records_the_folder_and_launches_nothing(raw_copy, instance):
    result = evaluate(raw_copy, instance, None)
    assert _territories(result) == []
    assert json.loads(result.cursor) == json.loads(_cursor(raw_copy))


def test_a_changed_file_refreshes_its_territory_only(raw_copy, instance):
    cursor = _cursor(raw_copy)
    assert _territories(evaluate(raw_copy, instance, cursor)) == []  # unchanged folder: nothing
    path = raw_copy / "conventions" / "laval.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    result = evaluate(raw_copy, instance, cursor)
    assert _territories(result) == ["laval"]
    assert result.run_requests[0].job_name in (None, "evaluation_refresh")
    # touching a file without changing its content launches nothing (content hash, not modification time)
    cursor = result.cursor
    path.touch()
    assert _territories(evaluate(raw_copy, instance, cursor)) == []


def test_a_new_territory_is_picked_up_without_code_change(raw_copy, instance):
    cursor = _cursor(raw_copy)
    with (raw_copy / "territories.csv").open("a", encoding="utf-8") as fh:
        fh.write("nouveau,Métropole Nouvelle,200000001,53,Mayenne\n")
    assert _territories(evaluate(raw_copy, instance, cursor)) == ["nouveau"]  # a new row, before its files


def test_several_changes_make_one_run_and_the_same_content_never_launches_twice(raw_copy, instance):
    cursor = _cursor(raw_copy)
    (raw_copy / "roadmaps" / "arras.xlsx").unlink()
    next((raw_copy / "avenants").glob("orly-choisy_avenant_2.*")).unlink()
    first = evaluate(raw_copy, instance, cursor)
    assert _territories(first) == ["arras", "orly-choisy"]
    again = evaluate(raw_copy, instance, cursor)  # the same change seen from the same cursor: the same run key
    assert again.run_requests[0].run_key == first.run_requests[0].run_key


@pytest.fixture
def stored_instance():
    """A persistent (temporary) instance: schedule contexts need an instance reference."""
    with instance_for_test() as inst:
        yield inst


def schedule_result(instance, raw, **kwargs):
    """The schedule evaluated in a context that is closed afterwards (it enters the instance)."""
    with build_schedule_context(instance=instance, resources=settings(raw), **kwargs) as context:
        return weekly_refresh(context)


def test_weekly_schedule_runs_every_territory_in_one_run_of_the_graphs_job(stored_instance, raw_copy):
    request = schedule_result(stored_instance, raw_copy, scheduled_execution_time=dt.datetime(2026, 11, 30, 6, 0))
    assert request.run_key == "weekly-2026-11-30" and not request.partition_key
    assert TERRITORIES_TAG not in request.tags  # every territory of territories.csv
    assert weekly_refresh.job_name == raw_files_sensor.job_name == "evaluation_refresh"
    assert (weekly_refresh.cron_schedule, weekly_refresh.execution_timezone) == ("0 6 * * 1", "Europe/Paris")
    assert [s.name for s in defs.schedules] == ["weekly_refresh"]
    assert [s.name for s in defs.sensors] == ["raw_files_sensor"]


def test_schedule_skips_without_territories(stored_instance, tmp_path):
    (tmp_path / "territories.csv").write_text("territory_id,name,siren,departement_code,departement\n",
                                              encoding="utf-8")
    assert "lists no territory" in schedule_result(stored_instance, tmp_path).skip_message
    (tmp_path / "territories.csv").unlink()
    result = schedule_result(stored_instance, tmp_path)
    assert "territory registry unusable" in result.skip_message and "territories.csv" in result.skip_message


def test_the_scheduled_job_materialises_every_territory_and_checks_in_one_run(tmp_path, small_raw):
    """What the schedule launches: the graph's job itself, every asset and check recorded on the instance, the
    marts published and made current, the report drawn."""
    raw = tmp_path / "raw"
    shutil.copytree(small_raw[0], raw)
    ids = [t.territory_id for t in read_registry(raw)]
    marts = tmp_path / "marts"
    resources = {"settings": QpSettings(raw_dir=str(raw), warehouse=str(tmp_path / "w.duckdb"),
                                        marts_dir=str(marts), as_of="2024-06-30")}
    assert weekly_refresh.job is evaluation_refresh
    job = defs.resolve_job_def(evaluation_refresh.name)
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, resources=resources)
        assert result.success
        materialised = {e.asset_key for e in result.get_asset_materialization_events()}
        checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert materialised == set(defs.resolve_asset_graph().get_all_asset_keys())
    assert checks and all(c.passed for c in checks)
    release = (marts / "current").resolve()
    timeliness = pl.read_parquet(release / "mart_timeliness.parquet")
    assert sorted(timeliness["territory_id"]) == sorted(ids) and set(timeliness["as_of"]) == {dt.date(2024, 6, 30)}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core.conventions").fetchone()[0] == len(ids)
    assert (tmp_path / "report" / "index.html").is_file()
