"""French dates and quantities as drafters write them, found in folded text (see text.fold)."""

import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from text_to_num import text2num

MONTHS = {
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
    "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
}
MONTH_NAMES = [
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet",
    "août", "septembre", "octobre", "novembre", "décembre",
]

_NUMBER_WORD = (r"(?:un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize"
                r"|vingt|trente|et)")
# Dates in folded text: "18 mars 2021", "1er avril 2021", "18/03/2021", "18.03.2021", "2021-03-18", and written in
# words as a deed is: "vingt-neuf juin deux mille vingt et un".
DATE_PATTERN = re.compile(
    r"\b(?:(?P<wd>premier|" + _NUMBER_WORD + r"(?:[- ]" + _NUMBER_WORD + r"){0,3})\s+(?P<wm>" + "|".join(MONTHS)
    + r")\s+(?P<wy>deux[- ]mille(?:[- ]" + _NUMBER_WORD + r"){0,4})(?![a-z])"
    r"|(?P<d>\d{1,2}|1er|premier)\s*(?P<m>" + "|".join(MONTHS) + r")\s+(?P<y>\d{4})"
    r"|(?P<nd>\d{1,2})\s*[/.]\s*(?P<nm>\d{1,2})\s*[/.]\s*(?P<ny>\d{4})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))\b"
)


@dataclass(frozen=True)
class FoundDate:
    value: dt.date | None  # None when the text is a date that does not exist (31/02/2021)
    start: int  # folded offsets
    end: int
    raw: str


def find_dates(folded: str, start: int = 0, end: int | None = None) -> list[FoundDate]:
    found = []
    for m in DATE_PATTERN.finditer(folded, start, len(folded) if end is None else end):
        if m.group("wm"):
            words = _date_in_words(m.group("wd"), m.group("wy"))
            if words is None:
                continue
            day, year = words
            month = MONTHS[m.group("wm")]
        elif m.group("m"):
            day_text = m.group("d")
            day = 1 if day_text in ("1er", "premier") else int(day_text)
            month, year = MONTHS[m.group("m")], int(m.group("y"))
        elif m.group("nm"):
            day, month, year = int(m.group("nd")), int(m.group("nm")), int(m.group("ny"))
        else:
            day, month, year = int(m.group("id")), int(m.group("im")), int(m.group("iy"))
        try:
            value: dt.date | None = dt.date(year, month, day)
        except ValueError:
            value = None
        found.append(FoundDate(value, m.start(), m.end(), m.group(0)))
    return found


def _date_in_words(day_words: str, year_words: str) -> tuple[int, int] | None:
    """(day, year) of a date written in words; None when the words are not a day and a year."""
    try:
        day = 1 if day_words == "premier" else text2num(day_words.replace(" et ", "-et-"), "fr")
        year = text2num(year_words, "fr")
    except ValueError:
        return None
    return (day, year) if 1 <= day <= 31 and 1900 <= year <= 2100 else None


def french_date(value: dt.date, style: str = "long") -> str:
    """Write a date as a French drafter would: long ('1er avril 2021'), numeric ('01/04/2021')."""
    if style == "numeric":
        return value.strftime("%d/%m/%Y")
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTH_NAMES[value.month - 1]} {value.year}"


# A quantity of months or years: "6 mois", "six mois", "six (6) mois", "vingt-quatre mois", "deux ans".
QUANTITY_PATTERN = re.compile(
    r"(?P<words>(?:[a-z]+[- ]){0,3}?)(?P<digits>\d{1,3})?\s*(?:\(\s*(?P<paren>\d{1,3})\s*\)\s*)?"
    r"(?P<unit>mois|ans?|annees?)\b"
)


@dataclass(frozen=True)
class FoundMonths:
    months: int
    start: int
    end: int
    raw: str


@functools.lru_cache(maxsize=4096)
def _words_to_int(words: str) -> tuple[int, int] | None:
    """The number written by the last words of `words`, and the offset in `words` where it starts. Remembered:
    the same few words come back in every convention, and text2num tries each ending in turn."""
    tokens = list(re.finditer(r"[a-z]+", words))
    for take in range(min(3, len(tokens)), 0, -1):
        phrase = " ".join(t.group(0) for t in tokens[-take:])
        try:
            value = text2num(phrase, "fr")
        except ValueError:
            continue
        if value > 0:
            return value, tokens[-take].start()
    return None


# A character no quantity of months holds (QUANTITY_PATTERN: letters a-z, digits, blanks, hyphens, brackets)
_NOT_IN_QUANTITY = re.compile(r"[^a-z\d\s()\-]")
_UNIT = re.compile(r"(?:mois|ans?|annees?)\b")  # what every match of QUANTITY_PATTERN ends with


def quantity_matches(folded: str, start: int = 0, end: int | None = None) -> Iterator[re.Match[str]]:
    """QUANTITY_PATTERN.finditer(folded, start, end), the same matches, found faster: a match holds no character
    of _NOT_IN_QUANTITY, so the pattern is tried only in the stretches between two such characters that hold a
    unit (_UNIT, the pattern's end), not at every character of the range (its leading words made that costly:
    a tenth of a convention's parse)."""
    stop = len(folded) if end is None else end
    stretch = start
    for cut in itertools.chain((m.start() for m in _NOT_IN_QUANTITY.finditer(folded, start, stop)), (stop,)):
        # up to the cut character included, so that a unit's word boundary sees it
        if cut > stretch and _UNIT.search(folded, stretch, min(cut + 1, stop)):
            yield from QUANTITY_PATTERN.finditer(folded, stretch, min(cut + 1, stop))
        stretch = cut + 1


def find_months(folded: str, start: int = 0, end: int | None = None) -> list[FoundMonths]:
    """Durations written in months or years, converted to months."""
    found = []
    for m in quantity_matches(folded, start, end):
        value: int | None = None
        q_start = m.start("digits") if m.group("digits") else m.start("unit")
        if m.group("paren"):
            value = int(m.group("paren"))
        if m.group("digits"):
            value = int(m.group("digits"))
        words = m.group("words") or ""
        parsed = _words_to_int(words) if words else None
        if parsed is not None:
            if value is None:
                value = parsed[0]
            q_start = m.start("words") + parsed[1]
        if value is None:
            continue
        if m.group("unit") != "mois":
            value *= 12
        found.append(FoundMonths(value, q_start, m.end(), folded[q_start:m.end()]))
    return found


def add_months(start: dt.date, months: int) -> dt.date:
    """Same day N calendar months later; a day that does not exist clamps to the month's last day."""
    return start + relativedelta(months=months)
