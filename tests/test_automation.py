"""The schedule and the sensor, evaluated with Dagster's test APIs."""

import datetime as dt
import json
import shutil

import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context, instance_for_test

from pipelines.automation import raw_files_sensor, weekly_refresh
from pipelines.definitions import defs
from pipelines.partitions import RANGE_END_TAG, RANGE_START_TAG, territory_partitions
from pipelines.resources import QpSettings
from qp_analytics.raw_index import raw_fingerprints
from qp_analytics.territories import read_registry
from tests.conftest import RAW


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def settings(raw):
    return {"settings": QpSettings(raw_dir=str(raw), warehouse="unused.duckdb", marts_dir="unused")}


def evaluate(raw, instance, cursor):
    context = build_sensor_context(instance=instance, cursor=cursor, resources=settings(raw))
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


def test_weekly_schedule_runs_every_territory_in_one_run(stored_instance):
    instance = stored_instance
    ids = [t.territory_id for t in read_registry(RAW)]
    instance.add_dynamic_partitions(territory_partitions.name, ids)
    when = dt.datetime(2026, 11, 30, 6, 0)
    request = weekly_refresh(build_schedule_context(instance=instance, scheduled_execution_time=when))
    assert request.tags[RANGE_START_TAG] == ids[0] and request.tags[RANGE_END_TAG] == ids[-1]
    assert (weekly_refresh.cron_schedule, weekly_refresh.execution_timezone) == ("0 6 * * 1", "Europe/Paris")
    assert [s.name for s in defs.schedules] == ["weekly_refresh"]
    assert [s.name for s in defs.sensors] == ["raw_files_sensor"]


def test_schedule_skips_without_territories(stored_instance):
    result = weekly_refresh(build_schedule_context(instance=stored_instance))
    assert "no territory registered" in result.skip_message
