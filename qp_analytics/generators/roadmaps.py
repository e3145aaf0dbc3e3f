"""Deterministic generator of illustrative roadmaps (feuilles de route) and avenants.

A roadmap is planned first, as the normalised content the parser must return (`RoadmapSpec.meant`),
then written as a workbook or as CSV exports with the mess real people make: codes in capitals or
with accents, stray spaces, dates as Excel dates or as text, amounts as numbers or French text.
Planning and writing draw from separate seeded random sources, so one plan can be written in many
spellings that all read back to the same content.

The fourteen roadmaps of a programme tell a story an evaluator would recognise (`story_profiles`):
a few exemplary territories, most on time, some late or without an annexed roadmap, some struggling;
one national partner (Bpifrance) clearly slower than the others to decide on funding requests.
The data is always valid against ROADMAP_TEMPLATE.md: broken inputs are made elsewhere.
"""

import csv
import datetime as dt
import hashlib
import io
import random
import re
import statistics
import textwrap
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Self

from qp_analytics.french import add_months, french_date
from qp_analytics.generators.conventions import (
    _article,
    _months_text,
    de_departement,
    file_suffix,
    paragraphs_pdf,
    seat,
    typographic,
)
from qp_analytics.reading.roadmap import CODES, PARTNER_CODES, fold_code
from qp_analytics.reading.roadmap import FICHE_FIELDS as CONTRACT_FICHE_FIELDS
from qp_analytics.reading.roadmap import SHEETS as CONTRACT_SHEETS
from qp_analytics.reading.territories import Territory

# -- the contract's vocabulary (ROADMAP_TEMPLATE.md) -------------------------------------------------

# The contract's sheets and columns, as the reader defines them (one definition for both sides).
SHEETS: dict[str, tuple[str, ...]] = {sheet: tuple(columns) for sheet, columns in CONTRACT_SHEETS.items()}
FICHE_FIELDS = tuple(CONTRACT_FICHE_FIELDS)
AXES = CODES["axe"]
NATIONAL_PARTNERS = PARTNER_CODES

# How each cell is written: the kind of every column (the fiche's `valeur` takes the kind of its field).
COLUMN_KINDS: dict[str, dict[str, str]] = {
    "fiche": {"territoire_id": "text", "territoire": "text", "version": "int", "date_adoption": "date",
              "date_annexion": "date", "coordonnateur_designe_le": "date", "referent_etat_designe_le": "date"},
    "actions": {"action_id": "id", "axe": "code", "intitule": "text", "qpv": "qpv_list", "porteur": "text",
                "statut": "code", "debut_prevu": "date", "fin_prevue": "date", "debut_reel": "date",
                "fin_reelle": "date"},
    "partenaires": {"action_id": "ref", "partenaire": "partner", "role": "code"},
    "financements": {"action_id": "ref", "financeur": "partner", "type_credit": "code", "nature": "code",
                     "montant_sollicite": "amount", "montant_accorde": "amount", "montant_verse": "amount",
                     "date_sollicitation": "date", "date_decision": "date", "decision": "code"},
    "jalons": {"action_id": "ref", "jalon": "text", "date_prevue": "date", "date_reelle": "date"},
    "gouvernance": {"date": "date", "instance": "code", "participants": "partner_list"},
    "bonnes_pratiques": {"pratique_id": "id", "action_id": "ref", "titre": "text", "date_partage": "date",
                         "canal": "code", "reutilisee_par": "id_list"},
}

# The French spelling a writer gives each code (accents, spaces). Every variant written in a cell is
# derived from it and must fold back to the code: strip, lower-case, drop accents, spaces/hyphens -> "_".
FRENCH_SPELLINGS = {
    "etat": "état", "anct": "ANCT", "anru": "ANRU", "banque_des_territoires": "Banque des Territoires",
    "bpifrance": "Bpifrance",
    "pilote": "pilote", "cofinanceur": "cofinanceur", "ingenierie": "ingénierie", "expertise": "expertise",
    "relais": "relais",
    "droit_commun": "droit commun", "specifique": "spécifique",
    "subvention": "subvention", "pret": "prêt", "fonds_propres": "fonds propres", "garantie": "garantie",
    "accordee": "accordée", "refusee": "refusée", "en_instruction": "en instruction",
    "a_lancer": "à lancer", "en_cours": "en cours", "realisee": "réalisée", "abandonnee": "abandonnée",
    "entrepreneuriat": "entrepreneuriat", "commerce_artisanat": "commerce artisanat",
    "implantation_activites": "implantation activités",
    "transition_numerique_ecologique": "transition numérique écologique",
    "comite_pilotage": "comité pilotage", "comite_technique": "comité technique",
    "revue_de_projet": "revue de projet",
    "atelier_reseau": "atelier réseau", "fiche_capitalisation": "fiche capitalisation",
    "webinaire": "webinaire", "visite": "visite",
}
CODE_STYLES = ("code", "french", "capitalised", "upper", "hyphen")


def _spellings(code: str) -> dict[str, str]:
    french = FRENCH_SPELLINGS[code]
    variants = {
        "code": code,
        "french": french if french.isupper() else french.lower(),
        "capitalised": french[0].upper() + french[1:],
        "upper": french.upper(),
        "hyphen": french.replace(" ", "-"),
    }
    for name, variant in variants.items():
        if fold_code(variant) != code:  # a mistake in the table above, caught at import
            raise ValueError(f"spelling {name} {variant!r} does not fold back to {code!r}")
    return variants


CODE_VARIANTS = {code: _spellings(code) for code in FRENCH_SPELLINGS}

# -- the story ---------------------------------------------------------------------------------------

# The data describes the programme as reported in mid-2024: facts (real dates, decisions, payments) are
# on or before this date; plans (foreseen dates, planned meetings) may come later, up to the end of 2024.
SNAPSHOT = dt.date(2024, 6, 30)
LAST_PLANNED = dt.date(2024, 12, 31)


