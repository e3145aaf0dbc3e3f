"""Shared wording of the national template, as the seed convention words it.

Every document of the corpus is composed from these sentences (or a local variant of
them declared in ``corpus_spec.py``).  The seed is
``/work/shared/seed/convention_aix_marseille_provence.txt``; sentences are kept close to it,
with the small rewordings a territorial administration makes.
"""

OPS = {
    "anct": {
        "short": "l’ANCT",
        "long": "l’Agence nationale de la cohésion des territoires (ANCT)",
    },
    "anru": {
        "short": "l’ANRU",
        "long": "l’Agence nationale pour la rénovation urbaine (ANRU)",
    },
    "banque_des_territoires": {
        "short": "la Banque des Territoires",
        "long": "la Banque des Territoires (Caisse des dépôts)",
    },
    "bpifrance": {"short": "Bpifrance", "long": "Bpifrance"},
}
OP_ORDER = ["anct", "anru", "banque_des_territoires", "bpifrance"]


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def others(code: str) -> list[str]:
    return [c for c in OP_ORDER if c != code]


CONTEXT = [
    "Trop longtemps, dans les quartiers prioritaires de la politique de la ville (QPV), "
    "l’accompagnement social a été la règle et le développement économique l’exception. C’est "
    "pourtant un levier essentiel de l’attractivité d’un quartier, qui participe de l’émancipation "
    "de ses habitants.",
    "Les QPV sont notamment caractérisés par un tissu économique deux fois moins dense que celui "
    "des autres quartiers. Du fait d’un environnement plus complexe, porteur d’une rentabilité "
    "économique de plus long terme, ces quartiers ne sont pas pensés spontanément comme des "
    "territoires pertinents d’investissement et de croissance économique.",
    "Annoncé dans le cadre du Comité interministériel des villes qui s’est tenu le 29 janvier 2021, "
    "le programme Quartiers productifs est porté par le Ministère de la ville et mis en œuvre "
    "conjointement par quatre opérateurs nationaux : l’Agence nationale de la cohésion des "
    "territoires (ANCT), l’Agence nationale pour la rénovation urbaine (ANRU), la Banque des "
    "Territoires de la Caisse des dépôts et Bpifrance, ci-après désignés « les Partenaires ».",
    "Le programme Quartiers productifs vise à renforcer l’accompagnement et à apporter une offre de "
    "services sur-mesure aux collectivités locales, et notamment aux intercommunalités, dans le "
    "développement de leurs politiques de soutien au développement économique des QPV.",
    "Le programme est déployé sur 14 territoires expérimentateurs et se décline localement, avec la "
    "désignation, sur chaque territoire et en lien avec l’intercommunalité signataire, d’un chef de "
    "file dédié (« Chef de file »), interlocuteur unique désigné parmi les 4 Partenaires.",
]

LABL = {
    "seed": "L’intercommunalité signataire a confirmé sa volonté de participer à ce programme "
    "expérimental par retour écrit adressé au Ministère chargé de la ville en amont du lancement "
    "officiel le 18 mars 2021, date à laquelle ont été labellisés les 14 territoires Quartiers "
    "productifs (ci-après désignée « la Labellisation »).",
    "numeric": "Le territoire a été labellisé « Quartiers productifs » le 18/03/2021 avec treize "
    "autres territoires (ci-après « la Labellisation »).",
    "jeudi": "Les quatorze territoires du programme ont été labellisés le jeudi 18 mars 2021, date "
    "ci-après désignée « la Labellisation ».",
    "decision": "Par décision de la Ministre déléguée chargée de la Ville en date du 18 mars 2021 "
    "(ci-après « la Labellisation »), le territoire a été retenu parmi les quatorze territoires "
    "Quartiers productifs.",
    # broken on purpose: the Labellisation is named, never dated
    "undated": "L’intercommunalité signataire a confirmé sa volonté de participer à ce programme "
    "expérimental par retour écrit adressé au Ministère chargé de la ville, en amont du lancement "
    "officiel au cours duquel ont été labellisés les 14 territoires Quartiers productifs (ci-après "
    "désignée « la Labellisation »).",
}

OBJET_1 = (
    "La présente convention-cadre (« la Convention ») a pour objet d’acter l’engagement de "
    "l’intercommunalité bénéficiaire, de l’État et des Partenaires dans le programme Quartiers "
    "productifs."
)
OBJET_ROADMAP = (
    "La Convention engage l’intercommunalité bénéficiaire, avec le soutien de l’État ou des "
    "Partenaires, à formaliser et à annexer {delai}, à la présente convention une feuille de route "
    "(« la Feuille de route ») explicitant un renforcement de la stratégie de développement "
    "économique des QPV en lien avec le programme."
)
OBJET_3 = (
    "La présente Convention a pour objet de préciser les engagements réciproques des parties dans "
    "l’exécution du programme et d’indiquer les principes d’organisation de la gouvernance locale "
    "du programme."
)

