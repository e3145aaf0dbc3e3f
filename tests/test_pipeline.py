"""The Dagster pipeline at three levels: definitions load; each asset on committed data; a whole run."""

import datetime as dt
import hashlib
import json

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from pipelines.definitions import ASSET_CHECKS, ASSETS, defs
from pipelines.resources import ProgressSink, QpSettings, warehouse_of_settings
from pipelines.run import run_pipeline
from pipelines.selection import territories_tag
from qp_analytics.generators.conventions import plan_convention, programme_chefs
from qp_analytics.reading.territories import read_registry
from qp_analytics.schema import TABLES
from tests.conftest import RAW, SEED_CONVENTION

pytestmark = pytest.mark.slow  # runs the pipeline or a server: the full tier only

AMP = "aix-marseille-provence"


def query(warehouse, sql, params=()):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


# -- level 1: definitions --------------------------------------------------------------------------

def test_definitions_load():
    from qp_analytics.schema import MARTS

    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    # every table is an asset but the two that record the stages' own bookkeeping
    bookkeeping = {"staging.rejections", "staging.input_fingerprints"}
    tables = {name.replace(".", "/") for name in TABLES if name not in bookkeeping}
    assert keys == tables | {name.replace(".", "/") for name in MARTS} | {"published/marts", "published/report"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == ("publish" if key.path[0] == "published" else key.path[0])
        assert node.partitions_def is None  # one graph: runs name their territories (pipelines.selection)
        if key.path[0] in ("marts", "published"):
            continue
        schema = node.metadata["dagster/column_schema"]
        table = TABLES[".".join(key.path)]
        assert [c.name for c in schema.columns] == table.column_names
        assert all(c.description for c in schema.columns)
    for name, table in MARTS.items():
        schema = graph.get(AssetKey(name.split("."))).metadata["dagster/column_schema"]
        assert [(c.name, c.description) for c in schema.columns] == [(c.name, c.description) for c in table.columns]


# -- level 2: each asset on committed data, values asserted ----------------------------------------

@pytest.fixture
def one_territory_run(tmp_path, request):
    warehouse = tmp_path / "wh.duckdb"
    instance = DagsterInstance.ephemeral()
    request.addfinalizer(instance.dispose)
    resources = {"settings": QpSettings(raw_dir=str(RAW), warehouse=str(warehouse), marts_dir=str(tmp_path)),
                 "warehouse": warehouse_of_settings, "progress": ProgressSink()}

    def run(assets):  # AMP alone, named in the run's tag as the sensor names its territories
        result = materialize(assets, instance=instance, resources=resources, tags=territories_tag([AMP]))
        assert result.success
        return result

    return warehouse, run


def test_raw_convention_documents_asset(one_territory_run):
    warehouse, run = one_territory_run
    result = run([ASSETS[0]])
    content = SEED_CONVENTION.read_bytes()
    row = query(warehouse, "SELECT territory_id, format, sha256, page_count, text FROM raw.convention_documents")
    assert row == [(AMP, "txt", hashlib.sha256(content).hexdigest(), 1, content.decode("utf-8"))]
    mats = result.get_asset_materialization_events()
    assert [m.materialization.partition for m in mats] == [None]
    assert mats[0].materialization.metadata["dagster/row_count"].value == 1
    assert mats[0].materialization.metadata["territories"].value == 1


def test_parse_and_core_assets(one_territory_run):
    warehouse, run = one_territory_run
    run(ASSETS)  # documents, parses, territories, core tables
    assert query(warehouse, "SELECT territory_id, name, siren, departement_code FROM core.territories") == [
        (AMP, "Métropole d'Aix-Marseille-Provence", "200054807", "13")]
    assert query(warehouse, """
        SELECT chef_de_file, labellisation_date, roadmap_deadline_months, roadmap_due_date, duration_months,
               end_date, signature_place, signature_date, representative_name, source_provenance
        FROM core.conventions""") == [
        ("anru", dt.date(2021, 3, 18), 6, dt.date(2021, 9, 18), 24, dt.date(2023, 3, 18), "Marseille", None,
         "Martine VASSAL", "real")]
    parties = query(warehouse, "SELECT party, count(*) FROM core.convention_commitments GROUP BY party ORDER BY 1")
    assert parties == [("chef_de_file", 2), ("etat", 4), ("intercommunalite", 1), ("partenaires", 3)]
    assert query(warehouse, "SELECT excerpt FROM core.convention_field_sources WHERE field = 'chef_de_file'") == [
        ("ANRU",)]
    assert query(warehouse, "SELECT field, code FROM core.convention_warnings") == [("signature_date", "undated")]
    # the text offsets in field_sources address raw.convention_documents.text
    assert query(warehouse, """
        SELECT substr(d.text, s.start_offset + 1, s.end_offset - s.start_offset)
        FROM core.convention_field_sources s JOIN raw.convention_documents d USING (territory_id)
        WHERE s.field = 'labellisation_date'""") == [("18 mars 2021",)]


def test_marts_asset_and_its_column_lineage(one_territory_run):
    """The marts from the core tables of the run's territory, every territory of territories.csv with its row;
    each mart's materialisation says which core columns each of its columns comes from (what the UI draws)."""
    from qp_analytics.schema import MARTS

    warehouse, run = one_territory_run
    result = run(ASSETS[:8])  # the core tables, then the marts
    assert query(warehouse, "SELECT count(*), count(labellisation_date) FROM marts.mart_timeliness") == [
        (len(read_registry(RAW)), 1)]
    assert query(warehouse, "SELECT labellisation_date, roadmap_due_date FROM marts.mart_timeliness "
                            "WHERE territory_id = ?", [AMP]) == [(dt.date(2021, 3, 18), dt.date(2021, 9, 18))]
    lineage = {e.materialization.asset_key.to_user_string(): e.materialization.metadata["dagster/column_lineage"].value
               for e in result.get_asset_materialization_events() if e.materialization.asset_key.path[0] == "marts"}
    assert set(lineage) == {name.replace(".", "/") for name in MARTS}
    assert [(d.asset_key.to_user_string(), d.column_name)
            for d in lineage["marts/mart_timeliness"].deps_by_column["labellisation_date"]] == [
        ("core/conventions", "labellisation_date")]
    for name, table in MARTS.items():
        assert set(lineage[name.replace(".", "/")].deps_by_column) == {c.name for c in table.columns if c.sources}


# -- level 3: a whole run into a temporary folder ---------------------------------------------------

def _expected_chefs():
    """The chef de file the generator wrote for each illustrative territory, plus AMP's read by hand."""
    import random

    territories = read_registry(RAW)
    chefs = programme_chefs(territories, random.Random(2021))
    expected = {t.territory_id: plan_convention(t, random.Random(f"2021:{t.territory_id}"), chef).chef_de_file
                for t, chef in zip(territories, chefs, strict=True)}
    expected[AMP] = "anru"
    return expected


def test_whole_run_then_query(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    summary = run_pipeline(RAW, warehouse, tmp_path / "marts", dt.date(2022, 1, 1), [], echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    assert query(warehouse, "SELECT count(*) FROM core.territories") == [(14,)]
    chefs = dict(query(warehouse, "SELECT territory_id, chef_de_file FROM core.conventions"))
    assert chefs == _expected_chefs()
    assert query(warehouse, "SELECT count(*) FROM core.convention_commitments WHERE party = 'etat'") == [(14 * 4,)]
    provenance = dict(query(warehouse, "SELECT source_provenance, count(*) FROM core.conventions GROUP BY 1"))
    assert provenance == {"real": 1, "illustrative": 13}
    assert query(warehouse, "SELECT count(*) FROM staging.rejections") == [(0,)]
    # the report, drawn during the run beside the marts, took its place once the run's release was made current
    # (the release it names is the current one), and nothing waits beside it
    current = (tmp_path / "marts" / "current").resolve().name
    manifest = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert manifest["whole_release"] == summary.release.name == current
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".report")) == []

    # re-running replaces rows, never appends
    before = query(warehouse, "SELECT count(*) FROM core.convention_field_sources")
    run_pipeline(RAW, warehouse, tmp_path / "marts", dt.date(2022, 1, 1), [], echo=lambda m: None)
    assert query(warehouse, "SELECT count(*) FROM core.conventions") == [(14,)]
    assert query(warehouse, "SELECT count(*) FROM core.convention_field_sources") == before


def test_one_territory_refresh_touches_only_it(tmp_path, raw_copy):
    warehouse = tmp_path / "warehouse.duckdb"
    run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2022, 1, 1), [], echo=lambda m: None)
    read_at = dict(query(warehouse, "SELECT territory_id, read_at FROM raw.convention_documents"))
    laval = raw_copy / "conventions" / "laval.txt"
    laval.write_text(laval.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # a new sha256, same content
    lines = []
    summary = run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2022, 1, 1), ["laval"], echo=lines.append)
    assert summary.territories == ["laval"] and summary.exit_code == 0
    after = dict(query(warehouse, "SELECT territory_id, read_at FROM raw.convention_documents"))
    assert [t for t in after if after[t] != read_at[t]] == ["laval"]
    assert any("laval" in line for line in lines)


