"""Every generated document (convention, roadmap, avenant) reads back equal to what the generator meant to write."""

import random
import re

import pytest

from qp_analytics.generators.conventions import synthetic_territories
from qp_analytics.generators.raw_folder import write_raw_folder
from qp_analytics.normalise.rows import avenant_files, roadmap_source
from qp_analytics.reading.avenant import parse_avenant
from qp_analytics.reading.convention import parse_convention
from qp_analytics.reading.documents import read_document
from qp_analytics.reading.manifest import read_manifest, sha256_of
from qp_analytics.reading.roadmap import parse_roadmap
from qp_analytics.reading.territories import convention_path, read_registry
from tests.conftest import RAW

pytestmark = pytest.mark.slow  # runs the pipeline or a server: the full tier only

_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2013": "-", "\u2014": "-"})


def _plain(value):
    """A value with its typographic apostrophes and dashes made plain: OCR reads a scan's ’ as ' now and then."""
    if isinstance(value, str):
        return value.translate(_TYPOGRAPHY)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def _read_back(raw_dir, spec):
    got = parse_convention(read_document(convention_path(raw_dir, spec.territory.territory_id))).to_dict()
    return _plain({k: got[k] for k in spec.expected()})


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw_gen")
    return out, write_raw_folder(out, synthetic_territories(48, random.Random(5)), seed=5, csv_every=10)


def _avenants_read_back(raw_dir, specs):
    got = {}
    for spec in specs:
        path = dict(avenant_files(raw_dir, spec.territory_id))[spec.number]
        data = parse_avenant(read_document(path)).to_dict()
        got[(spec.territory_id, spec.number)] = _plain({k: data[k] for k in spec.expected()})
    expected = {(s.territory_id, s.number): _plain({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                                    for k, v in s.expected().items()}) for s in specs}
    return got, expected


def test_generated_roadmaps_read_back_as_meant(generated):
    out, result = generated
    assert len(result.roadmaps) == 48
    assert sorted(set(result.roadmap_formats.values())) == ["csv", "xlsx"]
    for spec in result.roadmaps:
        path, fmt = roadmap_source(out, spec.territory_id)
        assert fmt == result.roadmap_formats[spec.territory_id]
        assert parse_roadmap(path) == spec.expected(), spec.territory_id


def test_generated_avenants_read_back_as_meant(generated):
    out, result = generated
    assert len(result.avenants) >= 3
    assert {"docx", "scan"} <= {a.fmt for a in result.avenants} <= {"pdf", "txt", "docx", "scan"}
    got, expected = _avenants_read_back(out, result.avenants)
    assert got == expected


def test_generated_roadmaps_tell_a_story(generated):
    """Some roadmaps annexed late or not at all, a slower partner, practices reused by others."""
    import statistics

    from qp_analytics.french import add_months

    _, result = generated
    conventions = {s.territory.territory_id: s for s in result.specs}
    delays, days = [], {}
    for spec in result.roadmaps:
        c = conventions[spec.territory_id]
        annexed = spec.meant["fiche"]["date_annexion"]
        delays.append(None if annexed is None else (annexed - add_months(c.labellisation_date, c.deadline_months)).days)
        for f in spec.meant["financements"]:
            if f["date_decision"] and f["date_sollicitation"]:
                days.setdefault(f["financeur"], []).append((f["date_decision"] - f["date_sollicitation"]).days)
        for p in spec.meant["bonnes_pratiques"]:
            assert spec.territory_id not in p["reutilisee_par"]
    assert None in delays and any(d is not None and d > 0 for d in delays) and any(d is not None and d <= 0
                                                                                   for d in delays)
    medians = {k: statistics.median(v) for k, v in days.items() if k in ("etat", "anct", "anru",
                                                                          "banque_des_territoires", "bpifrance")}
    assert medians["bpifrance"] > 1.5 * max(v for k, v in medians.items() if k != "bpifrance")
    assert any(p["reutilisee_par"] for s in result.roadmaps for p in s.meant["bonnes_pratiques"])
    statuses = {a["statut"] for s in result.roadmaps for a in s.meant["actions"]}
    assert statuses == {"a_lancer", "en_cours", "realisee", "abandonnee"}


def test_generated_documents_read_back_as_meant(generated):
    out, result = generated
    assert len(result.specs) == 48
    mismatches = {s.territory.territory_id: _read_back(out, s) for s in result.specs
                  if _read_back(out, s) != _plain(s.expected())}
    assert mismatches == {}


