"""The roadmap contract: messy cells normalised, and each rule broken by a workbook of its own."""

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.cli.main import main
from qp_analytics.reading.roadmap import CellError, RoadmapError, parse_roadmap, read_amount, read_date
from tests.roadmap_builder import HEADERS, Formula, valid_sheets, write_workbook


def test_messy_cells_are_normalised(tmp_path):
    r = parse_roadmap(write_workbook(tmp_path / "testville.xlsx"))
    assert r["fiche"] == {"territoire_id": "testville", "territoire": "Métropole de Testville", "version": 1,
                          "date_adoption": dt.date(2021, 9, 1), "date_annexion": dt.date(2021, 9, 30),
                          "coordonnateur_designe_le": dt.date(2021, 5, 3), "referent_etat_designe_le": None}
    first, second = r["actions"]
    assert first == {"action_id": "TV-01", "axe": "entrepreneuriat", "intitule": "Fabrique à entreprendre",
                     "qpv": ["QP013001", "QP013002"], "porteur": "Ville", "statut": "en_cours",
                     "debut_prevu": dt.date(2021, 10, 1), "fin_prevue": dt.date(2022, 12, 31),
                     "debut_reel": dt.date(2021, 11, 2), "fin_reelle": None}
    assert second["qpv"] == [] and second["porteur"] is None and second["statut"] == "realisee"
    assert r["partenaires"] == [
        {"action_id": "TV-01", "partenaire": "etat", "role": "pilote"},
        {"action_id": "TV-02", "partenaire": "Région Sud", "role": "cofinanceur"},  # free text kept, trimmed
        {"action_id": "TV-02", "partenaire": "banque_des_territoires", "role": "ingenierie"},
    ]
    granted, pending = r["financements"]
    assert (granted["montant_sollicite"], granted["montant_accorde"], granted["montant_verse"]) == (
        Decimal("1250000.50"), Decimal("1000000.00"), Decimal("250000.00"))
    assert (granted["type_credit"], granted["nature"], granted["decision"]) == ("specifique", "pret", "accordee")
    assert pending["montant_accorde"] is None and pending["montant_verse"] is None  # empty is unknown, not 0
    assert pending["decision"] == "en_instruction"
    assert r["gouvernance"] == [{"date": dt.date(2021, 12, 1), "instance": "comite_pilotage",
                                 "participants": ["etat", "anru", "Région Sud"]}]
    assert r["bonnes_pratiques"][0]["reutilisee_par"] == ["laval", "arras"]
    assert r["bonnes_pratiques"][1] == {"pratique_id": "BP-2", "action_id": "TV-02", "titre": "Bail commercial",
                                        "date_partage": None, "canal": None, "reutilisee_par": []}


def test_empty_sheet_is_an_empty_list(tmp_path):
    sheets = valid_sheets()
    sheets["jalons"] = []
    assert parse_roadmap(write_workbook(tmp_path / "testville.xlsx", sheets))["jalons"] == []


