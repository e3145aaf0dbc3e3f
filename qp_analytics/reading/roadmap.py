"""Read a feuille de route workbook (or its CSV exports) against the national template's contract.

Cells come as people fill them in: stray spaces, capitals and accents on codes, dates as Excel dates or
text, French amounts as text. Each cell is normalised (codes folded, dates ISO, amounts exact, empty =
unknown, never zero); every breach of the contract is collected, not only the first, each naming the
file, the sheet, the row as Excel numbers it (header = row 1), the column, the value and what was
expected.
"""

import csv
import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from qp_analytics.reading.territories import is_territory_id

PARTNER_CODES = ("etat", "anct", "anru", "banque_des_territoires", "bpifrance")
CODES: dict[str, tuple[str, ...]] = {
    "axe": ("entrepreneuriat", "commerce_artisanat", "implantation_activites", "transition_numerique_ecologique"),
    "statut": ("a_lancer", "en_cours", "realisee", "abandonnee"),
    "role": ("pilote", "cofinanceur", "ingenierie", "expertise", "relais"),
    "type_credit": ("droit_commun", "specifique"),
    "nature": ("subvention", "pret", "fonds_propres", "garantie", "ingenierie"),
    "decision": ("accordee", "refusee", "en_instruction"),
    "instance": ("comite_pilotage", "comite_technique", "revue_de_projet"),
    "canal": ("atelier_reseau", "fiche_capitalisation", "webinaire", "visite"),
}

# Column kinds: how a cell is read. Sheets and columns in the template's order.
SHEETS: dict[str, dict[str, str]] = {
    "fiche": {"champ": "text", "valeur": "raw"},
    "actions": {"action_id": "text", "axe": "code", "intitule": "text", "qpv": "qpv_list", "porteur": "text",
                "statut": "code", "debut_prevu": "date", "fin_prevue": "date", "debut_reel": "date",
                "fin_reelle": "date"},
    "partenaires": {"action_id": "action_ref", "partenaire": "partner", "role": "code"},
    "financements": {"action_id": "action_ref", "financeur": "partner", "type_credit": "code", "nature": "code",
                     "montant_sollicite": "amount", "montant_accorde": "amount", "montant_verse": "amount",
                     "date_sollicitation": "date", "date_decision": "date", "decision": "code"},
    "jalons": {"action_id": "action_ref", "jalon": "text", "date_prevue": "date", "date_reelle": "date"},
    "gouvernance": {"date": "date", "instance": "code", "participants": "partner_list"},
    "bonnes_pratiques": {"pratique_id": "text", "action_id": "action_ref", "titre": "text", "date_partage": "date",
                         "canal": "code", "reutilisee_par": "territory_list"},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "actions": ("action_id", "axe", "intitule", "statut"),
    "partenaires": ("action_id", "partenaire", "role"),
    "financements": ("action_id", "financeur", "decision"),
    "jalons": ("action_id", "jalon"),
    "gouvernance": ("date", "instance"),
    "bonnes_pratiques": ("pratique_id", "action_id", "titre"),
}
FICHE_FIELDS = {"territoire_id": "territory", "territoire": "text", "version": "int", "date_adoption": "date",
                "date_annexion": "date", "coordonnateur_designe_le": "date", "referent_etat_designe_le": "date"}
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
EXCEL_EPOCH = dt.date(1899, 12, 30)
PLAUSIBLE_YEARS = (2000, 2100)


@dataclass(frozen=True)
class Problem:
    file: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: Any = None
    expected: str = ""

    def __str__(self) -> str:
        place = [f"sheet '{self.sheet}'"] if self.sheet else []
        if self.row is not None:
            place.append(f"row {self.row}")
        if self.column:
            place.append(f"column '{self.column}'")
        found = "" if self.value is None else f"found {self.value!r}; "
        return f"{self.file}: {', '.join(place)}{': ' if place else ''}{found}{self.expected}"