def test_generator_covers_the_variation_real_documents_have(generated):
    _, result = generated
    specs = result.specs
    assert {s.fmt for s in specs} == {"pdf", "txt", "docx", "scan"}
    assert {s.layout["lists"] for s in specs} >= {"inline", "lines"}
    assert {s.chef_de_file for s in specs} == {"anct", "anru", "banque_des_territoires", "bpifrance"}
    assert {s.rep_title for s in specs} == {"Président", "Présidente"}
    assert any(s.signature_date is None for s in specs) and any(s.signature_date for s in specs)
    assert any(s.signature_place is None for s in specs)
    assert {s.deadline_months for s in specs} >= {6, 9}
    assert {s.duration_months for s in specs} >= {24, 36}
    assert len({s.chef_spelling for s in specs}) >= 8
    assert len({s.governance_variant for s in specs}) == 4


def test_same_seed_same_bytes(generated, tmp_path):
    out, result = generated
    again = write_raw_folder(tmp_path, synthetic_territories(48, random.Random(5)), seed=5, csv_every=10)
    first, second = read_manifest(out), read_manifest(tmp_path)
    assert first == second
    assert len(again.specs) == 48


def test_committed_raw_data_matches_its_manifest():
    manifest = read_manifest(RAW)
    on_disk = {p.relative_to(RAW).as_posix() for p in RAW.rglob("*") if p.is_file() and p.name != "manifest.csv"}
    assert set(manifest) == on_disk
    for path, entry in manifest.items():
        assert sha256_of(RAW / path) == entry.sha256, path
    real = [e.path for e in manifest.values() if e.provenance == "real"]
    assert real == ["conventions/aix-marseille-provence.txt"]
    assert all(e.provenance == "illustrative" for e in manifest.values() if e.kind != "registry"
               and e.path not in real)
    assert {e.kind for e in manifest.values()} == {"registry", "convention", "roadmap", "avenant"}


def test_committed_illustrative_conventions_are_the_generator_output(tmp_path):
    """Regenerating data/raw from its registry reproduces every illustrative file byte for byte, keeps the
    real one, and each reads back as the generator meant."""
    import shutil

    shutil.copy(RAW / "territories.csv", tmp_path / "territories.csv")
    shutil.copy(RAW / "manifest.csv", tmp_path / "manifest.csv")
    (tmp_path / "conventions").mkdir()
    shutil.copy(RAW / "conventions" / "aix-marseille-provence.txt", tmp_path / "conventions")
    result = write_raw_folder(tmp_path, read_registry(RAW), seed=2021)
    assert result.kept_real == ["aix-marseille-provence"]
    regenerated, committed = read_manifest(tmp_path), read_manifest(RAW)
    real = {"conventions/aix-marseille-provence.txt"}  # kept, not rewritten (the copy has no such file)
    assert {k: v for k, v in regenerated.items() if k not in real} == {k: v for k, v in committed.items()
                                                                       if k not in real}
    for spec in result.specs:
        assert _read_back(tmp_path, spec) == _plain(spec.expected())
    for spec in result.roadmaps:
        assert parse_roadmap(roadmap_source(tmp_path, spec.territory_id)[0]) == spec.expected()
    got, expected = _avenants_read_back(tmp_path, result.avenants)
    assert got == expected and 2 <= len(got) <= 3


def test_known_facts_of_the_domain_are_carried():
    """DOMAIN.md: Est Ensemble's convention was signed on 29 June 2021 in Bondy."""
    got = parse_convention(read_document(convention_path(RAW, "est-ensemble")))
    assert (got.signature_place, got.signature_date.isoformat()) == ("Bondy", "2021-06-29")


def test_generated_roadmaps_list_qpv_of_both_geographies(generated):
    """Some roadmaps list 2015 codes (QP013001), others 2024 ones (QN06201M); overseas keep the 2015 ones."""
    _, result = generated
    codes = {s.territory_id: {c for a in s.expected()["actions"] for c in a["qpv"]} for s in result.roadmaps}
    all_codes = set().union(*codes.values())
    assert {c[:2] for c in all_codes} == {"QP", "QN"}
    assert all(re.fullmatch(r"QP[0-9]{2}[0-9AB][0-9]{3}|QN[0-9]{2}[0-9AB][0-9]{2}[NMI]", c) for c in all_codes)
    assert not any(c.startswith("QN97") for c in all_codes)  # overseas: 2015 codes only


def test_committed_roadmaps_list_2024_qpv_codes():
    from qp_analytics.reading.roadmap import parse_roadmap

    toulouse = {c for a in parse_roadmap(RAW / "roadmaps" / "toulouse.xlsx")["actions"] for c in a["qpv"]}
    reunion = {c for a in parse_roadmap(RAW / "roadmaps" / "saint-louis-reunion.xlsx")["actions"] for c in a["qpv"]}
    assert toulouse and all(re.fullmatch(r"QN031\d\d[NMI]", c) for c in toulouse), toulouse
    assert reunion and all(re.fullmatch(r"QP974\d{3}", c) for c in reunion), reunion