ENG_INTRO = (
    "Les parties s’engagent à fournir leurs meilleurs efforts pour assurer le succès de la mise en "
    "œuvre du programme et la réalisation de la Feuille de route annexée à la présente convention."
)

GOUV = [
    "Pour assurer le déploiement du programme, le pilotage efficace des études de diagnostic, "
    "l’élaboration de la Feuille de route ainsi que la coordination et la réalisation de celles-ci, "
    "une gouvernance locale adaptée est mise en place.",
    "Afin de ne pas alourdir les comitologies locales, l’organisation de la gouvernance est laissée "
    "à la libre appréciation des territoires engagés dans l’expérimentation. Les instances "
    "indiquées en annexe 1 de la présente convention constituent de simples préconisations.",
    "Le « Coordonnateur » Quartiers productifs, rattaché aux services de la collectivité, est chargé "
    "d’assurer le suivi du programme et rend notamment compte de l’avancée des travaux aux "
    "instances de gouvernance arrêtées localement.",
]

DUREE_TAIL = (
    "Selon les besoins exprimés par l’instance de pilotage locale, cette durée pourra être "
    "prolongée par avenant à l’appréciation de l’État représenté par le préfet de département."
)

COMMUNICATION = (
    "Les parties s’attachent à faire mention du programme Quartiers productifs et du soutien des "
    "Partenaires dans toute action de communication relative aux projets accompagnés."
)

# Commitments, without a leading "à" (added when the lead-in asks for it)
ETAT = [
    "animer le réseau des Partenaires du programme afin d’en faciliter l’élaboration et la mise en "
    "œuvre",
    "désigner au sein de ses services déconcentrés un référent chargé d’assurer le suivi des projets "
    "et l’accessibilité de l’offre de services",
    "étudier le possible co-financement des actions inscrites dans la Feuille de route qui seraient "
    "éligibles aux dotations et crédits disponibles de l’État et de ses partenaires",
    "mobiliser les experts techniques des services déconcentrés",
]
ETAT_ALT = [
    "animer le réseau des Partenaires du programme et faciliter l’élaboration puis la mise en "
    "œuvre de la Feuille de route",
    "désigner un référent Quartiers productifs au sein de la préfecture, chargé du suivi des projets "
    "et de l’accessibilité de l’offre de services",
    "étudier le cofinancement des actions de la Feuille de route éligibles aux dotations et crédits "
    "disponibles de l’État",
    "mobiliser, en tant que de besoin, l’expertise technique des services déconcentrés",
]
INTERCO_SENTENCE = (
    "renforcer les dynamiques locales destinées à favoriser le développement économique dans les "
    "QPV et à mobiliser les moyens nécessaires pour assurer le pilotage et la mise en œuvre "
    "efficace du programme sur son territoire, notamment via la désignation d’un « Coordonnateur »"
)
INTERCO = [
    "désigner un « Coordonnateur » Quartiers productifs rattaché à ses services",
    "renforcer les dynamiques locales destinées à favoriser le développement économique dans les "
    "QPV",
    "mobiliser les moyens nécessaires au pilotage et à la mise en œuvre efficace du programme sur "
    "son territoire",
    "associer les acteurs économiques locaux et les habitants à l’élaboration de la Feuille de "
    "route",
]
CHEF = [
    "appuyer l’intercommunalité bénéficiaire dans la mise en œuvre de l’expérimentation et dans la "
    "priorisation de ses projets",
    "porter auprès des services de l’État et des différents Partenaires techniques et financiers les "
    "projets identifiés dans le cadre de l’expérimentation Quartiers productifs",
]
PART_SENTENCE = (
    "favoriser la capitalisation et le partage des bonnes pratiques, en vue notamment de "
    "l’évaluation à venir des contrats de ville et du NPNRU"
)
PART = [
    "instruire dans les meilleurs délais les propositions de projets et d’actions qui seront "
    "soumises par l’intercommunalité bénéficiaire",
    "mobiliser leurs ressources humaines et financières pour permettre la réalisation des actions "
    "entrant dans leur champ d’intervention et qu’ils auraient préalablement approuvées dans le "
    "cadre de leurs instances décisionnaires",
]
PART_ALL = [PART_SENTENCE] + PART
