"""A document is its territory's only when the intercommunalité it names is the registry's (territories.csv)."""

import random

import pytest

from qp_analytics.reading.identity import RegistryEntry, TerritoryIndex, fit, name_forms
from qp_analytics.reading.territories import read_registry
from tests.conftest import RAW


@pytest.mark.parametrize("registry, document, expected", [
    # the same words once articles, case, accents, hyphens and abbreviations are folded
    ("Métropole d'Aix-Marseille-Provence", "Métropole Aix-Marseille-Provence", 3),
    ("CA Maubeuge Val de Sambre", "Communauté d'Agglomération Maubeuge Val de Sambre", 3),
    ("Toulouse Métropole", "Métropole de Toulouse", 3),
    ("EPT Est Ensemble", "Établissement public territorial Est Ensemble", 3),
    ("Communauté urbaine d'Arras", "Communauté urbaine d’Arras", 3),  # typographic apostrophe
    ("Communauté intercommunale des villes solidaires (CIVIS)", "CIVIS", 3),  # the acronym in parentheses
    # the same distinctive words, another kind named
    ("Laval Agglomération", "Communauté d'agglomération de Laval", 2),
    ("Le Grand Narbonne", "Métropole du Grand Narbonne", 2),
    # one's distinctive words within the other's
    ("Montpellier Méditerranée Métropole", "Métropole de Montpellier", 1),
    ("Pays de Montbéliard Agglomération", "Montbéliard Agglomération", 1),
    # no fit
    ("Laval Agglomération", "Toulouse Métropole", 0),
    ("Métropole du Grand Nancy", "Le Grand Narbonne", 0),  # 'grand' alone is not the name
    ("Laval Agglomération", "Métropole", 0),  # nothing distinctive
])
def test_fit(registry, document, expected):
    assert fit(name_forms(document), name_forms(registry)) == expected


@pytest.fixture(scope="module")
def registry():
    return TerritoryIndex.of(read_registry(RAW))


def test_the_committed_documents_name_their_territory(registry):
    from qp_analytics.normalise.rows import avenant_index
    from qp_analytics.reading.avenant import parse_avenant
    from qp_analytics.reading.convention import parse_convention
    from qp_analytics.reading.documents import read_document
    from qp_analytics.reading.roadmap import parse_roadmap

    checked = 0
    for tid in registry.entries:
        convention = next((RAW / "conventions").glob(f"{tid}.*"))
        assert registry.mismatch(tid, parse_convention(read_document(convention)).territory_name) is None, tid
        fiche = parse_roadmap(RAW / "roadmaps" / f"{tid}.xlsx")["fiche"]
        assert registry.mismatch(tid, fiche["territoire"]) is None, tid
        for _, path in avenant_index(RAW).get(tid, []):
            assert registry.mismatch(tid, parse_avenant(read_document(path)).territory_name) is None, path
            checked += 1
        checked += 2
    assert checked == 14 * 2 + 3


def test_the_generated_documents_name_their_territory():
    """The names the generator writes for 1,400 territories (its conventions drop a leading article, as the
    parser does; its avenants and roadmaps write the registry's name), some of them shared by two territories."""
    from qp_analytics.generators.conventions import plan_convention, synthetic_territories

    territories = synthetic_territories(1400, random.Random(2021))
    index = TerritoryIndex.of(territories)
    assert len({t.name for t in territories}) < len(territories)  # the same name twice is not a mismatch
    for t in territories:
        written = plan_convention(t, random.Random(t.territory_id), "anct").expected()["territory_name"]
        assert index.mismatch(t.territory_id, written) is None, (t, written)
        assert index.mismatch(t.territory_id, t.name) is None, t


def test_another_territorys_document_is_refused_naming_both(registry):
    message = registry.mismatch("laval", "Toulouse Métropole")
    assert message == ("the document names the intercommunalité 'Toulouse Métropole', which is territory 'toulouse' "
                       "(Toulouse Métropole) of territories.csv, but the file is filed under 'laval' (territories.csv "
                       "names territory 'laval' 'Laval Agglomération'); put the document under its own territory's "
                       "file name")
    assert "'grand-nancy' (Métropole du Grand Nancy)" in registry.mismatch("grand-narbonne", "Métropole du Grand Nancy")


def test_a_name_that_fits_no_territory_is_refused_not_guessed(registry):
    message = registry.mismatch("laval", "Métropole de Rennes")
    assert message.startswith("the document names the intercommunalité 'Métropole de Rennes' but territories.csv "
                              "names territory 'laval' 'Laval Agglomération': the names do not match")


