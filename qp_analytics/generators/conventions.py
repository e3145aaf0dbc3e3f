"""Deterministic generator of illustrative raw data, written from the national convention template.

Real conventions differ in who signs (Président or Présidente), which préfet and département, which
operator is chef de file and how its name is written, the deadlines and durations, whether place and
date of signature were filled in, PDF or text, and the noise of PDF extraction. The generator draws
all of that from a seeded random source, records what it meant to write (`ConventionSpec.expected`),
and lists every file it writes in the manifest as illustrative. Files the manifest lists as real are
never overwritten.
"""

import datetime as dt
import importlib.resources
import random
import re
import textwrap
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qp_analytics.french import add_months, french_date
from qp_analytics.reading.territories import Territory

LABELLISATION = dt.date(2021, 3, 18)

# Département code -> (name, the name with its French preposition "du/de la/des/de l'").
DEPARTEMENTS: dict[str, tuple[str, str]] = {
    "11": ("Aude", "de l'Aude"),
    "13": ("Bouches-du-Rhône", "des Bouches-du-Rhône"),
    "25": ("Doubs", "du Doubs"),
    "31": ("Haute-Garonne", "de la Haute-Garonne"),
    "33": ("Gironde", "de la Gironde"),
    "34": ("Hérault", "de l'Hérault"),
    "35": ("Ille-et-Vilaine", "d'Ille-et-Vilaine"),
    "38": ("Isère", "de l'Isère"),
    "42": ("Loire", "de la Loire"),
    "44": ("Loire-Atlantique", "de la Loire-Atlantique"),
    "45": ("Loiret", "du Loiret"),
    "53": ("Mayenne", "de la Mayenne"),
    "54": ("Meurthe-et-Moselle", "de Meurthe-et-Moselle"),
    "57": ("Moselle", "de la Moselle"),
    "59": ("Nord", "du Nord"),
    "62": ("Pas-de-Calais", "du Pas-de-Calais"),
    "63": ("Puy-de-Dôme", "du Puy-de-Dôme"),
    "67": ("Bas-Rhin", "du Bas-Rhin"),
    "69": ("Rhône", "du Rhône"),
    "76": ("Seine-Maritime", "de la Seine-Maritime"),
    "80": ("Somme", "de la Somme"),
    "91": ("Essonne", "de l'Essonne"),
    "93": ("Seine-Saint-Denis", "de la Seine-Saint-Denis"),
    "94": ("Val-de-Marne", "du Val-de-Marne"),
    "95": ("Val-d'Oise", "du Val-d'Oise"),
    "974": ("La Réunion", "de La Réunion"),
}

# Facts known from DOMAIN.md that a generated document must carry.
KNOWN_SIGNATURES = {"est-ensemble": ("Bondy", dt.date(2021, 6, 29))}

FIRST_NAMES = {
    "f": ["Claire", "Sophie", "Nathalie", "Isabelle", "Hélène", "Amélie", "Catherine", "Louise", "Agnès", "Fatima"],
    "m": ["Jean-Luc", "François", "Olivier", "Thierry", "Karim", "Benoît", "Philippe", "Loïc", "Mathieu", "Éric"],
}
SURNAMES = ["MARTIN", "LEFÈVRE", "BENALI", "DUPONT-MOREAU", "GIRAUD", "N'DIAYE", "ROUSSEL", "CHEVALIER",
            "FAURE", "LAMBERT", "MERCIER", "BOYER", "GARNIER", "PERRIN", "MOREL", "DA SILVA"]
PLACE_PARTS = (["Val", "Mont", "Beau", "Saint-", "Pont", "Roche", "Bel", "Clair", "Ville", "Fontaine"],
               ["brenne", "lieu", "mont", "val", "fort", "champ", "court", "ville", "bois", "ris"],
               ["", "", "", "-sur-Lys", "-les-Bains", "-en-Vallée", "-sur-Mer", "-la-Forêt"])
EPCI_KINDS = ["Communauté d'agglomération", "Communauté urbaine", "Métropole", "Communauté de communes"]

