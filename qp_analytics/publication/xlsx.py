"""Write an Excel workbook (xlsx) of Parquet tables, one sheet each, with the sheets' XML built by DuckDB.

An xlsx file is a zip of XML parts. The fixed parts (content types, relationships, workbook, styles, properties)
are written here as text; each sheet's rows are made by one DuckDB query that turns every row into its
`<row>` element, typed cells included, so that Python only streams those strings into the zip. Writing cell by
cell with xlsxwriter took about 8 µs a cell (5.5 s for the 700,000 cells of the marts at 1,400 territories).

Cells as Excel holds them: numbers as numbers (decimals as doubles; NaN as #NUM! and infinities as #DIV/0!, as
xlsxwriter's nan_inf_to_errors writes them), dates and timestamps as day serial numbers shown by a date format,
booleans as booleans, lists, structures and JSON as JSON text, text as inline strings (as xlsxwriter writes them
in its constant-memory mode) with XML's and Excel's escapes, cut at Excel's 32,767 characters. A null is no
cell. The header row is bold and stays in view (frozen). The same rows give the same bytes.
"""

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import duckdb

from qp_analytics.text import sql_literal

EXCEL_ROWS = 1_048_575  # a sheet's rows below its header
EXCEL_CHARS = 32_767  # a cell's characters
FETCH_ROWS = 10_000
CREATED = "2021-03-18T00:00:00Z"  # the properties' date: fixed, so that the same rows give the same bytes
ZIP_TIME = (2021, 3, 18, 0, 0, 0)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

# the cell styles (cellXfs of STYLES, in this order)
PLAIN, BOLD, DATE, DATETIME, AMOUNT = range(5)
STYLES = f"""{XML_HEAD}<styleSheet xmlns="{MAIN}">\
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>\
<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>\
<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>\
</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"""

# Characters XML 1.0 cannot hold, which Excel writes as _xHHHH_ (and U+FFFE, U+FFFF, which it escapes too).
_CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))] + ["\ufffe", "\uffff"]
_NUMBER_KINDS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT")
_FLOAT_KINDS = ("DOUBLE", "FLOAT", "REAL")