def test_csv_exports_are_accepted(tmp_path):
    import csv

    folder = tmp_path / "exports"
    folder.mkdir()
    for sheet, rows in valid_sheets().items():
        with (folder / f"testville.{sheet}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow(HEADERS[sheet])
            for row in rows:
                writer.writerow(["" if v is None else v.strftime("%d/%m/%Y") if isinstance(v, dt.datetime) else v
                                 for v in row])
    from_csv = parse_roadmap(folder)
    from_xlsx = parse_roadmap(write_workbook(tmp_path / "testville.xlsx"))
    assert from_csv == from_xlsx


def broken(tmp_path, edit, headers=None):
    sheets = copy.deepcopy(valid_sheets())
    edit(sheets)
    path = write_workbook(tmp_path / "testville.xlsx", sheets, headers)
    with pytest.raises(RoadmapError) as err:
        parse_roadmap(path)
    return [str(p) for p in err.value.problems], str(path)


def _set(sheet, row, col, value):
    def edit(sheets):
        sheets[sheet][row][HEADERS[sheet].index(col)] = value
    return edit


@pytest.mark.parametrize("edit, place, expected", [
    (lambda s: s.pop("jalons"), "", "a sheet 'jalons' (sheets found:"),
    (_set("actions", 0, "axe", "culture"), "sheet 'actions', row 2, column 'axe': found 'culture'",
     "one of entrepreneuriat, commerce_artisanat"),
    (_set("actions", 1, "statut", "terminée"), "sheet 'actions', row 3, column 'statut'", "one of a_lancer"),
    (_set("partenaires", 0, "role", "mécène"), "sheet 'partenaires', row 2, column 'role'", "one of pilote"),
    (_set("financements", 0, "decision", "ok"), "sheet 'financements', row 2, column 'decision'", "accordee"),
    (_set("gouvernance", 0, "instance", "assemblée"), "sheet 'gouvernance', row 2, column 'instance'",
     "comite_pilotage"),
    (_set("bonnes_pratiques", 0, "canal", "courrier"), "sheet 'bonnes_pratiques', row 2, column 'canal'", "webinaire"),
    (_set("actions", 0, "fin_prevue", "31/02/2022"), "row 2, column 'fin_prevue': found '31/02/2022'",
     "a date that exists"),
    (_set("jalons", 1, "date_prevue", "bientôt"), "sheet 'jalons', row 3, column 'date_prevue'", "a date"),
    (_set("actions", 0, "debut_prevu", "01/01/1921"), "column 'debut_prevu'", "between 2000 and 2100"),
    (_set("financements", 1, "montant_sollicite", "-5 000 €"), "row 3, column 'montant_sollicite'",
     "an amount ≥ 0"),
    (_set("financements", 1, "montant_sollicite", "beaucoup"), "column 'montant_sollicite'", "an amount in euros"),
    (_set("financements", 0, "montant_verse", "1 000 000,01"), "row 2, column 'montant_verse'",
     "a payment ≤ montant_accorde (1000000)"),
    (_set("financements", 0, "date_decision", "31/01/2022"), "row 2, column 'date_decision'",
     "a decision on or after date_sollicitation (2022-02-01)"),
    (_set("partenaires", 1, "action_id", "TV-99"), "sheet 'partenaires', row 3, column 'action_id': found 'TV-99'",
     "an action_id of the sheet 'actions'"),
    (_set("bonnes_pratiques", 0, "action_id", "TV-7"), "sheet 'bonnes_pratiques', row 2", "an action_id"),
    (lambda s: s["actions"].append([" tv-01"] + s["actions"][0][1:]), "sheet 'actions', row 4, column 'action_id'",
     "used once"),
    (_set("actions", 0, "statut", None), "sheet 'actions', row 2, column 'statut'", "this column is required"),
    (_set("fiche", 0, "valeur", "autreville"), "sheet 'fiche', row 2, column 'valeur'",
     "the territory the file is named for ('testville')"),
    (_set("fiche", 2, "valeur", "v1"), "sheet 'fiche', row 4, column 'valeur'", "a whole number"),
    # beyond what the warehouse's columns hold (INTEGER, DECIMAL(14,2)): refused here, not a failed load
    (_set("fiche", 2, "valeur", 3_000_000_000), "sheet 'fiche', row 4, column 'valeur'",
     "a whole number up to 2147483647"),
    (_set("financements", 1, "montant_sollicite", "1 000 000 000 000,00 €"), "row 3, column 'montant_sollicite'",
     "an amount below 1 000 000 000 000 €"),
    (_set("bonnes_pratiques", 0, "reutilisee_par", "laval; ../etc"), "column 'reutilisee_par'", "a territory id"),
    (_set("actions", 0, "qpv", "QP13"), "column 'qpv'", "QPV codes"),
])
def test_each_rule_broken_alone(tmp_path, edit, place, expected):
    problems, path = broken(tmp_path, edit)
    assert len(problems) == 1, problems
    assert problems[0].startswith(path)
    assert place in problems[0] and expected in problems[0]


def test_formula_without_computed_value_is_refused_with_its_place(tmp_path):
    # written by a program that does not compute formulas: the cell has the formula, not its result
    problems, path = broken(tmp_path, _set("financements", 0, "montant_accorde", Formula("=SUM(E2:E3)")))
    assert problems == [
        f"{path}: sheet 'financements', row 2, column 'montant_accorde (F2)': found '=SUM(E2:E3)'; expected a "
        "value: the cell holds a formula whose result was never computed (the file was written by a program that "
        "does not compute formulas); open the workbook in Excel or LibreOffice and save it so the values are "
        "computed, or replace the formula by its value (copy, paste values)"]


def _workbook_of(path, sheets):
    """An open xlsxwriter workbook holding the sheets (dates as text), for a test to add a formula to."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        ws = workbook.add_worksheet(name)
        ws.write_row(0, 0, HEADERS[name])
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value is not None:
                    ws.write(r, c, value.strftime("%d/%m/%Y") if isinstance(value, dt.datetime) else value)
    return workbook


def test_formula_with_a_placeholder_zero_is_refused(tmp_path):
    """xlsxwriter (and programs like it) store 0 as a formula's result and ask the spreadsheet to recalculate
    on opening (fullCalcOnLoad): that 0 was never computed, and reading it would make an amount 0."""

    workbook = _workbook_of(tmp_path / "testville.xlsx", valid_sheets())
    workbook.get_worksheet_by_name("financements").write_formula(1, 6, "=F2")  # montant_verse; stored as 0
    workbook.close()
    with pytest.raises(RoadmapError) as err:
        parse_roadmap(tmp_path / "testville.xlsx")
    assert [str(p) for p in err.value.problems] == [
        f"{tmp_path / 'testville.xlsx'}: sheet 'financements', row 2, column 'montant_verse (G2)': found '=F2'; "
        "expected a value: the cell holds a formula whose result was never computed (the file was written by a "
        "program that does not compute formulas); open the workbook in Excel or LibreOffice and save it so the "
        "values are computed, or replace the formula by its value (copy, paste values)"]


def test_formula_with_its_computed_value_is_read(tmp_path):

    sheets = valid_sheets()
    sheets["financements"][0][5] = None
    # the same workbook, montant_accorde of row 2 a formula computed as Excel does
    workbook = _workbook_of(tmp_path / "testville.xlsx", sheets)
    workbook.get_worksheet_by_name("financements").write_formula(1, 5, "=E3*12.5", None, 1_000_000)
    workbook.close()
    assert parse_roadmap(tmp_path / "testville.xlsx")["financements"][0]["montant_accorde"] == Decimal("1000000.00")


@pytest.mark.parametrize("cell, codes", [
    ("QN06201M; qn 093 12 n", ["QN06201M", "QN09312N"]),  # 2024 geography
    ("QP013001; QN01302I", ["QP013001", "QN01302I"]),  # both in one roadmap
    ("QP02A001; QN02B01M; QP974012; QN97101N", ["QP02A001", "QN02B01M", "QP974012", "QN97101N"]),  # Corsica, overseas
])
def test_qpv_codes_of_both_geographies_are_read(tmp_path, cell, codes):
    sheets = valid_sheets()
    sheets["actions"][0][3] = cell
    assert parse_roadmap(write_workbook(tmp_path / "testville.xlsx", sheets))["actions"][0]["qpv"] == codes


@pytest.mark.parametrize("code", ["QN06201X", "QN0620M", "QP0130011", "QN062011", "QP020001", "QP096001",
                                  "QP977001", "QP2A0001", "QPA13001", "QX013001", "QN06201MM"])
def test_qpv_codes_of_neither_form_are_refused_with_the_cell(tmp_path, code):
    problems, path = broken(tmp_path, _set("actions", 1, "qpv", f"QP013001; {code}"))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: sheet 'actions', row 3, column 'qpv': found 'QP013001; {code}'; ")
    assert "(2024, e.g. QN06201M)" in problems[0]


def test_renamed_actions_sheet_is_said_once(tmp_path):
    def edit(sheets):
        sheets["Actions 2022"] = sheets.pop("actions")
    headers = {"Actions 2022": HEADERS["actions"]}
    problems, path = broken(tmp_path, edit, headers)
    # not one line per action referenced from partenaires, financements, jalons and bonnes_pratiques
    assert problems == [f"{path}: a sheet 'actions' (sheets found: actions 2022, bonnes_pratiques, fiche, "
                        "financements, gouvernance, jalons, partenaires)"]


def test_missing_column_is_named(tmp_path):
    headers = {"financements": [h for h in HEADERS["financements"] if h != "decision"]}

    def edit(sheets):
        for row in sheets["financements"]:
            del row[-1]
    problems, _ = broken(tmp_path, edit, headers)
    assert len(problems) == 1
    assert "sheet 'financements', row 1, column 'decision'" in problems[0]


def test_every_problem_is_listed(tmp_path):
    def edit(sheets):
        _set("actions", 0, "axe", "culture")(sheets)
        _set("financements", 0, "montant_verse", 9_999_999)(sheets)
        _set("jalons", 0, "action_id", "TV-42")(sheets)
        sheets.pop("gouvernance")
    problems, _ = broken(tmp_path, edit)
    assert len(problems) == 4


@pytest.mark.parametrize("content, expected", [
    (b"not a zip", "an Excel workbook (.xlsx) that opens"),
    (b"PK\x03\x04broken", "an Excel workbook (.xlsx) that opens"),
])
def test_not_a_workbook(tmp_path, content, expected):
    path = tmp_path / "testville.xlsx"
    path.write_bytes(content)
    with pytest.raises(RoadmapError, match="that opens"):
        parse_roadmap(path)


def test_cli_parse_roadmap(tmp_path):
    path = write_workbook(tmp_path / "testville.xlsx")
    result = CliRunner().invoke(main, ["parse", "roadmap", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"fiche", "actions", "partenaires", "financements", "jalons", "gouvernance",
                         "bonnes_pratiques"}
    assert data["financements"][0]["montant_sollicite"] == 1250000.5
    assert data["fiche"]["date_annexion"] == "2021-09-30"
    human = CliRunner().invoke(main, ["parse", "roadmap", str(path)])
    assert human.exit_code == 0 and "actions" in human.output


def test_cli_broken_roadmap_exits_2_and_lists_all(tmp_path):
    sheets = valid_sheets()
    sheets["actions"][0][1] = "culture"
    sheets["financements"][0][6] = 2_000_000
    path = write_workbook(tmp_path / "testville.xlsx", sheets)
    result = CliRunner().invoke(main, ["parse", "roadmap", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {path}: sheet '") for line in lines)


# -- every spelling of a date or an amount reads back the same ----------------------------------------

dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


@given(dates, st.sampled_from(["excel", "serial", "dmy", "dmy_short", "iso"]))
def test_date_spellings(value, spelling):
    cell = {
        "excel": dt.datetime(value.year, value.month, value.day),
        "serial": float((value - dt.date(1899, 12, 30)).days),
        "dmy": value.strftime("%d/%m/%Y"),
        "dmy_short": f"{value.day}/{value.month}/{value.year}",
        "iso": f" {value.isoformat()} ",
    }[spelling]
    assert read_date(cell) == value


def test_a_date_text_read_again_gives_the_same_answer_and_a_wrong_one_the_same_refusal():
    """Date texts are read once per distinct text (they repeat through a workbook): a text read again gives the
    same date, and a text that is no date is refused each time it is met, with its reason."""
    assert read_date("05/03/2022") == read_date(" 05/03/2022") == dt.date(2022, 3, 5)
    for _ in range(2):
        with pytest.raises(CellError, match="a date that exists"):
            read_date("31/02/2022")
        with pytest.raises(CellError, match="between 2000 and 2100"):
            read_date("01/01/1999")
        with pytest.raises(CellError, match="an Excel date"):
            read_date("mars 2022")


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**11), st.sampled_from(["number", "fr", "fr_euro", "plain_comma"]),
       st.sampled_from([" ", "\u00a0", "\u202f"]))
def test_amount_spellings(cents, spelling, space):
    value = Decimal(cents) / 100
    euros, rest = divmod(cents, 100)
    grouped = f"{euros:,}".replace(",", space)
    cell = {
        "number": float(value) if cents < 2**53 else value,
        "fr": f"{grouped},{rest:02d}",
        "fr_euro": f"{grouped},{rest:02d} €",
        "plain_comma": f"{euros},{rest:02d}",
    }[spelling]
    if isinstance(cell, Decimal):
        cell = str(cell)
    assert read_amount(cell) == value


# -- the generator's own spellings read back: any habit it can draw, any value ------------------------

@settings(max_examples=300)
@given(dates, st.integers(min_value=0, max_value=2**32), st.booleans())
def test_generator_date_spellings_read_back(value, seed, for_csv):
    import random

    from qp_analytics.generators.roadmaps import WriterHabits, cell_value

    cell = cell_value("date", value, WriterHabits.draw(random.Random(seed)), for_csv)
    assert read_date(cell) == value


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=2**32), st.booleans())
def test_generator_amount_spellings_read_back(cents, seed, for_csv):
    import random

    from qp_analytics.generators.roadmaps import WriterHabits, cell_value

    value = Decimal(cents) / 100
    cell = cell_value("amount", value.quantize(Decimal("0.01")), WriterHabits.draw(random.Random(seed)), for_csv)
    if isinstance(cell, Decimal):
        cell = float(cell)  # what a numeric workbook cell holds once written
    assert read_amount(cell) == value


def test_a_roadmap_as_json_is_the_same_through_json_default():
    """The worker's JSON of a parsed roadmap (json.dumps with json_default) is the `--json` form's
    (to_jsonable, then json.dumps), on every roadmap of data/raw."""
    from pathlib import Path

    from qp_analytics.reading.roadmap import json_default, to_jsonable

    files = sorted(Path("data/raw/roadmaps").glob("*.xlsx"))
    assert len(files) >= 10
    for path in files:
        data = parse_roadmap(path)
        assert json.dumps(data, ensure_ascii=False, default=json_default) == \
            json.dumps(to_jsonable(data), ensure_ascii=False), path
