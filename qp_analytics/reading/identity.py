"""Does a document name the territory its file is filed under? The intercommunalité a convention, an avenant
or a roadmap's fiche names, matched against the registry (territories.csv).

Names are compared as sets of words, folded (case, accents, hyphens and apostrophes), without articles
(`le`, `la`, `l'`, `de`, `du`, `d'`...) and with the usual abbreviations spelled out (`CA`, `CU`, `EPT`,
`Agglo`, `St`). The distinctive words are what remains once the generic words of an intercommunalité's
kind are dropped (`Métropole`, `Communauté d'agglomération`, `Établissement public territorial`...). A
name in parentheses, such as an acronym, is a second form of the name. How well a document's name fits a
registry territory:

- 3, the same words: "Toulouse Métropole" and "Métropole de Toulouse";
- 2, the same distinctive words: "CA Maubeuge Val de Sambre" and "Maubeuge Val de Sambre";
- 1, one's distinctive words contain the other's: "Montpellier Méditerranée Métropole" and "Métropole de
  Montpellier";
- 0, otherwise.

The document is its territory's when it fits it (1 or more) and no other territory of the registry fits
it better; at 1, no other may fit as well either (a short name that two territories share is not enough).
Anything else is refused, naming the territory the words belong to when there is one: nothing is guessed.
A SIREN given by the document must be the registry's; when it is, a name that fits no territory is
accepted (the SIREN says which body it is), a name that fits another territory better still is not.
"""

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

ARTICLES = frozenset({"le", "la", "les", "l", "de", "du", "des", "d", "et", "en", "a", "au", "aux"})
ABBREVIATIONS = {
    "ca": ("communaute", "agglomeration"), "cu": ("communaute", "urbaine"), "cc": ("communaute", "communes"),
    "ept": ("etablissement", "public", "territorial"), "epci": ("etablissement", "public", "cooperation",
                                                               "intercommunale"),
    "agglo": ("agglomeration",), "st": ("saint",), "ste": ("sainte",), "metro": ("metropole",),
}
GENERIC = frozenset({
    "metropole", "communaute", "agglomeration", "urbaine", "communes", "commune", "intercommunale",
    "intercommunalite", "etablissement", "public", "territorial", "cooperation", "syndicat", "ville",
})
_PARENTHESES = re.compile(r"\(([^()]*)\)")


def _words(text: str) -> tuple[str, ...]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    out: list[str] = []
    for word in re.findall(r"[a-z0-9]+", folded):
        out.extend(ABBREVIATIONS.get(word, (word,)))
    return tuple(w for w in out if w not in ARTICLES)


@dataclass(frozen=True)
class NameForm:
    words: frozenset[str]  # every word but articles
    distinctive: frozenset[str]  # without the generic words of an intercommunalité's kind


def name_forms(name: str) -> list[NameForm]:
    """The forms a name can be matched by: the name without what is in parentheses, and each parenthesis."""
    parts = [_PARENTHESES.sub(" ", name), *_PARENTHESES.findall(name)]
    forms = []
    for part in parts:
        words = frozenset(_words(part))
        if words:
            forms.append(NameForm(words, words - GENERIC))
    return forms


def _fit(a: NameForm, b: NameForm) -> int:
    if a.words == b.words:
        return 3
    if not a.distinctive or not b.distinctive:
        return 0
    if a.distinctive == b.distinctive:
        return 2
    return 1 if a.distinctive <= b.distinctive or b.distinctive <= a.distinctive else 0


def _matched(form: NameForm) -> frozenset[str]:
    """The words a form is matched by: its distinctive words, or all its words when it has none but generic ones
    (fit > 0 needs one form's matched words within the other's)."""
    return form.distinctive or form.words


_SUBSETS_UP_TO = 10  # words: a longer name is matched against every territory sharing one of its words


def fit(document: Iterable[NameForm], registry: Iterable[NameForm]) -> int:
    """How well two names fit (3, 2, 1 or 0: see the module's docstring), the best over their forms."""
    registry = list(registry)
    return max((_fit(a, b) for a in document for b in registry), default=0)