@dataclass(frozen=True)
class Profile:
    """How a territory behaves; every probability and range below is drawn per territory."""

    annex_offset: tuple[int, int] | None  # days from the due date to the annexion; None: not annexed
    actions: tuple[int, int]
    start_delay: tuple[int, int]  # days from debut_prevu to debut_reel
    on_time_share: float  # share of actions finished by their fin_prevue
    late_days: tuple[int, int]  # how late the others finish
    abandon_share: float
    refusal_share: float
    instruction_factor: float  # multiplies every partner's instruction time
    practices: tuple[int, int]
    share_rate: float  # share of documented practices shared with the network
    reuse: tuple[int, int]  # other territories reusing a shared practice
    meetings: tuple[int, int]
    coordinator_missing: float  # probability that the Coordonnateur is not designated


PROFILES: dict[str, Profile] = {
    # Annexed early, delivers on time, shares and is copied.
    "exemplary": Profile((-75, -20), (14, 25), (-10, 30), 0.85, (10, 60), 0.03, 0.05, 0.85, (3, 5), 0.9, (1, 4),
                         (10, 15), 0.0),
    # Annexed on the due date or just before; ordinary delays.
    "on_time": Profile((-30, 0), (9, 20), (0, 60), 0.7, (20, 120), 0.06, 0.12, 1.0, (1, 3), 0.7, (0, 2),
                       (7, 11), 0.05),
    # Annexed one to eight months late; actions start and finish late.
    "late_roadmap": Profile((15, 240), (7, 16), (30, 180), 0.5, (30, 200), 0.1, 0.15, 1.1, (1, 2), 0.5, (0, 2),
                            (5, 9), 0.15),
    # Roadmap annexed about on time but little delivered: late, abandoned, refused, nothing shared.
    "struggling": Profile((-10, 90), (6, 14), (60, 300), 0.3, (90, 540), 0.22, 0.35, 1.3, (0, 2), 0.0, (0, 0),
                          (4, 7), 0.5),
    # No roadmap annexed: a draft list of actions, most not launched.
    "no_roadmap": Profile(None, (5, 9), (300, 700), 0.4, (60, 240), 0.12, 0.25, 1.2, (0, 1), 0.0, (0, 0),
                          (2, 5), 0.6),
}

# Typical days from request to decision: Bpifrance is the slow one of the story.
INSTRUCTION_DAYS = {"etat": 40, "anct": 30, "anru": 50, "banque_des_territoires": 45, "bpifrance": 120}
LOCAL_INSTRUCTION_DAYS = 40
# How willing each national partner is to take part in an action, and to attend a meeting.
PARTNER_WEIGHTS = {"etat": 3.0, "anct": 3.0, "anru": 1.5, "banque_des_territoires": 3.0, "bpifrance": 2.0}
ATTENDANCE = {"etat": 0.9, "anct": 0.8, "anru": 0.5, "banque_des_territoires": 0.7, "bpifrance": 0.3}
# Which kinds of funding each financeur grants.
NATURES = {
    "etat": ("subvention", "subvention", "ingenierie"),
    "anct": ("ingenierie", "subvention"),
    "anru": ("subvention", "ingenierie"),
    "banque_des_territoires": ("pret", "ingenierie", "fonds_propres", "subvention"),
    "bpifrance": ("pret", "garantie", "fonds_propres"),
}
LOCAL_NATURES = ("subvention", "subvention", "subvention", "pret")
AMOUNT_RANGES = {  # euros, by nature
    "subvention": (10_000, 400_000), "pret": (50_000, 2_000_000), "garantie": (50_000, 1_000_000),
    "fonds_propres": (100_000, 1_500_000), "ingenierie": (5_000, 80_000),
}
LOCAL_AMOUNTS = (5_000, 250_000)  # regions, départements and local networks fund smaller shares

REGIONS = {
    "11": "Occitanie", "31": "Occitanie", "34": "Occitanie", "13": "Sud", "25": "Bourgogne-Franche-Comté",
    "33": "Nouvelle-Aquitaine", "35": "Bretagne", "38": "Auvergne-Rhône-Alpes", "42": "Auvergne-Rhône-Alpes",
    "63": "Auvergne-Rhône-Alpes", "69": "Auvergne-Rhône-Alpes", "44": "Pays de la Loire",
    "53": "Pays de la Loire", "45": "Centre-Val de Loire", "54": "Grand Est", "57": "Grand Est", "67": "Grand Est",
    "59": "Hauts-de-France", "62": "Hauts-de-France", "80": "Hauts-de-France", "76": "Normandie",
    "91": "Île-de-France", "93": "Île-de-France", "94": "Île-de-France", "95": "Île-de-France",
    "974": "Réunion",
}
NETWORKS = ["BGE", "France Active", "Réseau Entreprendre", "Adie", "Chambre de métiers et de l'artisanat"]

ACTION_TITLES = {
    "entrepreneuriat": [
        "Fabrique à entreprendre", "Couveuse d'entreprises en pied d'immeuble", "Bus de la création d'entreprise",
        "Parcours d'accompagnement des entrepreneurs des quartiers", "Prêts d'honneur pour les créateurs",
        "Programme d'accélération Entrepreneuriat Quartiers 2030", "Permanences CitésLab",
        "Concours des talents des quartiers",
    ],
    "commerce_artisanat": [
        "Foncière de redynamisation commerciale", "Boutiques à l'essai", "Rénovation des cellules commerciales",
        "Manager de centre-ville et de quartier", "Marché couvert de quartier",
        "Accompagnement des artisans à la reprise", "Halle gourmande et commerces de bouche",
    ],
    "implantation_activites": [
        "Hôtel d'entreprises", "Reconversion d'une friche en village d'artisans", "Pépinière tertiaire",
        "Zone d'activités économiques requalifiée", "Tiers-lieu productif", "Ateliers partagés de fabrication",
        "Centre d'affaires de quartier",
    ],
    "transition_numerique_ecologique": [
        "Diagnostic numérique des TPE", "Recyclerie et économie circulaire", "Fab lab de quartier",
        "Formation aux métiers du numérique", "Rénovation énergétique des locaux d'activité",
        "Plateforme de vente en ligne des commerçants", "Atelier de réparation de vélos",
    ],
}
PORTEURS = ["{interco}", "{interco}", "Ville de {city}", "CCI {region}", "BGE", "France Active", "Adie",
            "Chambre de métiers et de l'artisanat", "Bailleur social Habitat {city}", "Association Cités Lab"]
