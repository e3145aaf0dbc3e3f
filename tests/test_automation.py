"""The schedule and the sensor, evaluated with Dagster's test APIs."""

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context, instance_for_test

from pipelines.automation import evaluation_batch, raw_files_sensor, weekly_refresh
from pipelines.definitions import defs
from pipelines.partitions import territory_partitions
from pipelines.resources import QpSettings
from qp_analytics.raw_index import raw_fingerprints
from qp_analytics.territories import read_registry

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


def test_first_look_registers_partitions_and_launches_nothing(raw_copy, instance):
    result = evaluate(raw_copy, instance, None)
    assert result.run_requests == [] or result.run_requests is None
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [
        [t.territory_id for t in read_registry(raw_copy)]]
    assert json.loads(result.cursor) == raw_fingerprints(raw_copy)


def test_a_changed_file_refreshes_its_territory_only(raw_copy, instance):
    ids = [t.territory_id for t in read_registry(raw_copy)]
    instance.add_dynamic_partitions(territory_partitions.name, ids)
    cursor = json.dumps(raw_fingerprints(raw_copy))
    assert not evaluate(raw_copy, instance, cursor).run_requests  # unchanged folder: nothing
    path = raw_copy / "conventions" / "laval.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    result = evaluate(raw_copy, instance, cursor)
    assert [r.partition_key for r in result.run_requests] == ["laval"]
    # touching a file without changing its content launches nothing (content hash, not modification time)
    cursor = result.cursor
    path.touch()
    assert not evaluate(raw_copy, instance, cursor).run_requests


def test_a_new_territory_is_picked_up_without_code_change(raw_copy, instance):
    ids = [t.territory_id for t in read_registry(raw_copy)]
    instance.add_dynamic_partitions(territory_partitions.name, ids)
    cursor = json.dumps(raw_fingerprints(raw_copy))
    shutil.copy(raw_copy / "conventions" / "laval.txt", raw_copy / "conventions" / "nouveau.txt")
    with (raw_copy / "territories.csv").open("a", encoding="utf-8") as fh:
        fh.write("nouveau,Métropole Nouvelle,200000001,53,Mayenne\n")
    result = evaluate(raw_copy, instance, cursor)
    assert [r.partition_key for r in result.run_requests] == ["nouveau"]
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["nouveau"]]


def test_removed_roadmap_and_avenant_refresh_their_territories(raw_copy, instance):
    ids = [t.territory_id for t in read_registry(raw_copy)]
    instance.add_dynamic_partitions(territory_partitions.name, ids)
    cursor = json.dumps(raw_fingerprints(raw_copy))
    (raw_copy / "roadmaps" / "arras.xlsx").unlink()
    next((raw_copy / "avenants").glob("orly-choisy_avenant_2.*")).unlink()
    result = evaluate(raw_copy, instance, cursor)
    assert sorted(r.partition_key for r in result.run_requests) == ["arras", "orly-choisy"]


@pytest.fixture
def stored_instance():
    """A persistent (temporary) instance: schedule contexts need an instance reference."""
    with instance_for_test() as inst:
        yield inst


def schedule_result(instance, raw, **kwargs):
    """The schedule evaluated in a context that is closed afterwards (it enters the instance)."""
    with build_schedule_context(instance=instance, resources=settings(raw), **kwargs) as context:
        return weekly_refresh(context)


def test_weekly_schedule_runs_every_territory_in_one_batch_run(stored_instance, raw_copy):
    request = schedule_result(stored_instance, raw_copy, scheduled_execution_time=dt.datetime(2026, 11, 30, 6, 0))
    assert request.run_key == "weekly-2026-11-30" and not request.partition_key
    assert weekly_refresh.job_name == "evaluation_batch"
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


def test_the_batch_job_materialises_every_territory_in_one_run(tmp_path, small_raw):
    """The scheduled job: the run `qp-analytics materialize` makes, inside a Dagster run of one step."""
    raw = tmp_path / "raw"
    shutil.copytree(small_raw[0], raw)
    ids = [t.territory_id for t in read_registry(raw)]
    marts = tmp_path / "marts"
    resources = {"settings": QpSettings(raw_dir=str(raw), warehouse=str(tmp_path / "w.duckdb"),
                                        marts_dir=str(marts), as_of="2024-06-30")}
    job = evaluation_batch  # as defs serves it (test_webserver); defs.get_job_def would resolve defs again
    assert weekly_refresh.job is evaluation_batch
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, resources=resources)
        assert result.success
        [published] = [e.event_specific_data.materialization for e in result.all_events
                       if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert published.asset_key.path == ["published", "marts"]
    release = Path(published.metadata["release"].value)
    assert (marts / "current").resolve() == release.resolve()
    timeliness = pl.read_parquet(release / "mart_timeliness.parquet")
    assert sorted(timeliness["territory_id"]) == sorted(ids) and set(timeliness["as_of"]) == {dt.date(2024, 6, 30)}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core.conventions").fetchone()[0] == len(ids)
    assert (tmp_path / "report" / "index.html").is_file()

    # a request the run refuses: the step fails with the reason, and nothing is written
    bad = {"settings": QpSettings(raw_dir=str(raw), warehouse=str(tmp_path / "other.duckdb"),
                                  marts_dir=str(tmp_path / "other"), territories=["nowhere"])}
    with DagsterInstance.ephemeral() as instance:
        failed = job.execute_in_process(instance=instance, resources=bad, raise_on_error=False)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "unknown territory id(s): nowhere" in failure.event_specific_data.error.message
    assert not (tmp_path / "other.duckdb").exists() and not (tmp_path / "other").exists()
