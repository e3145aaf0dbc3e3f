"""Dates and quantities as French drafters write them: property tests."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from qp_analytics.french import add_months, find_dates, find_months, french_date
from qp_analytics.text import fold

dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


@given(dates, st.sampled_from(["long", "numeric"]))
def test_any_written_date_reads_back(value, style):
    written = f"signée le {french_date(value, style)}, à Paris"
    found = find_dates(fold(written))
    assert [d.value for d in found] == [value]


@given(dates, st.integers(min_value=0, max_value=120))
def test_add_months_is_same_day_or_month_end(start, months):
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    if result.day != start.day:  # clamped: the day did not exist in that month
        assert result.day < start.day
        assert (result + dt.timedelta(days=1)).day == 1


WORDS = {1: "un", 2: "deux", 6: "six", 9: "neuf", 12: "douze", 18: "dix-huit", 24: "vingt-quatre",
         36: "trente-six", 48: "quarante-huit"}


@given(st.sampled_from(sorted(WORDS)), st.sampled_from(["digits", "words", "both"]))
def test_months_in_digits_or_words(months, style):
    text = {"digits": f"{months} mois", "words": f"{WORDS[months]} mois",
            "both": f"{WORDS[months]} ({months}) mois"}[style]
    found = find_months(fold(f"dans un délai de {text} à compter"))
    assert [m.months for m in found] == [months]


def test_years_count_as_twelve_months():
    assert [m.months for m in find_months(fold("une durée de trois ans"))] == [36]
    assert [m.months for m in find_months(fold("pour un an"))] == [12]


def test_impossible_date_is_found_but_has_no_value():
    assert [(d.raw, d.value) for d in find_dates("le 30/02/2021")] == [("30/02/2021", None)]


@given(st.text(alphabet=st.sampled_from(list("aAéÉèœŒæﬁﬂ…’«» \t\n\f\u00ad\uf0b7-–—'Çç0123456789 .")) | st.characters(),
               max_size=60))
def test_fold_is_what_a_folded_document_holds(text):
    """fold (short strings, without an offset map) gives exactly FoldedText's folded text."""
    from qp_analytics.text import FoldedText

    assert fold(text) == FoldedText(text).folded


def _reference_map(text):
    """Folded text and, per folded character, the original offset it comes from: built character by character
    from fold_char and the blank rule (no leading blank, one space for a run), the plain way FoldedText avoids."""
    from qp_analytics.text import fold_char

    folded, origin = [], []
    for i, c in enumerate(text):
        for f in fold_char(c):
            if f == " " and (not folded or folded[-1] == " "):
                continue  # a leading blank, or a blank after one
            folded.append(f)
            origin.append(i)
    return "".join(folded), origin


_FOLDING = st.text(alphabet=st.sampled_from(list("aAéÉœŒæﬁﬂ…’ \t\n\f\u00ad\u0301x.")) | st.characters(), max_size=80)


@given(_FOLDING, st.data())
def test_folded_offsets_map_back_to_the_characters_they_come_from(text, data):
    """FoldedText's map, kept as runs, gives for every folded offset the original character it comes from (a
    ligature's letters all point at the ligature), and for every original offset the first folded character that
    comes from it or after it: as a map built character by character does."""
    from qp_analytics.text import FoldedText

    folded, origin = _reference_map(text)
    ft = FoldedText(text)
    assert ft.folded == folded
    for i in range(len(folded)):
        assert ft.span(i, i + 1).start == origin[i]
    for o in range(len(text) + 2):
        assert ft.folded_offset(o) == next((i for i, at in enumerate(origin) if at >= o), len(folded))
    if folded:
        start = data.draw(st.integers(0, len(folded) - 1))
        end = data.draw(st.integers(start + 1, len(folded)))
        span = ft.span(start, end)
        assert (span.start, span.end) == (origin[start], origin[end - 1] + 1)
        assert span.text == text[origin[start]:origin[end - 1] + 1]


def _spans(matches):
    """Matches compared by their span and groups."""
    return [(m.span(), m.groupdict()) for m in matches]


# Lines such as a convention's: headings, signature lines, list markers, blank and indented lines, form feeds
_LINE = st.sampled_from(["Article 3 : Engagements", "ARTICLE premier - Objet", "  Article 12. Durée", "Fait à Laval,",
                         "le 12 juillet 2021", "À Arras, le", "Fait en deux exemplaires à Lille, le 3 mai 2022", "",
                         "   ", "1. créer", "ii) suivre", "- animer le réseau", "(a) rendre compte", "texte libre à",
                         "Article", "le", "\u2022 point", "a) b) c)", "\tArticle 2 — Partenaires"])


@given(st.lists(st.tuples(_LINE, st.sampled_from(["\n", "\f", "\n\n", " \n"])), max_size=14),
       st.integers(0, 400), st.integers(0, 400))
def test_line_start_matches_are_those_of_finditer(lines, start, length):
    """The patterns anchored at line starts give, tried at line starts only, the matches finditer gives, over the
    whole text and over any range of it."""
    from qp_analytics.reading.convention import _HEADING_RE, _LINE_MARKER, _SIGNATURE_RE
    from qp_analytics.text import line_start_matches

    text = "".join(line + sep for line, sep in lines)
    start = min(start, len(text))
    end = min(start + length, len(text))
    for pattern in (_HEADING_RE, _SIGNATURE_RE, _LINE_MARKER):
        assert _spans(line_start_matches(pattern, text)) == _spans(pattern.finditer(text))
        assert _spans(line_start_matches(pattern, text, start, end)) == _spans(pattern.finditer(text, start, end))


# Folded sentences with quantities of months and what breaks them: punctuation, apostrophes, word characters
# that are not letters a-z (ß, _), digits, brackets, line breaks
_PIECE = st.sampled_from(["six (6) mois", "24 mois", "deux ans", "un an", "dans", "annees", "vingt-quatre mois",
                          "delai de", ",", ".", "'", "ß", "_", "(", ")", " ", "\n", "-", "12", "mois", "an", "x",
                          "trois (3) ans", "moisson", "plans", "° ", ":", "ans_", "mois."])


@given(st.lists(_PIECE, max_size=30), st.integers(0, 300), st.integers(0, 300))
def test_quantity_matches_are_those_of_finditer(pieces, start, length):
    """The quantities of months found stretch by stretch are the pattern's own matches, over any range."""
    from qp_analytics.french import QUANTITY_PATTERN, quantity_matches

    text = "".join(pieces)
    start = min(start, len(text))
    end = min(start + length, len(text))
    assert _spans(quantity_matches(text)) == _spans(QUANTITY_PATTERN.finditer(text))
    assert _spans(quantity_matches(text, start, end)) == _spans(QUANTITY_PATTERN.finditer(text, start, end))