MILESTONES = [
    "Lancement de l'appel à manifestation d'intérêt", "Recrutement du chargé de mission", "Choix du prestataire",
    "Comité de sélection des projets", "Signature de la convention de financement", "Étude de faisabilité rendue",
    "Livraison des locaux", "Ouverture au public", "Premier bilan d'activité", "Évaluation à mi-parcours",
]
PRACTICE_TITLES = {
    "entrepreneuriat": ["Guichet unique de la création", "Repérage des porteurs de projet par les associations",
                        "Mentorat par des chefs d'entreprise du territoire"],
    "commerce_artisanat": ["Bail commercial à loyer progressif", "Foncière commerce avec la Banque des Territoires",
                           "Boutique test en rez-de-chaussée"],
    "implantation_activites": ["Clause d'insertion dans la commercialisation", "Reconversion d'une friche",
                               "Pépinière ouverte aux habitants"],
    "transition_numerique_ecologique": ["Diagnostic numérique gratuit", "Filière réemploi en pied d'immeuble",
                                        "Chèque numérique pour les TPE"],
}
CANALS = ("atelier_reseau", "fiche_capitalisation", "webinaire", "visite")
INSTANCES = ("comite_pilotage", "comite_technique", "revue_de_projet")

# Territories whose seat of signature is known; other places are drawn from the territory's name.
def action_prefix(territory_id: str) -> str:
    """AMP for aix-marseille-provence, GN for grand-nancy, LAV for laval (upper-case letters only)."""
    parts = [re.sub(r"[^a-z]", "", p) for p in territory_id.split("-")]
    parts = [p for p in parts if p]
    if not parts:
        return "ACT"
    if len(parts) == 1:
        return parts[0][:3].upper()
    return "".join(p[0] for p in parts).upper()


def qpv_code(departement_code: str, number: int, geography: int = 2015) -> str:
    """A QPV code of the 2015 geography, QP013001: 'QP', the département on three characters, three digits
    (QP974xxx for La Réunion); or of the 2024 one, QN01301M: 'QN', the département, a two-digit order and N
    (new), M (outline modified) or I (unchanged)."""
    departement = departement_code.upper().zfill(3)
    if geography == 2024:
        return f"QN{departement}{number % 100:02d}{'NMI'[number % 3]}"
    return f"QP{departement}{number:03d}"


def qpv_geography(territory: Territory) -> int:
    """The geography a territory's roadmap lists its QPV in: about one metropolitan territory in three revised
    its roadmap with the 2024 codes; overseas keep the 2015 ones (in force there until 2025). Drawn from the
    territory's id, not from the planning's random source, so that the rest of every plan stays as it was."""
    if territory.departement_code.startswith("97"):
        return 2015
    return 2024 if hashlib.sha256(territory.territory_id.encode()).digest()[0] % 3 == 0 else 2015


def local_partners(territory: Territory, rng: random.Random) -> list[str]:
    """Two to four local organisations named as their partners write them (free text)."""
    region = REGIONS.get(territory.departement_code)
    names = [f"Département {de_departement(territory.departement_code, territory.departement)}"]
    if region:
        chamber = "CCI Provence-Alpes-Côte d'Azur" if region == "Sud" else f"CCI {region}"
        names += [f"Région {region}", chamber]
    names += rng.sample(NETWORKS, 2)
    return rng.sample(names, rng.randint(2, min(4, len(names))))


# -- the plan ----------------------------------------------------------------------------------------

@dataclass
class RoadmapSpec:
    """One territory's roadmap as the parser must return it (see ROADMAP_TEMPLATE.md)."""

    territory_id: str
    meant: dict[str, Any]
    profile: str = ""

    def expected(self) -> dict[str, Any]:
        return self.meant


def story_profiles(territory_ids: list[str], rng: random.Random) -> dict[str, str]:
    """A profile per territory: for 14, three exemplary, five on time, three late, two struggling, one
    without roadmap. With five or more territories every profile appears at least once."""
    if len(territory_ids) < len(PROFILES):
        pool = ["on_time", "late_roadmap", "exemplary", "struggling", "no_roadmap"][:len(territory_ids)]
    else:
        extra = ["on_time", "on_time", "on_time", "on_time", "exemplary", "exemplary", "late_roadmap",
                 "late_roadmap", "struggling"]
        pool = list(PROFILES) + [extra[i % len(extra)] for i in range(len(territory_ids) - len(PROFILES))]
    rng.shuffle(pool)
    return dict(zip(territory_ids, pool, strict=True))


def _days(d: dt.date, days: int) -> dt.date:
    return d + dt.timedelta(days=days)


