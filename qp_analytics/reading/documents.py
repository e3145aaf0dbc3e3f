"""Read a document (PDF, scanned PDF, Word .docx or plain text) into pages of text, with its sha256.

Pages are joined with a form feed in `Document.text`, the way pdftotext separates them, so that one
offset addresses the whole document and `locate` tells where it falls: the page of a PDF or text file, the
paragraph of a Word file (which has no pages until it is printed). A PDF page without a text layer (a scan)
is read by OCR (see `ocr`); the confidence of every word read so is kept, so that a value read from it can
say how sure the reading was.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from qp_analytics.reading.ocr import OcrWord, ocr_pdf_pages

SUPPORTED_SUFFIXES = (".pdf", ".txt", ".docx")
PAGE_BREAK = "\f"
logger = logging.getLogger(__name__)


class DocumentError(Exception):
    """A document that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Document:
    path: str
    format: str  # "pdf", "txt" or "docx"
    sha256: str
    pages: list[str] = field(repr=False)
    # Words read by OCR, with offsets in `text` and tesseract's confidence (0-100); empty: no page was a scan.
    ocr_words: tuple[OcrWord, ...] = field(default=(), repr=False)

    @property
    def text(self) -> str:
        return PAGE_BREAK.join(self.pages)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def page_of(self, offset: int) -> int:
        """1-based page number of an offset in `text`."""
        return self.text.count(PAGE_BREAK, 0, offset) + 1

    def paragraph_of(self, offset: int) -> int:
        """1-based paragraph of a Word document (one paragraph a line of `text`, table cells included)."""
        return self.text.count("\n", 0, offset) + 1

    def locate(self, offset: int) -> str:
        """Where an offset is, for a person: 'page 2', or 'paragraph 14' in a Word document."""
        if self.format == "docx":
            return f"paragraph {self.paragraph_of(offset)}"
        return f"page {self.page_of(offset)}"

    @property
    def ocr_pages(self) -> list[int]:
        """1-based pages read by OCR."""
        return sorted({self.page_of(w.start) for w in self.ocr_words})

    def read_by(self, start: int, end: int) -> str:
        """How the characters [start, end) were read: 'ocr', 'text layer' (PDF), 'word' or 'text'."""
        if self.ocr_words and any(w.start < end and start < w.end for w in self.ocr_words):
            return "ocr"
        return {"pdf": "text layer", "docx": "word"}.get(self.format, "text")

    def confidence(self, start: int, end: int) -> float | None:
        """The lowest OCR confidence (0-100) of the words in [start, end); None when none was read by OCR.

        Elided words (l’, d’, qu’...) are left out: tesseract scores them low for the shape of their apostrophe
        alone (’ or '), read right or not, which would make every sentence with one look uncertain."""
        text = self.text if self.ocr_words else ""
        confs = [w.confidence for w in self.ocr_words if w.start < end and start < w.end
                 and "'" not in text[w.start:w.end] and "\u2019" not in text[w.start:w.end]]
        return min(confs) if confs else None


def _ligature_free(text: str) -> str:
    # A text layer may carry typographic ligatures (U+FB01 ...); readers and matchers want the letters.
    return (
        text.replace("\ufb00", "ff").replace("\ufb01", "fi").replace("\ufb02", "fl")
        .replace("\ufb03", "ffi").replace("\ufb04", "ffl")
    )


def _pdfium_form(text: str) -> str:
    """pdfium's page text in the form the rest of the reader expects: lines end with \\n (pdfium writes
    \\r\\n), and a word cut at a line end keeps its hyphen and line break (pdfium joins the two lines and marks
    the cut with U+FFFE), so that cleaning masks the cut as it does in any text, without moving an offset."""
    return (text.replace("\ufffe\r\n", "-\n").replace("\ufffe", "-\n").replace("\r\n", "\n")
            .replace("\r", "\n"))


# French prose has a word boundary every 5 to 8 characters (the mean length of a whitespace-separated token,
# punctuation included, is 4.6 to 7.9 on every text page of the fidelity corpus and of the generated
# documents). A page whose tokens are about twice as long as the longest of those has lost its spaces: its words
# were placed by position without a space between them (shaped or justified text, glyph by glyph) and pdfium
# took a gap too narrow for a space. Below MIN_CHARS non-space characters a page is too short to judge.
MAX_MEAN_TOKEN = 14.0
MIN_CHARS = 100
# On such a page a gap between two glyphs of a line wider than this share of the font size is a word boundary:
# letters of a word touch (kerning moves them by a few hundredths of an em), a word space is about a quarter
# of an em, a tight justified one rarely less than a tenth.
WORD_GAP_EM = 0.08


def mean_token_length(text: str) -> tuple[float, int]:
    """Mean length of the whitespace-separated tokens of a text, and its number of non-space characters."""
    tokens = text.split()
    chars = sum(map(len, tokens))
    return chars / max(len(tokens), 1), chars


def lost_word_boundaries(text: str) -> bool:
    """A page whose text has far fewer word boundaries than prose has (see MAX_MEAN_TOKEN)."""
    mean, chars = mean_token_length(text)
    return chars >= MIN_CHARS and mean > MAX_MEAN_TOKEN


