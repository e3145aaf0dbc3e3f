"""Read a convention d'engagement Quartiers productifs: every field from the document, with where it was read.

The parser follows the national template's structure (parties, articles) but never its values: the
deadline, the duration, the chef de file and the dates are whatever this document says. A required
field that cannot be found is an error naming the file and the field; an optional one is null and
flagged in `warnings`.
"""

import copy
import datetime as dt
import functools
import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from qp_analytics.french import add_months, find_dates, find_months
from qp_analytics.reading.cleaning import clean
from qp_analytics.reading.documents import Document
from qp_analytics.reading.ocr import LOW_CONFIDENCE
from qp_analytics.text import FoldedText, fold, line_start_matches, sentence_around, squash

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
    r"(?:^|(?<=[\f\n]))[ \t\uf0b7]*(?:[Ff]ait\b(?:[^\n]{0,60}?\s)?)?[aA\u00e0\u00c0](?:\s+|(?=[.\u2026_]))"
    r"(?P<place>[A-Z\u00c0-\u00dd][^\n,;:]{0,50}?|[.\u2026_ \t]{1,40}?)"
    r"(?:\s*,\s*|\s+)(?:en\s[^\n,]{0,40}?exemplaires?(?:\s+originaux)?\s*,?\s*)?"
    r"le(?=[\s.\u2026_]|$)(?P<rest>[^\n]*)",
    re.MULTILINE,
)
_ARTICLE_RE = re.compile(r"[\W_]*(?:(?:la|le|les)\s+|l['\u2019]\s*)?", re.IGNORECASE)
_BLANK_RE = re.compile(r"^[\s.\u2026_\-]*$")


