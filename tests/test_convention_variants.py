"""Wording a drafter might use, and documents that are broken: read right, or refused with a clear message."""

import datetime as dt

import pytest

from qp_analytics.reading.convention import ConventionError, parse_convention
from qp_analytics.reading.documents import DocumentError, read_document
from tests.document_builder import convention_text


def parse_text(tmp_path, text, name="conv.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return parse_convention(read_document(path))


@pytest.mark.parametrize("sentence, expected", [
    ("Le Chef de file désigné est l’Agence nationale de la cohésion des territoires.", "anct"),
    ("Le Chef de file désigné est l’A.N.C.T.", "anct"),
    ("Le Chef de file désigné est l'Agence Nationale pour la Rénovation Urbaine (ANRU).", "anru"),
    ("La Caisse des dépôts – Banque des Territoires est désignée Chef de file.", "banque_des_territoires"),
    ("Le rôle de chef de file est confié à la Banque des territoires.", "banque_des_territoires"),
    ("Chef de file désigné : BPI France.", "bpifrance"),
    ("Le Chef de\nfile est Bpifrance.", "bpifrance"),
    ("Le chef de file est la Banque publique d’investissement.", "bpifrance"),
])
def test_chef_de_file_in_any_spelling(tmp_path, sentence, expected):
    assert parse_text(tmp_path, convention_text(governance=sentence)).chef_de_file == expected


@pytest.mark.parametrize("deadline, months, due", [
    ("dans un délai de 9 mois à compter de la Labellisation", 9, dt.date(2021, 12, 18)),
    ("dans un délai de neuf mois à compter de la Labellisation", 9, dt.date(2021, 12, 18)),
    ("dans un délai de six (6) mois à compter de la Labellisation", 6, dt.date(2021, 9, 18)),
    ("dans les douze mois suivant la Labellisation", 12, dt.date(2022, 3, 18)),
])
def test_roadmap_deadline_as_written(tmp_path, deadline, months, due):
    c = parse_text(tmp_path, convention_text(deadline=deadline))
    assert (c.roadmap_deadline_months, c.roadmap_due_date) == (months, due)


@pytest.mark.parametrize("duration, months, end", [
    ("une durée de 36 mois", 36, dt.date(2024, 3, 18)),
    ("une durée de trente-six mois", 36, dt.date(2024, 3, 18)),
    ("une durée de deux ans", 24, dt.date(2023, 3, 18)),
    ("une durée de dix-huit (18) mois", 18, dt.date(2022, 9, 18)),
])
def test_duration_as_written(tmp_path, duration, months, end):
    c = parse_text(tmp_path, convention_text(duration=duration))
    assert (c.duration_months, c.end_date) == (months, end)


def test_month_arithmetic_clamps_to_month_end(tmp_path):
    c = parse_text(tmp_path, convention_text(
                   labellisation="labellisés le 31 août 2021 (ci-après « la Labellisation »).",
                                             deadline="dans un délai de 6 mois à compter de la Labellisation"))
    assert c.labellisation_date == dt.date(2021, 8, 31)
    assert c.roadmap_due_date == dt.date(2022, 2, 28)


@pytest.mark.parametrize("labellisation, date", [
    ("labellisés le 1er avril 2021 (ci-après « la Labellisation »).", dt.date(2021, 4, 1)),
    ("labellisés le 18/03/2021 (ci-après « la Labellisation »).", dt.date(2021, 3, 18)),
    ("labellisés le 2021-03-18.", dt.date(2021, 3, 18)),
    ("labellisés le 18 MARS 2021.", dt.date(2021, 3, 18)),
])
def test_labellisation_date_spellings(tmp_path, labellisation, date):
    assert parse_text(tmp_path, convention_text(labellisation=labellisation)).labellisation_date == date


@pytest.mark.parametrize("line, place, date, codes", [
    ("A Testville, le 2 juin 2021", "Testville", dt.date(2021, 6, 2), []),
    ("Fait à Bondy, le 29/06/2021", "Bondy", dt.date(2021, 6, 29), []),
    ("Fait en deux exemplaires à Saint-Denis, le 1er juillet 2021", "Saint-Denis", dt.date(2021, 7, 1), []),
    ("À Laval, le …", "Laval", None, ["undated"]),
    ("A …, le …", None, None, ["signature_place_blank", "undated"]),
    ("A Laval, le 31/02/2021", "Laval", None, ["signature_date_invalid"]),
    ("", None, None, ["signature_missing", "undated"]),
])
def test_signature_filled_or_blank(tmp_path, line, place, date, codes):
    c = parse_text(tmp_path, convention_text(signature=line))
    assert (c.signature_place, c.signature_date) == (place, date)
    assert [w["code"] for w in c.warnings if w["field"].startswith("signature")] == codes


def test_representative_variants(tmp_path):
    c = parse_text(tmp_path, convention_text(
        entre="Le Grand Testville, représenté par sa Présidente en exercice, Madame Anne-Sophie LE GALL."))
    assert c.territory_name == "Grand Testville"
    assert c.representative == {"name": "Anne-Sophie LE GALL", "title": "Présidente en exercice"}
    c = parse_text(tmp_path, convention_text(entre="La Métropole de Testville représentée par sa Présidente."))
    assert c.representative == {"name": None, "title": "Présidente"}
    assert "representative_unnamed" in [w["code"] for w in c.warnings]


def test_text_with_form_feeds_has_pages(tmp_path):
    text = convention_text().replace("Article 3.", "\fArticle 3.")
    c = parse_text(tmp_path, text)
    assert c.provenance["chef_de_file"]["page"] == 2
    assert c.provenance["labellisation_date"]["page"] == 1


# -- documents that must be refused, with the field and the file named --------------------------------

@pytest.mark.parametrize("change, field", [
    ({"governance": "Le Chef de file sera désigné ultérieurement."}, "chef_de_file"),
    ({"governance": "L’ANRU et Bpifrance sont désignés chefs de file."}, "chef_de_file"),
    ({"governance": "Le chef de file sera choisi parmi l’ANRU et Bpifrance."}, "chef_de_file"),
    ({"governance_title": "Pilotage", "governance": "Un comité de pilotage se réunit."}, "chef_de_file"),
    ({"labellisation": "labellisés (ci-après « la Labellisation »)."}, "labellisation_date"),
    ({"labellisation": "labellisés le 31/02/2021 (ci-après « la Labellisation »)."}, "labellisation_date"),
    ({"deadline": "dans les meilleurs délais"}, "roadmap_deadline_months"),
    ({"duration": "une durée indéterminée"}, "duration_months"),
    ({"entre": ""}, "territory_name"),
])
def test_missing_required_field_is_named(tmp_path, change, field):
    with pytest.raises(ConventionError) as err:
        parse_text(tmp_path, convention_text(**change), name="broken.txt")
    assert [p.split(":")[0] for p in err.value.problems] == [field]
    assert str(tmp_path / "broken.txt") in str(err.value)


def test_every_problem_is_listed_not_only_the_first(tmp_path):
    text = convention_text(governance="Aucun.", deadline="rapidement", duration="une durée indéterminée")
    with pytest.raises(ConventionError) as err:
        parse_text(tmp_path, text)
    assert [p.split(":")[0] for p in err.value.problems] == [
        "chef_de_file", "roadmap_deadline_months", "duration_months"]


@pytest.mark.parametrize("name, content, message", [
    ("empty.txt", b"", "the file is empty"),
    ("fake.pdf", b"hello, not a pdf at all", "not a PDF"),
    ("truncated.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "not a readable PDF"),
    ("latin1.txt", "Métropole".encode("latin-1"), "is not UTF-8"),
    ("binary.txt", b"\x00\x01\x02garbage", "binary content"),
    ("notes.docx", b"PK\x03\x04", "not a readable Word .docx document"),
    ("notes.odt", b"PK\x03\x04", "unsupported file type"),
])
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError) as err:
        read_document(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_pdf_without_text_layer(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50)  # a drawing, no text: what a scan looks like to a text extractor
    path = tmp_path / "scan.pdf"
    path.write_bytes(bytes(pdf.output()))
    with pytest.raises(DocumentError, match="no text layer, and OCR read nothing"):
        read_document(path)


def test_missing_file(tmp_path):
    with pytest.raises(DocumentError, match="file not found"):
        read_document(tmp_path / "absent.pdf")


def test_page_break_right_after_a_heading(tmp_path):
    """A page that ends on an article's heading: the next page's first sentence is text, not part of the title
    (found on a generated convention: the chef de file was missed)."""
    text = convention_text(governance="Bpifrance est désigné(e) Chef de file du programme.")
    heading = text.index("Gouvernance") + len("Gouvernance")
    newline = text.index("\n", heading)
    broken = text[:newline] + "\f" + text[newline:].lstrip("\n")
    assert "Gouvernance\fBpifrance" in broken.replace(" ", "")
    c = parse_text(tmp_path, broken)
    assert c.chef_de_file == "bpifrance"
    assert c.provenance["chef_de_file"]["page"] == 2


@pytest.mark.parametrize("sentence, expected", [
    ("Le Chef de file est l’ANRU, avec Bpifrance comme chef de file adjoint.", "anru"),
    ("Bpifrance assure le rôle de chef de file, en lien étroit avec la Banque des Territoires et l’ANCT.",
     "bpifrance"),
    ("L’ANRU, en lien avec la Banque des Territoires, assure le rôle de chef de file.", "anru"),
    ("La Banque des Territoires, aux côtés de l’ANCT, est désignée chef de file.", "banque_des_territoires"),
    ("Le chef de file désigné est la Banque des Territoires ; l’ANRU et Bpifrance y sont associés.",
     "banque_des_territoires"),
    ("Chef de file : Bpifrance.", "bpifrance"),
])
def test_chef_de_file_is_the_operator_designated_not_those_mentioned(tmp_path, sentence, expected):
    c = parse_text(tmp_path, convention_text(governance=sentence, governance_title="Pilotage du programme"))
    assert c.chef_de_file == expected
    assert c.provenance["chef_de_file"]["excerpt"] in sentence


def test_list_marker_out_of_sequence_is_a_warning(tmp_path):
    """'1°, 2°, 4°': the third item is not read as one of its own; the reader says so, with page and sentence."""
    text = convention_text().replace(
        " L’Etat s’engage (i) à animer le réseau ; (ii) à désigner un référent.",
        " L’Etat s’engage :\n1° à animer le réseau ;\n2° à désigner un référent ;\n4° à suivre les projets.")
    result = parse_text(tmp_path, text)
    etat = [c.text for c in result.commitments if c.party == "etat"]
    assert etat[:1] == ["à animer le réseau"] and len(etat) == 2
    [warning] = [w for w in result.warnings if w["code"] == "commitments_list_uncertain"]
    message = warning["message"]
    assert "'4'" in message and "page 1" in message and "à suivre les projets" in message


def test_a_list_in_sequence_gives_no_list_warning(tmp_path):
    text = convention_text().replace(
        " L’Etat s’engage (i) à animer le réseau ; (ii) à désigner un référent.",
        " L’Etat s’engage :\n1° à animer le réseau ;\n2° à désigner un référent ;\n3° à suivre les projets.")
    result = parse_text(tmp_path, text)
    assert [c.ref for c in result.commitments if c.party == "etat"] == ["1", "2", "3"]
    assert not [w for w in result.warnings if w["code"] == "commitments_list_uncertain"]


def _glyph_by_glyph_pdf(path, text, word_gap_em):
    """A PDF page whose every glyph is placed on its own and whose words are separated by position only, no
    space character: how some shaping engines write text. A narrow gap is one a text extractor may not take
    for a space."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    size = 11 / pdf.k  # font size in user units (mm)
    x, y = 20.0, 30.0
    for word in text.split():
        width = pdf.get_string_width(word)
        if x + width > 190:
            x, y = 20.0, y + 6
        for char in word:
            pdf.text(x, y, char)
            x += pdf.get_string_width(char)
        x += word_gap_em * size
    path.write_bytes(bytes(pdf.output()))
    return path


SENTENCE = ("Le Chef de file désigné pour suivre le déploiement du programme sur l'intercommunalité bénéficiaire "
            "est la Banque des Territoires. La durée de la convention est fixée à vingt-quatre mois. ") * 2


@pytest.mark.parametrize("gap", [0.1, 0.12, 0.25])
def test_pdf_words_placed_by_position_keep_their_boundaries(tmp_path, gap):
    """A page whose text layer has no space characters, words separated by a gap of a tenth of an em or more:
    every word boundary is read, whether pdfium finds it or the page is read again from the glyphs' positions."""
    doc = read_document(_glyph_by_glyph_pdf(tmp_path / "shaped.pdf", SENTENCE, gap))
    assert doc.text.split() == SENTENCE.split()


def test_word_boundary_check_leaves_prose_alone():
    from qp_analytics.reading.documents import lost_word_boundaries

    assert not lost_word_boundaries(SENTENCE)
    assert lost_word_boundaries(SENTENCE.replace(" ", ""))
    assert not lost_word_boundaries("https://www.example.org/programme-quartiers-productifs")  # too short to judge


@pytest.mark.parametrize("user_password", ["", "secret"])
def test_encrypted_pdf_is_refused(tmp_path, user_password):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.text(20, 30, "Convention d'engagement Quartiers productifs")
    pdf.set_encryption(owner_password="owner", user_password=user_password)
    path = tmp_path / "locked.pdf"
    path.write_bytes(bytes(pdf.output()))
    with pytest.raises(DocumentError, match="the PDF is encrypted") as err:
        read_document(path)
    assert str(path) in str(err.value)


def test_a_parse_as_plain_values_is_what_dataclasses_asdict_gives():
    """plain (the parse's fast conversion) against the standard library's asdict, on every text, PDF and Word
    convention of data/raw."""
    import dataclasses
    from pathlib import Path

    from qp_analytics.reading.convention import plain

    files = sorted(Path("data/raw/conventions").glob("*.*"))
    assert len(files) >= 10
    for path in files:
        convention = parse_convention(read_document(path))
        assert plain(convention) == dataclasses.asdict(convention), path
