"""The corpus: one spec per document.

Every document is illustrative: composed for testing from the national template (wording of
the real seed convention of Aix-Marseille-Provence), not a real signed document.  Names of
elected representatives are invented, except Martine VASSAL and Nadia HAI who sign the seed.

Keys common to every spec:
  file       document file name (in ../documents/)
  kind       "convention" | "avenant"
  territory  territory id (DOMAIN.md)
  fmt        "txt" | "pdf" | "scan" | "mixed" | "docx" | "corrupt_docx" | "blank_scan"
  classes    the real-world classes the document exercises
  render     layout options for the renderer (headers, footers, hyphenation, ligatures, ...)
  expect     "read" (default) or "refused" with "reason"
"""
from texts import CHEF, ETAT, ETAT_ALT, INTERCO, INTERCO_SENTENCE, PART, PART_ALL, PART_SENTENCE

LAB = "labellisation"
SIG = "signature"


def rep(title, name, civ="M.", form="title_first"):
    poss = "sa" if title.split()[0].endswith("e") else "son"
    return {"title": title, "name": name, "civ": civ, "poss": poss, "form": form}


def sig(*lines):
    return {"t": "sig", "lines": list(lines)}


def g(party, style, items, lead=None, a=False, layout="lines", **kw):
    d = {"party": party, "style": style, "items": list(items), "lead": lead, "a": a,
         "layout": layout}
    d.update(kw)
    return d


def per_party(style_etat, style_interco, style_chef, style_part, a=False, interco_items=None,
              part_items=None, etat_items=None, **kw):
    """The four groups of a document with one article per party, lists on separate lines."""
    return [
        g("etat", style_etat, etat_items or ETAT, "L’État s’engage à :", a, **kw),
        g("intercommunalite", style_interco, interco_items or INTERCO[:3],
          "L’intercommunalité bénéficiaire s’engage à :", a, **kw),
        g("chef_de_file", style_chef, CHEF, "Le chef de file s’engage à :", a, **kw),
        g("partenaires", style_part, part_items or PART_ALL, "Les Partenaires s’engagent à :", a, **kw),
    ]


ROADMAP_6 = {"months": 6, "base": LAB, "phrase": "dans un délai de six mois à compter de la Labellisation"}
ROADMAP_6_SEED = {"months": 6, "base": LAB, "phrase": "dans un délai de 6 mois à compter de la Labellisation"}
DUR_24_SEED = {"months": 24, "base": LAB, "sentence": "La présente Convention est valable pour une durée de 24 mois maximum à compter de la labellisation."}
DUR_24_WORDS = {"months": 24, "base": LAB, "sentence": "La présente Convention est conclue pour une durée de vingt-quatre mois à compter de la Labellisation."}
DUR_2_YEARS = {"months": 24, "base": LAB, "sentence": "La présente Convention est conclue pour deux ans à compter de la labellisation."}
DUR_36_SIG = {"months": 36, "base": SIG, "sentence": "La présente Convention prend effet à la date de sa signature ; elle est conclue pour une durée de 36 mois à compter de sa signature."}

ROADMAP_PARENTH_SENTENCE = (
    "L’intercommunalité bénéficiaire formalise, avec le soutien de l’État ou des Partenaires, une "
    "feuille de route (« la Feuille de route ») explicitant un renforcement de la stratégie de "
    "développement économique des QPV, qu’elle annexe à la présente convention au plus tard six "
    "(6) mois après la labellisation.")

# ---------------------------------------------------------------- territories
AMP = {"art": "La", "name": "Métropole Aix-Marseille-Provence",
       "rep": rep("Présidente", "Martine VASSAL", civ="", form="title_first_nocomma"),
       "etat_word": "L’Etat", "state_form": "seed", "bullet": True,
       "state_rep": "la Ministre déléguée auprès de la Ministre de la cohésion des territoires et "
                    "des relations avec les collectivités territoriales, chargée de la Ville, ou le "
                    "Préfet du département des Bouches-du-Rhône le cas échéant"}
ARRAS = {"art": "La", "name": "Communauté urbaine d’Arras",
         "rep": rep("Président", "Jean-Marc DELATTRE"),
         "extra": "dûment habilité par délibération du Conseil communautaire du 20 mai 2021, ",
         "state_rep": "le Préfet du Pas-de-Calais"}
LAVAL = {"art": "", "name": "Laval Agglomération",
         "rep": rep("Présidente", "Florence GAUTHIER", civ="Mme"),
         "state_rep": "le Préfet de la Mayenne", "order": "state_first"}
MAUBEUGE = {"art": "La", "name": "Communauté d’Agglomération Maubeuge Val de Sambre",
            "rep": rep("Président", "Michel DUPRIEZ", civ="Monsieur", form="qualite"),
            "state_rep": "le Préfet de la région Hauts-de-France, Préfet du Nord"}
MONTBELIARD = {"art": "", "name": "Pays de Montbéliard Agglomération",
               "rep": rep("Président", "Christian VUILLEMIN"),
               "state_rep": "le Préfet de la région Bourgogne-Franche-Comté, Préfet du Doubs"}
MONTPELLIER = {"art": "", "name": "Montpellier Méditerranée Métropole",
               "rep": rep("Vice-présidente déléguée au développement économique", "Sandrine RIBES", civ="Mme"),
               "state_rep": "le Préfet de l’Hérault"}
EST_ENSEMBLE = {"art": "L’", "name": "Établissement public territorial Est Ensemble",
                "rep": rep("Président", "Karim BENSALEM"),
                "state_rep": "le Préfet de la Seine-Saint-Denis", "repr_word": "représenté"}
GPS = {"art": "La", "name": "Communauté d’agglomération Grand Paris Sud Seine-Essonne-Sénart",
       "rep": rep("Présidente", "Hélène MARCHAND-ROUX", civ="Mme"),
       "state_rep": "le Préfet de l’Essonne"}
NARBONNE = {"art": "La", "name": "Communauté d’agglomération du Grand Narbonne",
            "rep": rep("Président", "Pierre-Yves CASTANIER", form="name_first"),
            "state_rep": "le Préfet de l’Aude"}
NANCY = {"art": "La", "name": "Métropole du Grand Nancy",
         "rep": rep("Président", "Laurent MOUGEL"),
         "state_rep": "le Préfet de Meurthe-et-Moselle"}
ORLY = {"art": "L’", "name": "Établissement public territorial Grand-Orly Seine Bièvre",
        "rep": rep("Président", "Antoine RAMIREZ"),
        "state_rep": "la Préfète du Val-de-Marne", "repr_word": "représenté"}
ROUBAIX = {"art": "La", "name": "Métropole Européenne de Lille",
           "rep": rep("Président", "Bernard VANDERHAEGHE", civ="Monsieur"),
           "extra": "dûment habilité par délibération du Conseil métropolitain du 28 mai 2021, ",
           "state_rep": "le Préfet de la région Hauts-de-France, Préfet du Nord", "bullet": True}