class RoadmapError(Exception):
    def __init__(self, path: str, problems: list[Problem]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class CellError(ValueError):
    """A cell that does not hold what its column expects; the message says what was expected."""


@functools.lru_cache(maxsize=65536)
def fold_code(value: str) -> str:
    """' Réalisée ' -> 'realisee', 'Banque des Territoires' -> 'banque_des_territoires'. Remembered: a
    workbook's codes repeat (statuses, partners, axes; some two hundred a roadmap)."""
    text = unicodedata.normalize("NFD", value.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[\s\-_]+", "_", text).strip("_")


def _is_empty(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def read_text(cell: Any) -> str:
    if cell.__class__ is str:  # most cells: the rest of the checks for them alone (150,000 at 1,400 territories)
        return cell.strip()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, dt.datetime | dt.date):
        return cell.isoformat()[:10]
    return str(cell).strip()


@functools.lru_cache(maxsize=65536, typed=True)  # by cell and type (True, 1 and 1.0 read otherwise)
def read_code(cell: Any, allowed: tuple[str, ...]) -> str:
    code = fold_code(read_text(cell))
    if code not in allowed:
        raise CellError(f"one of {', '.join(allowed)}")
    return code


@functools.lru_cache(maxsize=65536, typed=True)
def read_partner(cell: Any) -> str:
    """A national partner's code, or another organisation's name as written (trimmed). Remembered, as codes are:
    a roadmap names its partners some ninety times."""
    text = read_text(cell)
    code = fold_code(text)
    return code if code in PARTNER_CODES else text


_DATE_TEXT = re.compile(r"^(?:(\d{1,2})/(\d{1,2})/(\d{4})|(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?)$")
_EXPECTED_DATE = "a date (an Excel date, JJ/MM/AAAA or AAAA-MM-JJ)"


def read_date(cell: Any) -> dt.date:
    if cell.__class__ is dt.date:  # as calamine gives a date cell: checked for its year only
        value = cell
    elif isinstance(cell, dt.datetime):
        value = cell.date()
    elif isinstance(cell, dt.date):
        value = cell
    elif isinstance(cell, int | float) and not isinstance(cell, bool):
        if not float(cell).is_integer() or not 1 <= cell < 2958466:
            raise CellError(_EXPECTED_DATE)
        value = EXCEL_EPOCH + dt.timedelta(days=int(cell))
    else:
        return _text_date(read_text(cell))
    return _plausible(value)


@functools.lru_cache(maxsize=65536)
def _text_date(text: str) -> dt.date:
    """A date written as text, read once per distinct text (a workbook's dates repeat, and most are text: some
    a hundred a roadmap). A text that is no date raises each time (nothing is remembered of it)."""
    m = _DATE_TEXT.match(text)
    if not m:
        raise CellError(_EXPECTED_DATE)
    d, mo, y = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(6), m.group(5), m.group(4))
    try:
        value = dt.date(int(y), int(mo), int(d))
    except ValueError:
        raise CellError(f"a date that exists ({_EXPECTED_DATE})") from None
    return _plausible(value)


def _plausible(value: dt.date) -> dt.date:
    if not PLAUSIBLE_YEARS[0] <= value.year <= PLAUSIBLE_YEARS[1]:
        raise CellError(f"a date between {PLAUSIBLE_YEARS[0]} and {PLAUSIBLE_YEARS[1]}")
    return value


_CENT = Decimal("0.01")
_GROUPED = re.compile(r"^\d{1,3}(?:\.\d{3})+$")
_EURO_SIGN = re.compile(r"(?:€|eur(?:os?)?)$", re.IGNORECASE)
_AMOUNT_SPACES = re.compile(r"[\s\u00a0\u202f']")
_PLAIN_AMOUNT = re.compile(r"-?\d+(?:\.\d+)?")
_DIGITS = re.compile(r"\d+")
# The largest values the warehouse's columns hold (an amount: DECIMAL(14,2); a version: INTEGER): a cell beyond
# them is refused here, with its place, rather than failing the load of every territory's roadmap
AMOUNT_LIMIT = Decimal("1000000000000")
INT_LIMIT = 2**31 - 1


def read_amount(cell: Any) -> Decimal:
    """Euros, exact to the cent: 1250000.5, '1 250 000,50 €', '1250000,50', '1 250 000 €'."""
    if isinstance(cell, bool):
        raise CellError("an amount in euros")
    if isinstance(cell, int | float):
        value = Decimal(repr(cell)) if isinstance(cell, float) else Decimal(cell)
    else:
        text = read_text(cell)
        text = _EURO_SIGN.sub("", text).strip()
        text = _AMOUNT_SPACES.sub("", text)
        if "," in text:
            text = text.replace(".", "").replace(",", ".")
        elif _GROUPED.match(text):
            text = text.replace(".", "")
        if not _PLAIN_AMOUNT.fullmatch(text):
            raise CellError("an amount in euros (e.g. 1 250 000,50 €)")
        value = Decimal(text)
    if not value.is_finite():
        raise CellError("an amount in euros")
    if value < 0:
        raise CellError("an amount ≥ 0")
    if value != value.quantize(_CENT, rounding=ROUND_HALF_EVEN):
        raise CellError("an amount to the cent (at most 2 decimals)")
    if value >= AMOUNT_LIMIT:
        raise CellError("an amount below 1 000 000 000 000 €")
    return value.quantize(_CENT)


def read_int(cell: Any) -> int:
    text = read_text(cell)
    if not _DIGITS.fullmatch(text):
        raise CellError("a whole number")
    if int(text) > INT_LIMIT:
        raise CellError(f"a whole number up to {INT_LIMIT}")
    return int(text)


def read_territory(cell: Any) -> str:
    text = read_text(cell).lower()
    if not is_territory_id(text):
        raise CellError("a territory id (e.g. grand-nancy)")
    return text


def _split(cell: Any) -> list[str]:
    return [part.strip() for part in read_text(cell).split(";") if part.strip()]


# A département on three characters: 001 to 095 (020 split into 02A and 02B, Corsica), 971 to 976 overseas.
DEPARTEMENT_CODE = r"(?:0(?:0[1-9]|1\d|2[1-9AB]|[3-8]\d|9[0-5])|97[1-6])"
# QPV codes, of both geographies (see DOMAIN.md): 2015, QP + département + 3 digits (QP013001); 2024, QN +
# département + a 2-digit order + N (new), M (outline modified) or I (unchanged) (QN06201M).
QPV_CODE = rf"(?:QP{DEPARTEMENT_CODE}\d{{3}}|QN{DEPARTEMENT_CODE}\d{{2}}[NMI])"
_QPV = re.compile(QPV_CODE)


def read_qpv(code: str) -> str:
    code = code.upper().replace(" ", "")
    if not _QPV.fullmatch(code):
        raise CellError("QPV codes separated by ';': QP + the département on 3 characters + 3 digits (2015, e.g. "
                        "QP013001, QP02A001) or QN + the département + 2 digits + N, M or I (2024, e.g. QN06201M)")
    return code


READERS: dict[str, Callable[[Any], Any]] = {
    "text": read_text, "raw": lambda c: c, "date": read_date, "amount": read_amount, "int": read_int,
    "territory": read_territory, "partner": read_partner, "action_ref": read_text,
    "qpv_list": lambda c: [read_qpv(p) for p in _split(c)],
    "partner_list": lambda c: [read_partner(p) for p in _split(c)],
    "territory_list": lambda c: [read_territory(p) for p in _split(c)],
}
LIST_KINDS = ("qpv_list", "partner_list", "territory_list")


# How a column's cells are read: what reads a non-empty cell, whether the column is required, whether it holds a list
ColumnReader = tuple[Callable[[Any], Any], bool, bool]


@functools.cache
def _column_reader(sheet: str, column: str, kind: str) -> ColumnReader:
    """How a column of a sheet (the fiche's `valeur`: one per field's kind) is read by _Checker.cell."""
    if kind == "code":
        allowed = CODES[column]
        read: Callable[[Any], Any] = lambda cell: read_code(cell, allowed)  # noqa: E731
    else:
        read = READERS[kind]
    return read, column in REQUIRED.get(sheet, ()), kind in LIST_KINDS


# -- sources: a workbook, or a folder of CSV exports ------------------------------------------------

@dataclass
class Source:
    path: str  # what the user named
    territory_id: str | None  # from the file name
    sheets: dict[str, list[list[Any]]]  # sheet -> rows of cells (row 1 = header)
    sheet_files: dict[str, str]  # sheet -> file to name in messages


def read_workbook_rows(path: Path) -> dict[str, list[list[Any]]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheets = {name: workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
                  for name in workbook.sheet_names}
    except Exception as exc:  # calamine raises its own error types for every kind of broken file
        reason = f"an Excel workbook (.xlsx) that opens; it does not ({type(exc).__name__}: {exc})"
        raise RoadmapError(str(path), [Problem(str(path), expected=reason)]) from exc
    problems = uncomputed_formulas(path, sheets)
    if problems:
        raise RoadmapError(str(path), problems)
    return {name.strip().lower(): rows for name, rows in sheets.items()}


# A formula's cell in the sheet XML: <c r="F3"><f>SUM(F4:F9)</f><v>1250</v></c>; the <v> (the value the
# formula last computed) is missing or empty when the program that wrote the file does not compute formulas,
# or a placeholder 0 in a workbook that asks to be recalculated on opening.
_XML_ANY_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_XML_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
_XML_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.DOTALL)
_XML_VALUE = re.compile(rb"<(?:\w+:)?v>(.+?)</(?:\w+:)?v>", re.DOTALL)
_XML_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_XML_FULL_CALC = re.compile(rb'<(?:\w+:)?calcPr\b[^>]*?\bfullCalcOnLoad="(?:1|true)"')
_XML_SHEET = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?\bname="([^"]*)"[^>]*?\br:id="([^"]*)"')
_XML_TARGET = re.compile(rb'<Relationship\b[^>]*?\bId="([^"]*)"[^>]*?\bTarget="([^"]*)"|'
                         rb'<Relationship\b[^>]*?\bTarget="([^"]*)"[^>]*?\bId="([^"]*)"')
_HOW_TO_COMPUTE = ("expected a value: the cell holds a formula whose result was never computed (the file was "
                   "written by a program that does not compute formulas); open the workbook in Excel or "
                   "LibreOffice and save it so the values are computed, or replace the formula by its value "
                   "(copy, paste values)")


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def uncomputed_formulas(path: Path, sheets: dict[str, list[list[Any]]]) -> list[Problem]:
    """Formula cells of the template's sheets that have no computed value (calamine reads them as empty),
    each named by sheet, row and column. Only sheets whose XML holds a formula are looked at further."""
    import html
    import zipfile

    problems: list[Problem] = []
    try:
        with zipfile.ZipFile(path) as archive:
            targets = {}
            for m in _XML_TARGET.finditer(archive.read("xl/_rels/workbook.xml.rels")):
                rid, target = (m[1], m[2]) if m[1] is not None else (m[4], m[3])
                target = target.decode()
                targets[rid] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            book = archive.read("xl/workbook.xml")
            # A workbook asking to be recalculated when opened (fullCalcOnLoad) was written by a program that
            # leaves formulas to the spreadsheet: a stored 0 there is its placeholder (xlsxwriter's), not a result.
            placeholder_zero = _XML_FULL_CALC.search(book) is not None
            for m in _XML_SHEET.finditer(book):
                name = html.unescape(m[1].decode())
                folded = name.strip().lower()
                if folded not in SHEETS or m[2] not in targets or name not in sheets:
                    continue
                xml = archive.read(targets[m[2]])
                # a plain search first (most sheets hold no formula), the exact pattern only when it finds one
                if (b"<f" not in xml and b":f" not in xml) or not _XML_ANY_FORMULA.search(xml):
                    continue
                header = sheets[name][0] if sheets[name] else []
                for cell in _XML_CELL.finditer(xml):
                    inner = cell[2] or b""
                    formula = _XML_FORMULA.search(inner)
                    value = _XML_VALUE.search(inner)
                    if formula is None or value is not None and not (placeholder_zero and value[1].strip() == b"0"):
                        continue
                    ref = _XML_REF.search(cell[1])
                    if ref is None:
                        continue
                    row, col = int(ref[2]), _column_number(ref[1].decode())
                    title = read_text(header[col - 1]) if col <= len(header) and not _is_empty(header[col - 1]) \
                        else ""
                    column = f"{title} ({ref[1].decode()}{row})" if title and row > 1 else f"{ref[1].decode()}{row}"
                    text = html.unescape((formula[1] or b"").decode()) or "(a shared formula)"
                    problems.append(Problem(str(path), folded, row, column, f"={text}" if formula[1] else text,
                                            _HOW_TO_COMPUTE))
    except (KeyError, zipfile.BadZipFile, OSError):
        return []  # not an Office Open XML workbook calamine could read some other way: nothing to add
    return problems


def read_csv_rows(path: Path) -> list[list[Any]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [row for row in csv.reader(fh, delimiter=";")]
    except UnicodeDecodeError as exc:
        raise RoadmapError(str(path), [Problem(str(path), expected=f"UTF-8 text (byte {exc.start} is not)")]) from exc


def open_source(path: str | Path) -> Source:
    """A workbook `<territory_id>.xlsx`, a folder of `<territory_id>.<sheet>.csv`, or one such CSV."""
    path = Path(path)
    if path.is_dir():
        csvs = sorted(path.glob("*.csv"))
        ids = {p.name.split(".")[0] for p in csvs if p.name.count(".") == 2}
        if len(ids) != 1:
            found = ", ".join(sorted(ids)) or "none"
            raise RoadmapError(str(path), [Problem(str(path), expected="CSV exports of one territory named "
                                                   f"<territory_id>.<sheet>.csv (territories found: {found})")])
        tid = ids.pop()
        files = {p.name.split(".")[1].lower(): p for p in csvs if p.name.startswith(tid + ".")}
        return Source(str(path), tid, {s: read_csv_rows(f) for s, f in files.items()},
                      {s: str(f) for s, f in files.items()})
    if not path.exists():
        raise RoadmapError(str(path), [Problem(str(path), expected="an existing file (not found)")])
    tid = path.name.split(".")[0]
    if path.suffix.lower() == ".csv" and path.name.count(".") == 2:
        return open_source_csvs(path.parent, tid)
    if path.suffix.lower() not in WORKBOOK_SUFFIXES:
        raise RoadmapError(str(path), [Problem(str(path), value=path.suffix or "(no suffix)",
                                               expected="an Excel workbook (.xlsx) or a folder of CSV exports")])
    sheets = read_workbook_rows(path)
    return Source(str(path), tid, sheets, {s: str(path) for s in sheets})


def open_source_csvs(folder: Path, territory_id: str) -> Source:
    files = {s: folder / f"{territory_id}.{s}.csv" for s in SHEETS if (folder / f"{territory_id}.{s}.csv").is_file()}
    return Source(str(folder / f"{territory_id}.*.csv"), territory_id, {s: read_csv_rows(f) for s, f in files.items()},
                  {s: str(f) for s, f in files.items()})


# -- the contract ------------------------------------------------------------------------------------

class _Checker:
    def __init__(self, source: Source):
        self.source = source
        self.problems: list[Problem] = []
        self.fiche_rows: dict[str, int] = {}  # champ -> the fiche's row it was read from
        self.unreadable: set[str] = set()  # sheets missing, or missing a column: said once, not row by row

    def problem(self, sheet: str | None, row: int | None, column: str | None, value: Any, expected: str) -> None:
        file = self.source.sheet_files.get(sheet, self.source.path) if sheet else self.source.path
        self.problems.append(Problem(file, sheet, row, column, value, expected))

    def cells(self, sheet: str, row_no: int, cells: Iterable[tuple[str, ColumnReader, Any]]) -> dict[str, Any]:
        """The values of a row's cells, each (column, how it is read: `_column_reader`, cell): empty, null (an
        empty list for a list) and a problem if the column is required; unreadable, null and a problem saying
        what was expected. One call a row, not one a cell (a roadmap has some 500 cells)."""
        values: dict[str, Any] = {}
        for column, (read, required, listed), cell in cells:
            if cell is None or isinstance(cell, str) and not cell.strip():  # _is_empty
                if required:
                    self.problem(sheet, row_no, column, None, "a value (this column is required)")
                values[column] = [] if listed else None
                continue
            try:
                values[column] = read(cell)
            except CellError as exc:
                self.problem(sheet, row_no, column, cell, f"expected {exc}")
                values[column] = [] if listed else None
        return values

    def rows(self, sheet: str) -> list[tuple[int, dict[str, Any]]]:
        """(Excel row number, {column: cell}) of a sheet's non-empty rows; problems for a missing sheet/column."""
        columns = SHEETS[sheet]
        if sheet not in self.source.sheets:
            found = ", ".join(sorted(self.source.sheets)) or "none"
            self.problem(None, None, None, None, f"a sheet '{sheet}' (sheets found: {found})")
            self.unreadable.add(sheet)
            return []
        table = self.source.sheets[sheet]
        header = [read_text(h).lower() if not _is_empty(h) else "" for h in (table[0] if table else [])]
        missing = [c for c in columns if c not in header]
        for column in missing:
            found = ", ".join(h for h in header if h)
            self.problem(sheet, 1, column, None, f"a column '{column}' in the header row (found: {found})")
        if missing:
            self.unreadable.add(sheet)
            return []
        index = {c: header.index(c) for c in columns}
        out = []
        for row_no, row in enumerate(table[1:], start=2):
            cells = {c: (row[i] if i < len(row) else None) for c, i in index.items()}
            if all(_is_empty(v) for v in cells.values()):
                continue
            out.append((row_no, cells))
        return out

    def sheet(self, sheet: str) -> list[tuple[int, dict[str, Any]]]:
        """(Excel row number, {column: value read}) of a sheet's non-empty rows, each column's reader looked up
        once for the sheet (a roadmap has some 500 cells)."""
        readers = [(column, _column_reader(sheet, column, kind)) for column, kind in SHEETS[sheet].items()]
        return [(row_no, self.cells(sheet, row_no, [(column, reader, cells[column]) for column, reader in readers]))
                for row_no, cells in self.rows(sheet)]

    def fiche(self) -> dict[str, Any]:
        values: dict[str, Any] = dict.fromkeys(FICHE_FIELDS)
        seen: dict[str, int] = {}
        for row_no, cells in self.rows("fiche"):
            champ = fold_code(read_text(cells["champ"])) if not _is_empty(cells["champ"]) else ""
            if champ not in FICHE_FIELDS:
                self.problem("fiche", row_no, "champ", cells["champ"], f"one of {', '.join(FICHE_FIELDS)}")
                continue
            if champ in seen:
                self.problem("fiche", row_no, "champ", cells["champ"],
                             f"each champ once (already on row {seen[champ]})")
                continue
            seen[champ] = self.fiche_rows[champ] = row_no
            reader = _column_reader("fiche", "valeur", FICHE_FIELDS[champ])
            values[champ] = self.cells("fiche", row_no, [("valeur", reader, cells["valeur"])])["valeur"]
            if champ == "territoire_id" and values[champ] and self.source.territory_id \
                    and values[champ] != self.source.territory_id:
                self.problem("fiche", row_no, "valeur", cells["valeur"],
                             f"the territory the file is named for ({self.source.territory_id!r})")
        if "territoire_id" not in seen:
            self.problem("fiche", None, "champ", None, "a row 'territoire_id'")
        return values


def parse_roadmap(path: str | Path) -> dict[str, Any]:
    """Read and check a roadmap; returns the normalised content or raises RoadmapError listing every problem."""
    return parse_roadmap_with_rows(path)[0]


def parse_roadmap_with_rows(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """parse_roadmap, plus the sheet row (Excel numbering) each row object was read from (for the fiche,
    {champ: row})."""
    source = open_source(path)
    check = _Checker(source)
    result: dict[str, Any] = {"fiche": check.fiche()}
    sheets = {s: check.sheet(s) for s in SHEETS if s != "fiche"}

    actions: dict[str, str] = {}  # folded id -> id as written in 'actions'
    for row_no, row in sheets["actions"]:
        if row["action_id"] is None:
            continue
        key = row["action_id"].upper()
        if key in actions:
            check.problem("actions", row_no, "action_id", row["action_id"], "an action id used once in the sheet")
        actions.setdefault(key, row["action_id"])
    practices: set[str] = set()
    # without a readable 'actions' sheet, its absence is the one problem; not each reference to it
    for sheet, rows in sheets.items() if "actions" not in check.unreadable else ():
        for row_no, row in rows:
            ref = row.get("action_id") if SHEETS[sheet].get("action_id") == "action_ref" else None
            if ref is not None:
                if ref.upper() in actions:
                    row["action_id"] = actions[ref.upper()]
                else:
                    check.problem(sheet, row_no, "action_id", ref, "an action_id of the sheet 'actions'")
    for row_no, row in sheets["financements"]:
        granted, paid = row["montant_accorde"], row["montant_verse"]
        if granted is not None and paid is not None and paid > granted:
            check.problem("financements", row_no, "montant_verse", _plain(paid),
                          f"a payment ≤ montant_accorde ({_plain(granted)})")
        asked, decided = row["date_sollicitation"], row["date_decision"]
        if asked is not None and decided is not None and decided < asked:
            check.problem("financements", row_no, "date_decision", decided.isoformat(),
                          f"a decision on or after date_sollicitation ({asked.isoformat()})")
    for row_no, row in sheets["bonnes_pratiques"]:
        pid = row["pratique_id"]
        if pid is not None:
            if pid.upper() in practices:
                check.problem("bonnes_pratiques", row_no, "pratique_id", pid, "a pratique_id used once")
            practices.add(pid.upper())
    if check.problems:
        raise RoadmapError(source.path, check.problems)
    for sheet, rows in sheets.items():
        result[sheet] = [row for _, row in rows]
    source_rows: dict[str, Any] = {"fiche": check.fiche_rows}
    source_rows.update({sheet: [row_no for row_no, _ in rows] for sheet, rows in sheets.items()})
    return result, source_rows


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def json_default(value: Any) -> Any:
    """For json.dumps: a date as its ISO string, an amount as a number (to_jsonable's forms, without walking
    the whole roadmap first)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _plain(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_jsonable(value: Any) -> Any:
    """Dates as ISO strings, amounts as numbers: the `--json` form of a parsed roadmap."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _plain(value)
    return value
