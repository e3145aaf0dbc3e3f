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

from qp_analytics.ocr import OcrWord, ocr_pdf_pages

SUPPORTED_SUFFIXES = (".pdf", ".txt", ".docx")
PAGE_BREAK = "\f"


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
    # pypdf keeps typographic ligatures (U+FB01 ...); readers and matchers want the letters.
    return (
        text.replace("\ufb00", "ff").replace("\ufb01", "fi").replace("\ufb02", "fl")
        .replace("\ufb03", "ffi").replace("\ufb04", "ffl")
    )


def read_pdf_pages(path: Path, data: bytes, sha256: str) -> tuple[list[str], tuple[OcrWord, ...]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs recoverable structure problems as warnings; the result is checked below instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentError(f"{path}: the PDF is encrypted; a readable text layer is expected")
        pages = [_ligature_free(page.extract_text() or "") for page in reader.pages]
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise DocumentError(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
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
        from qp_analytics.word import WordError, read_docx_text

        try:
            pages = [read_docx_text(data)]
        except WordError as exc:
            raise DocumentError(f"{path}: {exc}") from exc
        if not pages[0].strip():
            raise DocumentError(f"{path}: the Word document has no text")
    else:
        pages = read_text_pages(path, data)
    return Document(str(path), suffix[1:], sha256, pages, words)