# How drafters write each operator's name (all must read back as the code).
OPERATOR_SPELLINGS = {
    "anct": ["l'ANCT", "l'Agence nationale de la cohésion des territoires (ANCT)",
             "l'Agence Nationale de la Cohésion des Territoires", "l'A.N.C.T."],
    "anru": ["l'ANRU", "l'Agence nationale pour la rénovation urbaine",
             "l'Agence Nationale pour la Rénovation Urbaine (ANRU)", "l'A.N.R.U."],
    "banque_des_territoires": ["la Banque des Territoires", "la Banque des Territoires (Caisse des dépôts)",
                               "la Caisse des Dépôts – Banque des Territoires", "la Banque des territoires"],
    "bpifrance": ["Bpifrance", "BPI France", "la Banque publique d'investissement (Bpifrance)", "BPIFRANCE"],
}
GOVERNANCE_SENTENCES = [
    "Le Chef de file désigné pour suivre le déploiement du programme sur l'intercommunalité bénéficiaire est {op}.",
    "{Op} est désigné(e) Chef de file du programme pour l'intercommunalité bénéficiaire.",
    "Les parties conviennent que le rôle de Chef de file est confié à {op}.",
    "Chef de file désigné : {op}.",
]
NUMBER_WORDS = {6: "six", 9: "neuf", 12: "douze", 18: "dix-huit", 24: "vingt-quatre", 36: "trente-six"}

COMMITMENTS: list[tuple[str, str | None, str]] = [
    ("etat", "i", "à animer le réseau des Partenaires du programme afin d'en faciliter l'élaboration et la mise "
                  "en œuvre"),
    ("etat", "ii", "à désigner au sein de ses services déconcentrés un référent chargé d'assurer le suivi des "
                   "projets et l'accessibilité de l'offre de services"),
    ("etat", "iii", "à étudier le possible co-financement des actions inscrites dans la Feuille de route qui "
                    "seraient éligibles aux dotations et crédits disponibles de l'Etat et de ses partenaires"),
    ("etat", "iv", "à mobiliser les experts techniques des services déconcentrés"),
    ("intercommunalite", None, "à renforcer les dynamiques locales destinées à favoriser le développement "
                               "économique dans les QPV et à mobiliser les moyens nécessaires pour assurer le "
                               "pilotage du programme, notamment via la désignation d'un « Coordonnateur » "
                               "(cf. article 3 – Gouvernance locale)"),
    ("chef_de_file", "i", "à appuyer l'intercommunalité bénéficiaire dans la mise en œuvre de "
                          "l'expérimentation et dans la priorisation de ses projets"),
    ("chef_de_file", "ii", "à porter auprès des services de l'Etat et des différents Partenaires techniques et "
                           "financiers les projets identifiés dans le cadre de l'expérimentation"),
    ("partenaires", None, "à favoriser la capitalisation et le partage des bonnes pratiques, en vue notamment "
                          "de l'évaluation à venir des contrats de ville et du NPNRU"),
    ("partenaires", "i", "instruire dans les meilleurs délais les propositions de projets et d'actions qui "
                         "seront soumises par l'intercommunalité bénéficiaire"),
    ("partenaires", "ii", "mobiliser leurs ressources humaines et financières pour permettre la réalisation "
                          "des actions entrant dans leur champ d'intervention"),
]


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def typographic(text: str) -> str:
    """Apostrophes as word processors write them."""
    return text.replace("'", "\u2019")


def de_departement(code: str, name: str) -> str:
    known = DEPARTEMENTS.get(code)
    return known[1] if known else f"de {name}"


def _article(name: str) -> str:
    """The article a drafter puts before an intercommunalité's name ('' when the name has one)."""
    if re.match(r"^(?:Le|La|Les|L')\s?", name):
        return ""
    if name.startswith(("Métropole", "Communauté", "CA ")):
        return "La "
    if name[0] in "AEIOUÉÈ":
        return "L'"
    return ""


def file_suffix(fmt: str) -> str:
    """A generated document's file suffix by its format: a scan is a PDF of page images."""
    return {"scan": "pdf"}.get(fmt, fmt)


