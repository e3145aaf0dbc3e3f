"""Read a document (PDF text layer or plain text) into pages of text, with its sha256.

Pages are joined with a form feed in `Document.text`, the way pdftotext separates them, so that one
offset addresses the whole document and `page_of` tells which page it falls on.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".pdf", ".txt")
PAGE_BREAK = "\f"


class DocumentError(Exception):
    """A document that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Document:
    path: str
    format: str  # "pdf" or "txt"
    sha256: str
    pages: list[str] = field(repr=False)

    @property
    def text(self) -> str:
        return PAGE_BREAK.join(self.pages)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def page_of(self, offset: int) -> int:
        """1-based page number of an offset in `text`."""
        return self.text.count(PAGE_BREAK, 0, offset) + 1


def _ligature_free(text: str) -> str:
    # pypdf keeps typographic ligatures (U+FB01 ...); readers and matchers want the letters.
    return (
        text.replace("\ufb00", "ff").replace("\ufb01", "fi").replace("\ufb02", "fl")
        .replace("\ufb03", "ffi").replace("\ufb04", "ffl")
    )


def read_pdf_pages(path: Path, data: bytes) -> list[str]:
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
    if not any(p.strip() for p in pages):
        raise DocumentError(
            f"{path}: no text layer on any of its {len(pages)} page(s) (a scanned document?); "
            "a PDF with selectable text is expected"
        )
    return pages


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
        raise DocumentError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected .pdf or .txt")
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
    if suffix == ".pdf":
        if not data.lstrip().startswith(b"%PDF"):
            raise DocumentError(f"{path}: not a PDF (no %PDF header); a PDF with a text layer is expected")
        pages = read_pdf_pages(path, data)
    else:
        pages = read_text_pages(path, data)
    return Document(str(path), suffix[1:], hashlib.sha256(data).hexdigest(), pages)
