"""The reader on documents it was not written for (tests/fidelity: written from the template by someone who had not
read the reader, expected values fixed before any run): every field right, every offset exact."""

import json
from pathlib import Path

import pytest

from benchmarks.fidelity import CORPUS, evaluate
from qp_analytics.reading.avenant import parse_avenant
from qp_analytics.reading.cleaning import clean, removed
from qp_analytics.reading.convention import ConventionError, parse_convention
from qp_analytics.reading.documents import DocumentError, read_document
from qp_analytics.text import sentence_around, squash
from tests.conftest import REPO, SEED_CONVENTION

SPECS = sorted((CORPUS / "expected").glob("*.json"))


def _spec(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _cases(paths: list[Path]) -> list:
    """One case per document; scans are read by OCR (minutes on a fresh machine): the full tier only."""
    return [pytest.param(p, id=p.name.removesuffix(".json"),
                         marks=[pytest.mark.slow] if "scan" in _spec(p)["classes"] else []) for p in paths]


def test_the_corpus_is_large_and_varied():
    specs = [_spec(p) for p in SPECS]
    assert len(specs) >= 30
    assert sum(s["kind"] == "avenant" for s in specs) >= 8
    formats = {Path(s["document"]).suffix for s in specs}
    assert formats == {".txt", ".pdf", ".docx"}
    assert sum("scan" in s["classes"] for s in specs) >= 5


@pytest.mark.parametrize("spec_path", _cases(SPECS))
def test_every_field_right(spec_path, tmp_path):
    """One document at a time, so that a failure names it and the OCR'd ones spread over the workers."""
    single = tmp_path / "corpus"
    (single / "expected").mkdir(parents=True)
    (single / "documents").mkdir()
    spec = _spec(spec_path)
    (single / "expected" / spec_path.name).write_text(spec_path.read_text(encoding="utf-8"), encoding="utf-8")
    (single / "documents" / spec["document"]).symlink_to(CORPUS / "documents" / spec["document"])
    outcome = evaluate(single)
    wrong = [(c.field, c.expected, c.got) for c in outcome.checks if not c.right]
    assert outcome.checks and not wrong


def _provenance_sources(parsed: dict) -> list[tuple[str, dict]]:
    out = []
    for name, value in parsed["provenance"].items():
        for n, src in enumerate(value if isinstance(value, list) else [value], start=1):
            if "start" in src:
                out.append((f"{name}[{n}]" if isinstance(value, list) else name, src))
    return out


DOCUMENTS = [p for p in SPECS if _spec(p)["expect"] == "read"]


@pytest.mark.parametrize("spec_path", _cases(DOCUMENTS))
def test_every_offset_points_into_the_documents_own_text(spec_path):
    """Every provenance offset addresses the document's text as stored (raw.convention_documents.text): the
    characters there, with page furniture and line-end hyphens taken out, are the excerpt, and the excerpt is in
    its sentence; the page (or paragraph) is where the offset is."""
    spec = _spec(spec_path)
    doc = read_document(CORPUS / "documents" / spec["document"])
    parsed = (parse_convention if spec["kind"] == "convention" else parse_avenant)(doc).to_dict()
    cleaned = clean(doc.text)
    sources = _provenance_sources(parsed)
    assert sources
    for name, src in sources:
        assert 0 <= src["start"] < src["end"] <= len(doc.text), name
        assert squash(cleaned[src["start"]:src["end"]]) == src["excerpt"], name
        assert src["excerpt"] in src["sentence"], name
        # nothing but furniture, hyphens and blanks lies between the original characters and the excerpt
        original = squash(doc.text[src["start"]:src["end"]])
        assert original.replace("-", "").replace(" ", "").startswith(src["excerpt"][:1]), name
        if doc.format == "docx":
            assert src["page"] is None and src["paragraph"] == doc.text.count("\n", 0, src["start"]) + 1
        else:
            assert src["page"] == doc.text.count("\f", 0, src["start"]) + 1
        assert src["read_by"] == doc.read_by(src["start"], src["end"])


@pytest.mark.slow
def test_scanned_values_say_they_were_read_by_ocr_with_a_confidence():
    doc = read_document(CORPUS / "documents" / "laval_convention_signee_scan.pdf")
    parsed = parse_convention(doc).to_dict()
    chef = parsed["provenance"]["chef_de_file"]
    assert chef["read_by"] == "ocr" and 0 <= chef["confidence"] <= 100
    mixed = read_document(CORPUS / "documents" / "grand_paris_sud_convention_signee.pdf")
    assert mixed.ocr_pages == [mixed.page_count]  # only the scanned signature page went through OCR
    assert parse_convention(mixed).provenance["labellisation_date"]["read_by"] == "text layer"


def test_cleaning_never_moves_a_character_and_removes_only_furniture():
    for path in sorted((CORPUS / "documents").iterdir()):
        if path.suffix not in (".txt", ".pdf", ".docx"):
            continue
        try:
            doc = read_document(path)
        except DocumentError:
            continue
        cleaned = clean(doc.text)
        assert len(cleaned) == len(doc.text)
        for s, e in removed(doc.text, cleaned):
            gone = doc.text[s:e]
            line_start = max(cleaned.rfind("\n", 0, s), cleaned.rfind("\f", 0, s)) + 1
            line_end = min([i for i in (cleaned.find("\n", e), cleaned.find("\f", e), len(cleaned)) if i != -1])
            whole_line = cleaned[line_start:line_end].strip(" \t\u00ad") == ""
            # a whole line of page furniture, or the hyphen and line break of a word cut at a line end
            assert whole_line or gone.startswith("-") or gone.strip() == "", (path, gone)


def test_the_seed_loses_nothing_to_cleaning():
    """The real seed has no running header: cleaning only joins its one word cut at a line end, keeping the
    compound's hyphen ("sur-mesure")."""
    doc = read_document(SEED_CONVENTION)
    cleaned = clean(doc.text)
    changed = [doc.text[s:e] for s, e in removed(doc.text, cleaned)]
    assert all(set(c) <= set("\n \t\u00ad") for c in changed)
    assert "sur-mesure" in squash(cleaned)


def test_words_cut_at_line_ends_are_joined_or_keep_their_own_hyphen():
    """Each cut at a line end, worked out by hand: "favori-ser" is one French word (its hyphen and line break
    become soft hyphens); "sur-mesure" is written whole elsewhere in the text (its own hyphen stays); a cut across
    blank lines and a page break is joined too; digits cut at a line end ("2021-2022") are left alone."""
    text = ("Le projet vise à favori-\nser l'emploi.\nUn suivi sur-\nmesure, sur-mesure.\n"
            "En 2021-\n2022 puis une pé-\n\n\friode.")
    assert clean(text) == ("Le projet vise à favori\u00ad\u00adser l'emploi.\nUn suivi sur-\u00admesure, sur-mesure.\n"
                           "En 2021-\n2022 puis une pé\u00ad\u00ad\u00ad\u00adriode.")


@pytest.mark.parametrize(("words", "sentence"), [
    ("six mois", "Le délai est de six mois;"),  # a semicolon ends it, the full stop before begins it
    ("reste", "voir A.N.C.T. pour le reste."),  # the full stops of initials end nothing
    ("Suite", "Suite du texte."),  # an article's heading before it, up to the words, ends the sentence before
])
def test_the_sentence_around_words_worked_out_by_hand(words, sentence):
    text = "Premier point. Le délai est de six mois; voir A.N.C.T. pour le reste.\nArticle 3 Suite du texte."
    start = text.index(words)
    left, right = sentence_around(text, start, start + len(words))
    assert text[left:right] == sentence


@pytest.mark.parametrize("spec_path", [p for p in SPECS if _spec(p)["expect"] == "refused"],
                         ids=lambda p: p.name.removesuffix(".json"))
def test_bad_documents_are_refused_naming_the_file(spec_path):
    spec = _spec(spec_path)
    path = CORPUS / "documents" / spec["document"]
    with pytest.raises((DocumentError, ConventionError)) as err:
        doc = read_document(path)
        (parse_convention if spec["kind"] == "convention" else parse_avenant)(doc)
    assert str(path) in str(err.value)


def test_fidelity_script_reports_fields_right_over_total(tmp_path):
    """The script as documented, on a copy of two text documents of the corpus, one of them with a value spoiled
    in its expected file: 1 field wrong, named, and the exit status says so."""
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    (corpus / "expected").mkdir(parents=True)
    (corpus / "documents").mkdir()
    texts = [p for p in DOCUMENTS if _spec(p)["document"].endswith(".txt")][:2]
    for i, spec_path in enumerate(texts):
        spec = _spec(spec_path)
        (corpus / "documents" / spec["document"]).symlink_to(CORPUS / "documents" / spec["document"])
        if i == 1:
            spec["fields"]["signature_place"] = "Quimper"
        (corpus / "expected" / spec_path.name).write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "fidelity.json"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fidelity.py"), "--corpus", str(corpus),
                             "--json", str(out), "--show-wrong"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["documents"] == 2 and figures["right"] == figures["fields"] - 1
    assert figures["by_field"]["signature_place"] == [1, 2]
    assert "signature_place" in result.stdout and "'Quimper'" in result.stdout


def test_a_value_read_by_ocr_with_low_confidence_is_a_warning_naming_page_and_sentence():
    """The same text as a scan would give it, with tesseract unsure of the word that names the chef de file."""
    from qp_analytics.reading.documents import Document
    from qp_analytics.reading.ocr import LOW_CONFIDENCE, OcrWord
    from tests.document_builder import convention_text

    text = convention_text(governance="Le chef de file désigné est l’ANRU.")
    words = []
    for m in __import__("re").finditer(r"\S+", text):
        sure = LOW_CONFIDENCE - 40 if m.group(0).startswith("l’ANRU") else 96.0
        words.append(OcrWord(m.start(), m.end(), sure))
    # the elided word alone does not count (see Document.confidence): spell it without the article
    text = text.replace("l’ANRU", "ANRU..")
    doc = Document("scan.pdf", "pdf", "0" * 64, [text], tuple(words))
    c = parse_convention(doc)
    assert c.chef_de_file == "anru"
    assert c.provenance["chef_de_file"]["read_by"] == "ocr"
    warning = next(w for w in c.warnings if w["code"] == "ocr_low_confidence")
    assert warning["field"] == "chef_de_file"
    assert "page 1" in warning["message"] and "Le chef de file désigné est ANRU" in warning["message"]
    assert c.provenance["labellisation_date"]["confidence"] == 96.0
