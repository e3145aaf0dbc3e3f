"""Read a convention d'engagement Quartiers productifs: every field from the document, with where it was read.

The parser follows the national template's structure (parties, articles) but never its values: the
deadline, the duration, the chef de file and the dates are whatever this document says. A required
field that cannot be found is an error naming the file and the field; an optional one is null and
flagged in `warnings`.
"""

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from qp_analytics.documents import Document
from qp_analytics.french import add_months, find_dates, find_months
from qp_analytics.text import FoldedText, fold, sentence_around, squash

CHEF_DE_FILE_CODES = ("anct", "anru", "banque_des_territoires", "bpifrance")
PARTIES = ("etat", "intercommunalite", "chef_de_file", "partenaires")
REQUIRED_FIELDS = ("territory_name", "chef_de_file", "labellisation_date", "roadmap_deadline_months", "duration_months")

# Every way a drafter names an operator, in folded text (lower case, no accents, ’ -> ').
_L, _R = r"(?<![a-z0-9])", r"(?![a-z0-9])"
OPERATOR_ALIASES: dict[str, list[str]] = {
    "anct": [r"anct", r"a\.\s?n\.\s?c\.\s?t\.?", r"agence nationale (?:de la |pour la )?cohesion des territoires"],
    "anru": [r"anru", r"a\.\s?n\.\s?r\.\s?u\.?", r"agence nationale (?:pour la |de la |de )?renovation urbaine"],
    "banque_des_territoires": [r"banque des territoires", r"caisse des depots(?: et consignations)?", r"cdc", r"bdt"],
    "bpifrance": [r"bpi\s?-?\s?france", r"bpi", r"banque publique d'investissement"],
}
_OPERATOR_RE = {
    code: re.compile(_L + "(?:" + "|".join(aliases) + ")" + _R) for code, aliases in OPERATOR_ALIASES.items()
}
_HEADING_RE = re.compile(
    r"(?:^|(?<=\f))[ \t\uf0b7]*(?:Article|ARTICLE)\s+(?P<num>\d+|premier|1er)\b\s*[.:\-\u2013\u2014]?\s*"
    r"(?P<title>[^\W\d_][^\n\f]*)",
    re.MULTILINE,
)
_PARTY_RE = re.compile(
    r"(?P<party>l'etat|l'intercommunalite(?: beneficiaire)?|le chef de file"
    r"|les partenaires(?: techniques et financiers)?(?: \([^)]*\))?)"
    r" (?:s'engage(?:nt)?|se sont engagee?s)"
)
_ROMAN_RE = re.compile(r"\((?P<ref>i{1,3}|iv|vi{0,3}|ix|x)\)")
_PARTY_CODES = {"l'etat": "etat", "le chef de file": "chef_de_file"}
_TITLE_RE = re.compile(
    r"^(?:(?:1er|premiere?|deuxieme|vice)[- ])?(?:presidente?|maire|conseillere?)(?![a-z])"
    r"(?:[- ](?:delegue|deleguee|en exercice))*",
)
_CIVILITY_RE = re.compile(r"^(?:madame|monsieur|mme|m\.)\s+", re.IGNORECASE)
_SIGNATURE_RE = re.compile(
    r"(?:^|(?<=\f))[ \t\uf0b7]*(?:[Ff]ait\b[^\n]{0,40}?\s)?[aA\u00e0\u00c0]\s+"
    r"(?P<place>[^,\n]{0,60}?)\s*,\s*le\b(?P<rest>[^\n]*)",
    re.MULTILINE,
)
_ARTICLE_RE = re.compile(r"[\s\uf0b7]*(?:(?:la|le|les)\s+|l['\u2019]\s*)?", re.IGNORECASE)
_BLANK_RE = re.compile(r"^[\s.\u2026_\-]*$")


class ConventionError(Exception):
    """The convention cannot be read or lacks required fields; one message per problem."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


def plain_dict(record: Any) -> dict[str, Any]:
    """A dataclass as plain values (ISO dates), ready for JSON."""
    out = asdict(record)
    for key, value in out.items():
        if isinstance(value, dt.date):
            out[key] = value.isoformat()
    return out


@dataclass
class Source:
    """Where a value was read: 1-based page, offsets in the document's text, the text and its sentence."""

    page: int
    start: int
    end: int
    excerpt: str
    sentence: str