TOULOUSE = {"art": "", "name": "Toulouse Métropole",
            "rep": rep("Président", "Jean-Claude MIRAMONT"),
            "state_rep": "le Préfet de la région Occitanie, Préfet de la Haute-Garonne"}
CIVIS = {"art": "La", "name": "Communauté intercommunale des Villes solidaires",
         "rep": rep("Président", "Joseph HOARAU"),
         "state_rep": "le Préfet de La Réunion"}


def chef(code, sentence, place="gouvernance"):
    return {"code": code, "sentence": sentence, "place": place}


DOCS = []

# ================================================================ conventions
# C01 Aix-Marseille-Provence, seed style, signed copy scanned
DOCS.append({
    "file": "aix_marseille_provence_convention_signee_scan.pdf", "kind": "convention",
    "territory": "aix-marseille-provence", "fmt": "scan",
    "classes": ["scan", "seed_style_text", "bullet_pua_parties", "roman_paren", "inline_semicolon",
                "single_article_parties", "unnumbered_single_commitment", "chef_de_file_seed",
                "signature_simple", "date_month_name", "state_representative_long"],
    "parties": AMP, "article_fmt": "Article {n}.  {title}",
    "roadmap": ROADMAP_6_SEED, "duration": DUR_24_SEED, "structure": "single",
    "groups": [
        g("etat", "(i)", ETAT, "L’Etat s’engage", True, "inline", para_bullet=True),
        g("intercommunalite", None, [INTERCO_SENTENCE], "L’intercommunalité bénéficiaire s’engage", True, "sentence", para_bullet=True),
        g("chef_de_file", "(i)", CHEF, "Le Chef de file s’engage", True, "inline", para_bullet=True),
        g("partenaires", None, [PART_SENTENCE], "Les partenaires s’engagent", True, "sentence", para_bullet=True),
        g("partenaires", "(i)", PART, "En outre, les partenaires techniques et financiers (le Ministère de la ville, l’ANCT, la Banque des Territoires, l’ANRU, et Bpifrance) se sont engagés au niveau national à", False, "inline"),
    ],
    "chef": chef("anru", "Le Chef de file désigné pour suivre le déploiement du programme sur l’intercommunalité bénéficiaire est l’ANRU."),
    "gouv_title": "Gouvernance",
    "signature": [sig("A Marseille, le 8 juillet 2021", "", "Madame Nadia HAI                                    Madame Martine VASSAL",
                      "Ministre chargée de la Ville                        Présidente de la Métropole Aix-Marseille-", "Provence")],
    "sig_place": "Marseille", "sig_date": "2021-07-08",
    "render": {"font": "serif", "stamp": True, "skew": 0.4},
})

# C02 Arras, working text, seed style with private-use bullets, one article per party
DOCS.append({
    "file": "arras_convention_engagement.txt", "kind": "convention", "territory": "arras", "fmt": "txt",
    "classes": ["txt", "seed_style_text", "bullet_pua_items", "one_article_per_party",
                "chef_de_file_semicolon", "article_title_organisation", "deadline_words_parenthesised",
                "duration_words", "signature_blank_date"],
    "parties": dict(ARRAS, bullet=True),
    "roadmap": {"months": 6, "base": LAB}, "roadmap_sentence": ROADMAP_PARENTH_SENTENCE,
    "duration": DUR_24_WORDS, "structure": "per_party",
    "groups": per_party("pua", "pua", "pua", "pua"),
    "chef": chef("banque_des_territoires", "Le chef de file désigné est la Banque des Territoires ; l’ANRU et Bpifrance y sont associés."),
    "gouv_title": "Organisation du partenariat",
    "signature": [sig("A Arras, le ____", "", "Pour l’État,                              Pour la Communauté urbaine d’Arras,",
                      "Le Préfet du Pas-de-Calais                Le Président")],
    "sig_place": "Arras", "sig_date": None,
    "render": {"double": True, "width": 108, "trailing": True},
})

# C03 Arras, signed text PDF
DOCS.append({
    "file": "arras_convention_signee.pdf", "kind": "convention", "territory": "arras", "fmt": "pdf",
    "classes": ["pdf_text", "numbered_dot", "lettered", "en_dash_list", "one_article_per_party",
                "chef_de_file_semicolon", "article_title_organisation", "deadline_words_parenthesised",
                "duration_words", "signature_exemplaires_middle", "date_month_name",
                "headers_footers", "page_numbers", "hyphenation"],
    "parties": ARRAS, "article_fmt": "Article {n} – {title}",
    "roadmap": {"months": 6, "base": LAB}, "roadmap_sentence": ROADMAP_PARENTH_SENTENCE,
    "duration": DUR_24_WORDS, "structure": "per_party",
    "groups": [
        g("etat", "1.", ETAT, "L’État s’engage à :"),
        g("intercommunalite", "a)", INTERCO[:3], "L’intercommunalité bénéficiaire s’engage à :"),
        g("chef_de_file", "1.", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "–", PART_ALL, "Les Partenaires s’engagent à :"),
    ],
    "chef": chef("banque_des_territoires", "Le chef de file désigné est la Banque des Territoires ; l’ANRU et Bpifrance y sont associés."),
    "gouv_title": "Organisation du partenariat", "communication": True,
    "signature": [sig("Fait à Arras, en deux exemplaires originaux, le 5 octobre 2021", "",
                      "Pour l’État,                                   Pour la Communauté urbaine d’Arras,",
                      "Le Préfet du Pas-de-Calais                     Le Président, Jean-Marc DELATTRE")],
    "sig_place": "Arras", "sig_date": "2021-10-05",
    "render": {"header": "Communauté urbaine d’Arras – Convention d’engagement Quartiers productifs",
               "footer": "Page {n} sur {nb}", "hyphenate": True},
})

LAVAL_SPEC = {
    "kind": "convention", "territory": "laval",
    "parties": LAVAL, "article_fmt": "ARTICLE {n} : {TITLE}", "labl": "numeric",
    "roadmap": ROADMAP_6, "duration": DUR_2_YEARS, "structure": "per_party",
    "groups": per_party("1)", "1)", "1)", "1)", interco_items=INTERCO),
    "chef": chef("bpifrance", "Bpifrance est désignée chef de file du programme pour le territoire de Laval Agglomération."),
    "gouv_title": "Pilotage du programme",
    "signature": [sig("À Laval le 12/07/2021", "", "Le Préfet de la Mayenne                 La Présidente de Laval Agglomération",
                      "                                        Florence GAUTHIER")],
    "sig_place": "Laval", "sig_date": "2021-07-12",
}
# C04 Laval, text PDF
DOCS.append(dict(LAVAL_SPEC, file="laval_convention_engagement.pdf", fmt="pdf",
    classes=["pdf_text", "numbered_paren", "one_article_per_party", "chef_de_file_designee",
             "article_title_pilotage", "labellisation_numeric", "duration_years",
             "signature_no_comma", "date_numeric", "headers_footers", "page_numbers", "state_first"],
    render={"header": "Laval Agglomération – Convention Quartiers productifs", "footer": "- {n} -"}))