@dataclass(frozen=True)
class RegistryEntry:
    territory_id: str
    name: str
    siren: str = ""


class TerritoryIndex:
    """The registry's names, ready to be matched; built once per run."""

    def __init__(self, entries: Iterable[RegistryEntry]):
        self.entries = {e.territory_id: e for e in entries}
        self.forms = {tid: name_forms(e.name) for tid, e in self.entries.items()}
        self._by_word: dict[str, set[str]] = {}  # word -> the territories with a form holding it
        self._by_words: dict[frozenset[str], set[str]] = {}  # a form's words -> the territories with that form
        for tid, forms in self.forms.items():
            for form in forms:
                for word in _matched(form):
                    self._by_word.setdefault(word, set()).add(tid)
                self._by_words.setdefault(_matched(form), set()).add(tid)

    @classmethod
    def of(cls, territories: Iterable[object]) -> "TerritoryIndex":
        """From territories.csv rows (anything with territory_id, name and siren)."""
        return cls(RegistryEntry(t.territory_id, t.name, getattr(t, "siren", "") or "")  # type: ignore[attr-defined]
                   for t in territories)

    def identity(self, territory_id: str) -> list[str]:
        """What a document is matched against for this territory (its registry name and SIREN): part of the
        fingerprint of the stages that match, so that a corrected registry row checks the documents again."""
        entry = self.entries.get(territory_id)
        return [entry.name, entry.siren] if entry else []

    def fits(self, name: str) -> dict[str, int]:
        """{territory_id: fit > 0} of the territories a name fits."""
        forms = name_forms(name)
        candidates: set[str] = set()
        for form in forms:
            words = _matched(form)
            if len(words) > _SUBSETS_UP_TO:  # every territory sharing a word with it
                for word in words:
                    candidates |= self._by_word.get(word, set())
                continue
            # Two forms fit only when one's words (_matched) hold the other's: the territories holding all of this
            # form's words, and those whose words are among them. Not every territory sharing one word with it
            # ("sur", "saint"), each weighed by `fit`: 1,400 names against 1,400 territories took 0.3 s.
            candidates |= set.intersection(*sorted((self._by_word.get(w, set()) for w in words), key=len))
            ordered = sorted(words)
            for size in range(1, len(ordered) + 1):
                for part in itertools.combinations(ordered, size):
                    candidates |= self._by_words.get(frozenset(part), set())
        out = {tid: fit(forms, self.forms[tid]) for tid in candidates}
        return {tid: f for tid, f in out.items() if f}

    def mismatch(self, territory_id: str, name: str | None, siren: str | None = None) -> str | None:
        """None when a document naming `name` (and `siren`, if it gives one) may be territory_id's; otherwise
        why not, naming both the document's intercommunalité and the registry's territory."""
        entry = self.entries.get(territory_id)
        if entry is None or name is None:
            return None  # an unknown territory is refused elsewhere; a name left blank is a parse matter
        registry = f"territories.csv names territory {territory_id!r} {entry.name!r}"
        document_siren = re.sub(r"\D", "", siren or "")
        if document_siren and entry.siren and document_siren != entry.siren:
            return (f"the document gives SIREN {document_siren} ({name!r}) but {registry} with SIREN "
                    f"{entry.siren}: this is another intercommunalité's document")
        fits = self.fits(name)
        own = fits.pop(territory_id, 0)
        better = sorted(tid for tid, f in fits.items() if f > own or (f == own == 1))
        if better:
            others = ", ".join(f"{tid!r} ({self.entries[tid].name})" for tid in better)
            return (f"the document names the intercommunalité {name!r}, which is territory {others} of "
                    f"territories.csv, but the file is filed under {territory_id!r} ({registry}); put the "
                    "document under its own territory's file name")
        if own or document_siren:
            return None
        return (f"the document names the intercommunalité {name!r} but {registry}: the names do not match, "
                "so the document is not taken for this territory's (if it is, write the name as in "
                "territories.csv, or correct territories.csv)")
