"""Compose a document (a list of blocks) and its expected values from a spec.

A spec is a plain dict written in ``corpus_spec.py``.  ``build(spec)`` returns
``(blocks, expected)``; the renderers in ``make_corpus.py`` turn blocks into .txt, .pdf or
.docx.  The expected values are the facts the author put in the document when writing it
(who signs, which operator is designated chef de file, each commitment as written), so they
are fixed by the spec, never by reading the rendered file back.
"""
from __future__ import annotations

import calendar
import datetime as dt

from texts import COMMUNICATION, CONTEXT, DUREE_TAIL, ENG_INTRO, GOUV, LABL, OBJET_1, OBJET_3, OBJET_ROADMAP

LABELLISATION = dt.date(2021, 3, 18)
ROMAN = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii"]
BULLETS = {"-": "-", "–": "–", "•": "•", "pua": "\uf0b7"}


def add_months(d: dt.date | None, months: int | None) -> dt.date | None:
    if d is None or months is None:
        return None
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def iso(d):
    return d.isoformat() if d else None


def marker(style: str, n: int) -> str | None:
    if style == "1°":
        return f"{n}°"
    if style == "1.":
        return f"{n}."
    if style == "1)":
        return f"{n})"
    if style == "a)":
        return f"{chr(96 + n)})"
    if style == "(a)":
        return f"({chr(96 + n)})"
    if style == "(i)":
        return f"({ROMAN[n - 1]})"
    if style == "i)":
        return f"{ROMAN[n - 1]})"
    if style in BULLETS:
        return BULLETS[style]
    if style in ("word_number", "word_bullet"):
        return None
    raise ValueError(style)


def ref(style: str, n: int) -> str | None:
    if style in ("1°", "1.", "1)", "word_number"):
        return str(n)
    if style in ("a)", "(a)"):
        return chr(96 + n)
    if style in ("(i)", "i)"):
        return ROMAN[n - 1]
    return None


class Doc:
    def __init__(self, spec):
        self.spec = spec
        self.blocks: list[dict] = []
        self.commitments: list[dict] = []
        self.article = 0
        self.list_id = 0

    def add(self, t, **kw):
        kw["t"] = t
        self.blocks.append(kw)

    def heading(self, title):
        self.article += 1
        fmt = self.spec.get("article_fmt", "Article {n} – {title}")
        text = fmt.format(n=self.article, title=title, TITLE=title.upper())
        self.add("h", text=text)

    def group(self, g):
        """One party's commitments. g keys: party, style, layout, lead, items, a, sep,
        last, conj, para_bullet."""
        party, style = g["party"], g.get("style", "1°")
        layout = g.get("layout", "lines")
        items = [("à " if g.get("a") else "") + it for it in g["items"]]
        sep, last = g.get("sep", " ;"), g.get("last", ".")
        pb = "\uf0b7 " if g.get("para_bullet") else ""
        if layout == "sentence":
            assert len(items) == 1
            self.add("p", text=f"{pb}{g['lead']} {items[0]}{last}")
            self.commitments.append({"party": party, "ref": None, "text": items[0]})
            return
        suffixes = []
        for i in range(len(items)):
            if i == len(items) - 1:
                suffixes.append(last)
            elif i == len(items) - 2 and g.get("conj"):
                suffixes.append(sep + " " + g["conj"])
            else:
                suffixes.append(sep)
        for i, it in enumerate(items, 1):
            self.commitments.append({"party": party, "ref": ref(style, i), "text": it})
        if layout == "inline":
            parts = [f"{marker(style, i)} {it}{suf}" for i, (it, suf) in enumerate(zip(items, suffixes, strict=False), 1)]
            lead = g.get("lead")
            self.add("p", text=pb + ((lead + " ") if lead else "") + " ".join(parts))
            return
        if g.get("lead"):
            self.add("p", text=pb + g["lead"])
        self.list_id += 1
        word = {"word_number": "number", "word_bullet": "bullet"}.get(style)
        for i, (it, suf) in enumerate(zip(items, suffixes, strict=False), 1):
            self.add("li", marker=marker(style, i), text=it + suf, word=word, list=self.list_id)