def _amount(rng: random.Random, low: int, high: int) -> Decimal:
    """A round amount most of the time, with cents now and then."""
    value = Decimal(rng.randint(low // 100, high // 100) * 100)
    if rng.random() < 0.2:
        value += Decimal(rng.randint(1, 99999)) / 100
    return value.quantize(Decimal("0.01"))


def _instruction_days(partner: str, profile: Profile, rng: random.Random) -> int:
    base = INSTRUCTION_DAYS.get(partner, LOCAL_INSTRUCTION_DAYS) * profile.instruction_factor
    return max(3, round(base * rng.uniform(0.5, 1.6)))


def _plan_fiche(territory: Territory, profile: Profile, labellisation: dt.date, due_date: dt.date,
                rng: random.Random) -> dict[str, Any]:
    if profile.annex_offset is None:
        annexed = None
        # Sometimes the council adopted a roadmap that was never annexed to the convention.
        adopted = _days(due_date, rng.randint(30, 300)) if rng.random() < 0.4 else None
    else:
        annexed = _days(due_date, rng.randint(*profile.annex_offset))
        adopted = _days(annexed, -rng.randint(7, 45)) if rng.random() < 0.9 else None
    coordinator = None
    if rng.random() >= profile.coordinator_missing:
        late = profile.coordinator_missing >= 0.5
        coordinator = _days(labellisation, rng.randint(200, 420) if late else rng.randint(20, 150))
    referent = _days(labellisation, rng.randint(15, 120)) if rng.random() < 0.85 else None
    revised = profile.annex_offset is not None and profile.on_time_share >= 0.7 and rng.random() < 0.25
    return {"territoire_id": territory.territory_id, "territoire": territory.name, "version": 2 if revised else 1,
            "date_adoption": adopted, "date_annexion": annexed, "coordonnateur_designe_le": coordinator,
            "referent_etat_designe_le": referent}


def _plan_action(action_id: str, axe: str, title: str, qpvs: list[str], porteur: str | None,
                 anchor: dt.date, profile: Profile, rng: random.Random) -> dict[str, Any]:
    """One action's dates and status, consistent with what had happened by SNAPSHOT."""
    # Most actions are planned over the roadmap's first eighteen months, a few for later (not launched yet).
    offset = rng.randint(-60, 540) if rng.random() < 0.85 else rng.randint(540, 1100)
    debut_prevu = min(_days(anchor, offset), dt.date(2024, 11, 30))
    fin_prevue = min(add_months(debut_prevu, rng.randint(6, 24)), LAST_PLANNED)
    if fin_prevue <= debut_prevu:
        fin_prevue = _days(debut_prevu, 90)
    debut_reel = fin_reelle = None
    started = _days(debut_prevu, rng.randint(*profile.start_delay))
    if rng.random() < profile.abandon_share:
        statut = "abandonnee"
        if started <= SNAPSHOT and rng.random() < 0.5:
            debut_reel = started  # began, then stopped
    elif started > SNAPSHOT:
        statut = "a_lancer"
    else:
        debut_reel = started
        if rng.random() < profile.on_time_share:
            end = _days(fin_prevue, -rng.randint(0, 45))
        else:
            end = _days(fin_prevue, rng.randint(*profile.late_days))
        end = max(end, _days(debut_reel, 30))
        if end <= SNAPSHOT:
            statut, fin_reelle = "realisee", end
        else:
            statut = "en_cours"  # possibly already past its fin_prevue: late and not finished
    action = {"action_id": action_id, "axe": axe, "intitule": title, "qpv": qpvs, "porteur": porteur,
              "statut": statut, "debut_prevu": debut_prevu, "fin_prevue": fin_prevue, "debut_reel": debut_reel,
              "fin_reelle": fin_reelle}
    # Some cells unknown: a foreseen start nobody wrote down, an actual start of a running action.
    if rng.random() < 0.05:
        action["debut_prevu"] = None
    if statut == "en_cours" and rng.random() < 0.05:
        action["debut_reel"] = None
    return action


def _plan_milestones(action: dict[str, Any], profile: Profile, rng: random.Random) -> list[dict[str, Any]]:
    start = action["debut_prevu"] or _days(action["fin_prevue"], -180)
    span = (action["fin_prevue"] - start).days
    count = rng.choices([0, 1, 2, 3], weights=[2, 3, 3, 2])[0]
    labels = rng.sample(MILESTONES, count)
    planned = sorted(_days(start, rng.randint(15, max(16, span))) for _ in range(count))
    out = []
    for label, date_prevue in zip(labels, planned, strict=True):
        reached = None
        if action["debut_reel"] is not None or action["statut"] == "realisee":
            delay = -rng.randint(0, 20) if rng.random() < profile.on_time_share else rng.randint(*profile.late_days)
            candidate = _days(date_prevue, delay)
            if action["debut_reel"]:
                candidate = max(candidate, action["debut_reel"])
            if action["fin_reelle"]:
                candidate = min(candidate, action["fin_reelle"])
            stopped = action["statut"] == "abandonnee" and rng.random() < 0.6
            if candidate <= SNAPSHOT and not stopped:
                reached = candidate
        out.append({"action_id": action["action_id"], "jalon": label, "date_prevue": date_prevue,
                    "date_reelle": reached})
    return out


def _plan_funding(action: dict[str, Any], financeur: str, profile: Profile,
                  rng: random.Random) -> dict[str, Any]:
    national = financeur in NATIONAL_PARTNERS
    nature = rng.choice(NATURES[financeur] if national else LOCAL_NATURES)
    type_credit: str | None = "droit_commun"
    if financeur in ("etat", "anct", "anru"):
        type_credit = "specifique" if rng.random() < 0.7 else "droit_commun"
    if rng.random() < 0.08:
        type_credit = None
    if rng.random() < 0.05:
        nature = None
    requested = _amount(rng, *(AMOUNT_RANGES[nature or "subvention"] if national else LOCAL_AMOUNTS))
    reference = action["debut_prevu"] or action["fin_prevue"]
    asked = min(_days(reference, rng.randint(-150, 240)), _days(SNAPSHOT, -5))
    asked = max(asked, dt.date(2021, 4, 1))
    decided = _days(asked, _instruction_days(financeur, profile, rng))
    row = {"action_id": action["action_id"], "financeur": financeur, "type_credit": type_credit, "nature": nature,
           "montant_sollicite": requested, "montant_accorde": None, "montant_verse": None,
           "date_sollicitation": asked, "date_decision": None, "decision": "en_instruction"}
    if decided > SNAPSHOT:
        return row  # still being instructed when the roadmap was reported
    row["date_decision"] = decided
    if rng.random() < profile.refusal_share:
        row["decision"] = "refusee"
        row["montant_accorde"] = Decimal("0.00") if rng.random() < 0.5 else None
        return row
    row["decision"] = "accordee"
    granted = requested
    if rng.random() < 0.5:  # granted in part, usually a round sum
        granted = (requested * Decimal(rng.randint(50, 95)) / 100).quantize(
            Decimal("1" if rng.random() < 0.7 else "0.01"), rounding=ROUND_DOWN)
    row["montant_accorde"] = granted.quantize(Decimal("0.01"))
    # Payments follow the action: paid in full once done, in part while running, nothing before.
    share = {"realisee": rng.choice([100, 100, 80]), "en_cours": rng.choice([0, 30, 50, 70]),
             "a_lancer": 0, "abandonnee": rng.choice([0, 20])}[action["statut"]]
    if rng.random() > 0.1:  # sometimes nobody knows what was paid
        row["montant_verse"] = (row["montant_accorde"] * share / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    # A request made when nothing was known of its amount.
    if nature == "ingenierie" and rng.random() < 0.15:
        row["montant_sollicite"] = None
    if not national and rng.random() < 0.1:
        row["date_sollicitation"] = None  # local partners' files are the least complete
    return row


def plan_roadmap(territory: Territory, labellisation: dt.date, due_date: dt.date, all_territory_ids: list[str],
                 rng: random.Random, profile: str) -> RoadmapSpec:
    """The normalised content of one territory's roadmap, drawn from `rng` for the given profile."""
    behaviour = PROFILES[profile]
    tid = territory.territory_id
    prefix = action_prefix(tid)
    fiche = _plan_fiche(territory, behaviour, labellisation, due_date, rng)
    # Actions are planned from the annexion; without one, from a draft that keeps being pushed back.
    anchor = fiche["date_annexion"] or _days(due_date, rng.randint(300, 720))
    locals_ = local_partners(territory, rng)
    region = REGIONS.get(territory.departement_code, territory.departement)
    city = seat(territory)
    geography = qpv_geography(territory)
    qpv_pool = [qpv_code(territory.departement_code, n, geography)
                for n in sorted(rng.sample(range(1, 60), rng.randint(2, 6)))]

    # Actions: every axis once, the rest drawn, listed axis by axis as roadmaps are organised.
    count = rng.randint(*behaviour.actions)
    axes = list(AXES) + [rng.choice(AXES) for _ in range(count - len(AXES))]
    axes.sort(key=AXES.index)
    titles = {axe: rng.sample(ACTION_TITLES[axe], len(ACTION_TITLES[axe])) for axe in AXES}
    used: dict[str, int] = {}
    actions = []
    for n, axe in enumerate(axes, start=1):
        k = used.get(axe, 0)
        used[axe] = k + 1
        title = titles[axe][k % len(titles[axe])]
        if k >= len(titles[axe]):
            title += f" (phase {k // len(titles[axe]) + 1})"
        qpvs = sorted(rng.sample(qpv_pool, rng.randint(0, min(3, len(qpv_pool)))))
        porteur = None if rng.random() < 0.08 else rng.choice(PORTEURS).format(
            interco=territory.name, city=city, region=region)
        actions.append(_plan_action(f"{prefix}-{n:02d}", axe, title, qpvs, porteur, anchor, behaviour, rng))

    # Partners per action, then the funding requests, each from one of the action's partners.
    candidates = list(PARTNER_WEIGHTS) + locals_
    weights = list(PARTNER_WEIGHTS.values()) + [2.5 / len(locals_)] * len(locals_)
    partenaires: list[dict[str, Any]] = []
    financements: list[dict[str, Any]] = []
    for action in actions:
        chosen: list[str] = []
        for _ in range(rng.randint(1, 4)):
            partner = rng.choices(candidates, weights=weights)[0]
            if partner not in chosen:
                chosen.append(partner)
        roles = ["pilote"] + [rng.choice(["cofinanceur", "cofinanceur", "ingenierie", "expertise", "relais"])
                              for _ in chosen[1:]]
        if rng.random() < 0.3:
            roles[0] = rng.choice(["cofinanceur", "ingenierie"])
        partenaires += [{"action_id": action["action_id"], "partenaire": p, "role": r}
                        for p, r in zip(chosen, roles, strict=True)]
        funders = [p for p, r in zip(chosen, roles, strict=True) if r in ("cofinanceur", "pilote")]
        for financeur in funders[:3]:
            if rng.random() < 0.8:
                financements.append(_plan_funding(action, financeur, behaviour, rng))

    jalons = [m for action in actions for m in _plan_milestones(action, behaviour, rng)]
    gouvernance = _plan_meetings(labellisation, fiche["date_annexion"], behaviour, locals_, rng)
    practices = _plan_practices(tid, prefix, actions, behaviour, all_territory_ids, rng)
    meant = {"fiche": fiche, "actions": actions, "partenaires": partenaires, "financements": financements,
             "jalons": jalons, "gouvernance": gouvernance, "bonnes_pratiques": practices}
    return RoadmapSpec(tid, meant, profile)


def _plan_meetings(labellisation: dt.date, annexed: dt.date | None, profile: Profile, locals_: list[str],
                   rng: random.Random) -> list[dict[str, Any]]:
    """Governance meetings from the first months until the end of 2024 (the last ones are planned)."""
    first = _days(labellisation, rng.randint(40, 120))
    span = (LAST_PLANNED - first).days
    dates = sorted({_days(first, rng.randint(0, span)) for _ in range(rng.randint(*profile.meetings))} | {first})
    meetings = []
    for i, date in enumerate(dates):
        # The first meeting, and the one that adopts the roadmap, are comités de pilotage.
        steering = i == 0 or (annexed is not None and abs((date - annexed).days) < 20)
        instance = "comite_pilotage" if steering else rng.choices(INSTANCES, weights=[3, 4, 2])[0]
        participants = [p for p, rate in ATTENDANCE.items() if rng.random() < rate]
        participants += [p for p in locals_ if rng.random() < 0.4]
        if rng.random() < 0.25:
            # Named only among the participants: counts for nothing in the partner marts.
            participants.append("France Travail" if date.year >= 2024 else "Pôle emploi")
        if not participants:
            participants = ["etat"]
        meetings.append({"date": date, "instance": instance, "participants": participants})
    return meetings


def _plan_practices(tid: str, prefix: str, actions: list[dict[str, Any]], profile: Profile,
                    all_territory_ids: list[str], rng: random.Random) -> list[dict[str, Any]]:
    # A practice comes from an action under way for a few months at least.
    progressing = [a for a in actions if a["statut"] in ("realisee", "en_cours") and a["debut_reel"]
                   and a["debut_reel"] <= _days(SNAPSHOT, -90)]
    if not progressing:
        return []
    others = [t for t in all_territory_ids if t != tid]
    count = rng.randint(*profile.practices)
    # Which practices were shared: the profile's share of them, so that the story holds on few practices.
    shared_ones = set(rng.sample(range(1, count + 1), round(profile.share_rate * count)))
    out = []
    for n in range(1, count + 1):
        action = rng.choice(progressing)
        titles = PRACTICE_TITLES[action["axe"]]
        title = titles[(n - 1) % len(titles)]
        shared = canal = None
        reused: list[str] = []
        if n in shared_ones:
            since = action["fin_reelle"] or _days(action["debut_reel"], 120)
            shared = min(_days(since, rng.randint(20, 200)), _days(SNAPSHOT, -rng.randint(0, 60)))
            canal = rng.choice(CANALS)
            reused = rng.sample(others, min(len(others), rng.randint(*profile.reuse)))
        elif rng.random() < 0.3:
            canal = rng.choice(CANALS)  # the channel is chosen, the sharing not done yet
        out.append({"pratique_id": f"{prefix}-BP{n}", "action_id": action["action_id"], "titre": title,
                    "date_partage": shared, "canal": canal, "reutilisee_par": reused})
    return out


# -- writing: the mess real people make --------------------------------------------------------------

@dataclass
class WriterHabits:
    """One writer's habits: mostly one way of writing each kind of cell, now and then another."""

    code_style: str
    date_style: str
    amount_style: str
    group_sep: str
    stray_spaces: float
    lower_refs: float
    rng: random.Random

    @classmethod
    def draw(cls, rng: random.Random) -> Self:
        return cls(rng.choice(CODE_STYLES), rng.choice(["excel", "excel", "dmy", "dmy_short", "iso"]),
                   rng.choice(["number", "number", "fr_euro", "fr_plain"]), rng.choice([" ", "\u00a0", "\u202f"]),
                   rng.uniform(0.03, 0.15), rng.choice([0.0, 0.0, 0.1]), rng)

    def pick(self, usual: str, options: tuple[str, ...] | list[str]) -> str:
        return usual if self.rng.random() < 0.7 else self.rng.choice(list(options))

    def pad(self, text: str) -> str:
        if self.rng.random() < self.stray_spaces:
            return self.rng.choice([" ", "  ", ""]) + text + self.rng.choice([" ", "", "   "])
        return text

    def code(self, code: str) -> str:
        return self.pad(CODE_VARIANTS[code][self.pick(self.code_style, CODE_STYLES)])

    def partner(self, partner: str) -> str:
        return self.code(partner) if partner in NATIONAL_PARTNERS else self.pad(partner)

    def joined(self, parts: list[str]) -> str:
        out = ""
        for i, part in enumerate(parts):
            out += (self.rng.choice([";", "; ", " ; ", " ;"]) if i else "") + part
        return out

    def date_style_for(self, for_csv: bool) -> str:
        """'excel' (a date cell), 'dmy' (05/03/2022), 'dmy_short' (5/3/2022) or 'iso' (2022-03-05)."""
        style = self.pick(self.date_style, ("excel", "dmy", "dmy_short", "iso"))
        return "dmy" if for_csv and style == "excel" else style

    @staticmethod
    def date_text(value: dt.date, style: str) -> str:
        if style == "dmy_short":
            return f"{value.day}/{value.month}/{value.year}"
        return value.isoformat() if style == "iso" else value.strftime("%d/%m/%Y")

    def amount_text(self, value: Decimal, style: str) -> str:
        whole, cents = f"{value:.2f}".split(".")
        if style == "plain":  # a number as a program writes it
            return whole if cents == "00" else f"{whole}.{cents}"
        grouped = f"{int(whole):,}".replace(",", self.group_sep)
        if style == "fr_plain":
            return f"{whole},{cents}" if cents != "00" or self.rng.random() < 0.5 else whole
        decimals = f",{cents}" if cents != "00" or self.rng.random() < 0.5 else ""
        space = self.rng.choice([" ", "\u00a0"])
        return f"{grouped}{decimals}{space}€"


def cell_value(kind: str, value: Any, habits: WriterHabits, for_csv: bool) -> Any:
    """What a writer puts in one cell: a str, a number, a date (workbooks only) or None (empty)."""
    if value is None or value == []:
        return None
    rng = habits.rng
    if kind == "code":
        return habits.code(value)
    if kind == "partner":
        return habits.partner(value)
    if kind == "partner_list":
        return habits.joined([habits.partner(p) for p in value])
    if kind == "qpv_list":
        return habits.joined([q.lower() if rng.random() < 0.05 else q for q in value])
    if kind == "id_list":
        return habits.joined(value)
    if kind == "ref" and rng.random() < habits.lower_refs:
        return value.lower()  # action ids are matched regardless of case
    if kind in ("text", "id", "ref"):
        return habits.pad(value)
    if kind == "int":
        return str(value) if for_csv or rng.random() < 0.4 else value
    if kind == "date":
        style = habits.date_style_for(for_csv)
        return value if style == "excel" else habits.pad(habits.date_text(value, style))
    if kind == "amount":
        style = habits.pick(habits.amount_style, ("number", "fr_euro", "fr_plain"))
        if style == "number":
            return habits.amount_text(value, "plain") if for_csv else value
        return habits.amount_text(value, style)
    raise ValueError(f"unknown cell kind {kind!r}")


def _sheet_rows(spec: RoadmapSpec, sheet: str) -> list[tuple[list[str], list[Any]]]:
    """Each data row of a sheet as (kinds, values), in the `meant` order."""
    if sheet == "fiche":
        kinds = COLUMN_KINDS["fiche"]
        return [(["text", kinds[name]], [name, spec.meant["fiche"][name]]) for name in FICHE_FIELDS]
    kinds = [COLUMN_KINDS[sheet][c] for c in SHEETS[sheet]]
    return [(kinds, [row[c] for c in SHEETS[sheet]]) for row in spec.meant[sheet]]


def write_workbook(spec: RoadmapSpec, path: Path, rng: random.Random) -> None:
    """The roadmap as `<territory_id>.xlsx`, byte-for-byte the same for the same spec and rng state."""
    import xlsxwriter

    habits = WriterHabits.draw(rng)
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                               "strings_to_urls": False})
    # A fixed creation date: xlsxwriter otherwise stamps the current time into the file.
    workbook.set_properties({"created": dt.datetime(2024, 7, 1, 9, 0, 0), "author": spec.meant["fiche"]["territoire"],
                             "title": "Feuille de route Quartiers productifs"})
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7"})
    date_formats = [workbook.add_format({"num_format": f}) for f in ("dd/mm/yyyy", "d/m/yyyy", "yyyy-mm-dd")]
    money = workbook.add_format({"num_format": '#,##0.00 "€"'})
    for sheet, columns in SHEETS.items():
        ws = workbook.add_worksheet(sheet)
        ws.write_row(0, 0, columns, header)
        ws.freeze_panes(1, 0)
        ws.set_column(0, len(columns) - 1, 18)
        date_format = rng.choice(date_formats)
        for r, (kinds, values) in enumerate(_sheet_rows(spec, sheet), start=1):
            for c, (kind, value) in enumerate(zip(kinds, values, strict=True)):
                cell = cell_value(kind, value, habits, for_csv=False)
                if cell is None:
                    continue  # an empty cell: unknown
                if isinstance(cell, dt.date):
                    ws.write_datetime(r, c, cell, date_format)
                elif isinstance(cell, Decimal):
                    ws.write_number(r, c, float(cell), money)
                elif isinstance(cell, int):
                    ws.write_number(r, c, cell)
                else:
                    ws.write_string(r, c, cell)
    workbook.close()


def write_csv_exports(spec: RoadmapSpec, folder: Path, rng: random.Random) -> list[Path]:
    """One `<territory_id>.<sheet>.csv` per sheet: `;`-separated UTF-8 (with a BOM as Excel writes it, or
    not), dates as text, amounts as French text or plain numbers."""
    habits = WriterHabits.draw(rng)
    encoding = rng.choice(["utf-8", "utf-8-sig"])
    newline = rng.choice(["\r\n", "\n"])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for sheet, columns in SHEETS.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator=newline)
        writer.writerow(columns)
        for kinds, values in _sheet_rows(spec, sheet):
            cells = [cell_value(kind, value, habits, for_csv=True) for kind, value in zip(kinds, values,
                                                                                          strict=True)]
            writer.writerow(["" if cell is None else cell for cell in cells])
        path = folder / f"{spec.territory_id}.{sheet}.csv"
        path.write_bytes(buffer.getvalue().encode(encoding))
        paths.append(path)
    return paths