def test_rejected_file_keeps_last_good_data(tmp_path, raw_copy):
    warehouse = tmp_path / "warehouse.duckdb"
    run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2022, 1, 1), [], echo=lambda m: None)
    good = query(warehouse, "SELECT * FROM core.conventions WHERE territory_id = 'laval'")
    laval = next((raw_copy / "conventions").glob("laval.*"))
    text = laval.read_text(encoding="utf-8") if laval.suffix == ".txt" else None
    if text is None:
        pytest.skip("laval is a PDF in this data set")
    laval.write_text(text.replace("Chef de file", "Référent"), encoding="utf-8")
    (raw_copy / "conventions" / "toulouse.pdf").write_bytes(b"%PDF-1.4 broken")

    summary = run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2022, 1, 1), [], echo=lambda m: None)
    assert summary.exit_code == 1
    rejected = {(t, stage) for t, stage, _ in summary.rejections}
    assert rejected == {("laval", "parse"), ("toulouse", "read")}
    problems = " ".join(p for _, _, p in summary.rejections)
    assert str(laval) in problems and "chef_de_file" in problems
    assert "two convention files" in problems  # toulouse.txt and the new toulouse.pdf
    assert query(warehouse, "SELECT * FROM core.conventions WHERE territory_id = 'laval'") == good
    assert query(warehouse, "SELECT count(*) FROM core.conventions") == [(14,)]
    rendered = summary.render()
    assert "laval (stale: last good file read" in rendered and "Rejected (2 territories" in rendered
    assert dict((c[0], c[1]) for c in summary.checks)["staging/convention_parses:conventions_accepted"] is False