def _spaced_by_position(textpage) -> str:
    """A page's text rebuilt from pdfium's characters and their positions: a space is put wherever two glyphs of
    a line are further apart than WORD_GAP_EM of the font size (pdfium's own rule wants a wider gap)."""
    import pypdfium2.raw as pdfium_c

    out: list[str] = []
    previous: tuple[float, float, float] | None = None  # right edge, bottom and top of the last glyph of the line
    for index in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage.raw, index)
        char = chr(code) if code else ""
        if not char or char.isspace() or code == 0xFFFE:
            out.append(char)
            previous = None
            continue
        left, bottom, right, top = textpage.get_charbox(index, loose=True)
        if previous is not None:
            gap = left - previous[0]
            same_line = bottom < previous[2] and top > previous[1]
            if same_line and gap > WORD_GAP_EM * pdfium_c.FPDFText_GetFontSize(textpage.raw, index):
                out.append(" ")
        out.append(char)
        previous = (right, bottom, top)
    return "".join(out)


def _page_text(textpage) -> tuple[str, bool]:
    """The text of a PDF page read by pdfium, and whether its word boundaries had to be found from the glyphs'
    positions: only on a page that lost them (lost_word_boundaries), and only when that finds more."""
    text = _pdfium_form(textpage.get_text_range())
    if not lost_word_boundaries(text):
        return text, False
    spaced = _pdfium_form(_spaced_by_position(textpage))
    if mean_token_length(spaced)[0] < mean_token_length(text)[0]:
        return spaced, True
    return text, False


def read_pdf_pages(path: Path, data: bytes, sha256: str) -> tuple[list[str], tuple[OcrWord, ...]]:
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise DocumentError(f"{path}: the PDF is encrypted; a readable text layer is expected") from exc
        raise DocumentError(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    try:
        if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
            raise DocumentError(f"{path}: the PDF is encrypted; a readable text layer is expected")
        pages = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            try:
                text, spaced = _page_text(textpage)
            finally:
                textpage.close()
                page.close()
            if spaced:
                logger.info("%s: page %d lost its word boundaries in the text layer; read from the glyphs' "
                            "positions", path, index + 1)
            pages.append(_ligature_free(text))
    except pypdfium2.PdfiumError as exc:
        raise DocumentError(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    finally:
        document.close()
    if not pages:
        raise DocumentError(f"{path}: the PDF has no pages")
    scanned = [i for i, p in enumerate(pages) if not p.strip()]
    if not scanned:
        return pages, ()
    try:
        texts, words = ocr_pdf_pages(data, sha256, scanned)
    except RuntimeError as exc:
        raise DocumentError(f"{path}: page(s) {', '.join(str(i + 1) for i in scanned)} have no text layer "
                            f"(a scan) and {exc}") from exc
    ocr_words: list[OcrWord] = []
    for i in scanned:
        pages[i] = texts[i]
    offsets = [0]
    for page in pages[:-1]:
        offsets.append(offsets[-1] + len(page) + 1)
    for i in scanned:
        ocr_words.extend(OcrWord(offsets[i] + w.start, offsets[i] + w.end, w.confidence) for w in words[i])
    if not any(p.strip() for p in pages):
        raise DocumentError(f"{path}: no text on any of its {len(pages)} page(s): no text layer, and OCR read "
                            "nothing (blank or unreadable scan?); a convention or avenant with text is expected")
    return pages, tuple(ocr_words)


def read_text_pages(path: Path, data: bytes) -> list[str]:
    if b"\x00" in data[:4096]:
        raise DocumentError(f"{path}: binary content; a UTF-8 text file is expected")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{path}: byte {exc.start} is not UTF-8 ({data[exc.start:exc.start + 1]!r}); "
            "a UTF-8 text file is expected"
        ) from exc
    text = text.replace("\r\n", "\n")
    return text.split(PAGE_BREAK)


def read_document(path: str | Path) -> Document:
    """Read a convention or avenant file. Raises DocumentError with a message naming the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected .pdf, .docx or .txt")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise DocumentError(f"{path}: is a folder, not a file") from exc
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not data.strip():
        raise DocumentError(f"{path}: the file is empty")
    sha256 = hashlib.sha256(data).hexdigest()
    words: tuple[OcrWord, ...] = ()
    if suffix == ".pdf":
        if not data.lstrip().startswith(b"%PDF"):
            raise DocumentError(f"{path}: not a PDF (no %PDF header); a PDF document is expected")
        pages, words = read_pdf_pages(path, data, sha256)
    elif suffix == ".docx":
        from qp_analytics.reading.word import WordError, read_docx_text

        try:
            pages = [read_docx_text(data)]
        except WordError as exc:
            raise DocumentError(f"{path}: {exc}") from exc
        if not pages[0].strip():
            raise DocumentError(f"{path}: the Word document has no text")
    else:
        pages = read_text_pages(path, data)
    return Document(str(path), suffix[1:], sha256, pages, words)