# -- avenants ----------------------------------------------------------------------------------------

@dataclass
class AvenantSpec:
    """What one generated avenant says; `expected()` is what reading it back must give."""

    territory_id: str
    number: int
    territory_name: str  # as the territory registry writes it
    extension_months: int | None  # "prolongée de 12 mois" ...
    new_end_date: dt.date | None  # ... or "prolongée jusqu'au 18 mars 2024" (exactly one of the two)
    signature_place: str | None
    signature_date: dt.date | None
    fmt: str  # txt | pdf | docx | scan (a PDF of page images)
    departement: str = ""
    prefect: str = "le Préfet"
    months_style: str = "digits"
    date_style: str = "long"
    signature_style: str = "Fait à"
    noise: dict[str, Any] = field(default_factory=dict)

    @property
    def suffix(self) -> str:
        return file_suffix(self.fmt)

    @property
    def written_name(self) -> str:
        """The name in a sentence: 'la Métropole d'Aix-Marseille-Provence', 'le Grand Narbonne'."""
        name = _article(self.territory_name) + self.territory_name
        return re.sub(r"^(Le|La|Les|L')(?=\s|')", lambda m: m.group(1).lower(), name)

    def expected(self) -> dict[str, Any]:
        name = re.sub(r"^(?:La|Le|Les)\s+|^L'\s*", "", _article(self.territory_name) + self.territory_name)
        return {"territory_name": typographic(name), "number": self.number,
                "extension_months": self.extension_months, "new_end_date": self.new_end_date,
                "signature_place": typographic(self.signature_place) if self.signature_place else None,
                "signature_date": self.signature_date}