@dataclass
class Commitment:
    party: str
    ref: str | None
    text: str


@dataclass
class Convention:
    territory_name: str
    representative: dict[str, str | None] | None
    state_representative: str | None
    chef_de_file: str
    labellisation_date: dt.date
    roadmap_deadline_months: int
    roadmap_due_date: dt.date | None
    duration_months: int
    end_date: dt.date | None
    signature_place: str | None
    signature_date: dt.date | None
    commitments: list[Commitment]
    warnings: list[dict[str, str]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


class DocumentReader:
    def __init__(self, doc: Document):
        self.doc = doc
        self.text = doc.text
        self.ft = FoldedText(self.text)
        self.problems: list[str] = []
        self.warnings: list[dict[str, str]] = []
        self.provenance: dict[str, Any] = {}
        self.sections = self._sections()

    # -- helpers ------------------------------------------------------------------------------
    def source(self, start: int, end: int) -> Source:
        s_start, s_end = sentence_around(self.text, start, end)
        return Source(
            page=self.doc.page_of(start), start=start, end=end,
            excerpt=squash(self.text[start:end]), sentence=squash(self.text[s_start:s_end]),
        )

    def source_folded(self, f_start: int, f_end: int) -> Source:
        span = self.ft.span(f_start, f_end)
        return self.source(span.start, span.end)

    def folded_sentence(self, f_start: int, f_end: int) -> tuple[int, int]:
        """Folded range of the sentence around a folded range."""
        span = self.ft.span(f_start, f_end)
        s, e = sentence_around(self.text, span.start, span.end)
        return self.ft.folded_offset(s), self.ft.folded_offset(e)

    def warn(self, field_name: str, code: str, message: str) -> None:
        self.warnings.append({"field": field_name, "code": code, "message": message})

    def _sections(self) -> list[tuple[str, int, int]]:
        """(folded title, folded start, folded end) of each article."""
        heads = [(fold(m.group("title")), m.start()) for m in _HEADING_RE.finditer(self.text)]
        out = []
        for i, (title, start) in enumerate(heads):
            end = heads[i + 1][1] if i + 1 < len(heads) else len(self.text)
            out.append((title, self.ft.folded_offset(start), self.ft.folded_offset(end)))
        return out

    def section(self, keyword: str) -> tuple[int, int] | None:
        for title, start, end in self.sections:
            if keyword in title:
                return start, end
        return None

    def section_label(self, keyword: str) -> str:
        rng = self.section(keyword)
        if rng is None:
            return f"no article titled « {keyword} »"
        return f"article « {keyword} », page {self.doc.page_of(self.ft.span(*rng).start)}"

    def anchor_after(self, f_end: int, sentence_end: int) -> str:
        """What a period 'à compter de ...' counts from: the labellisation (default) or the signature."""
        tail = self.ft.folded[f_end:sentence_end]
        m = re.search(r"compter de (?:la |sa )?(?:date de (?:la |sa )?)?(labellisation|signature)", tail)
        return m.group(1) if m else "labellisation"

    # -- fields -------------------------------------------------------------------------------
    def parties(self) -> tuple[str | None, dict[str, str | None] | None, str | None]:
        f = self.ft.folded
        defined = re.search(r"ci-apres,?\s*(?:designee?s?\s*)?\"\s*l'intercommunalite beneficiaire", f)
        entre = re.search(r"(?<![a-z])entre(?![a-z])", f, 0)
        territory_name = representative = state = None
        if not entre or (defined and entre.start() > defined.start()):
            self.problems.append(
                "territory_name: no 'ENTRE <intercommunalité> ...' clause naming the intercommunalité "
                "bénéficiaire at the head of the convention"
            )
        else:
            stop = defined.start() if defined else min(len(f), entre.end() + 600)
            rep = re.compile(r"represente(?:e)?s?,? par ").search(f, entre.end(), stop)
            name_end = rep.start() if rep else stop
            name_span = self.ft.span(entre.end(), name_end)
            article = _ARTICLE_RE.match(name_span.text)
            name = squash(name_span.text[article.end() if article else 0:]).rstrip(" ,;")
            if not name:
                self.problems.append("territory_name: the 'ENTRE' clause names no intercommunalité")
            else:
                territory_name = name
                start = name_span.start + (article.end() if article else 0)
                self.provenance["territory_name"] = self.source(start, name_span.end)
            if rep:
                clause_end = re.compile(r"\.(?:\s|$)|\n\s*\n|ci-apres").search(f, rep.end(), max(stop, rep.end() + 1))
                c_end = clause_end.start() if clause_end else stop
                clause = self.ft.span(rep.end(), c_end)
                representative = split_representative(squash(clause.text).rstrip(" ,;."))
                self.provenance["representative"] = self.source(clause.start, clause.end)
                if representative["name"] is None:
                    self.warn("representative", "representative_unnamed",
                              f"the intercommunalité's representative is not named: {squash(clause.text)!r}")
            else:
                self.warn("representative", "representative_missing",
                          "no 'représentée par' clause for the intercommunalité")
        st = re.search(r"l'etat,?\s+represente(?:e)?,?\s+par\s+", f)
        if st:
            end = re.compile(r"ci-apres|\n\n").search(f, st.end())
            stop = end.start() if end else min(len(f), st.end() + 400)
            span = self.ft.span(st.end(), stop)
            state = squash(span.text).rstrip(" ,;.") or None
            self.provenance["state_representative"] = self.source(span.start, span.end)
        if state is None:
            self.warn("state_representative", "state_representative_missing",
                      "no 'l'Etat représenté par ...' clause")
        return territory_name, representative, state

    def chef_de_file(self) -> str | None:
        rng = self.section("gouvernance")
        where = self.section_label("gouvernance")
        if rng is None:
            rng = (0, len(self.ft.folded))
            self.warn("chef_de_file", "governance_article_missing",
                      "no article titled « Gouvernance »: the chef de file was looked for in the whole document")
        found: dict[str, tuple[int, int]] = {}
        sentences = []
        for m in self.ft.finditer(r"chefs? de file", *rng):
            s, e = self.folded_sentence(m.start(), m.end())
            s, e = max(s, rng[0]), min(e, rng[1])
            sentences.append((s, e))
            for code, regex in _OPERATOR_RE.items():
                op = regex.search(self.ft.folded, s, e)
                if op and code not in found:
                    found[code] = (op.start(), op.end())
        if len(found) == 1:
            code, (s, e) = next(iter(found.items()))
            self.provenance["chef_de_file"] = self.source_folded(s, e)
            return code
        if not found:
            seen = "; ".join(repr(squash(self.ft.span(s, e).text))[:200] for s, e in sentences[:2])
            self.problems.append(
                f"chef_de_file: {where}: no sentence names the chef de file as one of ANCT, ANRU, "
                f"Banque des Territoires, Bpifrance" + (f" (read: {seen})" if seen else "")
            )
        else:
            self.problems.append(
                f"chef_de_file: {where}: several operators named as chef de file ({', '.join(sorted(found))}); "
                "exactly one is expected"
            )
        return None

    def labellisation(self) -> dt.date | None:
        f = self.ft.folded
        candidates = []
        definition = re.search(r"\"\s*la labellisation\s*\"", f)
        if definition:
            candidates.append(self.folded_sentence(definition.start(), definition.end()))
        for m in re.finditer(r"labellis", f):
            candidates.append(self.folded_sentence(m.start(), m.end()))
        for s, e in candidates:
            dates = find_dates(f, s, e)
            if not dates:
                continue
            anchor = f.find("labellis", s, e)
            best = min(dates, key=lambda d: abs(d.start - anchor))
            if best.value is None:
                page = self.doc.page_of(self.ft.span(best.start, best.end).start)
                self.problems.append(f"labellisation_date: {best.raw!r} (page {page}) is not a real date")
                return None
            self.provenance["labellisation_date"] = self.source_folded(best.start, best.end)
            return best.value
        self.problems.append("labellisation_date: no dated sentence about the Labellisation "
                             "(e.g. 'labellisés le 18 mars 2021')")
        return None

    def roadmap_deadline(self) -> tuple[int | None, str]:
        f = self.ft.folded
        for m in re.finditer(r"feuille de route", f):
            s, e = self.folded_sentence(m.start(), m.end())
            quantities = find_months(f, s, e)
            if not quantities:
                continue
            delai = f.find("delai", s, e)
            q = next((q for q in quantities if delai != -1 and q.start > delai), quantities[0])
            self.provenance["roadmap_deadline_months"] = self.source_folded(q.start, q.end)
            return q.months, self.anchor_after(q.end, e)
        self.problems.append("roadmap_deadline_months: no sentence sets the délai (in months) to annex the "
                             "feuille de route")
        return None, "labellisation"

    def duration(self) -> tuple[int | None, str]:
        f = self.ft.folded
        rng = self.section("duree") or (0, len(f))
        for m in re.finditer(r"duree", f[: rng[1]]):
            if m.start() < rng[0]:
                continue
            s, e = self.folded_sentence(m.start(), m.end())
            quantities = [q for q in find_months(f, s, e) if q.start > m.start()]
            if quantities:
                q = quantities[0]
                self.provenance["duration_months"] = self.source_folded(q.start, q.end)
                return q.months, self.anchor_after(q.end, e)
        self.problems.append(f"duration_months: {self.section_label('duree')}: no sentence gives the "
                             "convention's durée in months")
        return None, "labellisation"

    def signature(self) -> tuple[str | None, dt.date | None]:
        matches = list(_SIGNATURE_RE.finditer(self.text))
        if not matches:
            self.warn("signature_place", "signature_missing", "no 'A <lieu>, le <date>' signature line")
            self.warn("signature_date", "undated", "the convention carries no signature date")
            return None, None
        m = matches[-1]
        place = squash(m.group("place"))
        line_source = self.source(m.start("place"), m.end("rest"))
        if _BLANK_RE.match(place):
            place = None
            self.warn("signature_place", "signature_place_blank",
                      f"the signature place is left blank (page {line_source.page}: {line_source.excerpt!r})")
        else:
            self.provenance["signature_place"] = self.source(m.start("place"), m.end("place"))
        rest_start = self.ft.folded_offset(m.start("rest"))
        rest_end = self.ft.folded_offset(m.end("rest"))
        dates = find_dates(self.ft.folded, rest_start, rest_end)
        if dates and dates[0].value is not None:
            self.provenance["signature_date"] = self.source_folded(dates[0].start, dates[0].end)
            return place, dates[0].value
        if dates:
            self.warn("signature_date", "signature_date_invalid",
                      f"the signature date {dates[0].raw!r} is not a real date (page {line_source.page})")
        else:
            self.warn("signature_date", "undated",
                      f"the signature date is left blank (page {line_source.page}: {line_source.excerpt!r})")
        return place, None

    def commitments(self) -> list[Commitment]:
        f = self.ft.folded
        rng = self.section("engagement")
        if rng is None:
            rng = (0, len(f))
            self.warn("commitments", "commitments_article_missing",
                      "no article titled « Engagements »: commitments looked for in the whole document")
        starts = list(_PARTY_RE.finditer(f, *rng))
        items: list[Commitment] = []
        sources: list[Source] = []
        for i, m in enumerate(starts):
            party_words = m.group("party")
            party = _PARTY_CODES.get(party_words) or (
                "intercommunalite" if party_words.startswith("l'intercommunalite") else "partenaires"
            )
            end = starts[i + 1].start() if i + 1 < len(starts) else rng[1]
            last_stop = f.rfind(". ", m.end(), end)
            if i + 1 < len(starts) and last_stop != -1:
                end = last_stop + 1
            markers = list(_ROMAN_RE.finditer(f, m.end(), end))
            pieces = (
                [(None, m.end(), end)] if not markers else
                [(mk.group("ref"), mk.end(), markers[j + 1].start() if j + 1 < len(markers) else end)
                 for j, mk in enumerate(markers)]
            )
            for ref, s, e in pieces:
                span = self.ft.span(s, e)
                text = re.sub(r"(?:\s*[;,.]\s*(?:et|and)?)+\s*$", "", squash(span.text)).strip()
                text = re.sub(r"^(?:[;:,]\s*)+|^(?:par ailleurs|également|egalement|en outre)\s*,?\s*", "", text)
                if not text:
                    continue
                items.append(Commitment(party, ref, text))
                sources.append(self.source(span.start, span.end))
        if not items:
            self.warn("commitments", "commitments_missing", "no party's commitments ('... s'engage ...') found")
        else:
            missing = [p for p in PARTIES if p not in {c.party for c in items}]
            if missing:
                self.warn("commitments", "commitments_incomplete",
                          f"no commitments found for: {', '.join(missing)}")
        self.provenance["commitments"] = sources
        return items


def split_representative(clause: str) -> dict[str, str | None]:
    """'sa Présidente Martine VASSAL' -> {'name': 'Martine VASSAL', 'title': 'Présidente'}."""
    words = re.sub(r"^(?:son|sa|leur|le|la)\s+", "", clause, flags=re.IGNORECASE).strip(" ,")
    words = _CIVILITY_RE.sub("", words)
    title_match = _TITLE_RE.match(fold(words))
    if title_match and title_match.end() > 0:
        # folded and original have the same length for these (Latin) words
        title = words[: title_match.end()].strip(" ,")
        rest = _CIVILITY_RE.sub("", words[title_match.end():].strip(" ,"))
        rest = re.sub(r"^(?:en exercice|de\s+\S+)\s*,?\s*", "", rest, flags=re.IGNORECASE)
        rest = _CIVILITY_RE.sub("", rest.strip(" ,"))
        return {"name": rest or None, "title": title}
    m = re.search(r"((?:[A-ZÀ-Ý][a-zà-ÿ'\-]+[\s-]+)+[A-ZÀ-Ý'\-]{2,}(?:[\s-]+[A-ZÀ-Ý'\-]{2,})*)$", words)
    if m:
        title = words[: m.start()].strip(" ,") or None
        return {"name": m.group(1), "title": title}
    return {"name": words or None, "title": None}


def _due(base_label: str, months: int | None, labellisation: dt.date | None, signature: dt.date | None,
         reader: DocumentReader, field_name: str) -> dt.date | None:
    base = labellisation if base_label == "labellisation" else signature
    if months is None or base is None:
        if months is not None and base_label == "signature":
            reader.warn(field_name, "undated_base",
                        f"{field_name} counts from the signature, which is undated: left null")
        return None
    return add_months(base, months)


def parse_convention(doc: Document) -> Convention:
    """Parse a read document. Raises ConventionError listing every missing required field."""
    r = DocumentReader(doc)
    territory_name, representative, state = r.parties()
    chef = r.chef_de_file()
    labellisation = r.labellisation()
    deadline, deadline_base = r.roadmap_deadline()
    duration, duration_base = r.duration()
    place, signed = r.signature()
    commitments = r.commitments()
    if r.problems:
        raise ConventionError(doc.path, r.problems)
    # Computed fields point at the values they are computed from.
    r.provenance["roadmap_due_date"] = {"derived_from": ["labellisation_date" if deadline_base == "labellisation"
                                                         else "signature_date", "roadmap_deadline_months"]}
    r.provenance["end_date"] = {"derived_from": ["labellisation_date" if duration_base == "labellisation"
                                                 else "signature_date", "duration_months"]}
    assert territory_name and chef and labellisation and deadline is not None and duration is not None
    return Convention(
        territory_name=territory_name,
        representative=representative,
        state_representative=state,
        chef_de_file=chef,
        labellisation_date=labellisation,
        roadmap_deadline_months=deadline,
        roadmap_due_date=_due(deadline_base, deadline, labellisation, signed, r, "roadmap_due_date"),
        duration_months=duration,
        end_date=_due(duration_base, duration, labellisation, signed, r, "end_date"),
        signature_place=place,
        signature_date=signed,
        commitments=commitments,
        warnings=r.warnings,
        provenance={k: (asdict(v) if isinstance(v, Source) else [asdict(s) for s in v] if isinstance(v, list) else v)
                    for k, v in r.provenance.items()},
    )
