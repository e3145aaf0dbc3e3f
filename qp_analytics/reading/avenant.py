"""Read an avenant (amendment) to a convention: which territory, which number, how long it extends the
convention (months added, or a new end date), and where and when it was signed."""

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from qp_analytics.french import add_months, find_dates, find_months
from qp_analytics.reading.convention import ConventionError, DocumentReader, Source, plain_dict
from qp_analytics.reading.documents import Document

_NUMBER_RE = re.compile(r"avenant\s*(?:n\s*(?:°|º|o\.?)|numero|no\.?)\s*(\d{1,3})(?![0-9])")
_PARTY_RE = re.compile(r"convention d'engagement[^.;]{0,160}?(?:conclue|signee|passee)\s+"
                       r"(?:entre l'etat et|avec)\s+")
_EXTENSION_RE = re.compile(r"prolonge|proroge|portee|reportee")
_UNTIL_RE = re.compile(r"jusqu'(?:au|a|a la date du)\s+")
# The former term the extension starts from: "qui prenait fin le", "dont le terme était fixé au", "arrivant à
# échéance le".
_TERM_RE = re.compile(r"(?:prenait fin|prend fin|devait prendre fin|terme (?:etait |est )?(?:fixe )?|echeance|expir\w*)"
                      r"\s*(?:le|au|a la date du)?\s*")


@dataclass
class Avenant:
    territory_name: str
    number: int
    extension_months: int | None
    new_end_date: dt.date | None
    signature_place: str | None
    signature_date: dt.date | None
    warnings: list[dict[str, str]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


def parse_avenant(doc: Document) -> Avenant:
    """Raises ConventionError (one message per missing field) when a required field cannot be read."""
    r = DocumentReader(doc)
    f = r.ft.folded
    name = _territory(r)
    number_match = _NUMBER_RE.search(f)
    number = int(number_match.group(1)) if number_match else None
    if number_match:
        r.provenance["number"] = r.source_folded(number_match.start(1), number_match.end(1))
    else:
        r.problems.append("number: no 'Avenant n° N' naming the amendment's number")
    months, until = _extension(r)
    place, signed = r.signature()
    if r.problems:
        raise ConventionError(doc.path, r.problems)
    assert name is not None and number is not None
    provenance = {k: asdict(v) if isinstance(v, Source) else v for k, v in r.provenance.items()
                  if k not in ("representative", "state_representative")}
    return Avenant(name, number, months, until, place, signed, r.warnings, provenance)


def _territory(r: DocumentReader) -> str | None:
    m = _PARTY_RE.search(r.ft.folded)
    if m:
        end = re.compile(r"[,.;(]| le \d| en date| signee| du \d").search(r.ft.folded, m.end())
        stop = end.start() if end else min(len(r.ft.folded), m.end() + 120)
        span = r.ft.span(m.end(), stop)
        name = re.sub(r"^(?:la|le|les)\s+|^l['\u2019]\s*", "", " ".join(span.text.split()), flags=re.IGNORECASE)
        if name:
            r.provenance["territory_name"] = r.source(span.start, span.end)
            return name
    if re.search(r"(?<![a-z])entre(?![a-z])", r.ft.folded):
        name, _, _ = r.parties()
        r.warnings.clear()  # the signatories' clauses are the convention's business, not the avenant's
        return name
    r.problems.append("territory_name: no 'convention d'engagement conclue entre l'Etat et <intercommunalité>' "
                      "nor 'ENTRE <intercommunalité>' clause")
    return None


def _extension(r: DocumentReader) -> tuple[int | None, dt.date | None]:
    """Months added and the new end date, as the extension's sentence gives them: 'prolongée de 12 mois',
    'prolongée jusqu'au 18 mars 2024', or both; with the months and the former term it states ('qui prenait
    fin le 18 mars 2023'), the new end date is that term plus the months."""
    f = r.ft.folded
    for m in _EXTENSION_RE.finditer(f):
        s, e = r.folded_sentence(m.start(), m.end())
        until = _UNTIL_RE.search(f, m.end(), e)
        until_date = None
        if until:
            dates = find_dates(f, until.end(), e)
            if dates and dates[0].start == until.end():
                if dates[0].value is None:
                    r.problems.append(f"new_end_date: {dates[0].raw!r} is not a real date")
                    return None, None
                until_date = dates[0]
        quantities = [q for q in find_months(f, m.end(), e) if until is None or q.end <= until.start()]
        if not quantities and until_date is None:
            continue
        months = quantities[0].months if quantities else None
        if quantities:
            r.provenance["extension_months"] = r.source_folded(quantities[0].start, quantities[0].end)
        if until_date is not None:
            r.provenance["new_end_date"] = r.source_folded(until_date.start, until_date.end)
            return months, until_date.value
        term = _TERM_RE.search(f, s, m.start())
        former = find_dates(f, term.end(), m.start()) if term else []
        if months is not None and former and former[0].value is not None and former[0].start - term.end() < 12:
            r.provenance["new_end_date"] = {"derived_from": ["former end date", "extension_months"],
                                            "former_end_date": asdict(r.source_folded(former[0].start,
                                                                                      former[0].end))}
            return months, add_months(former[0].value, months)
        return months, None
    r.problems.append("extension: no sentence extends the convention ('prolongée de N mois' or "
                      "'prolongée jusqu'au <date>')")
    return None, None