def parties_block(d: Doc, s: dict):
    p = s["parties"]
    rep = p.get("rep")
    rw = p.get("repr_word", "représentée")
    if rep is None:
        rep_phrase = ""
    elif rep["form"] == "title_first":
        rep_phrase = f"{rw} par {rep['poss']} {rep['title']}, {rep['civ']} {rep['name']}, "
    elif rep["form"] == "title_first_nocomma":
        rep_phrase = f"{rw} par {rep['poss']} {rep['title']} {rep['name']}, "
    elif rep["form"] == "name_first":
        rep_phrase = f"{rw} par {rep['civ']} {rep['name']}, {rep['title']}, "
    elif rep["form"] == "qualite":
        rep_phrase = f"{rw} par {rep['civ']} {rep['name']}, en sa qualité de {rep['title']}, "
    else:
        raise ValueError(rep["form"])
    interco = (f"{join_art(p['art'], p['name'])}, {rep_phrase}{p.get('extra', '')}"
               f"ci-après « l’intercommunalité bénéficiaire » ;")
    etat_word = p.get("etat_word", "L’État")
    if p.get("state_rep"):
        if p.get("state_form") == "seed":
            state = f"{etat_word} représenté par {p['state_rep']}, ci-après, « {etat_word[0].lower() + etat_word[1:]} » ;"
        else:
            state = f"{etat_word}, représenté par {p['state_rep']}, ci-après « {etat_word[0].lower() + etat_word[1:]} » ;"
    else:
        state = f"{etat_word} ;"
    bullet = "\uf0b7 " if p.get("bullet") else ""
    first, second = (interco, state) if p.get("order", "interco_first") == "interco_first" else (state, interco)
    d.add("p", text="ENTRE")
    d.add("p", text=bullet + first)
    d.add("p", text="d’une part,")
    d.add("p", text="ET")
    d.add("p", text=bullet + second)
    d.add("p", text="d’autre part,")
    d.add("p", text="Il est convenu ce qui suit.")


def join_art(art: str, name: str) -> str:
    if not art:
        return name
    if art.endswith(("’", "'")):
        return art + name
    return f"{art} {name}"


def chef_paragraph(s):
    return s["chef"]["sentence"]


def build_convention(s: dict):
    d = Doc(s)
    for line in s.get("title", ["CONVENTION D’ENGAGEMENT", "QUARTIERS PRODUCTIFS"]):
        d.add("title", text=line)
    if s.get("parties_after_context"):
        pass
    else:
        parties_block(d, s)
    if s.get("context_title", "Contexte"):
        d.add("h", text=s.get("context_title", "Contexte"))
    ctx = [CONTEXT[i] for i in s.get("context", [0, 1, 2, 3, 4])]
    for para in ctx:
        d.add("p", text=para)
    d.add("p", text=s.get("labl_sentence") or LABL[s.get("labl", "seed")])
    if s.get("parties_after_context"):
        parties_block(d, s)
    # Objet
    d.heading(s.get("objet_title", "Objet de la convention"))
    d.add("p", text=OBJET_1)
    d.add("p", text=s.get("roadmap_sentence") or OBJET_ROADMAP.format(delai=s["roadmap"]["phrase"]))
    d.add("p", text=OBJET_3)
    chef_place = s["chef"].get("place", "gouvernance")
    if s["structure"] == "single":
        d.heading(s.get("eng_title", "Engagements réciproques des parties"))
        d.add("p", text=ENG_INTRO)
        if s.get("eng_particular", True):
            d.add("p", text="En particulier :")
        for g in s["groups"]:
            d.group(g)
    else:
        titles = s.get("party_titles", {})
        default = {"etat": "Engagements de l’État",
                   "intercommunalite": "Engagements de l’intercommunalité",
                   "chef_de_file": "Engagements du chef de file",
                   "partenaires": "Engagements des Partenaires"}
        for g in s["groups"]:
            if g.get("continue_article"):
                d.group(g)
                continue
            d.heading(titles.get(g["party"], default[g["party"]]))
            if g["party"] == "chef_de_file" and chef_place == "chef_article":
                d.add("p", text=chef_paragraph(s))
            d.group(g)
    # Gouvernance
    d.heading(s.get("gouv_title", "Gouvernance"))
    if chef_place == "gouvernance":
        d.add("p", text=chef_paragraph(s))
    for para in GOUV[: s.get("gouv_n", 3)]:
        d.add("p", text=para)
    if chef_place == "gouvernance_end":
        d.add("p", text=chef_paragraph(s))
    for extra in s.get("gouv_extra", []):
        d.add("p", text=extra)
    # Durée
    d.heading(s.get("duree_title", "Durée"))
    d.add("p", text=s["duration"]["sentence"] + " " + DUREE_TAIL)
    if s.get("communication"):
        d.heading("Communication")
        d.add("p", text=COMMUNICATION)
    for title, paras in s.get("extra_articles", []):
        d.heading(title)
        for para in paras:
            d.add("p", text=para)
    # Signature
    if s.get("sig_pagebreak"):
        d.add("pagebreak")
    for b in s["signature"]:
        d.blocks.append(dict(b))
    return d


