"""The evaluation marts on a small hand-made programme, every expected value worked out by hand.

Four territories, as_of = 30 June 2023 (and 30 June 2024 for the run that moves as_of):
- alpha: roadmap annexed exactly on its due date; actions on time, late, unfinished, not yet due, abandoned;
  milestones late, early, unreached, reached after as_of, reached before they are due; funding granted,
  refused, decided after as_of, requested after as_of, an empty amount; a local partner ("Région Sud");
  bpifrance not involved at all; a meeting after as_of; a name only among meeting participants; an avenant
  signed before as_of and one after; practices shared, never shared, reused (one listing alpha itself).
- beta: labellisation on 31 August (6 months later clamps to 28 February); roadmap late; unsigned convention;
  an avenant setting a new end date followed by an undated one adding months; no meeting; a practice shared
  after as_of.
- gamma: no roadmap file at all (roadmap missing); convention ended before as_of (not in force).
- delta: long deadline, roadmap annexed after as_of (pending); convention signed after as_of; nothing due.

Dates in comments: durations are whole days, "+ N months" is the same day N months later (clamped).
"""

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from pipelines.run import run_pipeline
from tests.document_builder import convention_text
from tests.roadmap_builder import write_workbook

AS_OF = dt.date(2023, 6, 30)
LATER = dt.date(2024, 6, 30)
MARTS = ("mart_timeliness", "mart_partner_mobilisation", "mart_good_practices", "mart_practice_diffusion",
         "mart_evaluation_territories", "mart_evaluation_national", "mart_late_items", "mart_funding",
         "mart_history")
NATIONAL = ("etat", "anct", "anru", "banque_des_territoires", "bpifrance")


def d(year, month, day):
    """An Excel date cell."""
    return dt.datetime(year, month, day)


def avenant_text(number, party, extension, signature) -> str:
    return "\n\n".join([
        f"AVENANT N° {number}", "à la convention d’engagement « Quartiers productifs »",
        f"Vu la convention d’engagement Quartiers productifs conclue entre l’Etat et {party} ;",
        "Article 1 – Durée", extension, "Les autres dispositions demeurent inchangées.", signature, ""])


CONVENTIONS = {
    # labellisation 18/03/2021; due = +6 months = 18/09/2021; end = +24 months = 18/03/2023 before avenants
    "alpha": convention_text(
        entre="La Communauté urbaine d’Alpha représentée par son Président Paul DURAND.",
        labellisation="labellisés le 18 mars 2021 (ci-après désignée « la Labellisation »).",
        deadline="dans un délai de 6 mois à compter de la Labellisation",
        governance="Le Chef de file désigné pour suivre le déploiement du programme est l’ANRU.",
        duration="une durée de 24 mois maximum", signature="A Alpha, le 2 juin 2021"),
    # labellisation 31/08/2021; due = +6 months = 31/02/2022 -> clamped to 28/02/2022; unsigned
    "beta": convention_text(
        entre="La Communauté d’agglomération de Beta représentée par sa Présidente Anne MARTIN.",
        labellisation="labellisés le 31 août 2021 (ci-après désignée « la Labellisation »).",
        deadline="dans un délai de 6 mois à compter de la Labellisation",
        governance="La Caisse des dépôts – Banque des Territoires est désignée Chef de file.",
        duration="une durée de 18 mois", signature="A Beta, le …"),
    # labellisation 01/04/2021; due = +9 months = 01/01/2022; end = +24 months = 01/04/2023
    "gamma": convention_text(
        entre="La Métropole de Gamma représentée par son Président Jean PETIT.",
        labellisation="labellisés le 1er avril 2021 (ci-après désignée « la Labellisation »).",
        deadline="dans un délai de 9 mois à compter de la Labellisation",
        governance="Le Chef de file désigné est l’Agence nationale de la cohésion des territoires.",
        duration="une durée de 24 mois", signature="Fait à Gamma, le 29/06/2021"),
    # labellisation 15/01/2023; due = +9 months = 15/10/2023 (after as_of); end = +36 months = 15/01/2026;
    # signed 20/07/2023, after as_of
    "delta": convention_text(
        entre="La Communauté de communes de Delta représentée par sa Présidente Lucie BERNARD.",
        labellisation="labellisés le 15 janvier 2023 (ci-après désignée « la Labellisation »).",
        deadline="dans un délai de 9 mois à compter de la Labellisation",
        governance="Chef de file désigné : BPI France.",
        duration="une durée de 36 mois", signature="A Delta, le 20 juillet 2023"),
}

AVENANTS = {
    "alpha_avenant_1": avenant_text(1, "la Communauté urbaine d’Alpha",
                                    "La durée de la convention est prolongée de 12 mois.",
                                    "Fait à Alpha, le 3 février 2023"),
    "alpha_avenant_2": avenant_text(2, "la Communauté urbaine d’Alpha",  # signed after as_of: no effect then
                                    "La convention est prorogée de six (6) mois.",
                                    "Fait à Alpha, le 15 septembre 2023"),
    "beta_avenant_1": avenant_text(1, "la Communauté d’agglomération de Beta",
                                   "La convention est prolongée jusqu’au 31 décembre 2023.",
                                   "Fait à Beta, le 10 janvier 2023"),
    "beta_avenant_2": avenant_text(2, "la Communauté d’agglomération de Beta",  # undated: counts
                                   "La durée de la convention est prolongée de 6 mois.", "Fait à Beta, le …"),
}


def fiche(tid, name, annexion):
    return [["territoire_id", tid], ["territoire", name], ["version", 1], ["date_adoption", d(2021, 6, 1)],
            ["date_annexion", annexion], ["coordonnateur_designe_le", "2021-05-03"],
            ["referent_etat_designe_le", None]]


