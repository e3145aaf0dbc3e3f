"""Accent- and case-insensitive search in extracted document text, with offsets back into the original.

PDF extraction leaves line breaks inside sentences, private-use bullet glyphs, typographic apostrophes
and ligatures. Matching is done on a folded copy of the text (lower case, no accents, one space for
any run of blanks) while every match is reported with its span in the original text, so that
provenance always points at the characters the reader can see.
"""

import bisect
import functools
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
    "\u00ad": "",  # soft hyphen: a word cut at a line end (see cleaning.clean)
}
_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}


@functools.lru_cache(maxsize=4096)
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


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Fold a short string the same way documents are folded (for patterns and comparisons): FoldedText's
    folded text, without the map back to the original offsets (a parse folds some fifty words and lines)."""
    spread = text.translate({ord(c): fold_char(c) for c in set(text)})
    return _BLANK_RUN.sub(_one_blank, spread)


def _one_blank(run: re.Match[str]) -> str:
    """A run of blanks as FoldedText keeps it: none at the start, else one space."""
    return "" if run.start() == 0 else " "


@functools.lru_cache(maxsize=4096)
def squash(text: str) -> str:
    """Collapse blanks and bullet glyphs into single spaces, drop soft hyphens and unfold ligatures, for display
    of a source sentence. Remembered: a parse shows the same sentence for several of its fields."""
    text = text.replace("\uf0b7", " ").replace("\u2022", " ").replace("\u00ad", "")
    if _LIGATURE.search(text):
        text = text.translate(_UNLIGATED)
    return _WHITESPACE.sub(" ", text).strip()


_LIGATURE = re.compile("[" + "".join(_LIGATURES) + "]")
_UNLIGATED = {ord(k): v for k, v in _LIGATURES.items()}
_WHITESPACE = re.compile(r"\s+")


_BLANK_RUN = re.compile(r"^ +| {2,}")
_LEADING_BLANKS, _BLANKS = re.compile(r" +"), re.compile(r" {2,}")  # _BLANK_RUN's two alternatives


@functools.lru_cache(maxsize=64)
def _odd_characters(odd: frozenset[int]) -> re.Pattern[str]:
    """A pattern matching any of these characters (by code point)."""
    return re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(odd)) + "]")


def _add_run(runs: list[tuple[int, int, bool]], run: tuple[int, int, bool]) -> None:
    """A run of FoldedText's spread text added after the others; one that would be empty (the next begins where it
    does) gives way to it."""
    if runs[-1][0] == run[0]:
        runs[-1] = run
    else:
        runs.append(run)


@dataclass(frozen=True)
class Span:
    start: int  # offset in the original text
    end: int
    text: str  # the original characters


class FoldedText:
    """A folded copy of a text with a map from folded offsets to original offsets.

    The map is kept as runs, not one offset per character: within a run, folded and original offsets go up
    together, or (a single: one character folded to several, such as a ligature, œ or an ellipsis) every folded
    offset of it maps to that character. Runs begin where a run of blanks was collapsed and around characters
    folded to another length than one; an offset is found back by bisection. (Built per character, the map cost a
    quarter of a convention's parse.)"""

    def __init__(self, original: str):
        # Done with str.translate and slices rather than per character: conventions are tens of thousands of
        # characters and each is folded once per parse.
        table = {ord(c): fold_char(c) for c in set(original)}
        spread = original.translate(table)
        # the spread text (each character replaced by its folded string) -> the original, in runs: (spread offset,
        # original offset, single); characters folded to nothing belong to no run
        runs = [(0, 0, False)]
        odd = frozenset(c for c in table if len(table[c]) != 1)
        if odd:  # ligatures, combining marks, ellipses: not one folded character per original one
            shift = 0  # spread offset - original offset, before the character
            for m in _odd_characters(odd).finditer(original):
                i = m.start()
                width = len(table[ord(original[i])])
                if width:
                    _add_run(runs, (i + shift, i, True))
                shift += width - 1
                _add_run(runs, (i + 1 + shift, i + 1, False))
        # the folded text: the spread text but for the blank runs of _BLANK_RUN (the leading one, then the others,
        # each kept as one space: a pattern that begins with two spaces is looked for by a fast scan, which `^`
        # prevents); its runs are the spread text's, cut where a blank run was collapsed
        leading = _LEADING_BLANKS.match(spread)
        pos = leading.end() if leading else 0
        kept: list[str] = []
        self._folded_at: list[int] = []
        self._original_at: list[int] = []
        self._single: list[bool] = []
        length = 0  # of the folded text so far
        k = 0  # the spread run holding pos
        for stop, resume in [*((m.start() + 1, m.end()) for m in _BLANKS.finditer(spread, pos)),
                             (len(spread), len(spread))]:
            kept.append(spread[pos:stop])
            while pos < stop:  # the piece [pos, stop) of the spread text, run by run
                while k + 1 < len(runs) and runs[k + 1][0] <= pos:
                    k += 1
                at, origin, one = runs[k]
                self._folded_at.append(length)
                self._original_at.append(origin if one else origin + pos - at)
                self._single.append(one)
                run_end = min(stop, runs[k + 1][0] if k + 1 < len(runs) else len(spread))
                length += run_end - pos
                pos = run_end
            pos = resume
        self.original = original
        self.folded = "".join(kept)
        # the last original offset of each run, for the way back
        ends = [*self._folded_at[1:], len(self.folded)][:len(self._folded_at)]
        self._last = [origin if one else origin + end - at - 1
                      for at, origin, one, end in zip(self._folded_at, self._original_at, self._single, ends,
                                                      strict=True)]

    def _original(self, folded: int) -> int:
        """The original offset of a folded character (0 <= folded < len(folded))."""
        if not 0 <= folded < len(self.folded):
            raise IndexError(f"folded offset {folded} outside 0..{len(self.folded) - 1}")
        k = bisect.bisect_right(self._folded_at, folded) - 1
        return self._original_at[k] if self._single[k] else self._original_at[k] + folded - self._folded_at[k]

    def span(self, start: int, end: int) -> Span:
        """Original span for folded offsets [start, end)."""
        if start >= end:
            o = self._original(start) if 0 <= start < len(self.folded) else len(self.original)
            return Span(o, o, "")
        o_start = self._original(start)
        o_end = self._original(end - 1) + 1
        return Span(o_start, o_end, self.original[o_start:o_end])

    def folded_offset(self, original_offset: int) -> int:
        """First folded offset at or after an original offset (the folded text's length when there is none)."""
        k = bisect.bisect_left(self._last, original_offset)
        if k == len(self._last):
            return len(self.folded)
        if self._single[k] or original_offset <= self._original_at[k]:
            return self._folded_at[k]
        return self._folded_at[k] + original_offset - self._original_at[k]

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


_BOUNDARY_CHAR = re.compile(r"[.!?;\n\f]")


@functools.lru_cache(maxsize=8)
def _boundaries(text: str) -> tuple[list[int], list[int], list[int], list[int]]:
    """For one text: the ends of the boundaries a scan from the start finds; every position where a boundary
    can start with the offset a sentence ending there ends at (after a stop, before a heading); and every
    character a boundary can start with."""
    # A boundary starts at one of these characters: the scan from the start is the boundaries there, each looked
    # for after the end of the one before (as finditer would, which tried the pattern at every character).
    scan_ends: list[int] = []
    starts: list[int] = []
    rights: list[int] = []
    chars = [c.start() for c in _BOUNDARY_CHAR.finditer(text)]
    for c in chars:
        m = _SENTENCE_END.match(text, c)
        if m:
            starts.append(c)
            rights.append(m.end() if m.group("stop") else m.start())
            if not scan_ends or c >= scan_ends[-1]:
                scan_ends.append(m.end())
    return scan_ends, starts, rights, chars


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """Original offsets of the sentence that contains [start, end): from the previous full stop (semicolon,
    or heading) to the next one."""
    scan_ends, starts, rights, chars = _boundaries(text)  # computed once per text: a parse asks many times
    k = bisect.bisect_right(scan_ends, start)
    left = scan_ends[k - 1] if k else 0
    # From the last boundary ending before `start`, scan up to `start` only, as the sentence's left end is
    # the last boundary seen before the match (a heading cut at `start` counts): the pattern tried at the
    # characters a boundary starts with, each after the end of the boundary before.
    i = bisect.bisect_left(chars, left)
    while i < len(chars) and chars[i] < start:
        m = _SENTENCE_END.match(text, chars[i], start)
        if m:
            left = m.end()
            i = bisect.bisect_left(chars, left, i + 1)
        else:
            i += 1
    k = bisect.bisect_left(starts, max(end, left))
    right = rights[k] if k < len(starts) else len(text)
    while left < right and text[left] in " \t\r\n\f\uf0b7":
        left += 1
    return left, right


LINE_BREAK = re.compile(r"[\n\f]")  # what ends a line of a document's text: a line break or a form feed


@functools.lru_cache(maxsize=8)
def _line_starts(text: str) -> list[int]:
    """Where each line of a text starts: its start, and just after each line break or form feed."""
    return [0, *(m.end() for m in LINE_BREAK.finditer(text))]


def line_start_matches(pattern: re.Pattern[str], text: str, start: int = 0,
                       end: int | None = None) -> Iterator[re.Match[str]]:
    """pattern.finditer(text, start, end) for a pattern that matches only where a line starts (the text's start,
    or just after a line break or a form feed: `(?:^|(?<=\f))` with re.MULTILINE) and never matches empty: the
    same matches, the pattern tried at the range's line starts only (a hundred or so a convention) rather than
    at each of its characters (some 5,000)."""
    stop = len(text) if end is None else end
    resume = start  # as finditer: a match is looked for from the end of the one before
    starts = _line_starts(text)  # computed once per text: a parse asks for several ranges of it
    for i in range(bisect.bisect_left(starts, start), bisect.bisect_left(starts, stop)):
        at = starts[i]
        if at < resume:
            continue
        m = pattern.match(text, at, stop)
        if m is not None:
            yield m
            resume = m.end()


def sql_literal(text: str) -> str:
    """A string as an SQL literal ('it''s'), for the few places DuckDB takes no parameter (paths in
    read_parquet, COPY targets, comments)."""
    return "'" + text.replace("'", "''") + "'"