# C05 Laval, same convention, signed copy scanned
DOCS.append(dict(LAVAL_SPEC, file="laval_convention_signee_scan.pdf", fmt="scan",
    classes=["scan", "numbered_paren", "one_article_per_party", "chef_de_file_designee",
             "article_title_pilotage", "labellisation_numeric", "duration_years",
             "signature_no_comma", "date_numeric", "headers_footers", "page_numbers", "state_first"],
    render={"header": "Laval Agglomération – Convention Quartiers productifs", "footer": "- {n} -",
            "font": "serif", "grey": 232, "skew": -0.3}))

MAUBEUGE_SPEC = {
    "kind": "convention", "territory": "maubeuge-val-de-sambre",
    "parties": MAUBEUGE, "labl": "jeudi", "article_fmt": "Article {n} - {title}",
    "roadmap": {"months": 9, "base": LAB, "phrase": "dans les 9 mois suivant la Labellisation"},
    "duration": {"months": 24, "base": LAB, "sentence": "La présente Convention est valable pour une durée de 24 mois à compter de la Labellisation."},
    "structure": "single",
    "groups": [
        g("etat", "1.", ETAT_ALT, "L’État s’engage à :", conj="et"),
        g("intercommunalite", "1.", INTERCO, "L’intercommunalité bénéficiaire s’engage à :"),
        g("chef_de_file", "1.", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "1.", PART_ALL, "Les Partenaires s’engagent à :"),
    ],
    "chef": chef("anru", "L’interlocuteur unique du territoire (« Chef de file ») est l’Agence nationale pour la rénovation urbaine (ANRU), qui agit en coordination avec la Banque des Territoires."),
    "gouv_title": "Gouvernance et pilotage",
    "signature": [sig("Fait à Maubeuge,", "le 15 septembre 2021", "", "Le Préfet du Nord                 Le Président de la CAMVS")],
    "sig_place": "Maubeuge", "sig_date": "2021-09-15",
}
# C06 Maubeuge, text extracted from a PDF with running headers, hyphenation and ligatures
DOCS.append(dict(MAUBEUGE_SPEC, file="maubeuge_val_de_sambre_convention.txt", fmt="txt",
    classes=["txt", "headers_footers", "hyphenation", "ligatures", "numbered_dot", "conj_et",
             "single_article_parties", "deadline_9_months", "chef_de_file_with_others",
             "article_title_gouvernance_pilotage", "signature_date_next_line", "date_month_name"],
    render={"width": 96, "hyphenate": True, "ligatures": True, "page_lines": 34,
            "header": "CA Maubeuge Val de Sambre – Convention d’engagement Quartiers productifs",
            "footer": "Convention Quartiers productifs – page {n}/{nb}"}))
# C25 Maubeuge, text PDF of the same convention
DOCS.append(dict(MAUBEUGE_SPEC, file="maubeuge_val_de_sambre_convention_engagement.pdf", fmt="pdf",
    classes=["pdf_text", "numbered_dot", "conj_et", "single_article_parties", "deadline_9_months",
             "chef_de_file_with_others", "article_title_gouvernance_pilotage",
             "signature_date_next_line", "date_month_name", "headers_footers", "hyphenation"],
    render={"header": "CA Maubeuge Val de Sambre – Convention d’engagement",
            "footer": "Convention Quartiers productifs – page {n}/{nb}", "hyphenate": True,
            "font_size": 11}))

MONTBELIARD_BASE = {
    "kind": "convention", "territory": "montbeliard", "parties": MONTBELIARD,
    "roadmap": ROADMAP_6, "duration": DUR_24_WORDS,
    "chef": chef("anct", "Le rôle de chef de file est confié à l’ANCT."),
}
# C07 Montbéliard, Word document with real list styles and a signature table
DOCS.append(dict(MONTBELIARD_BASE, file="montbeliard_convention_engagement.docx", fmt="docx",
    classes=["docx", "word_list_number", "word_list_bullet", "one_article_per_party",
             "chef_de_file_confie", "signature_table", "date_dotted"],
    structure="per_party",
    groups=per_party("word_number", "word_number", "word_bullet", "word_number"),
    signature=[sig("A Montbéliard, le 21.6.2021"),
               {"t": "sigtable", "rows": [["Pour l’État,", "Pour Pays de Montbéliard Agglomération,"],
                                          ["Le Préfet du Doubs", "Le Président"],
                                          ["", "Christian VUILLEMIN"]]}],
    sig_place="Montbéliard", sig_date="2021-06-21",
    render={"header": "Pays de Montbéliard Agglomération – Convention d’engagement"}))
# C08 Montbéliard, text version with inline lists, dashes and lettered items
DOCS.append(dict(MONTBELIARD_BASE, file="montbeliard_convention.txt", fmt="txt",
    classes=["txt", "inline_semicolon", "numbered_paren", "dash_list", "en_dash_list", "lettered",
             "single_article_parties", "page_numbers", "chef_de_file_confie", "signature_simple",
             "date_month_name"],
    structure="single", article_fmt="Article {n} – {title}",
    groups=[
        g("etat", "1)", ETAT, "L’État s’engage :", True, "inline"),
        g("intercommunalite", "-", INTERCO, "L’intercommunalité bénéficiaire s’engage à :"),
        g("chef_de_file", "–", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "a)", PART_ALL, "Les Partenaires s’engagent à", False, "inline"),
    ],
    signature=[sig("A Montbéliard, le 21 juin 2021", "", "Pour l’État                      Pour Pays de Montbéliard Agglomération")],
    sig_place="Montbéliard", sig_date="2021-06-21",
    render={"width": 100, "page_lines": 40, "pagenum": "{n}/{nb}"}))

# C09 Montpellier, text PDF, two signature lines, chef de file named in its own article
DOCS.append({
    "file": "montpellier_convention_engagement.pdf", "kind": "convention", "territory": "montpellier", "fmt": "pdf",
    "classes": ["pdf_text", "lettered", "one_article_per_party", "chef_de_file_with_others",
                "chef_in_engagement_article", "signature_multiple", "date_month_name",
                "representative_long_title", "headers_footers", "page_numbers"],
    "parties": MONTPELLIER, "labl": "decision",
    "roadmap": ROADMAP_6,
    "duration": {"months": 24, "base": LAB, "sentence": "La présente Convention est valable pour une durée de 24 mois à compter de la Labellisation."},
    "structure": "per_party",
    "groups": per_party("a)", "a)", "a)", "a)", interco_items=INTERCO),
    "party_titles": {"chef_de_file": "Engagements du chef de file"},
    "chef": chef("banque_des_territoires", "La Banque des Territoires assure le rôle de chef de file, en lien étroit avec l’ANCT et Bpifrance.", place="chef_article"),
    "gouv_title": "Gouvernance",
    "signature": [sig("Pour l’État,", "A Montpellier, le 5 juillet 2021", "Le Préfet de l’Hérault", ""),
                  sig("Pour Montpellier Méditerranée Métropole,", "A Montpellier, le 7 juillet 2021",
                      "La Vice-présidente déléguée au développement économique", "Sandrine RIBES")],
    "sig_place": "Montpellier", "sig_date": "2021-07-07",
    "render": {"header": "Montpellier Méditerranée Métropole – Convention d’engagement", "footer": "{n}/{nb}"},
})