ROADMAPS = {
    "alpha": {
        "fiche": fiche("alpha", "Communauté urbaine d’Alpha", d(2021, 9, 18)),  # = due date: delay 0
        "actions": [
            # id, axe, intitule, qpv, porteur, statut, debut_prevu, fin_prevue, debut_reel, fin_reelle
            ["A-01", "Entrepreneuriat", "Fabrique à entreprendre", "QP013001", "Ville", "Réalisée",
             d(2021, 10, 1), d(2022, 6, 30), d(2021, 10, 1), d(2022, 6, 15)],  # due, on time
            ["A-02", "commerce_artisanat", "Foncière commerce", "", None, "realisee",
             None, "31/12/2022", None, "15/02/2023"],  # due, late
            ["A-03", "implantation_activites", "Hôtel d’entreprises", None, None, "en_cours",
             None, d(2023, 3, 31), None, None],  # due, not finished
            ["A-04", "transition_numerique_ecologique", "Tiers-lieu numérique", None, None, "en_cours",
             None, d(2023, 12, 31), None, d(2023, 11, 30)],  # fin_prevue after as_of: not due
            ["A-05", "entrepreneuriat", "Couveuse", None, None, "Abandonnée",
             None, d(2022, 3, 31), None, None],  # abandoned: never due
        ],
        "partenaires": [
            ["A-01", "ANRU", "Pilote"], ["A-01", " Région Sud ", "cofinanceur"],
            ["A-02", "Banque des Territoires", "ingénierie"], ["A-02", "anru", "expertise"],
            ["A-03", "ÉTAT", "pilote"], ["A-03", "anru", "relais"],
            ["A-05", "anct", "pilote"],
        ],
        "financements": [
            # action, financeur, type_credit, nature, sollicite, accorde, verse, sollicitation, decision, decision
            ["A-01", "anru", "specifique", "subvention", "1 250 000,50 €", "1 000 000,00 €", "400 000,25 €",
             "02/11/2021", d(2022, 1, 31), "Accordée"],  # 90 days
            ["A-02", "anru", "specifique", "pret", 300000, None, None,
             d(2022, 3, 1), d(2022, 4, 15), "refusee"],  # 45 days
            ["A-03", "anru", "specifique", "subvention", 200000, 150000, 0,
             d(2023, 1, 10), d(2023, 8, 20), "accordee"],  # decided after as_of: pending (222 days later on)
            ["A-01", "Région Sud", "droit_commun", "subvention", 80000, 50000, 50000,
             d(2022, 2, 1), d(2022, 3, 3), "accordee"],  # 30 days
            ["A-02", "banque_des_territoires", "specifique", "ingenierie", None, 120000, 60000,
             d(2022, 5, 1), d(2022, 6, 10), "accordee"],  # requested amount unknown; 40 days
            ["A-03", "etat", "droit_commun", "subvention", 40000, None, None,
             d(2023, 4, 1), None, "en instruction"],  # pending
            ["A-04", "etat", "droit_commun", "subvention", 500000, None, None,
             d(2023, 9, 1), None, "en_instruction"],  # requested after as_of: does not exist yet
        ],
        "jalons": [
            ["A-01", "Lancement", d(2021, 10, 1), d(2021, 10, 11)],  # +10, late
            ["A-01", "Bilan", d(2022, 6, 1), d(2022, 5, 25)],  # -7, early
            ["A-02", "Travaux", d(2022, 7, 1), d(2022, 7, 5)],  # +4, late
            ["A-02", "Ouverture", d(2022, 9, 1), None],  # not reached: late
            ["A-03", "Chantier", d(2023, 5, 1), d(2023, 8, 1)],  # reached after as_of: late, not reached (+92 later)
            ["A-04", "Étude", d(2023, 9, 1), d(2023, 6, 10)],  # not due yet, reached early: -83
            ["A-05", "Abandon", d(2022, 1, 1), d(2022, 3, 1)],  # abandoned action: ignored
        ],
        "gouvernance": [
            [d(2021, 12, 1), "Comité_pilotage", "etat; ANRU ;Région Sud"],
            [d(2022, 6, 15), "comite_technique", "anru; Banque des Territoires; Chambre de commerce"],
            [d(2023, 3, 10), "revue_de_projet", "etat; anru"],
            [d(2023, 9, 20), "comite_pilotage", "etat; anru; bpifrance"],  # after as_of
        ],
        "bonnes_pratiques": [
            ["BP-A1", "A-01", "Guichet unique", d(2022, 9, 13), "Webinaire", "beta; gamma"],
            ["BP-A2", "A-02", "Bail commercial", "02/03/2023", "atelier_reseau", "alpha; Gamma; delta"],
            ["BP-A3", "A-03", "Hôtel partagé", d(2023, 5, 5), "fiche_capitalisation", None],
            ["BP-A4", "A-04", "Tiers-lieu", None, None, None],  # never shared
        ],
    },
    "beta": {
        "fiche": fiche("beta", "Communauté d’agglomération de Beta", "15/03/2022"),  # due 28/02/2022: +15
        "actions": [
            ["B-01", "entrepreneuriat", "Pépinière", None, None, "realisee",
             None, d(2022, 12, 31), None, d(2022, 12, 31)],  # finished on the very day: on time
            ["B-02", "commerce_artisanat", "Boutique à l’essai", None, None, "en_cours",
             None, d(2023, 6, 30), None, None],  # due on as_of itself, not finished
        ],
        "partenaires": [["B-01", "banque_des_territoires", "pilote"], ["B-02", "Bpifrance", "cofinanceur"]],
        "financements": [
            ["B-01", "bpifrance", "specifique", "pret", 500000, 500000, 250000,
             d(2022, 4, 1), d(2022, 5, 1), "accordee"],  # 30 days
            ["B-02", "bpifrance", "specifique", "garantie", 100000, None, None,
             d(2023, 5, 1), d(2023, 6, 15), "Refusée"],  # 45 days
            ["B-02", "banque_des_territoires", "specifique", "fonds_propres", 250000, 200000, None,
             d(2022, 10, 1), d(2023, 1, 9), "accordee"],  # 100 days; payment unknown
        ],
        "jalons": [
            ["B-01", "Lancement", d(2022, 3, 1), d(2022, 3, 1)],  # 0, on time
            ["B-02", "Ouverture", d(2023, 7, 15), None],  # not due yet
        ],
        "gouvernance": [],
        "bonnes_pratiques": [
            ["BP-B1", "B-01", "Parcours créateurs", d(2023, 9, 1), "visite", "alpha"],  # shared after as_of
        ],
    },
    "delta": {
        "fiche": fiche("delta", "Communauté de communes de Delta", "2023-08-01"),  # annexed after as_of
        "actions": [
            ["D-01", "implantation_activites", "Zone d’activités", None, None, "en_cours",
             None, d(2024, 3, 31), None, d(2024, 4, 15)],  # not due at as_of; late by 30/06/2024
        ],
        "partenaires": [["D-01", "bpifrance", "pilote"]],
        "financements": [],
        "jalons": [],
        "gouvernance": [[d(2023, 3, 1), "comite_pilotage", "bpifrance; anct"]],
        "bonnes_pratiques": [],
    },
}
# gamma has no roadmap file at all.

TERRITORIES = """territory_id,name,siren,departement_code,departement
alpha,Communauté urbaine d’Alpha,200000001,13,Bouches-du-Rhône
beta,Communauté d’agglomération de Beta,200000002,59,Nord
delta,Communauté de communes de Delta,200000004,974,La Réunion
gamma,Métropole de Gamma,200000003,69,Rhône
"""


