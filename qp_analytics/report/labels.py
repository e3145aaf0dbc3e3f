"""The French words and colours the report shows for the marts' codes (partners, statuses, axes, indicators)."""

PARTNER_LABELS = {"etat": "État", "anct": "ANCT", "anru": "ANRU", "banque_des_territoires": "Banque des Territoires",
                  "bpifrance": "Bpifrance"}
PARTNER_COLOURS = {"etat": "#0063cb", "anct": "#009e73", "anru": "#cc79a7", "banque_des_territoires": "#e69f00",
                   "bpifrance": "#d55e00"}
OTHER_COLOUR = "#8a8a8a"
STATUS_LABELS = {"on_time": "Dans les délais", "late": "En retard", "missing": "Non annexée, échéance dépassée",
                 "pending": "Attendue, échéance non atteinte"}
STATUS_BADGES = {"on_time": "Dans les délais", "late": "En retard", "missing": "Non annexée", "pending": "Attendue"}
STATUS_COLOURS = {"on_time": "#18753c", "late": "#ce0500", "missing": "#6a6a6a", "pending": "#6a6a6a"}
AXE_LABELS = {"entrepreneuriat": "Entrepreneuriat", "commerce_artisanat": "Commerce et artisanat",
              "implantation_activites": "Implantation d'activités",
              "transition_numerique_ecologique": "Transition numérique et écologique"}
CANAL_LABELS = {"atelier_reseau": "Atelier du réseau", "fiche_capitalisation": "Fiche de capitalisation",
                "webinaire": "Webinaire", "visite": "Visite"}
PROVENANCE_LABELS = {"real": "réelle", "illustrative": "illustrative"}  # both documents are feminine nouns
ITEM_TYPE_LABELS = {"roadmap": "Feuille de route", "action": "Action", "milestone": "Jalon"}
SIGNATURE_TEXTS = {"undated": "non datée", "not_yet_signed": "non signée"}

# Labels of mart_evaluation_national's indicators; an indicator not listed here shows under its own name.
INDICATOR_LABELS = {
    "territories_in_programme": "Territoires du programme",
    "conventions_signed": "Conventions signées",
    "roadmaps_annexed": "Feuilles de route annexées",
    "roadmaps_on_time": "Feuilles de route annexées dans les délais",
    "roadmaps_on_time_share": "Part des feuilles de route dans les délais (parmi celles annexées ou échues)",
    "median_roadmap_delay_days": "Écart médian à l'échéance d'annexion (négatif : en avance)",
    "conventions_in_force": "Conventions en vigueur",
    "action_on_time_rate": "Part des actions échues achevées à temps",
    "practices_shared": "Bonnes pratiques partagées",
    "reuse_links": "Réutilisations de bonnes pratiques par d'autres territoires",
    **{f"total_granted_{p}": f"Montants accordés — {label}" for p, label in PARTNER_LABELS.items()},
    **{f"median_instruction_days_{p}": f"Délai médian d'instruction — {label}" for p, label in PARTNER_LABELS.items()},
}