# C10 Montpellier, draft where no operator is designated chef de file -> refused
DOCS.append({
    "file": "montpellier_convention_projet_sans_chef.txt", "kind": "convention", "territory": "montpellier",
    "fmt": "txt", "expect": "refused",
    "reason": "no operator is designated chef de file: the four Partners are only mentioned and the "
              "designation is deferred (« sera désigné ultérieurement »)",
    "classes": ["txt", "refused_no_chef_de_file", "lettered", "one_article_per_party"],
    "parties": MONTPELLIER, "labl": "decision", "roadmap": ROADMAP_6,
    "duration": DUR_24_WORDS, "structure": "per_party",
    "groups": per_party("a)", "a)", "a)", "a)"),
    "chef": chef(None, "Le Chef de file sera désigné ultérieurement, d’un commun accord, parmi l’ANCT, l’ANRU, la Banque des Territoires et Bpifrance, après la réunion du premier comité de pilotage."),
    "gouv_title": "Gouvernance",
    "signature": [sig("A Montpellier, le", "", "Pour l’État                Pour Montpellier Méditerranée Métropole")],
    "sig_place": "Montpellier", "sig_date": None,
    "render": {"width": 104},
})

EST_BASE = {
    "kind": "convention", "territory": "est-ensemble", "parties": EST_ENSEMBLE,
    "roadmap": ROADMAP_6, "duration": DUR_24_SEED,
    "chef": chef("anru", "L’ANRU est désignée chef de file du programme sur le territoire d’Est Ensemble."),
}
# C11 Est Ensemble, signed copy scanned, date written in words
DOCS.append(dict(EST_BASE, file="est_ensemble_convention_signee_scan.pdf", fmt="scan",
    classes=["scan", "roman_paren", "one_article_per_party", "unnumbered_single_commitment",
             "chef_de_file_designee", "signature_fait_a", "date_in_words"],
    structure="per_party",
    groups=[
        g("etat", "(i)", ETAT, "L’État s’engage à :"),
        g("intercommunalite", None, [INTERCO_SENTENCE], "L’intercommunalité bénéficiaire s’engage", True, "sentence"),
        g("chef_de_file", "(i)", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "(i)", PART_ALL, "Les Partenaires s’engagent à :"),
    ],
    signature=[sig("Fait à Bondy, le vingt-neuf juin deux mille vingt et un", "",
                   "Le Préfet de la Seine-Saint-Denis            Le Président de l’EPT Est Ensemble")],
    sig_place="Bondy", sig_date="2021-06-29",
    render={"font": "serif", "stamp": True, "grey": 238}))
# C12 Est Ensemble, text with bullet glyph per party and inline roman numerals
DOCS.append(dict(EST_BASE, file="est_ensemble_convention.txt", fmt="txt",
    classes=["txt", "seed_style_text", "roman_paren", "inline_semicolon", "single_article_parties",
             "unnumbered_single_commitment", "chef_de_file_designee", "signature_simple", "date_numeric"],
    structure="single", article_fmt="Article {n}.  {title}",
    groups=[
        g("etat", "i)", ETAT, "• L’État s’engage :", True, "inline"),
        g("intercommunalite", None, [INTERCO_SENTENCE], "• L’intercommunalité bénéficiaire s’engage", True, "sentence"),
        g("chef_de_file", "i)", CHEF, "• Le chef de file s’engage :", True, "inline"),
        g("partenaires", "i)", PART_ALL, "• Les Partenaires s’engagent :", True, "inline"),
    ],
    signature=[sig("A Bondy, le 29/06/2021", "", "Le Préfet de la Seine-Saint-Denis       Le Président de l’EPT Est Ensemble")],
    sig_place="Bondy", sig_date="2021-06-29",
    render={"double": True, "width": 110, "trailing": True}))

# C13 Grand Paris Sud, text PDF whose signature page is a scanned image
DOCS.append({
    "file": "grand_paris_sud_convention_signee.pdf", "kind": "convention", "territory": "grand-paris-sud", "fmt": "mixed",
    "classes": ["mixed_scan_page", "numbered_1deg", "one_article_per_party", "chef_de_file_with_others",
                "article_title_gouvernance_pilotage", "deadline_from_signature", "duration_from_signature",
                "signature_simple", "date_numeric", "headers_footers", "page_numbers"],
    "parties": GPS,
    "roadmap": {"months": 9, "base": SIG, "phrase": "dans les neuf mois suivant la signature de la présente convention"},
    "duration": DUR_36_SIG, "structure": "per_party",
    "groups": per_party("1°", "1°", "1°", "1°", a=True),
    "chef": chef("anct", "L’ANCT assure le rôle de chef de file, en lien étroit avec la Banque des Territoires et Bpifrance."),
    "gouv_title": "Gouvernance et pilotage", "sig_pagebreak": True,
    "signature": [sig("À Évry-Courcouronnes, le 24/06/2021", "", "",
                      "Pour l’État,                                Pour Grand Paris Sud,",
                      "Le Préfet de l’Essonne                      La Présidente", "",
                      "                                            Hélène MARCHAND-ROUX")],
    "sig_place": "Évry-Courcouronnes", "sig_date": "2021-06-24",
    "render": {"header": "Grand Paris Sud – Convention Quartiers productifs", "footer": "Page {n} sur {nb}"},
})