def test_unknown_territory_is_refused(tmp_path):
    from pipelines.run import RunRequestError

    with pytest.raises(RunRequestError, match="unknown territory id.*atlantis"):
        run_pipeline(RAW, tmp_path / "w.duckdb", tmp_path, dt.date(2022, 1, 1), ["atlantis"], echo=lambda m: None)


def test_added_territory_needs_no_code_change(tmp_path, raw_copy):
    warehouse = tmp_path / "w.duckdb"
    run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2022, 1, 1), [], echo=lambda m: None)
    # the seed convention, signed by a new intercommunalité (its name is checked against territories.csv)
    text = SEED_CONVENTION.read_text(encoding="utf-8").replace("Métropole Aix-Marseille-Provence", "Métropole Nouvelle")
    (raw_copy / "conventions" / "nouveau-territoire.txt").write_text(text, encoding="utf-8")
    with (raw_copy / "territories.csv").open("a", encoding="utf-8") as fh:
        fh.write("nouveau-territoire,Métropole Nouvelle,200000001,13,Bouches-du-Rhône\n")
    summary = run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2022, 1, 1), ["nouveau-territoire"],
                           echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    assert query(warehouse, "SELECT territory_id, chef_de_file FROM core.conventions WHERE territory_id LIKE 'n%'") == [
        ("nouveau-territoire", "anru")]
    assert query(warehouse, "SELECT count(*) FROM marts.mart_timeliness") == [(15,)]


def test_asset_checks_are_defined_on_the_parses():
    keys = [(spec.key.asset_key.to_user_string(), spec.key.name)
            for check in ASSET_CHECKS for spec in check.check_specs]
    from qp_analytics.schema import MARTS

    gx = {(name.replace(".", "/"), "great_expectations") for name in [*TABLES, *MARTS] if name.split(".")[0] in
          ("core", "marts")}
    assert set(keys) == {("staging/convention_parses", "conventions_accepted"),
                         ("staging/roadmap_parses", "roadmaps_accepted"), ("core/avenants", "avenants_accepted")} | gx
    blocking = {(s.key.asset_key.to_user_string(), s.key.name) for c in ASSET_CHECKS for s in c.check_specs
                if s.blocking}
    assert blocking == gx


# -- roadmaps and avenants --------------------------------------------------------------------------

def _planned_roadmap(territory_id):
    """What the generator meant to write in the committed roadmap of a territory (an independent route)."""
    import random

    from qp_analytics.french import add_months
    from qp_analytics.generators.roadmaps import plan_roadmap, story_profiles

    territories = read_registry(RAW)
    ids = [t.territory_id for t in territories]
    territory = next(t for t in territories if t.territory_id == territory_id)
    profiles = story_profiles(ids, random.Random("2021:profiles"))
    labellisation = dt.date(2021, 3, 18)  # AMP's convention, read by hand: 6 months' deadline
    return plan_roadmap(territory, labellisation, add_months(labellisation, 6), ids,
                        random.Random(f"2021:{territory_id}:roadmap"), profiles[territory_id]).meant


