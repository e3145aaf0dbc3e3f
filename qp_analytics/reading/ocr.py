"""Read the text of scanned PDF pages by OCR: tesseract's French model, through pytesseract.

Only pages without a text layer come here. Each page is rendered at 400 dpi by pdfium and read with
tesseract's word-level output, which gives every word's confidence; the page's text is rebuilt line by line
and paragraph by paragraph. A page read once is not read again: its result is cached under the SHA-256 of
the file, keyed by page, resolution and tesseract's version (`QP_OCR_CACHE`, default
`~/.cache/qp-analytics/ocr`), so an unchanged scan costs nothing on the next run, even a reprocessing one.
"""

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

DPI = 400  # the scans' own 300 dpi read worse: "(i)" as "(Gi)", "N° 1" as "N°11"
READING = 2  # the version of what _read_page does with tesseract's words, part of the cache key
LANGUAGE = "fra"
LOW_CONFIDENCE = 70.0  # tesseract's 0-100 word confidence under which a value read by OCR is flagged
ENABLE_HINT = "sh scripts/system-deps.sh run"


@dataclass(frozen=True)
class OcrWord:
    start: int  # offsets in the page's (or document's) text
    end: int
    confidence: float


def cache_dir() -> Path:
    configured = os.environ.get("QP_OCR_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qp-analytics" / "ocr"


@functools.cache
def tesseract_version() -> str:
    """tesseract's version with the French model, or RuntimeError saying how to install them."""
    import pytesseract

    try:
        version = str(pytesseract.get_tesseract_version())
        languages = pytesseract.get_languages(config="")
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise RuntimeError(f"OCR needs tesseract, which this machine lacks: install it with `{ENABLE_HINT}` "
                           "(Debian packages tesseract-ocr and tesseract-ocr-fra)") from exc
    if LANGUAGE not in languages:
        raise RuntimeError(f"OCR needs tesseract's French model ({LANGUAGE}), which this machine lacks: install "
                           f"it with `{ENABLE_HINT}` (Debian package tesseract-ocr-fra)")
    return version


# Marks a scanner leaves (specks, streaks) that tesseract reads as characters, when it is not sure of them.
_SPECKS = set("|+_~^*`\u00a6")
_SPECK_CONFIDENCE = 60.0
# A word with a digit read under this confidence is read again alone, as a line: numbers and dates are values.
_REREAD_CONFIDENCE = 60.0


def _reread(image, data: dict, i: int) -> tuple[str, float] | None:  # type: ignore[no-untyped-def]
    """A low-confidence word read again from its own box (with a margin), as one line of text; the new
    reading when tesseract is surer of every word of it."""
    import pytesseract

    x, y, w, h = data["left"][i], data["top"][i], data["width"][i], data["height"][i]
    margin = max(4, h // 2)
    crop = image.crop((max(0, x - margin), max(0, y - margin), x + w + margin, y + h + margin))
    again = pytesseract.image_to_data(crop, lang=LANGUAGE, config="--psm 7", output_type=pytesseract.Output.DICT)
    pairs = [(t.strip(), float(c)) for t, c in zip(again["text"], again["conf"], strict=True) if t.strip()]
    if not pairs or min(c for _, c in pairs) <= max(float(data["conf"][i]), _REREAD_CONFIDENCE - 1):
        return None
    return " ".join(t for t, _ in pairs), min(c for _, c in pairs)


def _read_page(image) -> tuple[str, list[OcrWord]]:  # type: ignore[no-untyped-def]
    """The text of one page image and its words, lines joined by line breaks, paragraphs by a blank line."""
    import pytesseract

    data = pytesseract.image_to_data(image, lang=LANGUAGE, output_type=pytesseract.Output.DICT)
    parts: list[str] = []
    words: list[OcrWord] = []
    length = 0
    previous = None
    for i, word in enumerate(data["text"]):
        word = word.strip()
        if not word:
            continue
        confidence = float(data["conf"][i])
        if set(word) <= _SPECKS and confidence < _SPECK_CONFIDENCE:
            continue
        if confidence < _REREAD_CONFIDENCE and any(c.isdigit() for c in word):
            better = _reread(image, data, i)
            if better is not None:
                word, confidence = better
        line = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if previous is not None:
            sep = " " if line == previous else "\n" if line[:2] == previous[:2] else "\n\n"
            parts.append(sep)
            length += len(sep)
        previous = line
        words.append(OcrWord(length, length + len(word), confidence))
        parts.append(word)
        length += len(word)
    return "".join(parts), words


def _cache_file(sha256: str, page: int) -> Path:
    return cache_dir() / f"{sha256}-p{page + 1}-{DPI}dpi-tesseract{tesseract_version()}-{LANGUAGE}-v{READING}.json"


def _cached(sha256: str, page: int) -> tuple[str, list[OcrWord]] | None:
    try:
        stored = json.loads(_cache_file(sha256, page).read_text(encoding="utf-8"))
        return stored["text"], [OcrWord(*w) for w in stored["words"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(sha256: str, page: int, text: str, words: list[OcrWord]) -> None:
    """Keep a page's reading; a cache that cannot be written only costs the next run the OCR again."""
    target = _cache_file(sha256, page)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, delete=False,
                                         suffix=".tmp") as fh:
            json.dump({"text": text, "words": [[w.start, w.end, w.confidence] for w in words]}, fh)
        os.replace(fh.name, target)
    except OSError:
        pass


def ocr_pdf_pages(data: bytes, sha256: str, pages: list[int]) -> tuple[dict[int, str], dict[int, list[OcrWord]]]:
    """Text and words of some 0-based pages of a PDF, by OCR. RuntimeError when OCR is not available."""
    tesseract_version()
    texts: dict[int, str] = {}
    words: dict[int, list[OcrWord]] = {}
    todo = []
    for page in pages:
        hit = _cached(sha256, page)
        if hit is None:
            todo.append(page)
        else:
            texts[page], words[page] = hit
    if todo:
        import pypdfium2

        # tesseract's own threads would fight the worker pool for the cores.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        pdf = pypdfium2.PdfDocument(data)
        try:
            for page in todo:
                image = pdf[page].render(scale=DPI / 72).to_pil()
                texts[page], words[page] = _read_page(image)
                _store(sha256, page, texts[page], words[page])
        finally:
            pdf.close()
    return texts, words
