"""Accent- and case-insensitive search in extracted document text, with offsets back into the original.

PDF extraction leaves line breaks inside sentences, private-use bullet glyphs, typographic apostrophes
and ligatures. Matching is done on a folded copy of the text (lower case, no accents, one space for
any run of blanks) while every match is reported with its span in the original text, so that
provenance always points at the characters the reader can see.
"""

import bisect
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

# Characters folded to something else before matching (beyond accent stripping and lower-casing).
_FOLD = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'",
    "\u00ab": '"', "\u00bb": '"', "\u201c": '"', "\u201d": '"',
    "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-",
    "\uf0b7": " ", "\u2022": " ", "\u25cf": " ", "\uf0a7": " ",
    "\u0153": "oe", "\u0152": "oe", "\u00e6": "ae", "\u00c6": "ae",
    "\u2026": "...",
}
_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}


def fold_char(ch: str) -> str:
    """The folded form of one character (possibly empty or several characters)."""
    if ch in _FOLD:
        return _FOLD[ch]
    if ch in _LIGATURES:
        return _LIGATURES[ch]
    if ch.isspace():
        return " "
    decomposed = unicodedata.normalize("NFD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fold(text: str) -> str:
    """Fold a short string the same way documents are folded (for patterns and comparisons)."""
    return FoldedText(text).folded


def squash(text: str) -> str:
    """Collapse blanks and bullet glyphs into single spaces, for display of a source sentence."""
    text = text.replace("\uf0b7", " ").replace("\u2022", " ")
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Span:
    start: int  # offset in the original text
    end: int
    text: str  # the original characters


class FoldedText:
    """A folded copy of a text with a map from folded offsets to original offsets."""

    def __init__(self, original: str):
        self.original = original
        out: list[str] = []
        index: list[int] = []
        previous_space = True  # drop leading blanks
        for i, ch in enumerate(original):
            for f in fold_char(ch):
                if f == " ":
                    if previous_space:
                        continue
                    previous_space = True
                else:
                    previous_space = False
                out.append(f)
                index.append(i)
        self.folded = "".join(out)
        self._index = index

    def span(self, start: int, end: int) -> Span:
        """Original span for folded offsets [start, end)."""
        if start >= end:
            o = self._index[start] if start < len(self._index) else len(self.original)
            return Span(o, o, "")
        o_start = self._index[start]
        o_end = self._index[end - 1] + 1
        return Span(o_start, o_end, self.original[o_start:o_end])

    def folded_offset(self, original_offset: int) -> int:
        """First folded offset at or after an original offset."""
        return bisect.bisect_left(self._index, original_offset)

    def finditer(self, pattern: str | re.Pattern[str], start: int = 0,
                 end: int | None = None) -> Iterator[re.Match[str]]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return regex.finditer(self.folded, start, len(self.folded) if end is None else end)

    def search(self, pattern: str | re.Pattern[str], start: int = 0, end: int | None = None) -> re.Match[str] | None:
        return next(iter(self.finditer(pattern, start, end)), None)


# A full stop after a lone capital is an abbreviation (A.N.C.T., M. Dupont), not the end of a sentence;
# an article's heading line is a boundary too.
_SENTENCE_END = re.compile(
    r"(?P<stop>(?<!\.[A-Z])(?<!\s[A-Z])(?<!^[A-Z])[.!?;](?=\s|$))"
    r"|(?P<head>[\n\f][ \t\uf0b7]*(?:Article|ARTICLE)\s+\d+[^\n\f]*)"
)


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """Original offsets of the sentence that contains [start, end): from the previous full stop (semicolon,
    or heading) to the next one."""
    left = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        left = m.end()
    m = _SENTENCE_END.search(text, max(end, left))
    right = (m.end() if m.group("stop") else m.start()) if m else len(text)
    while left < right and text[left] in " \t\r\n\f\uf0b7":
        left += 1
    return left, right