def plan_avenant(territory: Territory, number: int, convention_end: dt.date, rng: random.Random) -> AvenantSpec:
    """Avenant `number` to a convention ending on `convention_end`: an extension in months or a new end."""
    months = rng.choice([6, 12, 12, 18, 24])
    extension: int | None = months
    new_end: dt.date | None = None
    if rng.random() < 0.45:
        extension, new_end = None, add_months(convention_end, months)
        if rng.random() < 0.3:
            new_end = dt.date(new_end.year, 12, 31)  # "jusqu'au 31 décembre": a round end of year
    roll = rng.random()
    place = None if roll < 0.1 else seat(territory)
    # Signed in the last months of the convention; sometimes the date was never filled in.
    signed = None if roll < 0.3 else _days(convention_end, -rng.randint(10, 120))
    return AvenantSpec(
        territory_id=territory.territory_id, number=number, territory_name=territory.name,
        extension_months=extension, new_end_date=new_end, signature_place=place, signature_date=signed,
        fmt=rng.choice(["txt", "pdf"]), departement=de_departement(territory.departement_code, territory.departement),
        prefect=rng.choice(["le Préfet", "la Préfète"]), months_style=rng.choice(["digits", "words", "both"]),
        date_style=rng.choice(["long", "long", "numeric"]), signature_style=rng.choice(["Fait à", "A", "À"]),
        noise={"width": rng.randint(60, 110), "blank_runs": rng.randint(1, 3), "sep": rng.choice(["\n", " \n"]),
               "title": rng.choice(["AVENANT N° {n}", "Avenant n° {n}", "AVENANT N°{n}", "Avenant n°{n}"])},
    )


