"""What a Dagster user looks for on the definitions: owners, tags, code versions, freshness, descriptions."""

import pytest
from dagster import AssetKey

from pipelines.definitions import defs
from qp_analytics.warehouse.incremental import code_version


def test_every_asset_has_owners_a_layer_tag_and_a_code_version():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:evaluation-data"], key
        assert node.tags["layer"] == node.group_name, key
        assert node.code_version and node.code_version.startswith(code_version()), key


def test_the_marts_and_the_report_have_code_versions_of_their_own():
    graph = defs.resolve_asset_graph()
    versions = {graph.get(AssetKey(k)).code_version for k in (["core", "actions"], ["marts", "mart_timeliness"],
                                                              ["published", "report"])}
    assert len(versions) == 3  # reading code for the core, plus the marts' for the marts, the report's for it


def test_the_marts_and_the_publication_carry_a_freshness_policy_matching_the_schedule():
    graph = defs.resolve_asset_graph()
    schedule = defs.resolve_schedule_def("weekly_refresh")
    assert schedule.cron_schedule == "0 6 * * 1" and schedule.execution_timezone == "Europe/Paris"
    for key in graph.get_all_asset_keys():
        policy = graph.get(key).freshness_policy
        if key.path[0] in ("marts", "published"):
            assert (policy.deadline_cron, policy.timezone) == ("0 8 * * 1", "Europe/Paris"), key
        else:
            assert policy is None, key


def test_the_schedule_and_the_sensor_are_described():
    assert "Monday" in defs.resolve_schedule_def("weekly_refresh").description
    assert "sha256" in defs.resolve_sensor_def("raw_files_sensor").description


def test_without_dagster_home_runs_record_on_the_projects_own_instance(tmp_path, monkeypatch):
    """DAGSTER_HOME unset: `.dagster_home` in the working directory, made on first use with the shipped
    dagster.yaml, the folder docs/dagster.md starts `dagster dev` on; set: DAGSTER_HOME's."""
    from pipelines.instance import SHIPPED_CONFIG, dagster_home, project_instance

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    home = dagster_home()
    assert home == tmp_path / ".dagster_home"
    assert (home / "dagster.yaml").read_bytes() == SHIPPED_CONFIG.read_bytes()
    with project_instance() as instance:
        assert instance.is_persistent and instance.root_directory == str(home)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert dagster_home() == tmp_path / "elsewhere"


def test_an_unusable_instance_folder_is_said_in_one_line(tmp_path, monkeypatch):
    from pipelines.instance import InstanceError, dagster_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    (tmp_path / ".dagster_home").write_text("a file where the folder should be")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InstanceError, match=r"cannot create the Dagster instance's folder .*set DAGSTER_HOME"):
        dagster_home()
