"""Clean a document's text for reading without moving a character: running headers and footers, page numbers
and line-end hyphenation are masked, so that every offset found in the cleaned text is an offset of the
document's own text.

The cleaned text has exactly the length of the original. Characters of a removed line become spaces (they
fold to one blank, and a sentence read across a page break no longer carries "Convention ... page 2/3");
the hyphen and the line break of a word cut at a line end become soft hyphens, which folding and display
drop ("favori-\\nser" reads "favoriser"), while a compound cut at its own hyphen keeps it ("sur-\\nmesure"
reads "sur-mesure").
"""

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from qp_analytics.text import LINE_BREAK, fold

SOFT = "\u00ad"  # folded and displayed as nothing

# A line that is only a page number: "2", "- 2 -", "2/4", "Page 2 sur 4", "p. 2".
_PAGE_ONLY = re.compile(r"^\s*(?:(?:page|p\.)\s*)?[-\u2013\u2014(\[]?\s*\d{1,3}\s*(?:(?:/|sur|of)\s*\d{1,3})?"
                        r"\s*[-\u2013\u2014)\]]?\s*$", re.IGNORECASE)
# A short line carrying a page counter: "Convention Quartiers productifs – page 2/3".
_PAGE_COUNTER = re.compile(r"(?<![a-z])(?:page|p\.)\s*\d{1,3}(?:\s*(?:/|sur)\s*\d{1,3})?(?!\d)", re.IGNORECASE)
# A word cut at a line end: letters, a hyphen, the line break (blank lines and a page break may follow), letters.
# Found from each hyphen at a line end (_cuts), not by a pattern that begins with the letters: Python's regex
# engine tried every letter of the text as a start, and every shorter run of letters from it (0.6 ms a
# convention, half of its cleaning).
_LINE_END_HYPHEN = re.compile(r"-[ \t]*\n\s*")
_LETTER = re.compile(r"[^\W\d_]")
_LETTERS = re.compile(r"[^\W\d_]+")
_EDGE_LINES = 3  # lines at the top and bottom of a page where headers and footers are looked for


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of a text, without its line break."""
    out, pos = [], 0
    for m in LINE_BREAK.finditer(text):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, len(text)))
    return out


def _is_counter(line: str) -> bool:
    """A short line carrying a page counter, not a sentence that mentions a page."""
    return len(line.strip()) <= 90 and bool(_PAGE_COUNTER.search(line)) and not line.rstrip().endswith((".", ";"))


_NUMBER = re.compile(r"\d+")
_PAGE_MENTION = re.compile(r"/|sur|page|[-\u2013]\s*\d", re.IGNORECASE)  # a page-number line's own words


def _key(line: str) -> str:
    """A running header or footer is the same line on each page but for its page number."""
    return _NUMBER.sub("#", fold(line)).strip()


def _pages(text: str) -> list[list[tuple[int, int]]]:
    """The non-blank lines of each page. A text without page breaks is cut at its page-number lines, as an
    export of a paginated document that lost its form feeds."""
    pages: list[list[tuple[int, int]]] = [[]]
    for start, end in _lines(text):
        line = text[start:end]
        if start and text[start - 1] == "\f":
            pages.append([])
        if not line.strip():
            continue
        pages[-1].append((start, end))
        if "\f" not in text and (_PAGE_ONLY.match(line) or _is_counter(line)):
            pages.append([])
    return [p for p in pages if p]


def furniture(text: str) -> list[tuple[int, int]]:
    """Spans of the page furniture of a text: page-number lines, short lines with a page counter, and lines
    repeated at the top or bottom of several pages (running headers and footers)."""
    pages = _pages(text)
    spans: set[tuple[int, int]] = set()
    edge_keys: Counter[str] = Counter()
    keys: dict[tuple[int, int], str] = {}  # each edge line's key, by its span
    for lines in pages:
        edge = lines[:_EDGE_LINES] + lines[-_EDGE_LINES:] if len(lines) > 2 * _EDGE_LINES else lines
        for s, e in edge:
            keys[s, e] = _key(text[s:e])
        edge_keys.update({keys[s, e] for s, e in edge})
    for lines in pages:
        for s, e in lines:
            line = text[s:e]
            if _PAGE_ONLY.match(line) and ((s, e) in keys or _PAGE_MENTION.search(line)):
                spans.add((s, e))
            elif _is_counter(line):
                spans.add((s, e))
            elif (s, e) in keys and len(pages) > 1 and edge_keys[keys[s, e]] >= 2 and len(keys[s, e]) >= 4:
                spans.add((s, e))
    return sorted(spans)


@functools.cache
def _dictionary():  # type: ignore[no-untyped-def]
    from spellchecker import SpellChecker

    return SpellChecker(language="fr", distance=1)


def _joins(left: str, right: str, vocabulary: Counter[str]) -> bool:
    """Whether 'left-' at a line end followed by 'right' is one word cut in two (True) or a compound (False).
    The document's own words decide first, then a French dictionary."""
    joined, hyphened = fold(left + right), fold(left + "-" + right)
    if vocabulary[hyphened]:
        return False
    if vocabulary[joined]:
        return True
    if right[:1].isupper():
        return False  # Aix-Marseille, Saint-Louis
    words = _dictionary()
    if joined in words:
        return True
    first, second = fold(left), fold(right)
    return not (second in words and (first in words or len(first) <= 3))


def _vocabulary(text: str) -> Counter[str]:
    return Counter(fold(w) for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text))


def _masked(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """The text with each span (start, end, character; in order, apart) filled with that character."""
    pieces, pos = [], 0
    for s, e, fill in spans:
        pieces += [text[pos:s], fill * (e - s)]
        pos = e
    return "".join([*pieces, text[pos:]]) if pieces else text


def _cuts(text: str) -> Iterator[tuple[str, int, int, str]]:
    """Each word cut at a line end, in order: (letters before the hyphen, start and end of the hyphen and the
    white space after it, letters after). A cut's letters after are not those before the next one."""
    done = 0  # where the last cut's letters after end
    for m in _LINE_END_HYPHEN.finditer(text):
        start = m.start()
        while start > done and _LETTER.match(text, start - 1):
            start -= 1
        right = _LETTERS.match(text, m.end())
        if start < m.start() and right is not None:
            yield text[start:m.start()], m.start(), m.end(), right.group()
            done = right.end()


def clean(text: str) -> str:
    """The text with its page furniture blanked and its line-end hyphenation masked, same length."""
    blanked = _masked(text, ((s, e, " ") for s, e in furniture(text)))
    vocabulary: Counter[str] | None = None
    cuts: list[tuple[int, int, str]] = []
    for left, s, e, right in _cuts(blanked):
        if vocabulary is None:
            vocabulary = _vocabulary(blanked)
        # doc.text keeps its form feeds for page numbers; the cleaned text joins the word across the break
        cuts.append((s, e, SOFT) if _joins(left, right, vocabulary) else (s + 1, e, SOFT))
    return _masked(blanked, cuts)


def removed(original: str, cleaned: str) -> Iterator[tuple[int, int]]:
    """Spans where the cleaned text differs from the original (for tests and reports)."""
    start = None
    for i, (a, b) in enumerate(zip(original, cleaned, strict=True)):
        if a != b and start is None:
            start = i
        elif a == b and start is not None:
            yield start, i
            start = None
    if start is not None:
        yield start, len(original)
