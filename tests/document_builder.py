"""Small conventions in the national template's shape, written for the tests independently of the generator."""

GOVERNANCE = "Le Chef de file désigné pour suivre le déploiement du programme est l’ANRU."


def convention_text(*, entre="La Communauté urbaine de Testville représentée par son Président Paul DURAND.",
                    labellisation="labellisés le 18 mars 2021 (ci-après désignée « la Labellisation »).",
                    deadline="dans un délai de 6 mois à compter de la Labellisation",
                    governance=GOVERNANCE, duration="une durée de 24 mois maximum",
                    signature="A Testville, le 2 juin 2021", governance_title="Gouvernance") -> str:
    """A small convention in the national template's shape, written here independently of the generator."""
    return "\n\n".join([
        "ENTRE", entre, "ci-après, « l’intercommunalité bénéficiaire » ;", "ET",
        "L’Etat représenté par le Préfet du département du Nord,", "ci-après, « l’Etat » ;",
        f"Les territoires ont été {labellisation}",
        "Article 1.  Objet de la convention",
        f"La Convention engage l’intercommunalité à annexer {deadline}, à la présente convention une feuille de "
        "route (« la Feuille de route »).",
        "Article 2.  Engagements réciproques des parties",
        " L’Etat s’engage (i) à animer le réseau ; (ii) à désigner un référent.",
        " Le Chef de file s’engage (i) à appuyer l’intercommunalité ; (ii) à porter les projets.",
        f"Article 3.  {governance_title}", governance,
        "Article 4.  Durée", f"La présente Convention est valable pour {duration} à compter de la labellisation.",
        signature, "",
    ])