@dataclass
class ConventionSpec:
    """What one generated convention says; `expected()` is what reading it back must give."""

    territory: Territory
    fmt: str  # pdf | txt
    rep_gender: str
    rep_name: str
    rep_title: str
    state_representative: str
    chef_de_file: str
    chef_spelling: str
    governance_variant: int
    labellisation_date: dt.date
    labellisation_style: str
    deadline_months: int
    deadline_style: str
    duration_months: int
    duration_style: str
    signature_place: str | None
    signature_date: dt.date | None
    signature_style: str
    noise: dict[str, Any] = field(default_factory=dict)
    # How the territory lays its document out (see plan_layout): lists inline "(i) ... ; (ii) ..." as the
    # template, or one item a line with its marker; running header and page counter; "Fait en N exemplaires".
    layout: dict[str, Any] = field(default_factory=dict)

    @property
    def written_name(self) -> str:
        return _article(self.territory.name) + self.territory.name

    @property
    def suffix(self) -> str:
        return file_suffix(self.fmt)

    def refs(self, party: str) -> list[str | None]:
        """The markers of a party's numbered commitments as this layout writes them."""
        items = [r for p, r, _ in COMMITMENTS if p == party and r is not None]
        marker = self.layout.get("marker")
        if self.layout.get("lists") != "lines" or marker is None:
            return list(items)
        if marker == "-":
            return [None] * len(items)
        return [chr(ord("a") + i) if marker == "a)" else str(i + 1) for i in range(len(items))]

    def expected(self) -> dict[str, Any]:
        name = re.sub(r"^(?:La|Le|Les)\s+|^L'\s*", "", self.written_name)
        return {
            "territory_name": typographic(name),
            "representative": {"name": typographic(self.rep_name), "title": self.rep_title},
            "state_representative": typographic(self.state_representative),
            "chef_de_file": self.chef_de_file,
            "labellisation_date": self.labellisation_date.isoformat(),
            "roadmap_deadline_months": self.deadline_months,
            "roadmap_due_date": add_months(self.labellisation_date, self.deadline_months).isoformat(),
            "duration_months": self.duration_months,
            "end_date": add_months(self.labellisation_date, self.duration_months).isoformat(),
            "signature_place": self.signature_place,
            "signature_date": self.signature_date.isoformat() if self.signature_date else None,
            "commitments": self._commitments(),
        }

    def _commitments(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        refs = {p: iter(self.refs(p)) for p in ("etat", "intercommunalite", "chef_de_file", "partenaires")}
        for p, r, t in COMMITMENTS:
            out.append({"party": p, "ref": next(refs[p]) if r is not None else None, "text": typographic(t)})
        return out


def _months_text(months: int, style: str) -> str:
    if style == "years" and months % 12 == 0:
        years = months // 12
        return f"{ {1: 'un', 2: 'deux', 3: 'trois', 4: 'quatre'}[years]} an{'s' if years > 1 else ''}"
    if style == "words" and months in NUMBER_WORDS:
        return f"{NUMBER_WORDS[months]} mois"
    if style == "both" and months in NUMBER_WORDS:
        return f"{NUMBER_WORDS[months]} ({months}) mois"
    return f"{months} mois"


# Where each labelled territory signs (its seat); a generated territory signs in the place its name names.
SEATS = {
    "aix-marseille-provence": "Marseille", "arras": "Arras", "laval": "Laval", "maubeuge-val-de-sambre": "Maubeuge",
    "montbeliard": "Montbéliard", "montpellier": "Montpellier", "est-ensemble": "Bondy",
    "grand-paris-sud": "Évry-Courcouronnes", "grand-narbonne": "Narbonne", "grand-nancy": "Nancy",
    "orly-choisy": "Orly", "roubaix": "Roubaix", "toulouse": "Toulouse", "saint-louis-reunion": "Saint-Louis",
}


def seat(territory: Territory) -> str:
    """Where the intercommunalité sits and signs: its known seat, else the place its name is made of."""
    if territory.territory_id in SEATS:
        return SEATS[territory.territory_id]
    name = re.sub(r"^(?:Communauté (?:urbaine|d'agglomération|de communes)|Métropole|EPT|CA|CU|"
                  r"Établissement public territorial)\s*(?:d'|de |du )?", "", territory.name)
    name = re.sub(r"^(?:Le|La|Les|L')\s*(?:Grand |Pays de |Pays d')?", "", name)
    return name.split(" ")[0] or territory.territory_id.split("-")[0].capitalize()



def plan_convention(territory: Territory, rng: random.Random, chef_de_file: str,
                    labellisation: dt.date = LABELLISATION) -> ConventionSpec:
    gender = rng.choice("fm")
    rep_name = f"{rng.choice(FIRST_NAMES[gender])} {rng.choice(SURNAMES)}"
    rep_title = "Présidente" if gender == "f" else "Président"
    prefect = "la Préfète" if rng.random() < 0.4 else "le Préfet"
    dep = de_departement(territory.departement_code, territory.departement)
    state = rng.choice([
        f"{prefect} du département {dep}",
        "la Ministre déléguée auprès de la Ministre de la cohésion des territoires et des relations avec les "
        f"collectivités territoriales, chargée de la Ville, ou {prefect} du département {dep} le cas échéant",
    ])
    deadline = rng.choices([6, 9, 12], weights=[8, 2, 1])[0]
    duration = rng.choices([24, 36, 18], weights=[8, 2, 1])[0]
    place: str | None
    signed: dt.date | None
    if territory.territory_id in KNOWN_SIGNATURES:
        place, signed = KNOWN_SIGNATURES[territory.territory_id]
    else:
        roll = rng.random()
        city = seat(territory)
        place = None if roll < 0.15 else city
        signed = None if roll < 0.4 else labellisation + dt.timedelta(days=rng.randint(20, 160))
    return ConventionSpec(
        territory=territory, fmt=rng.choice(["pdf", "txt"]), rep_gender=gender, rep_name=rep_name,
        rep_title=rep_title, state_representative=state, chef_de_file=chef_de_file,
        chef_spelling=rng.choice(OPERATOR_SPELLINGS[chef_de_file]),
        governance_variant=rng.randrange(len(GOVERNANCE_SENTENCES)),
        labellisation_date=labellisation, labellisation_style=rng.choice(["long", "numeric", "defined"]),
        deadline_months=deadline, deadline_style=rng.choice(["digits", "words", "both"]),
        duration_months=duration, duration_style=rng.choice(["digits", "words", "both", "years"]),
        signature_place=place, signature_date=signed, signature_style=rng.choice(["A", "Fait à", "À"]),
        noise={"width": rng.randint(88, 118), "sep": rng.choice([" \n\n", "\n", " \n"]),
               "blank_runs": rng.randint(1, 4), "page_lines": rng.choice([0, 0, 55, 70])},
    )


def plan_layout(rng: random.Random) -> dict[str, Any]:
    """How a territory lays out the template, drawn apart from the rest of the plan (its own random source),
    so that adding layouts changed no other value of any document."""
    return {"lists": rng.choice(["inline", "inline", "lines"]), "marker": rng.choice(["1°", "1.", "1)", "a)", "-"]),
            "furniture": rng.random() < 0.5, "exemplaires": rng.choice([None, None, "before", "after"])}


def convention_paragraphs(spec: ConventionSpec) -> list[tuple[str, str]]:
    """The document as (kind, text) paragraphs: kind is 'p', 'h' (heading), 'b' (bullet) or 'gap'."""
    d = spec.labellisation_date
    date_text = french_date(d, "numeric" if spec.labellisation_style == "numeric" else "long")
    op = spec.chef_spelling
    governance = GOVERNANCE_SENTENCES[spec.governance_variant].format(op=op, Op=op[0].upper() + op[1:])
    commitments = {p: [(r, t) for q, r, t in COMMITMENTS if q == p] for p in ("etat", "intercommunalite",
                                                                                "chef_de_file", "partenaires")}

    lines = spec.layout.get("lists") == "lines"

    def numbered(items: list[tuple[str | None, str]]) -> str:
        return " ; ".join(f"({r}) {t}" for r, t in items)

    def listed(party: str, lead: str, items: list[tuple[str | None, str]], end: str = ".") \
            -> list[tuple[str, str]]:
        """A party's numbered commitments: inline after its lead, or one item a line after 'lead :'."""
        if not lines:
            return [("b" if party != "partenaires" else "p", f"{lead} {numbered(items)}{end}")]
        marks = [("-" if r is None else f"{r}{spec.layout['marker'][1:]}") for r in spec.refs(party)]
        out = [("b" if party != "partenaires" else "p", f"{lead} :")]
        for i, (mark, (_, text)) in enumerate(zip(marks, items, strict=True)):
            out.append(("li", f"{mark} {text}{' ;' if i + 1 < len(items) else end}"))
        return out

    if spec.labellisation_style == "defined":
        labellisation = (f"Le territoire a été labellisé « Quartiers productifs » le {date_text} (ci-après "
                         "« la Labellisation »), avec treize autres territoires expérimentateurs.")
    else:
        labellisation = ("L'intercommunalité signataire a confirmé sa volonté de participer à ce programme "
                         "expérimental par retour écrit adressé au Ministère chargé de la ville en amont du "
                         f"lancement officiel le {date_text}, date à laquelle ont été labellisés les territoires "
                         "Quartiers productifs (ci-après désignée « la Labellisation »).")
    if spec.signature_place is None and spec.signature_date is None:
        signature = "A …, le …"
    else:
        when = french_date(spec.signature_date, rng_style(spec)) if spec.signature_date else "…"
        signature = f"{spec.signature_style} {spec.signature_place or '…'}, le {when}"
        copies = spec.layout.get("exemplaires")
        if copies == "before" and spec.signature_place:
            signature = f"Fait en trois exemplaires à {spec.signature_place} le {when}"
        elif copies == "after" and spec.signature_place:
            signature = f"Fait à {spec.signature_place}, en deux exemplaires originaux, le {when}"
    possessive = "sa" if spec.rep_gender == "f" else "son"
    feminine = "e" if spec.written_name.startswith(("La ", "Métropole", "Communauté")) else ""
    paragraphs = [
        ("p", "ENTRE"),
        ("p", f"{spec.written_name} représenté{feminine} par {possessive} {spec.rep_title} {spec.rep_name}."),
        ("p", "ci-après, « l'intercommunalité bénéficiaire » ;"),
        ("p", "d'une part,"), ("p", "ET"),
        ("p", f"L'Etat représenté par {spec.state_representative},"), ("p", "ci-après, « l'Etat » ;"),
        ("p", "d'autre part,"), ("gap", ""), ("p", "Il est convenu ce qui suit."), ("gap", ""),
        ("h", "CONVENTION D'ENGAGEMENT"), ("h", "QUARTIERS PRODUCTIFS"), ("h", "Contexte"),
        ("p", "Trop longtemps, dans les quartiers prioritaires de la politique de la ville (QPV), "
              "l'accompagnement social a été la règle et le développement économique l'exception."),
        ("p", "Annoncé dans le cadre du Comité interministériel des villes qui s'est tenu le 29 janvier 2021, "
              "le programme Quartiers productifs est porté par le Ministère de la ville et mis en œuvre "
              "conjointement par quatre opérateurs nationaux : l'Agence Nationale de la Cohésion des "
              "Territoires (ANCT), l'Agence Nationale pour la Rénovation Urbaine (ANRU), la Banque des "
              "Territoires de la Caisse des dépôts et Bpifrance, ci-après désignés « les Partenaires »."),
        ("p", "Le programme se décline localement, avec la désignation, sur chaque territoire et en lien avec "
              "l'intercommunalité signataire, d'un chef de file dédié (« Chef de file »), interlocuteur unique "
              "désigné parmi les 4 Partenaires."),
        ("p", labellisation),
        ("h", "Article 1.  Objet de la convention"),
        ("p", "La Convention engage l'intercommunalité bénéficiaire, avec le soutien de l'Etat ou des "
              "Partenaires, à formaliser et à annexer dans un délai de "
              f"{_months_text(spec.deadline_months, spec.deadline_style)} à compter de la Labellisation, à la "
              "présente convention une feuille de route (« la Feuille de route ») explicitant un renforcement "
              "de la stratégie de développement économique des QPV en lien avec le programme."),
        ("h", "Article 2.  Engagements réciproques des parties"),
        ("p", "Les parties s'engagent à fournir leurs meilleurs efforts pour assurer le succès de la mise en "
              "œuvre du programme et la réalisation de la Feuille de route annexée à la présente convention."),
        ("p", "En particulier :"),
        *listed("etat", "L'Etat s'engage", commitments["etat"]),
        ("b", f"l'intercommunalité bénéficiaire s'engage {commitments['intercommunalite'][0][1]}."),
        *listed("chef_de_file", "Le Chef de file s'engage", commitments["chef_de_file"]),
        ("b", f"Les partenaires s'engagent par ailleurs {commitments['partenaires'][0][1]}."),
        *listed("partenaires", "En outre, les partenaires techniques et financiers (le Ministère de la ville, "
                "l'ANCT, la Banque des Territoires, l'ANRU, et Bpifrance) se sont engagés au niveau national à",
                commitments["partenaires"][1:]),
        ("h", "Article 3.  Gouvernance"),
        ("p", governance),
        ("p", "L'intercommunalité bénéficiaire s'engage à désigner un « Coordonnateur » Quartiers productifs, "
              "chargé d'assurer le suivi du programme et de rendre compte de l'avancée des travaux aux instances "
              "de gouvernance arrêtées localement (annexe 1)."),
        ("h", "Article 4.  Durée"),
        ("p", "La présente Convention est valable pour une durée de "
              f"{_months_text(spec.duration_months, spec.duration_style)} maximum à compter de la labellisation. "
              "Selon les besoins exprimés par l'instance de pilotage locale, cette durée pourra être prolongée "
              "par avenant à l'appréciation de l'Etat représenté par le préfet de département."),
        ("gap", ""),
        ("p", signature),
        ("gap", ""),
        ("p", f"{'La Préfète' if spec.state_representative.startswith('la Préfète') else 'Le Préfet'}"
              f"        {spec.rep_title} de {spec.territory.name}"),
    ]
    return [(k, typographic(t)) for k, t in paragraphs]


def rng_style(spec: ConventionSpec) -> str:
    return "numeric" if spec.labellisation_style == "numeric" else "long"


def render_text(spec: ConventionSpec) -> str:
    """Text as a PDF-to-text extraction leaves it: wrapped lines, bullets, blank runs, form feeds."""
    width, sep = spec.noise["width"], spec.noise["sep"]
    lines: list[str] = []
    for kind, text in convention_paragraphs(spec):
        if kind == "gap":
            lines.extend([" "] * spec.noise["blank_runs"])
            continue
        prefix = "\uf0b7 " if kind == "b" else (" " if kind == "h" else "")
        wrapped = textwrap.wrap(prefix + text, width=width, break_on_hyphens=False,
                                subsequent_indent="    " if kind == "li" else "") or [""]
        lines.extend(line + " " for line in wrapped)
    page_lines = spec.noise["page_lines"]
    if page_lines:
        pages = [lines[i:i + page_lines] for i in range(0, len(lines), page_lines)]
        if spec.layout.get("furniture"):
            pages = [[running_header(spec.territory.name), *page, f"Page {n} sur {len(pages)}"]
                     for n, page in enumerate(pages, start=1)]
        return "\f".join(sep.join(p) for p in pages) + "\n"
    return sep.join(lines) + "\n"


def running_header(territory_name: str) -> str:
    return typographic(f"{territory_name} – Convention d'engagement Quartiers productifs")


def _font_file(bold: bool = False) -> Path:
    # DejaVu ships inside matplotlib (a dependency for charts), so a fresh machine has it without system fonts.
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return Path(str(importlib.resources.files("matplotlib") / "mpl-data" / "fonts" / "ttf" / name))


def render_pdf(spec: ConventionSpec) -> bytes:
    header = running_header(spec.territory.name) if spec.layout.get("furniture") else None
    return paragraphs_pdf(convention_paragraphs(spec), spec.noise["blank_runs"],
                          dt.datetime(2021, 3, 18, tzinfo=dt.UTC), header)


def render_docx(spec: ConventionSpec) -> bytes:
    from qp_analytics.generators.formats import paragraphs_docx

    return paragraphs_docx(convention_paragraphs(spec), dt.datetime(2021, 3, 18))


def render_document(spec: Any, as_pdf: Any, as_text: Any, as_docx: Any) -> bytes:
    """The bytes of a generated document in its format: text, PDF, Word, or the scan of the printed PDF."""
    if spec.fmt == "scan":
        from qp_analytics.generators.formats import scanned_pdf

        return scanned_pdf(as_pdf(spec))
    if spec.fmt == "pdf":
        return as_pdf(spec)
    if spec.fmt == "docx":
        return as_docx(spec)
    return as_text(spec).encode("utf-8")


def paragraphs_pdf(paragraphs: list[tuple[str, str]], blank_runs: int, created: dt.datetime,
                   header: str | None = None) -> bytes:
    """A PDF of (kind, text) paragraphs: 'h' heading, 'b' bullet, 'li' list item, 'p' text, 'gap' blank space;
    with a running header, each page also carries it at its top and 'Page n sur N' at its foot."""
    from fpdf import FPDF

    class Paged(FPDF):
        def header(self) -> None:
            if header:
                self.set_font("DejaVu", "", 8)
                self.cell(0, 5, header, new_x="LMARGIN", new_y="NEXT")
                self.ln(3)

        def footer(self) -> None:
            if header:
                self.set_y(-15)
                self.set_font("DejaVu", "", 8)
                self.cell(0, 5, f"Page {self.page_no()} sur {{nb}}", align="C")

    pdf = Paged(format="A4")
    pdf.set_creation_date(created)  # byte-for-byte reproducible
    pdf.set_producer("qp-analytics generator")
    pdf.add_font("DejaVu", "", str(_font_file()))
    pdf.add_font("DejaVu", "B", str(_font_file(bold=True)))
    pdf.set_margins(22, 20, 22)
    pdf.add_page()
    for kind, text in paragraphs:
        if kind == "gap":
            pdf.ln(4 * blank_runs)
            continue
        pdf.set_font("DejaVu", "B" if kind == "h" else "", 11 if kind == "h" else 10)
        if kind == "li":
            pdf.set_x(pdf.l_margin + 6)
        pdf.multi_cell(0, 5, "\u2022 " + text if kind == "b" else text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


def programme_chefs(territories: list[Territory], rng: random.Random) -> list[str]:
    """Chefs de file spread over the four operators, in a seeded order."""
    codes = list(OPERATOR_SPELLINGS)
    chefs = [codes[i % len(codes)] for i in range(len(territories))]
    rng.shuffle(chefs)
    return chefs


def synthetic_territories(n: int, rng: random.Random) -> list[Territory]:
    """N fictitious intercommunalités with unique ids (for scale and tests)."""
    out: list[Territory] = []
    used: set[str] = set()
    codes = sorted(DEPARTEMENTS)
    while len(out) < n:
        place = rng.choice(PLACE_PARTS[0]) + rng.choice(PLACE_PARTS[1]) + rng.choice(PLACE_PARTS[2])
        place = place.replace("--", "-")
        place = place[0].upper() + place[1:]
        base = slugify(place)
        tid, k = base, 2
        while tid in used:
            tid, k = f"{base}-{k}", k + 1
        used.add(tid)
        code = rng.choice(codes)
        kind = rng.choice(EPCI_KINDS)
        name = f"{kind} de {place}" if kind != "Métropole" else f"Métropole de {place}"
        siren = "2" + "".join(rng.choice("0123456789") for _ in range(8))
        out.append(Territory(tid, name, siren, code, DEPARTEMENTS[code][0]))
    return out