def avenant_paragraphs(spec: AvenantSpec) -> list[tuple[str, str]]:
    """The document as (kind, text) paragraphs: kind is 'p', 'h' (heading) or 'gap'."""
    if spec.extension_months is not None:
        duration = (f"La durée de la convention est prolongée de "
                    f"{_months_text(spec.extension_months, spec.months_style)}.")
    else:
        assert spec.new_end_date is not None
        duration = f"La convention est prolongée jusqu'au {french_date(spec.new_end_date, 'long')}."
    when = french_date(spec.signature_date, spec.date_style) if spec.signature_date else "…"
    signature = f"{spec.signature_style} {spec.signature_place or '…'}, le {when}"
    paragraphs = [
        ("h", spec.noise["title"].format(n=spec.number)),
        ("h", "à la convention d'engagement « Quartiers productifs »"),
        ("gap", ""),
        ("p", "ENTRE"),
        ("p", f"{spec.written_name[0].upper() + spec.written_name[1:]}, ci-après « l'intercommunalité "
              "bénéficiaire » ;"),
        ("p", "ET"),
        ("p", f"L'Etat, représenté par {spec.prefect} du département {spec.departement}, ci-après « l'Etat »."),
        ("gap", ""),
        ("p", "Vu la convention d'engagement Quartiers productifs conclue entre l'Etat et "
              f"{spec.written_name} ;"),
        ("p", "Considérant les besoins exprimés par l'instance de pilotage locale pour mener à bien les actions "
              "de la feuille de route ;"),
        ("p", "Il est convenu ce qui suit."),
        ("h", "Article 1 – Objet"),
        ("p", f"Le présent avenant n° {spec.number} modifie l'article « Durée » de la convention."),
        ("h", "Article 2 – Durée"),
        ("p", duration),
        ("h", "Article 3 – Autres dispositions"),
        ("p", "Les autres dispositions de la convention demeurent inchangées."),
        ("gap", ""),
        ("p", signature),
        ("gap", ""),
        ("p", f"{'La Préfète' if spec.prefect == 'la Préfète' else 'Le Préfet'}        Pour {spec.written_name}"),
    ]
    return [(kind, typographic(text)) for kind, text in paragraphs]


