"""The core roadmap tables from checked workbooks (normalise_roadmaps): each value as the workbook says it, lists
of codes once each in their first order, amounts exact to the cent, empty cells unknown; expected values written
by hand from the workbooks below."""

import datetime as dt
from decimal import Decimal

from qp_analytics.normalise.rows import normalise_roadmaps, parse_roadmaps
from qp_analytics.schema import TABLES
from tests.roadmap_builder import valid_sheets, write_workbook


def _raw(tmp_path):
    raw = tmp_path / "raw"
    (raw / "roadmaps").mkdir(parents=True)
    (raw / "territories.csv").write_text(
        "territory_id,name,siren,departement_code,departement\n"
        "testville,Métropole de Testville,200000001,13,Bouches-du-Rhône\n"
        "autreville,Communauté d'agglomération d'Autreville,200000002,59,Nord\n", encoding="utf-8")
    sheets = valid_sheets()
    sheets["actions"][0][3] = "QP013001 ; qp013002; QP013001"  # a code given twice
    sheets["financements"][0][4:7] = ["0,29 €", "123 456 789 012,29", 1250000.5]
    sheets["financements"][0][9] = "Accordée"
    sheets["gouvernance"][0][2] = "etat; ANRU ;Région Sud; État"  # the State twice, spelt two ways
    sheets["bonnes_pratiques"][0][5] = "laval; Arras; laval"
    write_workbook(raw / "roadmaps" / "testville.xlsx", sheets)
    other = valid_sheets()
    other["fiche"] = [["territoire_id", "autreville"], ["territoire", "Communauté d'agglomération d'Autreville"],
                      ["version", 3], ["date_adoption", None], ["date_annexion", "2022-01-15"]]
    other["actions"] = [["AU-1", "transition_numerique_ecologique", "Tiers-lieu", "QN05901M", "Ville", "a_lancer",
                         "01/03/2022", None, None, None]]
    other["partenaires"] = [["AU-1", "anru", "expertise"]]
    other["financements"] = other["jalons"] = other["gouvernance"] = other["bonnes_pratiques"] = []
    write_workbook(raw / "roadmaps" / "autreville.xlsx", other)
    return raw


def test_core_roadmap_rows_from_checked_workbooks(tmp_path):
    raw = _raw(tmp_path)
    parsed, absent = parse_roadmaps(raw, ["testville", "autreville"], workers=1)
    assert absent == [] and parsed.rejections == []
    result = normalise_roadmaps(parsed.rows["staging.roadmap_parses"], raw)
    rows = {name: frame.rows() for name, frame in result.rows.items()}
    assert {name: frame.schema for name, frame in result.rows.items()} == \
        {name: TABLES[name].polars_schema() for name in result.rows}
    d = dt.date
    assert result.accepted == ["testville", "autreville"]
    testville_path, autreville_path = (str(raw / "roadmaps" / f"{t}.xlsx") for t in ("testville", "autreville"))
    assert [r[:8] for r in rows["core.roadmaps"]] == [
        ("testville", "Métropole de Testville", 1, d(2021, 9, 1), d(2021, 9, 30), d(2021, 5, 3), None, testville_path),
        ("autreville", "Communauté d'agglomération d'Autreville", 3, None, d(2022, 1, 15), None, None,
         autreville_path)]
    assert rows["core.actions"] == [
        ("testville", "TV-01", "entrepreneuriat", "Fabrique à entreprendre", "Ville", "en_cours", d(2021, 10, 1),
         d(2022, 12, 31), d(2021, 11, 2), None, 2),
        ("testville", "TV-02", "commerce_artisanat", "Foncière commerce", None, "realisee", None, d(2022, 6, 30),
         None, d(2022, 7, 15), 3),
        ("autreville", "AU-1", "transition_numerique_ecologique", "Tiers-lieu", "Ville", "a_lancer", d(2022, 3, 1),
         None, None, None, 2)]
    assert rows["core.action_qpv"] == [("testville", "TV-01", "QP013001"), ("testville", "TV-01", "QP013002"),
                                       ("autreville", "AU-1", "QN05901M")]
    assert rows["core.action_partners"] == [
        ("testville", 2, "TV-01", "etat", "pilote"), ("testville", 3, "TV-02", "Région Sud", "cofinanceur"),
        ("testville", 4, "TV-02", "banque_des_territoires", "ingenierie"),
        ("autreville", 2, "AU-1", "anru", "expertise")]
    assert rows["core.funding_requests"] == [
        ("testville", 2, "TV-01", "bpifrance", "specifique", "pret", Decimal("0.29"), Decimal("123456789012.29"),
         Decimal("1250000.50"), d(2022, 2, 1), d(2022, 6, 1), "accordee"),
        ("testville", 3, "TV-02", "anct", "droit_commun", "subvention", Decimal("80000.00"), None, None,
         d(2022, 3, 1), None, "en_instruction")]
    assert rows["core.milestones"] == [("testville", 2, "TV-01", "Lancement", d(2021, 10, 1), d(2021, 10, 5)),
                                       ("testville", 3, "TV-02", "Ouverture", d(2022, 6, 1), None)]
    assert rows["core.governance_meetings"] == [("testville", 2, d(2021, 12, 1), "comite_pilotage")]
    assert rows["core.meeting_participants"] == [("testville", 2, "etat"), ("testville", 2, "anru"),
                                                 ("testville", 2, "Région Sud")]
    assert rows["core.good_practices"] == [
        ("testville", "BP-1", "TV-01", "Guichet unique", d(2022, 2, 1), "webinaire", 2),
        ("testville", "BP-2", "TV-02", "Bail commercial", None, None, 3)]
    assert rows["core.practice_reuse"] == [("testville", "BP-1", "laval"), ("testville", "BP-1", "arras")]


def test_no_roadmap_gives_empty_typed_tables(tmp_path):
    raw = _raw(tmp_path)
    parsed, _ = parse_roadmaps(raw, [], workers=1)
    result = normalise_roadmaps(parsed.rows["staging.roadmap_parses"], raw)
    assert result.accepted == []
    assert {name: (frame.height, frame.schema) for name, frame in result.rows.items()} == \
        {name: (0, TABLES[name].polars_schema()) for name in result.rows}