def test_roadmap_assets(one_territory_run):
    from pipelines.normalise.roadmaps import core_roadmaps, roadmap_parses

    warehouse, run = one_territory_run
    run([roadmap_parses, core_roadmaps])
    meant = _planned_roadmap(AMP)
    assert query(warehouse, "SELECT date_annexion, version FROM core.roadmaps") == [
        (meant["fiche"]["date_annexion"], meant["fiche"]["version"])]
    assert query(warehouse, "SELECT count(*) FROM core.actions") == [(len(meant["actions"]),)]
    granted = sum(f["montant_accorde"] for f in meant["financements"]
                  if f["decision"] == "accordee" and f["montant_accorde"] is not None)
    assert query(warehouse, "SELECT sum(montant_accorde) FROM core.funding_requests WHERE decision = 'accordee'") == [
        (granted,)]
    reuse = sum(len(p["reutilisee_par"]) for p in meant["bonnes_pratiques"])
    assert query(warehouse, "SELECT count(*) FROM core.practice_reuse") == [(reuse,)]
    # every row keeps the workbook row it came from: actions are on rows 2.. in order
    assert [r[0] for r in query(warehouse, "SELECT source_row FROM core.actions ORDER BY source_row")] == list(
        range(2, 2 + len(meant["actions"])))
    types = dict(query(warehouse, "SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = 'funding_requests'"))
    assert types["montant_accorde"] == "DECIMAL(14,2)" and types["date_decision"] == "DATE"


def test_broken_roadmap_keeps_last_good_rows(tmp_path, raw_copy):
    warehouse = tmp_path / "warehouse.duckdb"
    run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2024, 6, 30), [], echo=lambda m: None)
    before = query(warehouse, "SELECT * FROM core.actions WHERE territory_id = 'arras' ORDER BY action_id")
    (raw_copy / "roadmaps" / "arras.xlsx").write_bytes(b"this is not a workbook")
    summary = run_pipeline(raw_copy, warehouse, tmp_path, dt.date(2024, 6, 30), [], echo=lambda m: None)
    assert summary.exit_code == 1
    assert [(t, s) for t, s, _ in summary.rejections] == [("arras", "roadmap")]
    assert "arras.xlsx" in summary.rejections[0][2] and "Excel workbook" in summary.rejections[0][2]
    assert query(warehouse, "SELECT * FROM core.actions WHERE territory_id = 'arras' ORDER BY action_id") == before
    assert dict((c[0], c[1]) for c in summary.checks)["staging/roadmap_parses:roadmaps_accepted"] is False


def test_avenants_loaded(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_pipeline(RAW, warehouse, tmp_path, dt.date(2024, 6, 30), [], echo=lambda m: None)
    files = sorted(p.name for p in (RAW / "avenants").iterdir())
    rows = query(warehouse, "SELECT territory_id || '_avenant_' || number FROM core.avenants ORDER BY 1")
    assert [r[0] for r in rows] == [f.rsplit(".", 1)[0] for f in files]
    assert query(warehouse, "SELECT count(*) FROM core.avenants WHERE (extension_months IS NULL) = "
                            "(new_end_date IS NULL)") == [(0,)]


def test_a_command_line_run_is_recorded_on_the_instance_the_ui_reads(tmp_path, monkeypatch):
    """One instance: after `qp-analytics materialize`, DAGSTER_HOME's instance (the UI's) holds its run of the
    graph's job, a materialisation of every asset and an evaluation of every check."""
    import shutil as sh

    from dagster import DagsterRunStatus

    home = tmp_path / "home"
    home.mkdir()
    sh.copy(RAW.parent.parent / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    summary = run_pipeline(RAW, tmp_path / "w.duckdb", tmp_path / "marts", dt.date(2023, 6, 30), [],
                           echo=lambda m: None)
    assert summary.exit_code == 0, summary.render()
    graph = defs.resolve_asset_graph()
    with DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        assert (run.job_name, run.status, run.tags["qp/as_of"]) == ("evaluation_refresh", DagsterRunStatus.SUCCESS,
                                                                    "2023-06-30")
        for key in graph.get_all_asset_keys():
            assert instance.get_latest_materialization_event(key) is not None, key
        checks = list(graph.asset_check_keys)
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(checks)
        assert set(latest) == set(checks) and all(r.run_id == run.run_id for r in latest.values())