def convention_expected(s: dict, d: Doc):
    p = s["parties"]
    rep = p.get("rep")
    sig_date = dt.date.fromisoformat(s["sig_date"]) if s.get("sig_date") else None
    labl = None if s.get("labl") == "undated" else LABELLISATION

    def base(which):
        return labl if which == "labellisation" else sig_date

    rm, du = s["roadmap"], s["duration"]
    return {
        "territory_name": p["name"],
        "representative_name": rep["name"] if rep else None,
        "representative_title": rep["title"] if rep else None,
        "state_representative": p.get("state_rep"),
        "chef_de_file": s["chef"]["code"],
        "labellisation_date": iso(labl),
        "roadmap_deadline_months": rm["months"],
        "roadmap_due_date": iso(add_months(base(rm["base"]), rm["months"])),
        "duration_months": du["months"],
        "end_date": iso(add_months(base(du["base"]), du["months"])),
        "signature_place": s.get("sig_place"),
        "signature_date": s.get("sig_date"),
        "commitments": d.commitments,
    }


def build_avenant(s: dict):
    d = Doc(s)
    for line in s["title"]:
        d.add("title", text=line)
    for para in s.get("pre", []):
        d.add("p", text=para)
    if s.get("entre"):
        e = s["entre"]
        d.add("p", text="ENTRE")
        d.add("p", text=e["state"])
        d.add("p", text="d’une part,")
        d.add("p", text="ET")
        d.add("p", text=e["interco"])
        d.add("p", text="d’autre part,")
    for para in s.get("visas", []):
        d.add("p", text=para)
    d.add("p", text=s.get("convenu", "Il est convenu ce qui suit :"))
    for title, paras in s["articles"]:
        d.heading(title)
        for para in paras:
            d.add("p", text=para)
    if s.get("sig_pagebreak"):
        d.add("pagebreak")
    for b in s["signature"]:
        d.blocks.append(dict(b))
    return d


def avenant_expected(s: dict):
    return {
        "territory_name": s["territory_name"],
        "number": s["number"],
        "extension_months": s["extension_months"],
        "new_end_date": s["new_end_date"],
        "signature_place": s.get("sig_place"),
        "signature_date": s.get("sig_date"),
    }


def apply_apostrophe(blocks, expected, apos):
    """Documents typed with a straight apostrophe: convert both the text and the expectation."""
    if apos == "’":
        return blocks, expected

    def conv(x):
        if isinstance(x, str):
            return x.replace("’", apos)
        if isinstance(x, list):
            return [conv(v) for v in x]
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    return conv(blocks), conv(expected)


def build(spec):
    if spec["kind"] == "convention":
        d = build_convention(spec)
        exp = convention_expected(spec, d)
    else:
        d = build_avenant(spec)
        exp = avenant_expected(spec)
    blocks, exp = apply_apostrophe(d.blocks, exp, spec.get("apos", "’"))
    return blocks, exp