def render_avenant_text(spec: AvenantSpec) -> str:
    """Text as a PDF-to-text extraction leaves it: wrapped lines, trailing blanks, runs of blank lines."""
    lines: list[str] = []
    for kind, text in avenant_paragraphs(spec):
        if kind == "gap":
            lines.extend([" "] * spec.noise["blank_runs"])
            continue
        wrapped = textwrap.wrap((" " if kind == "h" else "") + text, width=spec.noise["width"],
                                break_on_hyphens=False) or [""]
        lines.extend(line + " " for line in wrapped)
    return spec.noise["sep"].join(lines) + "\n"


def render_avenant_docx(spec: AvenantSpec) -> bytes:
    from qp_analytics.generators.formats import paragraphs_docx

    return paragraphs_docx(avenant_paragraphs(spec), dt.datetime(2023, 1, 1))


def render_avenant_pdf(spec: AvenantSpec) -> bytes:
    return paragraphs_pdf(avenant_paragraphs(spec), spec.noise["blank_runs"], dt.datetime(2023, 1, 1, tzinfo=dt.UTC))


# -- the story in figures (for the generator's report and the tests) ---------------------------------

def story_summary(spec: RoadmapSpec, due_date: dt.date) -> dict[str, Any]:
    """A few figures that show what the profile did to the roadmap."""
    meant = spec.meant
    annexed = meant["fiche"]["date_annexion"]
    days: dict[str, list[int]] = {}
    for row in meant["financements"]:
        if row["date_decision"] and row["date_sollicitation"]:
            days.setdefault(row["financeur"], []).append((row["date_decision"] - row["date_sollicitation"]).days)
    statuses = [a["statut"] for a in meant["actions"]]
    late = [a for a in meant["actions"] if a["statut"] != "abandonnee" and a["fin_prevue"]
            and (a["fin_reelle"] or SNAPSHOT) > a["fin_prevue"] and (a["fin_reelle"] or a["fin_prevue"] < SNAPSHOT)]
    decisions = [f["decision"] for f in meant["financements"]]
    return {
        "profile": spec.profile, "actions": len(statuses),
        "roadmap_delay_days": (annexed - due_date).days if annexed else None,
        "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
        "late_actions": len(late),  # finished after fin_prevue, or unfinished past it on SNAPSHOT
        "decisions": {d: decisions.count(d) for d in sorted(set(decisions))},
        "planned_meetings": sum(1 for g in meant["gouvernance"] if g["date"] > SNAPSHOT),
        "meetings": len(meant["gouvernance"]),
        "reuse_links": sum(len(p["reutilisee_par"]) for p in meant["bonnes_pratiques"]),
        "median_instruction_days": {p: statistics.median(v) for p, v in sorted(days.items())
                                    if p in NATIONAL_PARTNERS},
        "practices": len(meant["bonnes_pratiques"]),
        "shared": sum(1 for p in meant["bonnes_pratiques"] if p["date_partage"]),
    }
