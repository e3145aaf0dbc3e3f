"""What a Dagster user looks for on the definitions: owners, tags, code versions, freshness, descriptions, the
marts' column lineage."""

import inspect
import re

import pytest
from click.testing import CliRunner
from dagster import AssetKey

from pipelines.cli.main import main
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
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert dagster_home() == tmp_path / "elsewhere"


def test_an_unusable_instance_folder_is_said_in_one_line(tmp_path, monkeypatch):
    from pipelines.instance import InstanceError, dagster_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    (tmp_path / ".dagster_home").write_text("a file where the folder should be")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InstanceError, match=r"cannot create the Dagster instance's folder .*set DAGSTER_HOME"):
        dagster_home()


def test_a_dagster_home_that_is_not_a_folder_is_refused_in_one_line_before_anything_is_written(tmp_path,
                                                                                              monkeypatch, small_raw):
    """DAGSTER_HOME mistyped (no such folder) or naming a file: the command says so and exits 2, with no traceback
    and nothing written, instead of Dagster's CheckError once the run had started (and no instance made at a
    path nobody looks at)."""
    raw, _ = small_raw
    (tmp_path / "a-file").write_text("not a folder")
    for home, state in ((tmp_path / "no-such-home", "does not exist"), (tmp_path / "a-file", "is not a folder")):
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        result = CliRunner().invoke(main, ["materialize", "--raw-dir", str(raw), "--warehouse",
                                           str(tmp_path / "w.duckdb"), "--marts-dir", str(tmp_path / "marts"),
                                           "--as-of", "2023-06-30"])
        assert result.exit_code == 2, result.output
        assert result.output == (f"error: DAGSTER_HOME={home}: {state}; create that folder (the instance is made "
                                 "there on first use) or unset DAGSTER_HOME to use .dagster_home in the working "
                                 "directory\n")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_every_mart_column_names_the_core_columns_it_is_computed_from():
    """The marts' column lineage (qp_analytics.schema, Column.sources): every source is a column of a core table
    that the marts' SQL reads and that is upstream of the mart in the graph; every mart column has one, but the run's
    as_of and the national indicators' own name, unit and definition (constants of the code)."""
    from qp_analytics.marts import compute
    from qp_analytics.schema import MARTS, TABLES

    marts_code = inspect.getsource(compute)
    graph = defs.resolve_asset_graph()
    without = set()
    for name, table in MARTS.items():
        upstream = graph.get(AssetKey(name.split("."))).parent_keys
        for column in table.columns:
            if not column.sources:
                without.add((name, column.name))
            for source in column.sources:
                schema, core_table, core_column = source.split(".")
                assert schema == "core" and core_column in TABLES[f"core.{core_table}"].column_names, (name, source)
                assert re.search(rf"\b{core_column}\b", marts_code), (name, column.name, source)
                assert AssetKey(["core", core_table]) in upstream, (name, source)
            assert len(set(column.sources)) == len(column.sources), (name, column.name)
    national = "marts.mart_evaluation_national"
    assert without == {(name, "as_of") for name in MARTS} | {(national, c) for c in ("indicator", "unit", "definition")}


def test_the_marts_definitions_carry_their_column_lineage():
    """What the UI draws: per mart column, the (core table, column) pairs of its sources, as Dagster holds them."""
    from qp_analytics.schema import MARTS

    graph = defs.resolve_asset_graph()
    timeliness = graph.get(AssetKey(["marts", "mart_timeliness"])).metadata["dagster/column_lineage"].value
    assert {(d.asset_key.to_user_string(), d.column_name) for d in timeliness.deps_by_column["roadmap_delay_days"]} == {
        ("core/conventions", "roadmap_due_date"), ("core/roadmaps", "date_annexion")}
    assert "as_of" not in timeliness.deps_by_column
    for name, table in MARTS.items():
        lineage = graph.get(AssetKey(name.split("."))).metadata["dagster/column_lineage"].value
        assert {column: sorted((d.asset_key.path[1], d.column_name) for d in deps)
                for column, deps in lineage.deps_by_column.items()} == {
            c.name: sorted((s.split(".")[1], s.split(".")[2]) for s in c.sources) for c in table.columns if c.sources}
