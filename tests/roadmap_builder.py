"""A small valid roadmap written cell by cell for the tests, independently of the generator."""

import datetime as dt
from pathlib import Path

import xlsxwriter

HEADERS = {
    "fiche": ["champ", "valeur"],
    "actions": ["action_id", "axe", "intitule", "qpv", "porteur", "statut", "debut_prevu", "fin_prevue",
                "debut_reel", "fin_reelle"],
    "partenaires": ["action_id", "partenaire", "role"],
    "financements": ["action_id", "financeur", "type_credit", "nature", "montant_sollicite", "montant_accorde",
                     "montant_verse", "date_sollicitation", "date_decision", "decision"],
    "jalons": ["action_id", "jalon", "date_prevue", "date_reelle"],
    "gouvernance": ["date", "instance", "participants"],
    "bonnes_pratiques": ["pratique_id", "action_id", "titre", "date_partage", "canal", "reutilisee_par"],
}


def valid_sheets() -> dict[str, list[list]]:
    """Rows under each header; dates as real Excel dates, text dates and empties, messy codes."""
    d = dt.datetime
    return {
        "fiche": [["territoire_id", "testville"], ["territoire", " Métropole de Testville "], ["version", 1],
                  ["date_adoption", d(2021, 9, 1)], ["date_annexion", "30/09/2021"],
                  ["coordonnateur_designe_le", "2021-05-03"], ["referent_etat_designe_le", None]],
        "actions": [
            ["TV-01", " Entrepreneuriat", "Fabrique à entreprendre", "QP013001 ; qp013002", "Ville ", "EN COURS",
             d(2021, 10, 1), "31/12/2022", "2021-11-02", None],
            ["TV-02", "commerce_artisanat", "Foncière commerce", "", None, "Réalisée", None, d(2022, 6, 30),
             None, "15/07/2022"],
        ],
        "partenaires": [["TV-01", "ÉTAT", "Pilote"], ["tv-02", " Région Sud ", "cofinanceur"],
                        ["TV-02", "Banque des Territoires", " ingénierie "]],
        "financements": [
            ["TV-01", "bpifrance", "Spécifique", "prêt", "1 250 000,50 €", "1\u00a0000\u00a0000 €", 250000,
             "01/02/2022", d(2022, 6, 1), "Accordée"],
            ["TV-02", "anct", "droit_commun", "subvention", 80000, None, None, "2022-03-01", None,
             "en instruction"],
        ],
        "jalons": [["TV-01", "Lancement", "01/10/2021", "05/10/2021"], ["TV-02", "Ouverture", d(2022, 6, 1), None]],
        "gouvernance": [[d(2021, 12, 1), "Comité_pilotage", "etat; ANRU ;Région Sud"]],
        "bonnes_pratiques": [["BP-1", "TV-01", "Guichet unique", "2022-02-01", "Webinaire", "laval; Arras"],
                             ["BP-2", "TV-02", "Bail commercial", None, None, None]],
    }


class Formula(str):
    """A formula written as programs that do not compute formulas write it: no computed value in the cell."""


def write_workbook(path: Path, sheets: dict[str, list[list]] | None = None,
                   headers: dict[str, list[str]] | None = None) -> Path:
    sheets = valid_sheets() if sheets is None else sheets
    headers = {**HEADERS, **(headers or {})}
    workbook = xlsxwriter.Workbook(str(path))
    date_format = workbook.add_format({"num_format": "dd/mm/yyyy"})
    for name, rows in sheets.items():
        ws = workbook.add_worksheet(name)
        ws.write_row(0, 0, headers[name])
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if isinstance(value, Formula):
                    ws.write_formula(r, c, value, None, "")
                elif isinstance(value, dt.datetime):
                    ws.write_datetime(r, c, value, date_format)
                elif value is not None:
                    ws.write(r, c, value)
    workbook.close()
    return path