NARBONNE_BASE = {
    "kind": "convention", "territory": "grand-narbonne", "parties": NARBONNE,
    "duration": DUR_24_WORDS, "structure": "per_party",
    "groups": [
        g("etat", "–", ETAT, "L’État s’engage à :"),
        g("intercommunalite", "-", INTERCO, "L’intercommunalité bénéficiaire s’engage à :"),
        g("chef_de_file", "–", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "–", PART_ALL, "Les Partenaires s’engagent à :"),
    ],
    "chef": chef("bpifrance", "Les Partenaires ont désigné Bpifrance comme chef de file ; l’ANCT, l’ANRU et la Banque des Territoires interviennent en appui."),
    "gouv_title": "Gouvernance",
    "signature": [sig("Fait à Narbonne, le 31 août 2021", "", "Le Préfet de l’Aude                     Le Président du Grand Narbonne")],
    "sig_place": "Narbonne", "sig_date": "2021-08-31",
}
# C14 Grand Narbonne: road map counted from a 31 August signature (month-end clamp)
DOCS.append(dict(NARBONNE_BASE, file="grand_narbonne_convention_engagement.pdf", fmt="pdf",
    classes=["pdf_text", "dash_list", "en_dash_list", "one_article_per_party", "chef_de_file_with_others",
             "deadline_from_signature", "month_end_clamp", "duration_words", "representative_name_first",
             "signature_fait_a", "date_month_name", "headers_footers", "hyphenation"],
    roadmap={"months": 6, "base": SIG, "phrase": "dans un délai de six mois à compter de la signature de la présente convention"},
    render={"header": "Le Grand Narbonne – Convention d’engagement Quartiers productifs",
            "footer": "Convention Quartiers productifs – page {n}/{nb}", "hyphenate": True}))
# C15 Grand Narbonne: early version, the Labellisation is never dated -> refused
DOCS.append(dict(NARBONNE_BASE, file="grand_narbonne_convention_v0_sans_date.pdf", fmt="pdf",
    expect="refused",
    reason="the Labellisation from which the road map deadline and the duration are counted is never dated in the document",
    classes=["pdf_text", "refused_no_labellisation_date", "dash_list", "headers_footers"],
    labl="undated", roadmap=ROADMAP_6, duration=DUR_24_WORDS,
    signature=[sig("Fait à Narbonne, le", "", "Le Préfet de l’Aude                     Le Président du Grand Narbonne")],
    sig_date=None,
    render={"header": "Le Grand Narbonne – Convention d’engagement (version de travail)",
            "footer": "Convention Quartiers productifs – page {n}/{nb}"}))

NANCY_BASE = {
    "kind": "convention", "territory": "grand-nancy", "parties": NANCY,
    "roadmap": ROADMAP_6, "duration": DUR_24_WORDS,
    "chef": chef("bpifrance", "Bpifrance assure le rôle de chef de file, en lien étroit avec la Banque des Territoires et l’ANCT."),
    "gouv_title": "Pilotage du programme",
}
# C16 Grand Nancy, text PDF
DOCS.append(dict(NANCY_BASE, file="grand_nancy_convention_pilotage.pdf", fmt="pdf",
    classes=["pdf_text", "numbered_1deg", "one_article_per_party", "chef_de_file_with_others",
             "article_title_pilotage", "signature_fait_en", "date_month_name", "headers_footers",
             "hyphenation", "duration_words"],
    structure="per_party", groups=per_party("1°", "1°", "1°", "1°", interco_items=INTERCO),
    signature=[sig("Fait en trois exemplaires à Nancy le 3 juin 2021", "",
                   "Le Préfet de Meurthe-et-Moselle            Le Président de la Métropole du Grand Nancy",
                   "                                            Laurent MOUGEL")],
    sig_place="Nancy", sig_date="2021-06-03",
    render={"header": "Métropole du Grand Nancy – Convention d’engagement",
            "footer": "Convention Quartiers productifs – page {n}/{nb}", "hyphenate": True}))
# C17 Grand Nancy, text extracted from the draft (bullets, ligatures, headers)
DOCS.append(dict(NANCY_BASE, file="grand_nancy_convention_extrait.txt", fmt="txt",
    classes=["txt", "bullet_glyph", "single_article_parties", "chef_de_file_with_others",
             "article_title_pilotage", "ligatures", "hyphenation", "headers_footers", "page_numbers",
             "signature_blank_date"],
    structure="single", article_fmt="Article {n} – {title}",
    groups=[
        g("etat", "•", ETAT, "L’État s’engage à :"),
        g("intercommunalite", "•", INTERCO, "L’intercommunalité bénéficiaire s’engage à :"),
        g("chef_de_file", "•", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "•", PART_ALL, "Les Partenaires s’engagent à :"),
    ],
    signature=[sig("A Nancy, le ____", "", "Le Préfet de Meurthe-et-Moselle          Le Président de la Métropole du Grand Nancy")],
    sig_place="Nancy", sig_date=None,
    render={"width": 92, "hyphenate": True, "ligatures": True, "page_lines": 36,
            "header": "Métropole du Grand Nancy – Convention d’engagement", "pagenum": "Page {n} sur {nb}"}))

# C18 Grand-Orly Seine Bièvre, Word document with typed numbers and straight apostrophes
DOCS.append({
    "file": "orly_choisy_convention_engagement.docx", "kind": "convention", "territory": "orly-choisy", "fmt": "docx",
    "classes": ["docx", "numbers_typed", "lettered", "dash_list", "one_article_per_party",
                "straight_apostrophe", "chef_de_file_designee", "chef_de_file_with_others",
                "signature_fait_a", "signature_no_comma", "date_month_name"],
    "apos": "'",
    "parties": ORLY, "roadmap": ROADMAP_6, "duration": DUR_24_WORDS, "structure": "per_party",
    "groups": [
        g("etat", "1.", ETAT, "L’État s’engage à :"),
        g("intercommunalite", "1.", INTERCO[:3], "L’intercommunalité bénéficiaire s’engage à :"),
        g("chef_de_file", "a)", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "-", PART_ALL, "Les Partenaires s’engagent à :"),
    ],
    "chef": chef("banque_des_territoires", "La Caisse des dépôts (Banque des Territoires) est désignée chef de file ; elle associe l’ANRU et l’ANCT aux travaux du comité de pilotage."),
    "gouv_title": "Gouvernance", "communication": True,
    "signature": [sig("Fait à Vitry-sur-Seine le 9 juillet 2021", "",
                      "Pour l’État, la Préfète du Val-de-Marne", "Pour l’EPT Grand-Orly Seine Bièvre, le Président")],
    "sig_place": "Vitry-sur-Seine", "sig_date": "2021-07-09",
    "render": {"header": "EPT Grand-Orly Seine Bièvre", "footer": "Convention d’engagement Quartiers productifs – Orly / Choisy-le-Roi"},
})