def column_letters(index: int) -> str:
    """Excel's name of a column, from 0: A, B, ... Z, AA, AB, ..."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def escape(text: str) -> str:
    """Text as an xlsx string cell (or attribute) holds it: the steps `_rows_sql` takes in SQL, for the sheet
    names and headers written from Python."""
    text = re.sub(r"(_x[0-9A-Fa-f]{4}_)", r"_x005F\1", text[:EXCEL_CHARS])
    for ch in _CONTROL:
        text = text.replace(ch, f"_x{ord(ch):04X}_")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# The rows' query works in layers over positional column names (c0, c1, ...), so that no expression is repeated
# inside another: DuckDB's planning of the query, once per sheet, is most of a small workbook's time.
_PATTERN = "[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x{FFFE}\\x{FFFF}]"  # what XML cannot hold, and U+FFFE/F


def _is_text(kind: str) -> bool:
    return not (kind == "DATE" or kind.startswith(("TIMESTAMP", "DECIMAL")) or kind in _NUMBER_KINDS
                or kind in _FLOAT_KINDS or kind == "BOOLEAN")


def _cell_sql(c: str, kind: str, letters: str) -> str:
    """SQL giving one cell's XML from the column c (a text column: already escaped, with its `{c}_space` flag),
    or NULL for a null value (no cell)."""
    ref = f"'<c r=\"{letters}' || _row"

    def number(value: str, style: int = PLAIN) -> str:
        s = f' s="{style}"' if style != PLAIN else ""
        return (f"CASE WHEN isnan({value}) THEN {ref} || '\"{s} t=\"e\"><v>#NUM!</v></c>' "
                f"WHEN isinf({value}) THEN {ref} || '\"{s} t=\"e\"><v>#DIV/0!</v></c>' "
                f"ELSE {ref} || '\"{s}><v>' || CAST({value} AS VARCHAR) || '</v></c>' END")

    if kind == "DATE":
        return f"{ref} || '\" s=\"{DATE}\"><v>' || CAST({c} - DATE '1899-12-30' AS VARCHAR) || '</v></c>'"
    if kind.startswith("TIMESTAMP"):
        return number(f"(epoch({c}::TIMESTAMP) / 86400 + 25569)", DATETIME)
    if kind.startswith("DECIMAL"):
        return number(f"{c}::DOUBLE", AMOUNT)
    if kind in _NUMBER_KINDS:
        return f"{ref} || '\"><v>' || CAST({c} AS VARCHAR) || '</v></c>'"
    if kind in _FLOAT_KINDS:
        return number(f"{c}::DOUBLE")
    if kind == "BOOLEAN":
        return f"{ref} || '\" t=\"b\"><v>' || CASE WHEN {c} THEN '1' ELSE '0' END || '</v></c>'"
    # a string with a blank at either end keeps it (xml:space), as Excel writes it
    return (f"{ref} || '\" t=\"inlineStr\"><is><t' || CASE WHEN {c}_space THEN ' xml:space=\"preserve\"' ELSE '' END "
            f"|| '>' || {c} || '</t></is></c>'")


def _rows_sql(source: Path, columns: list[tuple[str, str]]) -> str:
    """The query giving a sheet's `<row>` elements, in the file's order, from its second row.

    Text (lists, structures and JSON as JSON text) is cut at Excel's limit; a literal `_xHHHH_` is escaped as
    Excel does (its underscore as _x005F); a character XML cannot hold becomes _xHHHH_ (rare: only a string
    that has one is split into its characters); then &, < and > become XML entities."""
    texts = [f"c{i}" for i, (_, kind) in enumerate(columns) if _is_text(kind)]
    picked = []
    for i, (name, kind) in enumerate(columns):
        column = '"' + name.replace('"', '""') + '"'
        if _is_text(kind):
            text = column if kind == "VARCHAR" else f"to_json({column})::VARCHAR"
            picked += [f"left({text}, {EXCEL_CHARS}) AS c{i}", f"regexp_matches({text}, '^\\s|\\s$') AS c{i}_space"]
        else:
            picked.append(f"{column} AS c{i}")
    query = (f"SELECT file_row_number, CAST(file_row_number + 2 AS VARCHAR) AS _row, {', '.join(picked)} "
             f"FROM read_parquet({sql_literal(str(source))}, file_row_number = true)")
    if texts:
        escapes = ", ".join(f"CASE WHEN contains({c}, '_x') THEN regexp_replace({c}, '(_x[0-9A-Fa-f]{{4}}_)', "
                            f"'_x005F\\1', 'g') ELSE {c} END AS {c}" for c in texts)
        controls = ", ".join(
            f"CASE WHEN regexp_matches({c}, '{_PATTERN}') THEN array_to_string(list_transform(string_split({c}, ''), "
            f"ch -> CASE WHEN regexp_matches(ch, '{_PATTERN}') THEN '_x' || lpad(hex(ord(ch)), 4, '0') || '_' "
            f"ELSE ch END), '') ELSE {c} END AS {c}" for c in texts)
        entities = ", ".join(f"replace(replace(replace({c}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') AS {c}"
                             for c in texts)
        for layer in (escapes, controls, entities):
            query = f"SELECT * REPLACE ({layer}) FROM ({query})"
    cells = ", ".join(_cell_sql(f"c{i}", kind, column_letters(i)) for i, (_, kind) in enumerate(columns))
    return f"SELECT '<row r=\"' || _row || '\">' || concat({cells}) || '</row>' FROM ({query}) ORDER BY file_row_number"


def _sheet_head(columns: list[tuple[str, str]], rows: int, selected: bool) -> str:
    last = f"{column_letters(max(len(columns), 1) - 1)}{rows + 1}"
    header = "".join(f'<c r="{column_letters(i)}1" s="{BOLD}" t="inlineStr"><is><t>{escape(name)}</t></is></c>'
                     for i, (name, _) in enumerate(columns))
    tab = ' tabSelected="1"' if selected else ""
    return (f'{XML_HEAD}<worksheet xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><dimension ref="A1:{last}"/>'
            f'<sheetViews><sheetView{tab} workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><sheetData><row r="1">{header}</row>')


SHEET_TAIL = ('</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
              '</worksheet>')


def _package_parts(names: list[str]) -> dict[str, str]:
    """Every part but the sheets, for sheets named `names` (in order)."""
    n = len(names)
    sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                     'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                     for i in range(1, n + 1))
    return {
        "[Content_Types].xml": (
            f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f'{sheets}<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            '<Override PartName="/docProps/app.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>'),
        "_rels/.rels": (
            f'{XML_HEAD}<Relationships xmlns="{PKG_RELS}">'
            f'<Relationship Id="rId1" Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
            'core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{DOC_RELS}/extended-properties" Target="docProps/app.xml"/>'
            '</Relationships>'),
        "docProps/app.xml": (
            f'{XML_HEAD}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            '<Application>qp-analytics</Application></Properties>'),
        "docProps/core.xml": (
            f'{XML_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
            'core-properties" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{CREATED}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{CREATED}</dcterms:modified></cp:coreProperties>'),
        "xl/workbook.xml": (
            f'{XML_HEAD}<workbook xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><bookViews><workbookView/></bookViews><sheets>'
            + "".join(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
                      for i, name in enumerate(names, start=1)) + "</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            f'{XML_HEAD}<Relationships xmlns="{PKG_RELS}">'
            + "".join(f'<Relationship Id="rId{i}" Type="{DOC_RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, n + 1))
            + f'<Relationship Id="rId{n + 1}" Type="{DOC_RELS}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": STYLES,
    }


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_tables(path: Path, sheets: Iterable[tuple[str, Path, list[tuple[str, str]]]]) -> Path:
    """Write the workbook at `path`: one sheet per (sheet name, Parquet file, its columns as (name, DuckDB type)),
    in order. A table with more rows than a sheet holds raises ValueError before anything is written."""
    sheets = list(sheets)
    # one thread: as fast here, and less CPU taken from the run's other process (the validator, the pool)
    with duckdb.connect(config={"threads": 1}) as con:
        counts = []
        for name, source, _ in sheets:
            (rows,) = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(source))})").fetchone()
            if rows > EXCEL_ROWS:
                raise ValueError(f"{name}: more rows than an Excel sheet holds; use {name}.csv")
            counts.append(rows)
        # compresslevel 1: zlib's default level took three times longer (0.4 s for the 27 MB of XML of 1,400
        # territories' marts) for a file a fifth smaller
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            parts = _package_parts([name[:31] for name, _, _ in sheets])
            for part in ("[Content_Types].xml", "_rels/.rels", "docProps/app.xml", "docProps/core.xml",
                         "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"):
                archive.writestr(_entry(part), parts[part])
            for i, ((_, source, columns), rows) in enumerate(zip(sheets, counts, strict=True), start=1):
                with archive.open(_entry(f"xl/worksheets/sheet{i}.xml"), "w") as out:
                    out.write(_sheet_head(columns, rows, selected=i == 1).encode("utf-8"))
                    if columns:
                        cursor = con.execute(_rows_sql(source, columns))
                        while batch := cursor.fetchmany(FETCH_ROWS):
                            out.write("".join(row for (row,) in batch).encode("utf-8"))
                    out.write(SHEET_TAIL.encode("utf-8"))
    return path