class ConventionError(Exception):
    """The convention cannot be read or lacks required fields; one message per problem."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


_LEAVES = frozenset({str, int, float, bool, type(None), dt.date})  # returned as they are (the types themselves)


def plain(value: Any) -> Any:
    """A value as dataclasses.asdict gives it (dataclasses as dicts, containers copied, recursively), at a
    tenth of its cost: asdict deep-copies every leaf (a parse's provenance holds hundreds). Leaves are told by
    their exact type before any call (most of a parse's values are strings and offsets)."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is list:
        return [v if type(v) in _LEAVES else plain(v) for v in value]
    if kind is dict:
        return {k if type(k) in _LEAVES else plain(k): v if type(v) in _LEAVES else plain(v) for k, v in value.items()}
    names = _dataclass_fields(kind)
    if names is not None:
        return {name: v if type(v := getattr(value, name)) in _LEAVES else plain(v) for name in names}
    if isinstance(value, str | int | float | bool | dt.date | None):
        return value
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return type(value)(*[plain(v) for v in value]) if hasattr(value, "_fields") else tuple(plain(v) for v in value)
    return copy.deepcopy(value)


@functools.cache
def _dataclass_fields(cls: type) -> tuple[str, ...] | None:
    """A dataclass type's field names, None for any other type."""
    return tuple(f.name for f in fields(cls)) if is_dataclass(cls) else None


def plain_dict(record: Any) -> dict[str, Any]:
    """A dataclass as plain values (ISO dates), ready for JSON."""
    out = plain(record)
    for key, value in out.items():
        if isinstance(value, dt.date):
            out[key] = value.isoformat()
    return out


@dataclass
class Source:
    """Where a value was read: 1-based page (paragraph in a Word file), offsets in the document's text, the text
    and its sentence, how it was read (text, text layer, word, ocr) and, for OCR, the lowest word confidence of
    its sentence (0-100)."""

    page: int | None
    start: int
    end: int
    excerpt: str
    sentence: str
    paragraph: int | None = None
    read_by: str = "text"
    confidence: float | None = None


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
    siren: str | None = None  # the intercommunalité's SIREN when the document gives it (9 digits)

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


# An intercommunalité's SIREN given beside its name: "(SIREN : 200 054 807)", ", n° SIREN 200054807".
_SIREN_RE = re.compile(r"[\s,(]*(?:n°\s*)?SIREN\s*(?:n°|:)?\s*(?P<number>\d{3}[ \u00a0]?\d{3}[ \u00a0]?\d{3})(?!\d)\)?",
                       re.IGNORECASE)


class DocumentReader:
    siren: str | None = None
    def __init__(self, doc: Document):
        self.doc = doc
        # Page furniture and line-end hyphenation masked, same offsets as doc.text (see cleaning).
        self.text = clean(doc.text)
        self.ft = FoldedText(self.text)
        self.problems: list[str] = []
        self.warnings: list[dict[str, str]] = []
        self.provenance: dict[str, Any] = {}
        self.designated: str | None = None  # the chef de file, once read
        self.name_words: set[str] = set()  # distinctive words of the intercommunalité's name, once read
        self.sections = self._sections()

    # -- helpers ------------------------------------------------------------------------------
    def source(self, start: int, end: int) -> Source:
        s_start, s_end = sentence_around(self.text, start, end)
        word = self.doc.format == "docx"
        source = Source(
            page=None if word else self.doc.page_of(start), start=start, end=end,
            excerpt=squash(self.text[start:end]), sentence=squash(self.text[s_start:s_end]),
            paragraph=self.doc.paragraph_of(start) if word else None, read_by=self.doc.read_by(start, end),
            confidence=self.doc.confidence(s_start, s_end),
        )
        return source

    def flag_uncertain_ocr(self) -> None:
        """A warning for each value read by OCR with a word under the confidence threshold."""
        for name, value in self.provenance.items():
            for n, src in enumerate(value if isinstance(value, list) else [value], start=1):
                if not isinstance(src, Source) or src.read_by != "ocr":
                    continue
                own = self.doc.confidence(src.start, src.end)
                if own is not None and own < LOW_CONFIDENCE:
                    label = f"{name}[{n}]" if isinstance(value, list) else name
                    self.warn(label, "ocr_low_confidence",
                              f"{src.excerpt!r} was read by OCR with confidence {own:.0f}/100 "
                              f"({self.where(src.start)}: {src.sentence!r}); check it against the scan")

    def where(self, start: int) -> str:
        return self.doc.locate(start)

    def sentence_at(self, start: int, end: int) -> str:
        s, e = sentence_around(self.text, start, end)
        return squash(self.text[s:e])

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
        heads = [(fold(m.group("title")), m.start()) for m in line_start_matches(_HEADING_RE, self.text)]
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
        return f"article « {keyword} », {self.where(self.ft.span(*rng).start)}"

    def anchor_after(self, f_end: int, sentence_end: int) -> str:
        """What a period 'à compter de ...' counts from: the labellisation (default) or the signature."""
        tail = self.ft.folded[f_end:sentence_end]
        m = re.search(r"(?:compter de|suivant|qui suivent|apres|a partir de|des) (?:la |sa )?(?:date de (?:la |sa )?)?"
                      r"(?:la )?(labellisation|signature)", tail)
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
            begin = entre.end()
            if re.match(r"[\s:\-]*(?:l'|le |la )?etat(?![a-z])", f[begin:begin + 40]):
                # "ENTRE l'État ..., d'une part, ET <intercommunalité> ..., d'autre part"
                and_line = re.compile(r"^[ \t]*(?:ET|Et|et)[ \t]*:?[ \t]*$", re.MULTILINE).search(
                    self.text, self.ft.span(begin, begin + 1).start)
                if and_line:
                    begin = self.ft.folded_offset(and_line.end())
            stop = defined.start() if defined and defined.start() > begin else min(len(f), begin + 600)
            rep = re.compile(r"represente(?:e)?s?,? par ").search(f, begin, stop)
            name_end = rep.start() if rep else stop
            name_span = self.ft.span(begin, name_end)
            siren = _SIREN_RE.search(name_span.text)
            if siren:  # "La Métropole de X, SIREN 200 054 807, représentée par": the name stops before it
                self.siren = re.sub(r"\D", "", siren.group("number"))
                self.provenance["siren"] = self.source(name_span.start + siren.start("number"),
                                                       name_span.start + siren.end("number"))
                name_span = self.ft.span(begin, self.ft.folded_offset(name_span.start + siren.start()))
            article = _ARTICLE_RE.match(name_span.text)
            name = squash(name_span.text[article.end() if article else 0:]).rstrip(" ,;")
            if not name:
                self.problems.append("territory_name: the 'ENTRE' clause names no intercommunalité")
            else:
                territory_name = name
                start = name_span.start + (article.end() if article else 0)
                self.provenance["territory_name"] = self.source(start, name_span.end)
            if rep:
                clause_end = re.compile(r"(?<!\bm)(?<!\bmme)(?<!\bmm)\.(?:\s|$)|ci-apres").search(
                    f, rep.end(), max(stop, rep.end() + 1))
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
        """The operator the document designates as chef de file: the subject or attribute of a designation
        ("X est désigné chef de file", "le chef de file est X", "X assure le rôle de chef de file", "chef de
        file : X"), not an operator the same sentence mentions beside it ("en lien avec Y", "aux côtés de Y")."""
        f = self.ft.folded
        designated: dict[str, list[tuple[int, int]]] = {}
        mentioned: dict[str, tuple[int, int]] = {}
        for m in self.ft.finditer(r"chefs? de file"):
            s, e = self.folded_sentence(m.start(), m.end())
            ops = sorted((op.start(), op.end(), code) for code, regex in _OPERATOR_RE.items()
                         for op in regex.finditer(f, s, e))
            chosen = [_designates(f, s, e, o_s, o_e, m.start(), m.end()) for o_s, o_e, _ in ops]
            for i in range(len(ops) - 1, 0, -1):  # "l'ANRU et Bpifrance sont désignés": both are
                if chosen[i] and _COORDINATION.match(f[ops[i - 1][1]:ops[i][0]]):
                    chosen[i - 1] = True
            for (o_s, o_e, code), yes in zip(ops, chosen, strict=True):
                mentioned.setdefault(code, (s, e))
                if yes:
                    designated.setdefault(code, []).append((o_s, o_e))
        if len(designated) == 1:
            code, spans = next(iter(designated.items()))
            self.provenance["chef_de_file"] = self.source_folded(*spans[0])
            return code
        if designated:
            found = "; ".join(f"{code} ({self.where(self.ft.span(*spans[0]).start)}: "
                              f"{self.sentence_at(self.ft.span(*spans[0]).start, self.ft.span(*spans[0]).end)!r})"
                              for code, spans in sorted(designated.items()))
            self.problems.append(f"chef_de_file: several operators are designated chef de file: {found}; "
                                 "exactly one is expected")
        elif mentioned:
            where = "; ".join(f"{code} ({self.where(self.ft.span(*rng).start)}: "
                              f"{squash(self.ft.span(*rng).text)[:200]!r})" for code, rng in sorted(mentioned.items()))
            self.problems.append(f"chef_de_file: operators are mentioned beside « chef de file » but none is "
                                 f"designated as such ({where}); a sentence such as 'Le chef de file est l'ANRU' "
                                 "is expected")
        else:
            self.problems.append("chef_de_file: no sentence designates the chef de file as one of ANCT, ANRU, "
                                 "Banque des Territoires, Bpifrance (e.g. 'Le chef de file désigné est l'ANRU')")
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
                where = self.where(self.ft.span(best.start, best.end).start)
                self.problems.append(f"labellisation_date: {best.raw!r} ({where}) is not a real date")
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
        """The last signature line: 'A/À/Fait à <lieu>[,] le <date>', 'Fait en N exemplaires à <lieu> le ...',
        'Fait à <lieu>, en N exemplaires, le ...', the date possibly on the next line, or left blank."""
        matches = list(line_start_matches(_SIGNATURE_RE, self.text))
        if not matches:
            self.warn("signature_place", "signature_missing", "no 'A <lieu>, le <date>' signature line")
            self.warn("signature_date", "undated", "the convention carries no signature date")
            return None, None
        m = matches[-1]
        place = squash(m.group("place")).rstrip(" ,")
        where = self.where(m.start("place"))
        line = squash(self.text[m.start("place"):m.end("rest")])
        if _BLANK_RE.match(place):
            place = None
            self.warn("signature_place", "signature_place_blank",
                      f"the signature place is left blank ({where}: {line!r})")
        else:
            self.provenance["signature_place"] = self.source(m.start("place"), m.start("place") + len(
                m.group("place").rstrip(" ,")))
        rest_start = self.ft.folded_offset(m.start("rest"))
        rest_end = self.ft.folded_offset(m.end("rest"))
        dates = find_dates(self.ft.folded, rest_start, rest_end)
        if not dates and _BLANK_RE.match(m.group("rest")):
            # the date on the next line of its own: "Fait à Laval, le\n12 juillet 2021"
            following = re.compile(r"\s*\n\s*(?P<line>[^\n]{1,40})").match(self.text, m.end("rest"))
            if following:
                line_dates = find_dates(self.ft.folded, self.ft.folded_offset(following.start("line")),
                                        self.ft.folded_offset(following.end("line")))
                if len(line_dates) == 1 and len(fold(following.group("line")).strip()) <= len(line_dates[0].raw) + 2:
                    dates = line_dates
        if len({d.value for d in dates}) > 1:
            self.warn("signature_date", "signature_date_ambiguous",
                      f"two candidate signature dates ({', '.join(repr(d.raw) for d in dates)}), {where}: "
                      f"{line!r}; left null")
            return place, None
        if dates and dates[0].value is not None:
            self.provenance["signature_date"] = self.source_folded(dates[0].start, dates[0].end)
            return place, dates[0].value
        if dates:
            self.warn("signature_date", "signature_date_invalid",
                      f"the signature date {dates[0].raw!r} is not a real date ({where}: {line!r})")
        else:
            self.warn("signature_date", "undated", f"the signature date is left blank ({where}: {line!r})")
        return place, None

    # -- commitments --------------------------------------------------------------------------------------
    def _party_blocks(self) -> list[tuple[str, int, int]]:
        """(party, folded start of its commitments, folded end) for each party's commitments: one block per
        'X s'engage ...' lead-in, within the articles of commitments, and the whole body of an article given to
        one party ('Engagements de l'État')."""
        f = self.ft.folded
        ranges = [(title, start, end) for title, start, end in self.sections if _COMMITMENT_TITLE.search(title)]
        if not ranges:
            ranges = [("", 0, len(f))]
            self.warn("commitments", "commitments_article_missing",
                      "no article titled « Engagements »: commitments looked for in the whole document")
        blocks: list[tuple[str, int, int]] = []
        for title, start, end in ranges:
            title_party = self._party_of(title.split("engagement", 1)[-1]) if "engagement" in title else None
            body = self._after_heading(start, end)
            leads = []
            for lead in _LEAD_RE.finditer(f, body, end):
                s, _ = self.folded_sentence(lead.start(), lead.end())
                subject = f[max(s, body, lead.start() - 200):lead.start()].rsplit(":", 1)[-1]
                party = self._party_of(subject) or title_party
                if party is not None:
                    leads.append((party, lead.end()))
            if title_party and (not leads or _has_items_before(f, body, leads[0][1])):
                leads.insert(0, (title_party, body))
            for i, (party, lead_end) in enumerate(leads):
                stop = leads[i + 1][1] if i + 1 < len(leads) else end
                if i + 1 < len(leads):
                    # the next lead-in's own sentence start ends this block
                    stop = self.folded_sentence(leads[i + 1][1] - 1, leads[i + 1][1])[0]
                    stop = max(stop, lead_end)
                blocks.append((party, lead_end, stop))
        return blocks

    def _after_heading(self, start: int, end: int) -> int:
        """Folded offset just after an article's heading line."""
        span = self.ft.span(start, end)
        line_end = self.text.find("\n", span.start)
        if line_end == -1 or line_end >= span.end:
            return end
        return min(end, self.ft.folded_offset(line_end))

    def _party_of(self, words: str) -> str | None:
        """The party a subject or an article title names (folded words), or None."""
        if re.search(r"chefs? de file", words):
            return "chef_de_file"
        operators = [c for c, r in _OPERATOR_RE.items() if r.search(words)]
        if re.search(r"partenaires|operateurs", words) or len(operators) >= 2:
            return "partenaires"
        if re.search(r"(?<![a-z])(?:etat|prefete?|prefecture)(?![a-z])", words):
            return "etat"
        if re.search(r"intercommunalite|metropole|agglomeration|communaute|etablissement public|(?<![a-z])ept(?![a-z])"
                     r"|collectivite|beneficiaire", words) or (self.name_words and self.name_words & set(
                         re.findall(r"[a-z]{4,}", words))):
            return "intercommunalite"
        if len(operators) == 1:
            return "chef_de_file" if operators[0] == self.designated else "partenaires"
        return None

    def commitments(self) -> list[Commitment]:
        items: list[Commitment] = []
        sources: list[Source] = []
        for party, start, end in self._party_blocks():
            for ref, s, e in self._items(start, end):
                text = squash(self.text[s:e])
                if not re.search(r"[^\W\d_]{2,}", text):
                    continue
                items.append(Commitment(party, ref, text))
                sources.append(self.source(s, e))
        if not items:
            self.warn("commitments", "commitments_missing", "no party's commitments ('... s'engage ...') found")
        else:
            missing = [p for p in PARTIES if p not in {c.party for c in items}]
            if missing:
                self.warn("commitments", "commitments_incomplete",
                          f"no commitments found for: {', '.join(missing)}")
        self.provenance["commitments"] = sources
        return items

    def _items(self, start: int, end: int) -> list[tuple[str | None, int, int]]:
        """(ref, original start, original end) of the items of one party's block [start, end) (folded): its
        numbered or bulleted list, or its one sentence of commitment when it has no list."""
        span = self.ft.span(start, end) if start < end else None
        if span is None:
            return []
        o_start, o_end = span.start, span.end
        markers = _list_markers(self.text, o_start, o_end)
        out: list[tuple[str | None, int, int]] = []
        if not markers:
            e = _last_sentence_end(self.text, o_start, o_end)
            s, e = self._trim(o_start, e)
            if s < e:
                out.append((None, s, e))
            return out
        for ref, at in _markers_left_out(self.text, o_start, o_end, markers):
            self.warn("commitments", "commitments_list_uncertain",
                      f"list marker {ref!r} does not follow the list's numbering, so its text stays in the item "
                      f"before it ({self.where(at)}: {self.sentence_at(at, at + 1)[:200]!r})")
        lead = self._trim(o_start, markers[0][1])
        lead_text = squash(self.text[lead[0]:lead[1]])
        if lead[0] < lead[1] and re.search(r"[.;]\s*$", self.text[o_start:markers[0][1]]) and \
                len(lead_text.split()) >= 4:
            out.append((None, *lead))
        for j, (ref, _, m_end) in enumerate(markers):
            stop = markers[j + 1][1] if j + 1 < len(markers) else _first_sentence_end(self.text, m_end, o_end)
            s, e = self._trim(m_end, stop)
            if s < e:
                out.append((ref, s, e))
        return out

    def _trim(self, s: int, e: int) -> tuple[int, int]:
        """Narrow [s, e) of the cleaned text to an item's words: no blanks, bullets, lead-in glue ('à :',
        'par ailleurs,') or trailing punctuation and joining conjunction."""
        t = self.text
        while True:
            before = (s, e)
            while s < e and (t[s].isspace() or t[s] in "\uf0b7\u2022\u00ad:;,"):
                s += 1
            glue = _LEADING_GLUE.match(fold(t[s:min(e, s + 40)]))
            if glue and glue.end() and len(glue.group(0)) < e - s:
                s += _original_length(t, s, glue.end())
            while e > s and (t[e - 1].isspace() or t[e - 1] in "\uf0b7\u2022\u00ad;,.:*°"):
                e -= 1
            tail = re.search(r"(?:\s|^)(?:et|ou|and)$", t[s:e])
            if tail:
                e = s + tail.start()
            if (s, e) == before:
                return s, e

# -- designation of the chef de file ------------------------------------------------------------------------
# Words that make an operator a companion of the chef de file rather than the one designated.
_BESIDE = re.compile(
    r"(?<![a-z])(?:avec|aupres|cotes|concours|appui|soutien|association|associee?s?|partenariat|collaboration"
    r"|concertation|ainsi que|outre|parmi|entre|lien|participe\w*|contribue\w*|mobilise\w*|accompagne\w*"
    r"|sollicite\w*|informe\w*|sauf|hormis|excepte|remplace\w*|anciennement|precedemment|non)(?![a-z])")
# Words that designate: a verb of designation or of holding the role, or an apposition.
_DESIGNATING = re.compile(
    r"(?<![a-z])(?:est|sera|etait|soit|designee?s?|nommee?s?|retenue?s?|choisie?s?|confiee?s?|attribuee?s?"
    r"|devolue?s?|revient|assure\w*|exerce\w*|occupe\w*|endosse\w*|joue\w*|tient|tiendra|agit|intervient"
    r"|qualite|tant que|comme|titre)(?![a-z])|[:=]")
_GLUE = re.compile(r"^[\s,;:()\"'\-]*(?:(?:le|la|les|l'|du|de|des|d'|son|sa|en|role|fonction|fonctions|programme|"
                   r"designee?)[\s,;:()\"'\-]*)*$")
_MAX_GAP_WORDS = 16
_COORDINATION = re.compile(r"^\s*(?:,|et|ou|ainsi que)?\s*(?:,|et|ou)?\s*(?:l'|la |le |les )?\s*$")


def _designates(f: str, s: int, e: int, op_start: int, op_end: int, cf_start: int, cf_end: int) -> bool:
    """Whether the operator at [op_start, op_end) is designated by the 'chef de file' at [cf_start, cf_end) of
    the sentence [s, e) of the folded text `f`."""
    gap = f[op_end:cf_start] if op_end <= cf_start else f[cf_end:op_start]
    if any(r.search(gap) for r in _OPERATOR_RE.values()):
        # another operator in between: only as an incidental clause set off by commas (", en lien avec X,")
        parts = gap.split(",")
        kept = [parts[0], *[p for p in parts[1:-1] if not _BESIDE.search(p)], parts[-1]] if len(parts) > 2 else parts
        gap = ",".join(kept)
        if any(r.search(gap) for r in _OPERATOR_RE.values()):
            return False
    if len(re.findall(r"[a-z]+", gap)) > _MAX_GAP_WORDS or _BESIDE.search(gap):
        return False
    before = f[max(s, op_start - 60):op_start]
    if _BESIDE.search(" ".join(before.split()[-6:])) and not _DESIGNATING.search(before.split(",")[-1]):
        return False
    return bool(_DESIGNATING.search(gap) or _GLUE.match(gap))


# -- commitments: lead-ins, list markers, sentence ends ------------------------------------------------------
_COMMITMENT_TITLE = re.compile(r"engagement|obligation")
_LEAD_RE = re.compile(r"(?<![a-z])(?:s'engage(?:nt)?|se sont engagee?s|s'oblige(?:nt)?)(?![a-z])"
                      r"(?:\s*,?\s*(?:par ailleurs|egalement|en outre|au niveau national)\s*,?)*")
_LEADING_GLUE = re.compile(r"^(?:(?:par ailleurs|egalement|en outre|en particulier)\s*,?\s*)+")
# A list marker at a line start: (i) i) 1° 1. 1) a) (a), or a dash or bullet.
_LINE_MARKER = re.compile(
    r"(?:^|(?<=\f))[ \t]*(?:(?P<paren>\((?P<r1>[ivx]{1,5}|\d{1,2}|[a-h])\))"
    r"|(?P<r2>[ivx]{1,5}|\d{1,2})\s*(?:°|\)|\.(?!\d))"
    r"|(?P<r3>[a-h])\)|(?P<dash>[-\u2013\u2014\u2022\uf0b7\u25cf\u25aa*]))[ \t]+", re.MULTILINE)
# A list marker inside a paragraph, after a blank or a colon or semicolon: (i) 1° a) 1) (a).
_INLINE_MARKER = re.compile(
    r"(?:(?<=[\s:;,])|^)(?:\((?P<r1>[ivx]{1,5}|\d{1,2}|[a-h])\)|(?P<r2>\d{1,2})\s*°|(?P<r3>[a-h]|[ivx]{1,5}|\d{1,2})\))"
    r"(?=\s)")
_ROMAN = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]


def _scheme(ref: str | None) -> str:
    if ref is None:
        return "dash"
    if ref.isdigit():
        return "number"
    return "roman" if ref in _ROMAN else "letter"


def _successor(scheme: str, ref: str | None) -> str | None:
    if scheme == "dash":
        return None
    if scheme == "number":
        return str(int(ref or 0) + 1)
    if scheme == "roman":
        i = _ROMAN.index(ref) if ref in _ROMAN else -1
        return _ROMAN[i + 1] if 0 <= i + 1 < len(_ROMAN) else None
    return chr(ord(ref or "`") + 1)


def _first_ref(scheme: str) -> str | None:
    return {"number": "1", "roman": "i", "letter": "a", "dash": None}[scheme]


def _list_markers(text: str, start: int, end: int) -> list[tuple[str | None, int, int]]:
    """The markers of the list in [start, end): (ref, marker start, item start), in order, keeping the markers
    of the first list's scheme that follow each other (1, 2, 3; i, ii; a, b; dashes); a nested list stays in its
    item's text."""
    found: list[tuple[str | None, int, int]] = []
    for m in line_start_matches(_LINE_MARKER, text, start, end):
        ref = None if m.group("dash") else (m.group("r1") or m.group("r2") or m.group("r3"))
        found.append((ref, m.start() + len(m.group(0)) - len(m.group(0).lstrip(" \t")), m.end()))
    line_starts = {s for _, s, _ in found}
    for m in _INLINE_MARKER.finditer(text, start, end):
        if m.start() not in line_starts and not any(s <= m.start() < e for _, s, e in found):
            found.append((m.group("r1") or m.group("r2") or m.group("r3"), m.start(), m.end()))
    found.sort(key=lambda x: x[1])
    first = next((x for x in found if x[0] in ("1", "i", "a") or x[0] is None), None)
    if first is None:
        return []
    scheme = _scheme(first[0])
    # "i" begins a roman list unless the next marker is "j"... a letter list goes a, b, c
    if first[0] == "i" and any(x[0] == "h" for x in found):
        scheme = "letter"
    kept = [first]
    expected = _successor(scheme, first[0])
    for x in found[found.index(first) + 1:]:
        if scheme == "dash" and x[0] is None or x[0] is not None and x[0] == expected:
            kept.append(x)
            expected = _successor(scheme, x[0])
    return kept


def _markers_left_out(text: str, start: int, end: int, kept: list[tuple[str | None, int, int]]) \
        -> list[tuple[str | None, int]]:
    """Line-start markers of the kept list's own numbering scheme that the list did not take (a number
    skipped or repeated, '1, 2, 4'): (ref, offset). A nested list of another scheme is not counted."""
    if not kept:
        return []
    scheme = _scheme(kept[-1][0] if len(kept) > 1 else kept[0][0])
    taken = {s for _, s, _ in kept}
    out = []
    for m in line_start_matches(_LINE_MARKER, text, kept[0][1], end):
        ref = None if m.group("dash") else (m.group("r1") or m.group("r2") or m.group("r3"))
        at = m.start() + len(m.group(0)) - len(m.group(0).lstrip(" \t"))
        if at not in taken and scheme != "dash" and ref is not None and _scheme(ref) == scheme:
            out.append((ref, at))
    return out


_NOT_AN_END = re.compile(r"(?:\b(?:cf|art|al|etc|ex|n|p|M|Mme|MM|St|Ste)|\b[A-Z])$")


def _first_sentence_end(text: str, start: int, end: int) -> int:
    """Offset just after the first full stop of [start, end) that ends a sentence (not 'cf.', 'M.'), or end."""
    for m in re.finditer(r"[.!?](?=\s|$)", text[start:end]):
        if not _NOT_AN_END.search(text[start:start + m.start()]):
            return start + m.end()
    return end


def _last_sentence_end(text: str, start: int, end: int) -> int:
    """Offset just after the last sentence-ending full stop of [start, end), or end when there is none."""
    last = None
    for m in re.finditer(r"[.!?](?=\s|$)", text[start:end]):
        if not _NOT_AN_END.search(text[start:start + m.start()]):
            last = start + m.end()
    return last if last is not None else end


def _has_items_before(f: str, body: int, lead_end: int) -> bool:
    """Whether an article given to one party has list items before its first 'X s'engage' lead-in."""
    return bool(re.search(r"[a-z]{3,}.*[a-z]{3,}", f[body:max(body, lead_end - 40)])) and bool(
        re.search(r"(?:^|\s)(?:\(?[ivx\d]{1,4}[).°]|[a-h]\)|-)\s", f[body:lead_end]))


def _original_length(text: str, start: int, folded_length: int) -> int:
    """How many characters of `text` from `start` fold to `folded_length` characters (blanks collapsed)."""
    ft = FoldedText(text[start:start + folded_length * 2 + 8])
    if folded_length >= len(ft.folded):
        return len(text[start:start + folded_length * 2 + 8])
    return ft.span(0, folded_length).end


_GENERIC_NAME_WORDS = {"metropole", "communaute", "agglomeration", "urbaine", "communes", "etablissement", "public",
                       "territorial", "pays", "grand", "grande"}


def distinctive_words(name: str) -> set[str]:
    """Words of an intercommunalité's name that tell it from others (not 'Métropole', 'Communauté'...)."""
    return {w for w in re.findall(r"[a-z]{4,}", fold(name)) if w not in _GENERIC_NAME_WORDS}


_UP, _LOW = "A-Z\u00c0-\u00dd", "a-z\u00e0-\u00ff"
_PERSON = re.compile(rf"(?P<name>(?:[{_UP}][{_LOW}'\u2019]+\.?(?:-[{_UP}][{_LOW}]+)*\s+)+"
                     rf"[{_UP}][{_UP}'\u2019\-]+(?:[\s-]+[{_UP}][{_UP}'\u2019\-]+)*)(?![{_LOW}])")
_NOT_A_FIRST_NAME = re.compile(r"^(?:madame|monsieur|mme|m|mr|president|presidente|maire|vice|conseiller|"
                               r"conseillere)\.?$")


def split_representative(clause: str) -> dict[str, str | None]:
    """'sa Présidente Martine VASSAL' -> {'name': 'Martine VASSAL', 'title': 'Présidente'}; the name is a person's
    (first names, then the surname in capitals), the title what stands before it, or after it in 'en sa qualité
    de ...'; appositions after the name ('dûment habilité par ...') are neither."""
    m = _PERSON.search(clause)
    if m:
        words = m.group("name").split()
        skipped = 0
        while len(words) > 2 and _NOT_A_FIRST_NAME.match(fold(words[0])):
            skipped += len(words.pop(0))
        if _NOT_A_FIRST_NAME.match(fold(words[0])) and len(words) == 2 and not words[1].isupper():
            words = []
        if words:
            name = clause[m.start() + clause[m.start():].index(words[0]):m.end()]
            before = clause[:m.start() + clause[m.start():].index(words[0])]
            title = re.sub(r"^(?:son|sa|leur|le|la)\s+", "", before.strip(" ,"), flags=re.IGNORECASE)
            title = re.sub(r"(?:[\s,]+|^)(?:madame|monsieur|mme|m\.)\s*$", "", title, flags=re.IGNORECASE).strip(" ,")
            if not title:
                tail = clause[m.end():]
                after = re.search(r"en (?:sa|son) qualit\u00e9 de\s+(?P<t>[^,;]+)", tail) or re.match(
                    r"\s*,\s*(?P<t>(?:(?:1er|premi\u00e8re?|premier|vice)[- ])?(?:pr\u00e9sidente?|maire|conseill\w+)"
                    r"[^,;]*)", tail, re.IGNORECASE)
                title = after.group("t").strip() if after else ""
            return {"name": name, "title": title or None}
    words_ = re.sub(r"^(?:son|sa|leur|le|la)\s+", "", clause, flags=re.IGNORECASE).strip(" ,")
    words_ = _CIVILITY_RE.sub("", words_)
    title_match = _TITLE_RE.match(fold(words_))
    if title_match and title_match.end() > 0:
        # folded and original have the same length for these (Latin) words
        title = words_[: title_match.end()].strip(" ,")
        rest = _CIVILITY_RE.sub("", words_[title_match.end():].strip(" ,"))
        rest = re.sub(r"^(?:en exercice|de\s+\S+)\s*,?\s*", "", rest, flags=re.IGNORECASE)
        rest = _CIVILITY_RE.sub("", rest.strip(" ,"))
        return {"name": rest or None, "title": title}
    return {"name": words_ or None, "title": None}


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
    r.name_words = distinctive_words(territory_name or "")
    chef = r.chef_de_file()
    r.designated = chef
    labellisation = r.labellisation()
    deadline, deadline_base = r.roadmap_deadline()
    duration, duration_base = r.duration()
    place, signed = r.signature()
    commitments = r.commitments()
    r.flag_uncertain_ocr()
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
        siren=r.siren,
        warnings=r.warnings,
        provenance={k: (plain(v) if isinstance(v, Source) else [plain(s) for s in v] if isinstance(v, list) else v)
                    for k, v in r.provenance.items()},
    )