# C19 Roubaix (MEL), seed style, blank date
DOCS.append({
    "file": "roubaix_convention_engagement.txt", "kind": "convention", "territory": "roubaix", "fmt": "txt",
    "classes": ["txt", "seed_style_text", "bullet_pua_parties", "roman_paren", "inline_semicolon",
                "single_article_parties", "unnumbered_single_commitment", "chef_de_file_confie",
                "chef_de_file_with_others", "signature_blank_date"],
    "parties": ROUBAIX, "article_fmt": "Article {n}.  {title}",
    "roadmap": ROADMAP_6_SEED, "duration": DUR_24_SEED, "structure": "single",
    "groups": [
        g("etat", "(i)", ETAT, "L’État s’engage", True, "inline", para_bullet=True, conj="et"),
        g("intercommunalite", None, [INTERCO_SENTENCE], "L’intercommunalité bénéficiaire s’engage", True, "sentence", para_bullet=True),
        g("chef_de_file", "(i)", CHEF, "Le Chef de file s’engage", True, "inline", para_bullet=True),
        g("partenaires", None, [PART_SENTENCE], "Les partenaires s’engagent", True, "sentence", para_bullet=True),
        g("partenaires", "(i)", PART, "En outre, les partenaires techniques et financiers se sont engagés au niveau national à", False, "inline"),
    ],
    "chef": chef("anru", "Le rôle de chef de file est confié à l’ANRU, en lien avec la Banque des Territoires."),
    "gouv_title": "Gouvernance",
    "signature": [sig("A Roubaix, le …", "", "", "Le Préfet de la région Hauts-de-France      Le Président de la Métropole Européenne de",
                      "Lille")],
    "sig_place": "Roubaix", "sig_date": None,
    "render": {"double": True, "width": 112, "trailing": True},
})
# C20 Roubaix, corrupt Word file -> refused
DOCS.append({
    "file": "roubaix_convention_engagement.docx", "kind": "convention", "territory": "roubaix",
    "fmt": "corrupt_docx", "expect": "refused",
    "reason": "the file is not a Word document: random bytes under a .docx name (not a zip archive)",
    "classes": ["refused_corrupt_docx"],
})

TOULOUSE_BASE = {
    "kind": "convention", "territory": "toulouse", "parties": TOULOUSE,
    "roadmap": ROADMAP_6, "duration": DUR_36_SIG, "structure": "per_party",
    "chef": chef("anct", "Le chef de file désigné est l’ANCT ; l’ANRU et la Banque des Territoires y sont associées."),
    "gouv_title": "Gouvernance",
}
# C21 Toulouse, text PDF
DOCS.append(dict(TOULOUSE_BASE, file="toulouse_convention_engagement.pdf", fmt="pdf",
    classes=["pdf_text", "roman_paren", "one_article_per_party", "chef_de_file_semicolon",
             "duration_from_signature", "signature_fait_a", "date_1er", "headers_footers"],
    groups=per_party("(i)", "(i)", "(i)", "(i)", interco_items=INTERCO),
    signature=[sig("Fait à Toulouse, le 1er juillet 2021", "",
                   "Le Préfet de la région Occitanie,          Le Président de Toulouse Métropole",
                   "Préfet de la Haute-Garonne                 Jean-Claude MIRAMONT")],
    sig_place="Toulouse", sig_date="2021-07-01",
    render={"header": "Toulouse Métropole – Quartiers productifs", "footer": "Convention d’engagement – {n}/{nb}"}))
# C22 Toulouse, Word draft: list styles and a signature table with a blank date
DOCS.append(dict(TOULOUSE_BASE, file="toulouse_convention_projet.docx", fmt="docx",
    classes=["docx", "word_list_number", "word_list_bullet", "one_article_per_party",
             "chef_de_file_semicolon", "duration_from_signature", "signature_table", "signature_blank_date"],
    groups=per_party("word_number", "word_bullet", "word_number", "word_bullet", interco_items=INTERCO),
    signature=[{"t": "sigtable", "rows": [["Fait à Toulouse, le ____", ""],
                                          ["Pour l’État,", "Pour Toulouse Métropole,"],
                                          ["Le Préfet de la région Occitanie, Préfet de la Haute-Garonne", "Le Président"]]}],
    sig_place="Toulouse", sig_date=None, render={}))

CIVIS_BASE = {
    "kind": "convention", "territory": "saint-louis-reunion", "parties": CIVIS, "labl": "numeric",
    "roadmap": {"months": 6, "base": LAB}, "roadmap_sentence": ROADMAP_PARENTH_SENTENCE,
    "duration": DUR_2_YEARS,
    "chef": chef("banque_des_territoires", "La Banque des Territoires est désignée chef de file."),
    "gouv_title": "Gouvernance",
    "signature": [sig("Fait à Saint-Louis, le 30 juin 2021", "", "Le Préfet de La Réunion                 Le Président de la CIVIS")],
    "sig_place": "Saint-Louis", "sig_date": "2021-06-30",
}
# C23 Saint-Louis (CIVIS), text with lettered items and page numbers
DOCS.append(dict(CIVIS_BASE, file="saint_louis_reunion_convention.txt", fmt="txt",
    classes=["txt", "lettered", "single_article_parties", "chef_de_file_designee",
             "labellisation_numeric", "deadline_words_parenthesised", "duration_years", "page_numbers",
             "signature_fait_a", "date_month_name"],
    structure="single", article_fmt="Article {n} – {title}",
    groups=[
        g("etat", "a)", ETAT, "L’État s’engage à :"),
        g("intercommunalite", "a)", INTERCO, "L’intercommunalité bénéficiaire s’engage à :"),
        g("chef_de_file", "a)", CHEF, "Le chef de file s’engage à :"),
        g("partenaires", "a)", PART_ALL, "Les Partenaires s’engagent à :"),
    ],
    render={"width": 100, "page_lines": 42, "pagenum": "- {n} -"}))
# C24 Saint-Louis (CIVIS), text PDF with bullets
DOCS.append(dict(CIVIS_BASE, file="saint_louis_reunion_convention_engagement.pdf", fmt="pdf",
    classes=["pdf_text", "bullet_glyph", "one_article_per_party", "chef_de_file_designee",
             "labellisation_numeric", "deadline_words_parenthesised", "duration_years",
             "signature_fait_a", "date_month_name", "headers_footers", "hyphenation"],
    structure="per_party", article_fmt="Article {n} – {title}",
    groups=per_party("•", "•", "•", "•"),
    render={"header": "CIVIS – Convention d’engagement Quartiers productifs", "footer": "Page {n} sur {nb}",
            "hyphenate": True}))

# ================================================================ avenants
VISA_TAIL = "Vu la délibération du conseil communautaire autorisant la signature du présent avenant ;"
UNCHANGED = ["Les autres stipulations de la convention d’engagement demeurent inchangées."]
EFFET = ["Le présent avenant prend effet à la date de sa signature."]

