"""The real Aix-Marseille-Provence convention, field by field, against values read off the document by hand."""

import datetime as dt

import pytest

from qp_analytics.reading.convention import parse_convention
from qp_analytics.reading.documents import read_document
from tests.conftest import REPO, SEED_CONVENTION


@pytest.fixture(scope="module")
def amp():
    doc = read_document(SEED_CONVENTION)
    return doc, parse_convention(doc)


def test_seed_is_the_shared_seed_verbatim():
    shared = REPO.parent / "shared" / "seed" / "convention_aix_marseille_provence.txt"
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert SEED_CONVENTION.read_bytes() == shared.read_bytes()


def test_parties(amp):
    _, c = amp
    assert c.territory_name == "Métropole Aix-Marseille-Provence"
    assert c.representative == {"name": "Martine VASSAL", "title": "Présidente"}
    assert c.state_representative.startswith("la Ministre déléguée auprès de la Ministre de la cohésion")
    assert c.state_representative.endswith("ou le Préfet du département des Bouches-du-Rhône le cas échéant")


def test_programme_fields(amp):
    _, c = amp
    assert c.chef_de_file == "anru"
    assert c.labellisation_date == dt.date(2021, 3, 18)
    assert c.roadmap_deadline_months == 6
    assert c.roadmap_due_date == dt.date(2021, 9, 18)
    assert c.duration_months == 24
    assert c.end_date == dt.date(2023, 3, 18)


def test_signature_place_read_and_date_left_blank(amp):
    _, c = amp
    assert c.signature_place == "Marseille"
    assert c.signature_date is None
    assert [w["code"] for w in c.warnings if w["field"] == "signature_date"] == ["undated"]


def test_commitments(amp):
    _, c = amp
    by_party = {}
    for item in c.commitments:
        by_party.setdefault(item.party, []).append(item)
    assert [i.ref for i in by_party["etat"]] == ["i", "ii", "iii", "iv"]
    assert by_party["etat"][0].text == (
        "à animer le réseau des Partenaires du programme afin d’en faciliter l’élaboration et la mise en œuvre")
    assert by_party["etat"][1].text.startswith("à désigner au sein de ses services déconcentrés un référent")
    assert by_party["etat"][3].text == "à mobiliser les experts techniques des services déconcentrés"
    assert [i.ref for i in by_party["chef_de_file"]] == ["i", "ii"]
    assert by_party["chef_de_file"][0].text.startswith("à appuyer l’intercommunalité bénéficiaire")
    assert by_party["chef_de_file"][1].text.endswith("dans le cadre de l’expérimentation Quartiers productifs")
    assert [i.ref for i in by_party["intercommunalite"]] == [None]
    assert "« Coordonnateur »" in by_party["intercommunalite"][0].text
    assert [i.ref for i in by_party["partenaires"]] == [None, "i", "ii"]
    assert by_party["partenaires"][0].text.startswith("à favoriser la capitalisation et le partage des bonnes")


def test_provenance_points_at_the_source_text(amp):
    doc, c = amp
    text = doc.text
    for field_name in ("chef_de_file", "labellisation_date", "roadmap_deadline_months", "duration_months",
                       "signature_place", "territory_name"):
        src = c.provenance[field_name]
        assert src["page"] == 1
        assert text[src["start"]:src["end"]].split() == src["excerpt"].split()
        assert " ".join(src["excerpt"].split()) in src["sentence"]
    assert text[c.provenance["chef_de_file"]["start"]:c.provenance["chef_de_file"]["end"]] == "ANRU"
    assert text[c.provenance["labellisation_date"]["start"]:c.provenance["labellisation_date"]["end"]] == "18 mars 2021"
    assert c.provenance["duration_months"]["sentence"].startswith("La présente Convention est valable")
    assert c.provenance["roadmap_due_date"] == {"derived_from": ["labellisation_date", "roadmap_deadline_months"]}
    assert len(c.provenance["commitments"]) == len(c.commitments)
