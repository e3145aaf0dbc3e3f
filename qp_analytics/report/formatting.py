"""Values written the French way for the report: numbers, euros, percentages, days, dates, plurals, and the
short phrases built from them; a null value is written "—", never filled in."""

import datetime as dt
import functools
import math
import types
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from qp_analytics.french import french_date
from qp_analytics.marts.compute import NATIONAL_PARTNERS
from qp_analytics.report.labels import PARTNER_LABELS, SIGNATURE_TEXTS

NA = "—"  # what a null value shows
# A record of what a page shows, its template reading it by attribute (cheaper for Jinja than a dict's keys).
View = types.SimpleNamespace
THIN = "\u202f"  # espace fine insécable: thousands separator and before %, as French typography writes them
NBSP = "\u00a0"


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


_QUANTA = {n: Decimal(1).scaleb(-n) for n in range(10)}


@functools.lru_cache(maxsize=2**14, typed=True)
def format_number(value: float | int | Decimal | None, decimals: int = 0, trim: bool = False) -> str:
    """1234567.891 -> '1 234 567,89' (thin spaces, decimal comma, U+2212 minus); null -> '—'.

    Rounds half away from zero; with trim, trailing zero decimals are dropped (93.0 -> '93', 93.5 -> '93,5').
    Remembered by value and type (equal values of one type print alike): 1,400 territory pages print 260,000
    numbers, most of them the same few counts."""
    if is_null(value):
        return NA
    if type(value) is int:  # most numbers of a report: counts (no rounding to do)
        whole_number, fraction = abs(value), "" if trim else "0" * decimals
        negative = value < 0
    else:
        exact = value if type(value) is Decimal else Decimal(str(value))
        rounded = exact.quantize(_QUANTA[decimals], rounding=ROUND_HALF_UP)
        whole, _, fraction = f"{abs(rounded):f}".partition(".")
        if trim:
            fraction = fraction.rstrip("0")
        whole_number, negative = int(whole), rounded < 0
    sign = "\u2212" if negative else ""
    return sign + f"{whole_number:,}".replace(",", THIN) + ("," + fraction if fraction else "")


@functools.lru_cache(maxsize=2**14, typed=True)  # by value and type, as format_number
def format_euros(value: float | Decimal | None) -> str:
    """Whole euros: 1234567.5 -> '1 234 568 €'."""
    return NA if is_null(value) else format_number(value) + NBSP + "€"


@functools.lru_cache(maxsize=2**14, typed=True)  # by value and type, as format_number
def format_percent(ratio: float | None) -> str:
    """A ratio as a percentage to one decimal: 0.5714 -> '57,1 %', 1.0 -> '100 %'."""
    return NA if is_null(ratio) else format_number(Decimal(str(ratio)) * 100, 1, trim=True) + THIN + "%"


@functools.lru_cache(maxsize=2**14, typed=True)  # by value and type, as format_number
def format_days(value: float | int | None) -> str:
    """'1 jour', '93,5 jours', '−7 jours' (French: singular below two)."""
    if is_null(value):
        return NA
    return format_number(value, 1, trim=True) + NBSP + ("jour" if abs(value) < 2 else "jours")


def format_date(value: dt.date | None) -> str:
    """'30 juin 2023', '1er juillet 2023'."""
    return NA if value is None else french_date(value)


@functools.lru_cache(maxsize=2**14, typed=True)  # by value and type, as format_number
def format_count(value: int | None, singular: str, plural: str) -> str:
    if value is None:
        return NA
    return f"{format_number(value)}{NBSP}{singular if abs(value) < 2 else plural}"


def format_bool(value: bool | None) -> str:
    return NA if value is None else ("Oui" if value else "Non")


def plural(value: float | int | Decimal | None, singular: str, plural_form: str) -> str:
    """The word for this many, as French has it: singular below 2 (0 and 1 included)."""
    return singular if value is not None and not is_null(value) and abs(value) < 2 else plural_form


def partner_label(code: str) -> str:
    return PARTNER_LABELS.get(code, code)


def code_label(labels: dict[str, str], code: str | None) -> str:
    return NA if code is None else labels.get(code, code)


def ratio(part: int | None, whole: int | None) -> str:
    return NA if part is None or whole is None else f"{format_number(part)} / {format_number(whole)}"


def delay_text(days: int | None) -> str:
    """Days from a due date: 'à l'échéance', '25 jours de retard', '18 jours d’avance'."""
    if days is None:
        return NA
    if days == 0:
        return "à l'échéance"
    word = "jour" if abs(days) < 2 else "jours"
    return f"{format_number(abs(days))}{NBSP}{word} {'de retard' if days > 0 else 'd’avance'}"


def term_text(end: dt.date | None, in_force: bool | None) -> str:
    if end is None or in_force is None:
        return ""
    return f"en vigueur jusqu'au {format_date(end)}" if in_force else f"terminée le {format_date(end)}"


def median_text(days: float | None) -> str:
    return "" if is_null(days) else f"instruction : {format_days(days)} (médiane)"


def share_text(share: float | None) -> str:
    return "" if is_null(share) else f"{format_percent(share)} du total accordé"


def reuse_text(links: int | None) -> str:
    if links is None:
        return ""
    return "aucune réutilisation" if links == 0 else format_count(links, "réutilisation", "réutilisations")


def signature_text(row: dict[str, Any], as_of: dt.date) -> str:
    """'19 mai 2021'; 'non datée' when the document leaves the date blank; 'non signée au …' when it was signed
    after as_of (not yet signed then); '—' when nothing is known."""
    state = row.get("convention_signature_state")
    if row["convention_signature_date"] is not None:
        return format_date(row["convention_signature_date"])
    if state == "not_yet_signed":
        return f"non signée au {format_date(as_of)}"
    return SIGNATURE_TEXTS.get(state, NA)


def quarter_label(day: dt.date) -> str:
    """'T2 2023' for a quarter end, else the date itself, short ('15/05/2023')."""
    if day.month % 3 == 0 and (day + dt.timedelta(days=1)).day == 1:
        return f"T{day.month // 3} {day.year}"
    return day.strftime("%d/%m/%Y")


def partner_order(code: str) -> tuple[int, str]:
    """Sort key of partners: the national ones in the programme's order, then the others by name."""
    return (NATIONAL_PARTNERS.index(code), "") if code in NATIONAL_PARTNERS else (len(NATIONAL_PARTNERS), code)


def provenance_phrase(values: Sequence[str | None], singular: str, plural: str) -> str:
    """'conventions : 1 réelle, 2 illustratives' — how many documents of each provenance."""
    counts: dict[str | None, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    parts = []
    for key, word in (("real", "réelle"), ("illustrative", "illustrative")):
        if counts.get(key):
            parts.append(f"{format_number(counts[key])} {word}{'s' if counts[key] > 1 else ''}")
    unknown = sum(n for k, n in counts.items() if k not in ("real", "illustrative"))
    if unknown:
        parts.append(f"{format_number(unknown)} de provenance non renseignée")
    return f"{plural if len(values) > 1 else singular} : {', '.join(parts) if parts else 'aucune'}"