def test_a_short_name_two_territories_share_is_refused():
    index = TerritoryIndex([RegistryEntry("gps", "Grand Paris Sud"), RegistryEntry("gpso", "Grand Paris Seine Ouest")])
    assert "'gpso' (Grand Paris Seine Ouest)" in index.mismatch("gps", "Grand Paris")
    assert index.mismatch("gps", "Communauté d'agglomération Grand Paris Sud") is None
    # the name of the other territory fits it better: refused
    assert "'gpso'" in index.mismatch("gps", "Grand Paris Seine Ouest")


def test_siren(registry):
    assert "SIREN 243100518" in registry.mismatch("laval", "Laval Agglomération", "243 100 518")
    assert registry.mismatch("laval", "Laval Agglo", "200083392") is None
    # the registry's SIREN vouches for a name written otherwise, not for another territory's name
    assert registry.mismatch("laval", "Communauté de la Mayenne", "200083392") is None
    assert "'toulouse'" in registry.mismatch("laval", "Toulouse Métropole", "200083392")


def test_toulouse_convention_filed_as_laval_is_rejected_at_parse(registry):
    from qp_analytics.normalise.rows import parse_documents, read_conventions

    read = read_conventions(RAW, ["toulouse"], ["toulouse"]).rows["raw.convention_documents"]
    as_laval = read.with_columns(territory_id=read["territory_id"].str.replace("toulouse", "laval"))
    result = parse_documents(as_laval, registry=registry)
    assert result.accepted == [] and result.rows["staging.convention_parses"].height == 0
    (rejection,) = result.rejections
    assert (rejection.territory_id, rejection.stage) == ("laval", "parse")
    assert rejection.problems[0].startswith(f"{RAW / 'conventions' / 'toulouse.txt'}: territory_name: the document "
                                            "names the intercommunalité 'Toulouse Métropole', which is territory "
                                            "'toulouse'")


def test_a_convention_giving_another_sirens_is_rejected_at_parse(registry, tmp_path):
    """Laval's own name, but Toulouse Métropole's SIREN beside it: the SIREN is read (not kept in the name) and
    the document is refused, naming the SIREN territories.csv gives Laval."""
    import polars as pl

    from qp_analytics.normalise.rows import parse_documents
    from qp_analytics.reading.convention import parse_convention
    from qp_analytics.reading.documents import read_document
    from tests.document_builder import convention_text

    path = tmp_path / "laval.txt"
    path.write_text(convention_text(entre="Laval Agglomération (SIREN : 243 100 518), représentée par son Président "
                                          "Florian BERCAULT."), encoding="utf-8")
    doc = read_document(path)
    parsed = parse_convention(doc)
    assert (parsed.territory_name, parsed.siren) == ("Laval Agglomération", "243100518")
    assert doc.text[parsed.provenance["siren"]["start"]:parsed.provenance["siren"]["end"]] == "243 100 518"
    rows = pl.DataFrame([{"territory_id": "laval", "path": str(path), "format": "txt", "sha256": doc.sha256,
                          "text": doc.text}])
    result = parse_documents(rows, registry=registry)
    (rejection,) = result.rejections
    assert "SIREN 243100518" in rejection.problems[0] and "200083392" in rejection.problems[0]
    path.write_text(convention_text(entre="Laval Agglomération, n° SIREN 200083392, représentée par son Président "
                                          "Florian BERCAULT."), encoding="utf-8")
    assert parse_documents(rows.with_columns(text=pl.lit(read_document(path).text)), registry=registry).rejections == []


def test_the_index_finds_every_territory_a_name_fits_as_a_comparison_with_each_does():
    """TerritoryIndex.fits looks only at the territories whose words hold a name's, or are held by them: the same
    territories and fits as comparing the name with every territory of the registry, on generated registries
    sharing words ("sur", "Saint", "Val") and on names made of their words, a parenthesis, generic words only."""
    rng = random.Random(11)
    words = ["Saint", "sur", "Mer", "Val", "de", "la", "Lys", "Bains", "Forêt", "Vallée", "Haut", "Nord", "Est"]
    kinds = ["Métropole", "Communauté d'agglomération", "CA", "Agglomération", "", "Communauté urbaine"]
    entries = [RegistryEntry(f"t{i}", " ".join([rng.choice(kinds), *rng.sample(words, rng.randint(1, 4))]
                                               + ([f"({rng.choice(words)})"] if i % 9 == 0 else [])))
               for i in range(300)]
    index = TerritoryIndex(entries)
    names = [e.name for e in entries] + ["Métropole", "CA", "Saint", "sur Mer (Lys)"] + [
        " ".join(rng.sample(words + kinds, rng.randint(1, 7))) for _ in range(300)]
    for name in names:
        everyone = {e.territory_id: fit(name_forms(name), name_forms(e.name)) for e in entries}
        assert index.fits(name) == {t: f for t, f in everyone.items() if f}, name