DOCS.append({
    "file": "laval_avenant_1.txt", "kind": "avenant", "territory": "laval", "fmt": "txt",
    "classes": ["txt", "avenant_number_space", "territory_in_sentence", "extension_months",
                "new_end_date_from_stated_term", "signature_no_comma", "date_numeric"],
    "title": ["Avenant n° 1", "à la convention d’engagement « Quartiers productifs »"],
    "visas": ["Vu la convention d’engagement Quartiers productifs conclue entre l’État et Laval Agglomération le 12 juillet 2021, et notamment son article 7 relatif à sa durée ;", VISA_TAIL],
    "articles": [("Prolongation de la convention",
                  ["La durée de la convention, dont le terme était fixé au 18 mars 2023, est prolongée de 12 mois afin de permettre l’achèvement des actions inscrites dans la Feuille de route."]),
                 ("Autres stipulations", UNCHANGED + EFFET)],
    "signature": [sig("À Laval le 14/02/2023", "", "Le Préfet de la Mayenne              La Présidente de Laval Agglomération")],
    "territory_name": "Laval Agglomération", "number": 1, "extension_months": 12, "new_end_date": "2024-03-18",
    "sig_place": "Laval", "sig_date": "2023-02-14",
    "render": {"width": 100},
})
DOCS.append({
    "file": "montpellier_avenant_1.pdf", "kind": "avenant", "territory": "montpellier", "fmt": "pdf",
    "classes": ["pdf_text", "avenant_number_nospace", "parties_block", "extension_months_words",
                "new_end_date_stated", "signature_multiple", "headers_footers"],
    "title": ["Avenant n°1 à la convention d’engagement", "Quartiers productifs"],
    "entre": {"state": "L’État, représenté par le Préfet de l’Hérault, ci-après « l’État » ;",
              "interco": "Montpellier Méditerranée Métropole, représentée par sa Vice-présidente déléguée au développement économique, Mme Sandrine RIBES, ci-après « l’intercommunalité bénéficiaire » ;"},
    "visas": ["Vu la convention d’engagement Quartiers productifs signée le 7 juillet 2021 ;"],
    "articles": [("Objet", ["Le présent avenant a pour objet de prolonger la durée de la convention d’engagement."]),
                 ("Durée", ["La durée de la convention est prorogée de douze (12) mois, soit jusqu’au 18 mars 2024."]),
                 ("Autres stipulations", UNCHANGED)],
    "signature": [sig("Pour l’État,", "A Montpellier, le 8 mars 2023", "Le Préfet de l’Hérault", ""),
                  sig("Pour Montpellier Méditerranée Métropole,", "A Montpellier, le 10 mars 2023", "La Vice-présidente déléguée")],
    "territory_name": "Montpellier Méditerranée Métropole", "number": 1, "extension_months": 12,
    "new_end_date": "2024-03-18", "sig_place": "Montpellier", "sig_date": "2023-03-10",
    "render": {"header": "Montpellier Méditerranée Métropole – Avenant n°1", "footer": "{n}/{nb}"},
})
DOCS.append({
    "file": "montpellier_avenant_2.docx", "kind": "avenant", "territory": "montpellier", "fmt": "docx",
    "classes": ["docx", "avenant_number_nospace", "parties_block", "extension_months_words",
                "new_end_date_stated", "signature_table", "signature_fait_a", "date_month_name"],
    "title": ["Avenant n°2", "à la convention d’engagement Quartiers productifs"],
    "entre": {"state": "L’État, représenté par le Préfet de l’Hérault, ci-après « l’État » ;",
              "interco": "Montpellier Méditerranée Métropole, représentée par sa Vice-présidente déléguée au développement économique, Mme Sandrine RIBES, ci-après « l’intercommunalité bénéficiaire » ;"},
    "visas": ["Vu la convention d’engagement Quartiers productifs signée le 7 juillet 2021 ;",
              "Vu l’avenant n°1 du 10 mars 2023 portant le terme de la convention au 18 mars 2024 ;"],
    "articles": [("Durée", ["La durée de la convention est prorogée de six mois, soit jusqu’au 18 septembre 2024."]),
                 ("Autres stipulations", UNCHANGED)],
    "signature": [sig("Fait à Montpellier, le 4 mars 2024"),
                  {"t": "sigtable", "rows": [["Pour l’État,", "Pour Montpellier Méditerranée Métropole,"],
                                             ["Le Préfet de l’Hérault", "La Vice-présidente déléguée"]]}],
    "territory_name": "Montpellier Méditerranée Métropole", "number": 2, "extension_months": 6,
    "new_end_date": "2024-09-18", "sig_place": "Montpellier", "sig_date": "2024-03-04",
    "render": {},
})
DOCS.append({
    "file": "arras_avenant_1_scan.pdf", "kind": "avenant", "territory": "arras", "fmt": "scan",
    "classes": ["scan", "avenant_number_upper", "parties_block", "new_end_date_only",
                "signature_exemplaires_middle", "date_month_name"],
    "title": ["AVENANT N° 1", "À LA CONVENTION D’ENGAGEMENT QUARTIERS PRODUCTIFS"],
    "entre": {"state": "L’État, représenté par le Préfet du Pas-de-Calais, ci-après « l’État » ;",
              "interco": "La Communauté urbaine d’Arras, représentée par son Président, M. Jean-Marc DELATTRE, ci-après « l’intercommunalité bénéficiaire » ;"},
    "visas": ["Vu la convention d’engagement Quartiers productifs signée le 5 octobre 2021 ;", VISA_TAIL],
    "articles": [("Durée de la convention", ["La convention d’engagement est prolongée jusqu’au 18 mars 2024."]),
                 ("Dispositions finales", UNCHANGED + EFFET)],
    "signature": [sig("Fait à Arras, en deux exemplaires originaux, le 2 février 2023", "",
                      "Le Préfet du Pas-de-Calais                Le Président de la CUA")],
    "territory_name": "Communauté urbaine d’Arras", "number": 1, "extension_months": None,
    "new_end_date": "2024-03-18", "sig_place": "Arras", "sig_date": "2023-02-02",
    "render": {"font": "serif", "stamp": True, "grey": 236, "skew": 0.5},
})
DOCS.append({
    "file": "est_ensemble_avenant_1.txt", "kind": "avenant", "territory": "est-ensemble", "fmt": "txt",
    "classes": ["txt", "avenant_number_upper", "parties_block", "extension_months_words",
                "new_end_date_from_stated_term", "signature_fait_a", "date_month_name", "seed_style_text"],
    "title": ["AVENANT N° 1", "CONVENTION D’ENGAGEMENT QUARTIERS PRODUCTIFS"],
    "entre": {"state": "\uf0b7 L’État, représenté par le Préfet de la Seine-Saint-Denis, ci-après « l’État » ;",
              "interco": "\uf0b7 L’Établissement public territorial Est Ensemble, représenté par son Président, M. Karim BENSALEM, ci-après « l’intercommunalité bénéficiaire » ;"},
    "visas": ["Vu la convention d’engagement Quartiers productifs signée à Bondy le 29 juin 2021 ;"],
    "articles": [("Article 1", ["La convention d’engagement, qui prenait fin le 18 mars 2023, est prolongée de dix-huit (18) mois."]),
                 ("Article 2", UNCHANGED)],
    "article_fmt": "{title}",
    "signature": [sig("Fait à Bondy, le 9 février 2023", "", "", "Le Préfet de la Seine-Saint-Denis      Le Président de l’EPT Est Ensemble")],
    "territory_name": "Établissement public territorial Est Ensemble", "number": 1, "extension_months": 18,
    "new_end_date": "2024-09-18", "sig_place": "Bondy", "sig_date": "2023-02-09",
    "render": {"double": True, "width": 106, "trailing": True},
})
DOCS.append({
    "file": "toulouse_avenant_1_scan.pdf", "kind": "avenant", "territory": "toulouse", "fmt": "scan",
    "classes": ["scan", "avenant_number_space", "territory_in_sentence", "new_end_date_only",
                "signature_fait_a", "date_1er"],
    "title": ["Avenant n° 1", "à la convention d’engagement Quartiers productifs de Toulouse Métropole"],
    "visas": ["Vu la convention d’engagement Quartiers productifs conclue entre l’État et Toulouse Métropole le 1er juillet 2021 ;"],
    "articles": [("Prolongation", ["La convention d’engagement est prolongée jusqu’au 31 décembre 2024, afin de couvrir la programmation des actions de l’année 2024."]),
                 ("Autres stipulations", UNCHANGED)],
    "signature": [sig("Fait à Toulouse, le 1er juin 2024", "",
                      "Le Préfet de la région Occitanie,          Le Président de Toulouse Métropole",
                      "Préfet de la Haute-Garonne")],
    "territory_name": "Toulouse Métropole", "number": 1, "extension_months": None,
    "new_end_date": "2024-12-31", "sig_place": "Toulouse", "sig_date": "2024-06-01",
    "render": {"font": "serif", "grey": 230, "skew": -0.4},
})
DOCS.append({
    "file": "grand_nancy_avenant_1.pdf", "kind": "avenant", "territory": "grand-nancy", "fmt": "pdf",
    "classes": ["pdf_text", "avenant_number_space", "territory_in_sentence", "extension_months",
                "new_end_date_stated", "signature_fait_en", "date_month_name", "headers_footers"],
    "title": ["Avenant n° 1 à la convention d’engagement Quartiers productifs"],
    "visas": ["Vu la convention d’engagement conclue entre l’État et la Métropole du Grand Nancy le 3 juin 2021 ;",
              "Vu l’avis du comité de pilotage local du 12 janvier 2023 ;"],
    "articles": [("Durée", ["La durée de la convention est prolongée de 12 mois, jusqu’au 18 mars 2024."]),
                 ("Autres stipulations", UNCHANGED)],
    "signature": [sig("Fait en deux exemplaires à Nancy le 6 mars 2023", "",
                      "Le Préfet de Meurthe-et-Moselle            Le Président de la Métropole du Grand Nancy")],
    "territory_name": "Métropole du Grand Nancy", "number": 1, "extension_months": 12,
    "new_end_date": "2024-03-18", "sig_place": "Nancy", "sig_date": "2023-03-06",
    "render": {"header": "Métropole du Grand Nancy – Avenant n° 1", "footer": "Page {n} sur {nb}"},
})
DOCS.append({
    "file": "grand_nancy_avenant_2.txt", "kind": "avenant", "territory": "grand-nancy", "fmt": "txt",
    "classes": ["txt", "avenant_number_nospace", "territory_in_sentence", "extension_months_words",
                "new_end_date_absent", "signature_blank_date"],
    "title": ["Avenant n°2", "à la convention d’engagement Quartiers productifs"],
    "visas": ["Vu la convention d’engagement conclue entre l’État et la Métropole du Grand Nancy ;",
              "Vu l’avenant n° 1 à ladite convention ;"],
    "articles": [("Durée", ["La durée de la convention est prolongée de six mois."]),
                 ("Autres stipulations", UNCHANGED)],
    "signature": [sig("A Nancy, le ____", "", "Le Préfet de Meurthe-et-Moselle            Le Président de la Métropole du Grand Nancy")],
    "territory_name": "Métropole du Grand Nancy", "number": 2, "extension_months": 6,
    "new_end_date": None, "sig_place": "Nancy", "sig_date": None,
    "render": {"width": 100},
})
DOCS.append({
    "file": "maubeuge_val_de_sambre_avenant_3.txt", "kind": "avenant", "territory": "maubeuge-val-de-sambre", "fmt": "txt",
    "classes": ["txt", "avenant_number_upper", "territory_in_sentence", "new_end_date_only",
                "signature_date_next_line", "date_month_name"],
    "title": ["AVENANT N° 3", "À LA CONVENTION D’ENGAGEMENT QUARTIERS PRODUCTIFS"],
    "visas": ["Vu la convention d’engagement Quartiers productifs conclue entre l’État et la Communauté d’Agglomération Maubeuge Val de Sambre le 15 septembre 2021 ;",
              "Vu les avenants n° 1 et n° 2 à ladite convention ;"],
    "articles": [("Article unique", ["La convention d’engagement est prolongée jusqu’au 31 décembre 2025. Les autres stipulations de la convention et de ses avenants demeurent inchangées."])],
    "article_fmt": "{title}",
    "signature": [sig("Fait à Maubeuge,", "le 12 décembre 2024", "", "Le Préfet du Nord                 Le Président de la CAMVS")],
    "territory_name": "Communauté d’Agglomération Maubeuge Val de Sambre", "number": 3, "extension_months": None,
    "new_end_date": "2025-12-31", "sig_place": "Maubeuge", "sig_date": "2024-12-12",
    "render": {"width": 96},
})
DOCS.append({
    "file": "saint_louis_reunion_avenant_1.pdf", "kind": "avenant", "territory": "saint-louis-reunion", "fmt": "pdf",
    "classes": ["pdf_text", "avenant_number_space", "territory_in_sentence", "extension_months",
                "new_end_date_stated", "signature_fait_a", "date_1er", "headers_footers"],
    "title": ["Avenant n° 1", "à la convention d’engagement Quartiers productifs"],
    "visas": ["Vu la convention d’engagement Quartiers productifs conclue entre l’État et la Communauté intercommunale des Villes solidaires le 30 juin 2021 ;"],
    "articles": [("Prolongation", ["La durée de la convention est prolongée de 12 mois, soit jusqu’au 18 mars 2024."]),
                 ("Autres stipulations", UNCHANGED + EFFET)],
    "signature": [sig("Fait à Saint-Louis, le 1er mars 2023", "", "Le Préfet de La Réunion                 Le Président de la CIVIS")],
    "territory_name": "Communauté intercommunale des Villes solidaires", "number": 1, "extension_months": 12,
    "new_end_date": "2024-03-18", "sig_place": "Saint-Louis", "sig_date": "2023-03-01",
    "render": {"header": "CIVIS – Avenant n° 1", "footer": "- {n} -"},
})
DOCS.append({
    "file": "orly_choisy_avenant_1_scan.pdf", "kind": "avenant", "territory": "orly-choisy", "fmt": "blank_scan",
    "expect": "refused",
    "reason": "scanned PDF whose only page is blank (an empty sheet went through the scanner): no text to read",
    "classes": ["scan", "refused_blank_scan"],
})
