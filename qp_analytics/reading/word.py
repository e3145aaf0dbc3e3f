"""Read the text of a Word .docx document with python-docx: one line per paragraph, in reading order.

Paragraphs of the body and of its tables (cell by cell, row by row) each become one line, so that a
paragraph number locates a value where a Word file has no pages. Automatic numbering is not text in a Word
file: the number or bullet Word shows before a list paragraph is computed from the document's numbering
definitions (format, level text, start, continuation across the list) and written before the paragraph's text,
as a reader sees it.
"""

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class WordError(Exception):
    """The file is not a readable Word document."""


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"),
                           (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out += letters
            n -= value
    return out


def _letters(n: int) -> str:
    return chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)


_FORMATS = {
    "decimal": str, "lowerLetter": _letters, "upperLetter": lambda n: _letters(n).upper(),
    "lowerRoman": _roman, "upperRoman": lambda n: _roman(n).upper(),
    "decimalZero": lambda n: f"{n:02d}", "ordinal": lambda n: f"{n}e",
}


def _val(element: Any, tag: str) -> str | None:
    child = element.find(_W + tag) if element is not None else None
    return child.get(_W + "val") if child is not None else None


class _Numbering:
    """Word's list numbering: which levels each list uses, and the counters as paragraphs go by."""

    def __init__(self, document: Any):
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            root = None
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        if root is not None:
            for a in root.findall(_W + "abstractNum"):
                levels = {}
                for lvl in a.findall(_W + "lvl"):
                    levels[int(lvl.get(_W + "ilvl", "0"))] = (
                        _val(lvl, "numFmt") or "decimal", _val(lvl, "lvlText") or "", int(_val(lvl, "start") or 1))
                abstract[a.get(_W + "abstractNumId", "")] = levels
            for num in root.findall(_W + "num"):
                self.levels[num.get(_W + "numId", "")] = abstract.get(_val(num, "abstractNumId") or "", {})
        self.counters: dict[str, dict[int, int]] = {}
        self.style_numbering: dict[str, tuple[str, int] | None] = {}
        self.document = document

    def _of_style(self, style: Any) -> tuple[str, int] | None:
        seen = 0
        while style is not None and seen < 20:
            ppr = style.element.pPr
            num_pr = ppr.find(_W + "numPr") if ppr is not None else None
            if num_pr is not None:
                return _val(num_pr, "numId") or "", int(_val(num_pr, "ilvl") or 0)
            style = style.base_style
            seen += 1
        return None

    def marker(self, paragraph: Any) -> str:
        """The number or bullet Word shows before this paragraph ('' when it is not a list item)."""
        ppr = paragraph._p.pPr
        num_pr = ppr.find(_W + "numPr") if ppr is not None else None
        if num_pr is not None:
            num_id, level = _val(num_pr, "numId") or "", int(_val(num_pr, "ilvl") or 0)
        else:
            found = self._of_style(paragraph.style) if paragraph.style is not None else None
            if found is None:
                return ""
            num_id, level = found
        levels = self.levels.get(num_id)
        if not levels or num_id == "0" or level not in levels:
            return ""
        fmt, text, start = levels[level]
        counters = self.counters.setdefault(num_id, {})
        counters[level] = counters.get(level, start - 1) + 1
        for deeper in [k for k in counters if k > level]:
            del counters[deeper]
        if fmt == "bullet" or fmt == "none":
            return "•" if fmt == "bullet" else ""

        def number(m: re.Match[str]) -> str:
            lvl = int(m.group(1)) - 1
            lvl_fmt, _, lvl_start = levels.get(lvl, ("decimal", "", 1))
            return _FORMATS.get(lvl_fmt, str)(counters.get(lvl, lvl_start))

        return re.sub(r"%(\d)", number, text)


def _blocks(document: Any) -> Iterator[Any]:
    """Paragraphs in reading order, those of table cells included (row by row, cell by cell)."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def walk(parent_element: Any, parent: Any) -> Iterator[Any]:
        for child in parent_element.iterchildren():
            if child.tag == _W + "p":
                yield Paragraph(child, parent)
            elif child.tag == _W + "tbl":
                table = Table(child, parent)
                for row in table.rows:
                    seen: set[int] = set()
                    for cell in row.cells:
                        if id(cell._tc) in seen:  # a merged cell appears once per column it spans
                            continue
                        seen.add(id(cell._tc))
                        yield from walk(cell._tc, cell)

    yield from walk(document.element.body, document)


def read_docx_text(data: bytes) -> str:
    """The document's text, one paragraph a line. Raises WordError when the bytes are not a Word document."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise WordError(f"not a readable Word .docx document ({type(exc).__name__}: {exc})") from exc
    numbering = _Numbering(document)
    lines = []
    for paragraph in _blocks(document):
        text = re.sub(r"[\n\v\r]+", " ", paragraph.text)
        marker = numbering.marker(paragraph)
        lines.append(f"{marker} {text}" if marker and text.strip() else text)
    return "\n".join(lines)