def write_raw(raw):
    for sub in ("conventions", "roadmaps", "avenants"):
        (raw / sub).mkdir(parents=True)
    (raw / "territories.csv").write_text(TERRITORIES, encoding="utf-8")
    for tid, text in CONVENTIONS.items():
        (raw / "conventions" / f"{tid}.txt").write_text(text, encoding="utf-8")
    for name, text in AVENANTS.items():
        (raw / "avenants" / f"{name}.txt").write_text(text, encoding="utf-8")
    for tid, sheets in ROADMAPS.items():
        write_workbook(raw / "roadmaps" / f"{tid}.xlsx", sheets)


def read_marts(folder):
    return {m: pl.read_parquet(folder / f"{m}.parquet") for m in MARTS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The pipeline at AS_OF, again at AS_OF (same warehouse), and at LATER: the marts of each run."""
    root = tmp_path_factory.mktemp("handmade")
    raw = root / "raw"
    write_raw(raw)
    out = {}
    for key, as_of in (("main", AS_OF), ("again", AS_OF), ("later", LATER)):
        summary = run_pipeline(raw, root / "w.duckdb", root / f"marts_{key}", as_of, [], echo=lambda m: None)
        assert summary.exit_code == 0, summary.render()  # the territory without roadmap is not a rejection
        assert summary.without_roadmap == ["gamma"]
        out[key] = read_marts(root / f"marts_{key}")
    out["warehouse"] = root / "w.duckdb"
    return out


def row_of(df, tid, **keys):
    selected = df.filter(pl.col("territory_id") == tid)
    for column, value in keys.items():
        selected = selected.filter(pl.col(column) == value)
    assert selected.height == 1, (tid, keys, selected)
    return selected.to_dicts()[0]


def mismatches(actual, expected, label):
    """Every column of `expected` compared to `actual` (floats approximately, the rest exactly)."""
    out = []
    for column, want in expected.items():
        got = actual[column]
        if isinstance(want, float):
            ok = got is not None and got == pytest.approx(want)
        elif want is None or isinstance(want, bool):
            ok = got is want
        else:
            ok = got == want and not isinstance(got, float)
        if not ok:
            out.append(f"{label}.{column}: expected {want!r}, got {got!r}")
    return out


def check(actual, expected, label, complete=True):
    problems = mismatches(actual, expected, label)
    if complete:
        extra = set(actual) - set(expected) - {"as_of"}
        assert not extra, f"{label}: columns without an expected value: {sorted(extra)}"
    return problems


# -- hand-computed expectations at AS_OF = 2023-06-30 ----------------------------------------------------

TIMELINESS = {
    "alpha": {
        "labellisation_date": dt.date(2021, 3, 18),
        "roadmap_due_date": dt.date(2021, 9, 18),  # 18/03/2021 + 6 months
        "roadmap_annexed_date": dt.date(2021, 9, 18),
        "roadmap_delay_days": 0,  # 18/09/2021 - 18/09/2021
        "roadmap_status": "on_time",  # delay 0 <= 0
        "convention_signature_date": dt.date(2021, 6, 2),
        "convention_end_date": dt.date(2024, 3, 18),  # 18/03/2021 + 24 + 12 (avenant 1); avenant 2 signed later
        "in_force": True,
        "actions_total": 5,
        "actions_due": 3,  # A-03 (A-04 ends after as_of, A-05 abandoned)
        "actions_on_time": 1,
        "action_on_time_rate": 1 / 3,
        "milestones_due": 5,  # Lancement, Bilan, Travaux, Ouverture, Chantier
        "milestones_late": 4,  # Lancement +10, Travaux +4, Ouverture unreached, Chantier reached after as_of
        "median_milestone_delay_days": -1.5,  # reached by as_of: -83, -7, 4, 10 -> (-7 + 4) / 2
    },
    "beta": {
        "labellisation_date": dt.date(2021, 8, 31),
        "roadmap_due_date": dt.date(2022, 2, 28),  # 31/08/2021 + 6 months, clamped
        "roadmap_annexed_date": dt.date(2022, 3, 15),
        "roadmap_delay_days": 15,  # 28/02/2022 -> 15/03/2022
        "roadmap_status": "late",
        "convention_signature_date": None,  # "le …"
        "convention_end_date": dt.date(2024, 6, 30),  # avenant 1: 31/12/2023, then avenant 2 (undated): + 6 months
        "in_force": True,
        "actions_total": 2,
        "actions_due": 2,  # B-02 ends on as_of itself
        "actions_on_time": 1,  # B-01 (fin_reelle = fin_prevue)
        "action_on_time_rate": 0.5,
        "milestones_due": 1,  # Ouverture due 15/07/2023, after as_of
        "milestones_late": 0,
        "median_milestone_delay_days": 0.0,
    },
    "delta": {
        "labellisation_date": dt.date(2023, 1, 15),
        "roadmap_due_date": dt.date(2023, 10, 15),  # 15/01/2023 + 9 months
        "roadmap_annexed_date": None,  # annexed 01/08/2023, after as_of
        "roadmap_delay_days": None,
        "roadmap_status": "pending",  # as_of <= due
        "convention_signature_date": None,  # signed 20/07/2023, after as_of
        "convention_end_date": dt.date(2026, 1, 15),  # 15/01/2023 + 36 months
        "in_force": True,
        "actions_total": 1,
        "actions_due": 0,
        "actions_on_time": 0,
        "action_on_time_rate": None,  # 0 / 0
        "milestones_due": 0,
        "milestones_late": 0,
        "median_milestone_delay_days": None,
    },
    "gamma": {
        "labellisation_date": dt.date(2021, 4, 1),
        "roadmap_due_date": dt.date(2022, 1, 1),  # 01/04/2021 + 9 months
        "roadmap_annexed_date": None,  # no roadmap file
        "roadmap_delay_days": None,
        "roadmap_status": "missing",  # as_of > due
        "convention_signature_date": dt.date(2021, 6, 29),
        "convention_end_date": dt.date(2023, 4, 1),  # 01/04/2021 + 24 months
        "in_force": False,  # 30/06/2023 > 01/04/2023
        "actions_total": 0,
        "actions_due": 0,
        "actions_on_time": 0,
        "action_on_time_rate": None,
        "milestones_due": 0,
        "milestones_late": 0,
        "median_milestone_delay_days": None,
    },
}


def partner_row(*, chef=False, involved=0, share=None, pilots=0, requested="0", granted="0", paid="0",
                grant_share=None, requests=0, decided=0, pending=0, median=None, meetings=0, attended=0,
                attendance=None, national=True):
    return {"is_national_partner": national, "is_chef_de_file": chef, "actions_involved": involved,
            "actions_share": share, "pilot_actions": pilots, "amount_requested": Decimal(requested),
            "amount_granted": Decimal(granted), "amount_paid": Decimal(paid), "grant_share": grant_share,
            "requests": requests, "decided_requests": decided, "pending_requests": pending,
            "median_instruction_days": median, "meetings_total": meetings, "meetings_attended": attended,
            "attendance_rate": attendance}


# alpha: 5 actions; granted in all = 1 000 000 (anru) + 50 000 (Région Sud) + 120 000 (bdt) = 1 170 000;
# 3 meetings by as_of (the 20/09/2023 one is later).
# beta: 2 actions; granted in all = 500 000 (bpifrance) + 200 000 (bdt) = 700 000; no meeting.
# delta: 1 action; nothing granted (shares null); 1 meeting.  gamma: no roadmap: no action, no meeting.
MOBILISATION = {
    ("alpha", "anru"): partner_row(
        chef=True, involved=3, share=0.6, pilots=1,  # of 5; pilote of A-01
        requested="1750000.50",  # 1 250 000,50 + 300 000 + 200 000 (requested 10/01/2023)
        granted="1000000.00", paid="400000.25", grant_share=1_000_000 / 1_170_000,
        requests=3, decided=2, pending=1,  # the 20/08/2023 decision is still pending at as_of
        median=67.5, meetings=3, attended=3, attendance=1.0),  # (45 + 90) / 2
    ("alpha", "Région Sud"): partner_row(
        national=False, involved=1, share=0.2, requested="80000", granted="50000", paid="50000",
        grant_share=50_000 / 1_170_000, requests=1, decided=1, median=30.0, meetings=3, attended=1,
        attendance=1 / 3),
    ("alpha", "banque_des_territoires"): partner_row(
        involved=1, share=0.2, requested="0",  # its only request has no amount: left out of the sum
        granted="120000", paid="60000", grant_share=120_000 / 1_170_000, requests=1, decided=1, median=40.0,
        meetings=3, attended=1, attendance=1 / 3),
    ("alpha", "etat"): partner_row(
        involved=1, share=0.2, pilots=1,  # A-03; the A-04 request is made after as_of
        requested="40000", grant_share=0.0, requests=1, pending=1, meetings=3, attended=2, attendance=2 / 3),
    ("alpha", "anct"): partner_row(involved=1, share=0.2, pilots=1,  # pilote of A-05, abandoned but an action
                                   grant_share=0.0, meetings=3, attendance=0.0),
    ("alpha", "bpifrance"): partner_row(share=0.0, grant_share=0.0, meetings=3, attendance=0.0),  # 0 / 5, 0 / 3
    ("beta", "bpifrance"): partner_row(
        involved=2, share=1.0, requested="600000", granted="500000", paid="250000", grant_share=500_000 / 700_000,
        requests=2, decided=2, median=37.5),  # (30 + 45) / 2
    ("beta", "banque_des_territoires"): partner_row(
        chef=True, involved=2, share=1.0, pilots=1, requested="250000", granted="200000", paid="0",
        grant_share=200_000 / 700_000, requests=1, decided=1, median=100.0),
    ("beta", "etat"): partner_row(share=0.0, grant_share=0.0),
    ("beta", "anct"): partner_row(share=0.0, grant_share=0.0),
    ("beta", "anru"): partner_row(share=0.0, grant_share=0.0),
    ("delta", "bpifrance"): partner_row(chef=True, involved=1, share=1.0, pilots=1, meetings=1, attended=1,
                                        attendance=1.0),
    ("delta", "anct"): partner_row(share=0.0, meetings=1, attended=1, attendance=1.0),
    ("delta", "etat"): partner_row(share=0.0, meetings=1, attendance=0.0),
    ("delta", "anru"): partner_row(share=0.0, meetings=1, attendance=0.0),
    ("delta", "banque_des_territoires"): partner_row(share=0.0, meetings=1, attendance=0.0),
    ("gamma", "anct"): partner_row(chef=True),
    **{("gamma", p): partner_row() for p in ("etat", "anru", "banque_des_territoires", "bpifrance")},
}

PRACTICES = {
    "alpha": {
        "practices_documented": 4, "practices_shared": 3, "shared_rate": 0.75,
        "reuse_links": 4,  # BP-A1: beta, gamma; BP-A2: gamma, delta (alpha itself does not count)
        "reusing_territories": 3,  # beta, gamma, delta
        "axes_covered": 4,
        # BP-A1: 15/06/2022 -> 13/09/2022 = 90; BP-A2: 15/02/2023 -> 02/03/2023 = 15; BP-A3: no fin_reelle
        "median_days_to_share": 52.5,
    },
    "beta": {"practices_documented": 1, "practices_shared": 0, "shared_rate": 0.0, "reuse_links": 1,
             "reusing_territories": 1, "axes_covered": 1, "median_days_to_share": None},
    "delta": {"practices_documented": 0, "practices_shared": 0, "shared_rate": None, "reuse_links": 0,
              "reusing_territories": 0, "axes_covered": 0, "median_days_to_share": None},
    "gamma": {"practices_documented": 0, "practices_shared": 0, "shared_rate": None, "reuse_links": 0,
              "reusing_territories": 0, "axes_covered": 0, "median_days_to_share": None},
}

DIFFUSION = {
    ("alpha", "BP-A1"): {"titre": "Guichet unique", "axe": "entrepreneuriat", "date_partage": dt.date(2022, 9, 13),
                         "canal": "webinaire", "reused_by_count": 2, "reused_by": ["beta", "gamma"]},
    ("alpha", "BP-A2"): {"titre": "Bail commercial", "axe": "commerce_artisanat",
                         "date_partage": dt.date(2023, 3, 2), "canal": "atelier_reseau", "reused_by_count": 2,
                         "reused_by": ["delta", "gamma"]},
    ("alpha", "BP-A3"): {"titre": "Hôtel partagé", "axe": "implantation_activites",
                         "date_partage": dt.date(2023, 5, 5), "canal": "fiche_capitalisation",
                         "reused_by_count": 0, "reused_by": []},
    ("alpha", "BP-A4"): {"titre": "Tiers-lieu", "axe": "transition_numerique_ecologique", "date_partage": None,
                         "canal": None, "reused_by_count": 0, "reused_by": []},
    ("beta", "BP-B1"): {"titre": "Parcours créateurs", "axe": "entrepreneuriat",
                        "date_partage": None,  # shared 01/09/2023, after as_of
                        "canal": "visite", "reused_by_count": 1, "reused_by": ["alpha"]},
}

REFERENCE = {
    "alpha": {"name": "Communauté urbaine d’Alpha", "siren": "200000001", "departement_code": "13",
              "departement": "Bouches-du-Rhône", "chef_de_file": "anru", "avenants_effective": 1,
              "convention_signature_state": "signed"},
    "beta": {"name": "Communauté d’agglomération de Beta", "siren": "200000002", "departement_code": "59",
             "departement": "Nord", "chef_de_file": "banque_des_territoires", "avenants_effective": 2,
             "convention_signature_state": "undated"},
    "delta": {"name": "Communauté de communes de Delta", "siren": "200000004", "departement_code": "974",
              "departement": "La Réunion", "chef_de_file": "bpifrance", "avenants_effective": 0,
              "convention_signature_state": "not_yet_signed"},  # signed 20/07/2023
    "gamma": {"name": "Métropole de Gamma", "siren": "200000003", "departement_code": "69",
              "departement": "Rhône", "chef_de_file": "anct", "avenants_effective": 0,
              "convention_signature_state": "signed"},
}

TERRITORY_TOTALS = {
    "alpha": {
        "chef_actions_involved": 3, "chef_actions_share": 0.6, "chef_amount_granted": Decimal("1000000.00"),
        "chef_median_instruction_days": 67.5, "chef_attendance_rate": 1.0,
        "partners_involved": 5,  # anru, Région Sud, banque_des_territoires, etat, anct
        "total_amount_requested": Decimal("1870000.50"),  # 1 750 000,50 + 80 000 + 40 000
        "total_amount_granted": Decimal("1170000.00"),
        "total_amount_paid": Decimal("510000.25"),  # 400 000,25 + 50 000 + 60 000
        "total_requests": 6, "total_pending_requests": 2,
        "median_instruction_days_all": 42.5,  # 30, 40, 45, 90
    },
    "beta": {
        "chef_actions_involved": 2, "chef_actions_share": 1.0, "chef_amount_granted": Decimal("200000"),
        "chef_median_instruction_days": 100.0, "chef_attendance_rate": None,
        "partners_involved": 2, "total_amount_requested": Decimal("850000"),
        "total_amount_granted": Decimal("700000"), "total_amount_paid": Decimal("250000"),
        "total_requests": 3, "total_pending_requests": 0,
        "median_instruction_days_all": 45.0,  # 30, 45, 100
    },
    "delta": {
        "chef_actions_involved": 1, "chef_actions_share": 1.0, "chef_amount_granted": Decimal("0"),
        "chef_median_instruction_days": None, "chef_attendance_rate": 1.0,
        "partners_involved": 1, "total_amount_requested": Decimal("0"), "total_amount_granted": Decimal("0"),
        "total_amount_paid": Decimal("0"), "total_requests": 0, "total_pending_requests": 0,
        "median_instruction_days_all": None,
    },
    "gamma": {
        "chef_actions_involved": 0, "chef_actions_share": None, "chef_amount_granted": Decimal("0"),
        "chef_median_instruction_days": None, "chef_attendance_rate": None,
        "partners_involved": 0, "total_amount_requested": Decimal("0"), "total_amount_granted": Decimal("0"),
        "total_amount_paid": Decimal("0"), "total_requests": 0, "total_pending_requests": 0,
        "median_instruction_days_all": None,
    },
}

# indicator -> (value, territories it rests on); the value's type says its column: int -> value_count,
# Decimal -> value_amount, float or None -> value_measure
NATIONAL_INDICATORS = {
    "territories_in_programme": (4, 4),
    "conventions_signed": (2, 4),  # alpha, gamma (beta blank, delta signed after as_of)
    "conventions_undated": (1, 4),  # beta ("le …"), not "unsigned"
    "roadmaps_annexed": (2, 4),  # alpha, beta
    "roadmaps_on_time": (1, 4),  # alpha
    "roadmaps_on_time_share": (1 / 3, 3),  # on_time / (on_time alpha + late beta + missing gamma)
    "median_roadmap_delay_days": (7.5, 2),  # (0 + 15) / 2
    "conventions_in_force": (3, 4),  # all but gamma
    "action_on_time_rate": (0.4, 2),  # (1 + 1) / (3 + 2)
    "total_granted_etat": (Decimal("0"), 0),
    "total_granted_anct": (Decimal("0"), 0),
    "total_granted_anru": (Decimal("1000000"), 1),
    "total_granted_banque_des_territoires": (Decimal("320000"), 2),  # 120 000 + 200 000
    "total_granted_bpifrance": (Decimal("500000"), 1),
    "median_instruction_days_etat": (None, 0),
    "median_instruction_days_anct": (None, 0),
    "median_instruction_days_anru": (67.5, 1),  # 45, 90
    "median_instruction_days_banque_des_territoires": (70.0, 2),  # 40, 100
    "median_instruction_days_bpifrance": (37.5, 1),  # 30, 45
    "practices_shared": (3, 2),  # alpha 3 + beta 0 (territories with practices)
    "reuse_links": (5, 2),  # alpha 4 + beta 1
}


def national_value(value) -> dict:
    """The three value columns of mart_evaluation_national for a value of this Python type."""
    column = ("value_count" if isinstance(value, int) else "value_amount" if isinstance(value, Decimal)
              else "value_measure")
    return {"value_count": None, "value_amount": None, "value_measure": None, column: value}


# -- the tests -----------------------------------------------------------------------------------------

def test_every_row_carries_as_of(runs):
    for key, as_of in (("main", AS_OF), ("later", LATER)):
        for mart, df in runs[key].items():
            assert df.height > 0, mart
            assert df["as_of"].to_list() == [as_of] * df.height, (key, mart)


def test_mart_timeliness(runs):
    df = runs["main"]["mart_timeliness"]
    assert sorted(df["territory_id"]) == ["alpha", "beta", "delta", "gamma"]
    problems = []
    for tid, expected in TIMELINESS.items():
        problems += check(row_of(df, tid), {"territory_id": tid, **expected}, tid)
    assert not problems, "\n".join(problems)


def test_mart_partner_mobilisation(runs):
    df = runs["main"]["mart_partner_mobilisation"]
    # five national partners per territory, plus Région Sud for alpha; "Chambre de commerce" only attends
    expected_keys = {(t, p) for t in ("alpha", "beta", "gamma", "delta") for p in NATIONAL} | {("alpha", "Région Sud")}
    assert set(zip(df["territory_id"], df["partner"], strict=True)) == expected_keys
    assert df.height == len(expected_keys)
    problems = []
    for (tid, partner), expected in MOBILISATION.items():
        actual = row_of(df, tid, partner=partner)
        problems += check(actual, {"territory_id": tid, "partner": partner, **expected}, f"{tid}/{partner}")
    assert not problems, "\n".join(problems)


def test_mart_good_practices(runs):
    df = runs["main"]["mart_good_practices"]
    assert sorted(df["territory_id"]) == ["alpha", "beta", "delta", "gamma"]
    problems = []
    for tid, expected in PRACTICES.items():
        problems += check(row_of(df, tid), {"territory_id": tid, **expected}, tid)
    assert not problems, "\n".join(problems)


def test_mart_practice_diffusion(runs):
    df = runs["main"]["mart_practice_diffusion"]
    assert sorted(zip(df["territory_id"], df["pratique_id"], strict=True)) == sorted(DIFFUSION)
    problems = []
    for (tid, pid), expected in DIFFUSION.items():
        problems += check(row_of(df, tid, pratique_id=pid), {"territory_id": tid, "pratique_id": pid, **expected},
                          f"{tid}/{pid}")
    assert not problems, "\n".join(problems)


def test_mart_evaluation_territories(runs):
    df = runs["main"]["mart_evaluation_territories"]
    assert df["territory_id"].to_list() == ["alpha", "beta", "delta", "gamma"]
    problems = []
    for tid in TIMELINESS:
        expected = {"territory_id": tid, **REFERENCE[tid], "convention_provenance": None, "roadmap_provenance": None,
                    **TIMELINESS[tid], **PRACTICES[tid], **TERRITORY_TOTALS[tid]}
        problems += check(row_of(df, tid), expected, tid)
    assert not problems, "\n".join(problems)


def test_mart_evaluation_national(runs):
    df = runs["main"]["mart_evaluation_national"]
    rows = {r["indicator"]: r for r in df.to_dicts()}
    problems = []
    for indicator, (value, territories) in NATIONAL_INDICATORS.items():
        if indicator not in rows:
            problems.append(f"{indicator}: missing")
            continue
        problems += mismatches(rows[indicator], {**national_value(value), "territories": territories}, indicator)
        assert rows[indicator]["definition"], indicator
    assert list(rows) == list(NATIONAL_INDICATORS)
    assert df.schema["value_count"] == pl.Int64 and df.schema["value_amount"] == pl.Decimal(18, 2)
    assert df.schema["value_measure"] == pl.Float64
    assert not problems, "\n".join(problems)


def test_same_as_of_reproduces_the_same_marts(runs):
    for mart in MARTS:
        assert runs["again"][mart].equals(runs["main"][mart]), mart


def test_later_as_of_moves_what_it_should(runs):
    later = runs["later"]
    problems = []
    timeliness = later["mart_timeliness"]
    problems += check(row_of(timeliness, "alpha"), {
        "convention_end_date": dt.date(2024, 9, 18),  # 18/03/2021 + 24 + 12 + 6 (avenant 2 now signed)
        "in_force": True,
        "actions_due": 4, "actions_on_time": 2, "action_on_time_rate": 0.5,  # A-04 ended 30/11 for 31/12/2023
        "milestones_due": 6, "milestones_late": 4,  # Étude now due, reached early
        "median_milestone_delay_days": 4.0,  # -83, -7, 4, 10, 92 (Chantier 01/05 -> 01/08/2023)
    }, "later/alpha", complete=False)
    problems += check(row_of(timeliness, "beta"), {
        "convention_end_date": dt.date(2024, 6, 30), "in_force": True,  # as_of = end date: still in force
        "milestones_due": 2, "milestones_late": 1,
    }, "later/beta", complete=False)
    problems += check(row_of(timeliness, "delta"), {
        "convention_signature_date": dt.date(2023, 7, 20),
        "roadmap_annexed_date": dt.date(2023, 8, 1),
        "roadmap_delay_days": -75,  # 15/10/2023 -> 01/08/2023
        "roadmap_status": "on_time",
        "actions_due": 1, "actions_on_time": 0, "action_on_time_rate": 0.0,
    }, "later/delta", complete=False)
    problems += check(row_of(timeliness, "gamma"), {"roadmap_status": "missing", "in_force": False},
                      "later/gamma", complete=False)

    mobilisation = later["mart_partner_mobilisation"]
    problems += check(row_of(mobilisation, "alpha", partner="anru"), {
        "amount_granted": Decimal("1150000.00"),  # 1 000 000 + 150 000 (decided 20/08/2023)
        "amount_paid": Decimal("400000.25"), "decided_requests": 3, "pending_requests": 0,
        "median_instruction_days": 90.0,  # 45, 90, 222
        "meetings_total": 4, "meetings_attended": 4,
    }, "later/alpha/anru", complete=False)
    problems += check(row_of(mobilisation, "alpha", partner="etat"), {
        "actions_involved": 2, "requests": 2, "pending_requests": 2,
        "amount_requested": Decimal("540000"),  # 40 000 + 500 000 (requested 01/09/2023)
    }, "later/alpha/etat", complete=False)
    problems += check(row_of(mobilisation, "alpha", partner="bpifrance"), {
        "meetings_total": 4, "meetings_attended": 1, "attendance_rate": 0.25, "actions_involved": 0,
    }, "later/alpha/bpifrance", complete=False)

    problems += check(row_of(later["mart_good_practices"], "beta"), {
        "practices_shared": 1, "shared_rate": 1.0,
        "median_days_to_share": 244.0,  # 31/12/2022 -> 01/09/2023
    }, "later/beta/practices", complete=False)
    problems += check(row_of(later["mart_practice_diffusion"], "beta", pratique_id="BP-B1"),
                      {"date_partage": dt.date(2023, 9, 1)}, "later/BP-B1", complete=False)

    national = {r["indicator"]: r for r in later["mart_evaluation_national"].to_dicts()}
    for indicator, value in {
        "conventions_signed": 3,  # + delta
        "roadmaps_on_time": 2,  # alpha, delta
        "roadmaps_on_time_share": 0.5,  # 2 / 4
        "median_roadmap_delay_days": 0.0,  # -75, 0, 15
        "conventions_in_force": 3,  # alpha, beta, delta
        "action_on_time_rate": 3 / 7,  # (2 + 1 + 0) / (4 + 2 + 1)
        "total_granted_anru": Decimal("1150000"),
        "median_instruction_days_anru": 90.0,
        "practices_shared": 4,
    }.items():
        problems += mismatches(national[indicator], national_value(value), f"later/{indicator}")
    assert not problems, "\n".join(problems)


# -- the marts analysts ask next: late items, funding by axe, history -----------------------------------------

def D(year, month, day):  # noqa: N802 (a date, as in the comments)
    return dt.date(year, month, day)


def late(tid, item_type, action_id, item, due, done, days, as_of=AS_OF):
    return {"territory_id": tid, "item_type": item_type, "action_id": action_id, "item": item, "due_date": due,
            "done_date": done, "days_late": days, "state": "overdue" if done is None else "done_late",
            "as_of": as_of}


ROADMAP = "feuille de route"
# In table order: per territory the roadmap, then actions and milestones in workbook order.
LATE_ITEMS = [
    # alpha: roadmap on time; A-01 on time, A-04 not due, A-05 abandoned
    late("alpha", "action", "A-02", "Foncière commerce", D(2022, 12, 31), D(2023, 2, 15), 46),  # 31 + 15
    late("alpha", "action", "A-03", "Hôtel d’entreprises", D(2023, 3, 31), None, 91),  # 30 + 31 + 30
    late("alpha", "milestone", "A-01", "Lancement", D(2021, 10, 1), D(2021, 10, 11), 10),
    late("alpha", "milestone", "A-02", "Travaux", D(2022, 7, 1), D(2022, 7, 5), 4),
    late("alpha", "milestone", "A-02", "Ouverture", D(2022, 9, 1), None, 302),  # 29+31+30+31+31+28+31+30+31+30
    late("alpha", "milestone", "A-03", "Chantier", D(2023, 5, 1), None, 60),  # reached 01/08/2023: not at as_of
    # beta: roadmap due 28/02/2022, annexed 15/03/2022; B-02 due on as_of itself, not finished: 0 days late
    late("beta", "roadmap", None, ROADMAP, D(2022, 2, 28), D(2022, 3, 15), 15),
    late("beta", "action", "B-02", "Boutique à l’essai", D(2023, 6, 30), None, 0),
    # gamma: no roadmap, due 01/01/2022: 364 days to 31/12/2022, 1 + 180 to 30/06/2023
    late("gamma", "roadmap", None, ROADMAP, D(2022, 1, 1), None, 545),
]  # delta: nothing due


LATE_ITEMS_LATER = [
    late("alpha", "action", "A-02", "Foncière commerce", D(2022, 12, 31), D(2023, 2, 15), 46, LATER),
    late("alpha", "action", "A-03", "Hôtel d’entreprises", D(2023, 3, 31), None, 457, LATER),  # 91 + 366
    late("alpha", "milestone", "A-01", "Lancement", D(2021, 10, 1), D(2021, 10, 11), 10, LATER),
    late("alpha", "milestone", "A-02", "Travaux", D(2022, 7, 1), D(2022, 7, 5), 4, LATER),
    late("alpha", "milestone", "A-02", "Ouverture", D(2022, 9, 1), None, 668, LATER),  # 302 + 366
    late("alpha", "milestone", "A-03", "Chantier", D(2023, 5, 1), D(2023, 8, 1), 92, LATER),  # 30 + 31 + 31
    late("beta", "roadmap", None, ROADMAP, D(2022, 2, 28), D(2022, 3, 15), 15, LATER),
    late("beta", "action", "B-02", "Boutique à l’essai", D(2023, 6, 30), None, 366, LATER),  # 2024 is leap
    late("beta", "milestone", "B-02", "Ouverture", D(2023, 7, 15), None, 351, LATER),  # 366 - 15
    late("delta", "action", "D-01", "Zone d’activités", D(2024, 3, 31), D(2024, 4, 15), 15, LATER),
    late("gamma", "roadmap", None, ROADMAP, D(2022, 1, 1), None, 911, LATER),  # 545 + 366
]


def funding(tid, axe, financeur, requests, requested, granted="0", paid="0", pending=0, oldest=None, as_of=AS_OF):
    return {"territory_id": tid, "axe": axe, "financeur": financeur, "requests": requests,
            "amount_requested": Decimal(requested), "amount_granted": Decimal(granted), "amount_paid": Decimal(paid),
            "pending_requests": pending, "oldest_pending_days": oldest, "as_of": as_of}


# Ordered by territory, axe, then the national partners in their usual order, then the others by name.
FUNDING = [
    funding("alpha", "commerce_artisanat", "anru", 1, "300000"),  # refused
    funding("alpha", "commerce_artisanat", "banque_des_territoires", 1, "0", "120000", "60000"),  # amount unknown
    funding("alpha", "entrepreneuriat", "anru", 1, "1250000.50", "1000000", "400000.25"),
    funding("alpha", "entrepreneuriat", "Région Sud", 1, "80000", "50000", "50000"),
    # etat's request of 10/01/2023 ... of 01/04/2023: 30 + 31 + 30 - 1 = 90 days; the 01/09/2023 one is later
    funding("alpha", "implantation_activites", "etat", 1, "40000", pending=1, oldest=90),
    # decided 20/08/2023, after as_of: pending since 10/01/2023, 21 + 28 + 31 + 30 + 31 + 30 = 171 days
    funding("alpha", "implantation_activites", "anru", 1, "200000", pending=1, oldest=171),
    funding("beta", "commerce_artisanat", "banque_des_territoires", 1, "250000", "200000", "0"),  # paid unknown
    funding("beta", "commerce_artisanat", "bpifrance", 1, "100000"),  # refused 15/06/2023
    funding("beta", "entrepreneuriat", "bpifrance", 1, "500000", "500000", "250000"),
]  # delta and gamma: no request


def history(tid, day, status, in_force, actions=(0, 0), milestones=(0, 0), requests=0, requested="0",
            granted="0", shared=0):
    return {"territory_id": tid, "evaluation_date": day, "roadmap_status": status, "in_force": in_force,
            "actions_due": actions[0], "actions_on_time": actions[1], "milestones_due": milestones[0],
            "milestones_late": milestones[1], "requests": requests, "amount_requested": Decimal(requested),
            "amount_granted": Decimal(granted), "practices_shared": shared, "as_of": AS_OF}


HISTORY = [
    # 30/06/2022: A-01 due (on time); Lancement late, Bilan early; requests of 02/11/2021, 01/02, 01/03 and
    # 01/05/2022: 1 250 000,50 + 80 000 + 300 000 + unknown; granted 1 000 000 + 50 000 + 120 000 (10/06/2022)
    history("alpha", D(2022, 6, 30), "on_time", True, (1, 1), (2, 1), 4, "1630000.50", "1170000"),
    # 31/03/2023: in force thanks to avenant 1 (signed 03/02/2023: end 18/03/2024; without it 18/03/2023);
    # due; + Travaux, Ouverture; + the A-03 request of 10/01/2023 (decided later); BP-A1, BP-A2
    history("alpha", D(2023, 3, 31), "on_time", True, (3, 1), (4, 3), 5, "1830000.50", "1170000", 2),
    # 31/03/2022: roadmap annexed 15/03/2022, late; Lancement reached on its day; no request before 01/04/2022
    history("beta", D(2022, 3, 31), "late", True, milestones=(1, 0)),
    history("beta", D(2021, 9, 30), "pending", True),  # first quarter end after 31/08/2021; due 28/02/2022
    history("gamma", D(2023, 3, 31), "missing", True),  # end 01/04/2023
    history("gamma", D(2023, 6, 30), "missing", False),
    history("delta", D(2023, 3, 31), "pending", True),
]


def test_mart_late_items(runs):
    for key, expected in (("main", LATE_ITEMS), ("later", LATE_ITEMS_LATER)):
        assert runs[key]["mart_late_items"].to_dicts() == expected, key


def test_mart_funding(runs):
    assert runs["main"]["mart_funding"].to_dicts() == FUNDING


def test_mart_funding_later(runs):
    rows = {(r["territory_id"], r["axe"], r["financeur"]): r for r in runs["later"]["mart_funding"].to_dicts()}
    problems = check(rows["alpha", "implantation_activites", "anru"], {
        "amount_granted": Decimal("150000"), "amount_paid": Decimal("0"),  # decided 20/08/2023
        "pending_requests": 0, "oldest_pending_days": None}, "later/anru", complete=False)
    problems += check(rows["alpha", "implantation_activites", "etat"], {
        "pending_requests": 1, "oldest_pending_days": 456}, "later/etat", complete=False)  # 90 + 366
    problems += check(rows["alpha", "transition_numerique_ecologique", "etat"], {  # requested 01/09/2023
        "requests": 1, "amount_requested": Decimal("500000"), "pending_requests": 1,
        "oldest_pending_days": 303}, "later/etat/A-04", complete=False)  # 29 + 31 + 30 + 31 + 31 + 29 + 31 + ...
    assert len(rows) == 10
    assert not problems, "\n".join(problems)


def test_mart_history(runs):
    df = runs["main"]["mart_history"]
    # quarter ends from labellisation to 30/06/2023 (a quarter end: no extra row): alpha from 31/03/2021 (10),
    # beta from 30/09/2021 (8), gamma from 30/06/2021 (9), delta from 31/03/2023 (2)
    counts = dict(df.group_by("territory_id").len().iter_rows())
    assert counts == {"alpha": 10, "beta": 8, "gamma": 9, "delta": 2}
    assert row_of(df, "alpha", evaluation_date=D(2021, 3, 31))["roadmap_status"] == "pending"
    assert df.filter(pl.col("territory_id") == "beta")["evaluation_date"].min() == D(2021, 9, 30)
    problems = []
    for expected in HISTORY:
        actual = row_of(df, expected["territory_id"], evaluation_date=expected["evaluation_date"])
        problems += check(actual, expected, f"{expected['territory_id']}/{expected['evaluation_date']}")
    assert not problems, "\n".join(problems)


def test_history_dates_off_the_quarter_end():
    from qp_analytics.marts.compute import evaluation_dates, quarter_ends

    assert evaluation_dates(D(2021, 3, 18), D(2021, 8, 15)) == [D(2021, 3, 31), D(2021, 6, 30), D(2021, 8, 15)]
    assert evaluation_dates(D(2021, 3, 31), D(2021, 9, 30)) == [D(2021, 3, 31), D(2021, 6, 30), D(2021, 9, 30)]
    assert evaluation_dates(D(2021, 11, 2), D(2022, 1, 5)) == [D(2021, 12, 31), D(2022, 1, 5)]
    assert evaluation_dates(D(2023, 5, 1), D(2023, 4, 10)) == [D(2023, 4, 10)]  # labelled after as_of
    assert evaluation_dates(None, D(2023, 6, 30)) == []
    assert quarter_ends(D(2023, 12, 31), D(2024, 12, 31)) == [D(2023, 12, 31), D(2024, 3, 31), D(2024, 6, 30),
                                                               D(2024, 9, 30), D(2024, 12, 31)]


# -- the rules that tie the new marts to the others (INDICATORS.md) -------------------------------------------

@pytest.mark.parametrize("key", ["main", "later"])
def test_late_items_agree_with_timeliness(runs, key):
    late_items, timeliness = runs[key]["mart_late_items"], runs[key]["mart_timeliness"]
    for row in timeliness.to_dicts():
        mine = late_items.filter(pl.col("territory_id") == row["territory_id"])
        kinds = mine["item_type"].to_list()
        assert kinds.count("roadmap") == (1 if row["roadmap_status"] in ("late", "missing") else 0), row
        assert kinds.count("action") == row["actions_due"] - row["actions_on_time"], row
        assert kinds.count("milestone") == row["milestones_late"], row
    assert (late_items["days_late"] >= 0).all()


@pytest.mark.parametrize("key", ["main", "later"])
def test_history_at_as_of_repeats_the_marts(runs, key):
    marts = runs[key]
    as_of = marts["mart_timeliness"]["as_of"][0]
    at = marts["mart_history"].filter(pl.col("evaluation_date") == as_of)
    assert sorted(at["territory_id"]) == sorted(marts["mart_timeliness"]["territory_id"])
    timeliness = ["roadmap_status", "in_force", "actions_due", "actions_on_time", "milestones_due", "milestones_late"]
    expected = (marts["mart_timeliness"].select("territory_id", *timeliness)
                .join(marts["mart_partner_mobilisation"].group_by("territory_id").agg(
                    pl.col("requests").sum(), pl.col("amount_requested").sum(), pl.col("amount_granted").sum()),
                    on="territory_id")
                .join(marts["mart_good_practices"].select("territory_id", "practices_shared"), on="territory_id"))
    columns = expected.columns
    assert at.select(columns).sort("territory_id").to_dicts() == expected.sort("territory_id").to_dicts()
    # mart_funding adds up to mart_partner_mobilisation per financeur
    by_partner = marts["mart_funding"].group_by("territory_id", "financeur").agg(
        pl.col("requests").sum(), pl.col("amount_granted").sum(), pl.col("pending_requests").sum())
    mobilisation = marts["mart_partner_mobilisation"].filter(pl.col("requests") > 0).select(
        "territory_id", financeur="partner", requests="requests", amount_granted="amount_granted",
        pending_requests="pending_requests")
    assert by_partner.sort("territory_id", "financeur").to_dicts() == \
        mobilisation.sort("territory_id", "financeur").to_dicts()


def test_history_at_an_as_of_off_the_quarter_end_is_the_marts_at_that_date(runs):
    """At an as_of that is no quarter end, mart_history's last row per territory is the marts at as_of (taken from
    them rather than queried again): the same values as the queries run for that date alone."""
    import duckdb

    from qp_analytics.marts.compute import NATIONAL_PARTNERS, compute_marts, history

    day = D(2023, 5, 17)
    ids = ["alpha", "beta", "delta", "gamma"]
    with duckdb.connect(str(runs["warehouse"]), read_only=True) as con:
        marts = compute_marts(con, ids, day)
        alone = history(con, {"ids": ids, "as_of": day, "national": list(NATIONAL_PARTNERS)})
    at_day = marts["marts.mart_history"].filter(pl.col("evaluation_date") == day).drop("as_of")
    assert at_day.height == 4
    assert at_day.sort("territory_id").to_dicts() == alone.filter(pl.col("evaluation_date") == day).sort(
        "territory_id").to_dicts()
    # and the row agrees with mart_timeliness at that date, the other route to the same statuses
    statuses = dict(marts["marts.mart_timeliness"].select("territory_id", "roadmap_status").iter_rows())
    assert dict(at_day.select("territory_id", "roadmap_status").iter_rows()) == statuses
