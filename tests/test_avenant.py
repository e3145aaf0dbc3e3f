"""Avenants: the extension as written (months or a new end date), and what is refused."""

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from pipelines.cli.main import main
from qp_analytics.reading.avenant import parse_avenant
from qp_analytics.reading.convention import ConventionError
from qp_analytics.reading.documents import read_document


def avenant_text(title="AVENANT N° 2", duration="La durée de la convention est prolongée de douze (12) mois.",
                 signature="Fait à Arras, le 3 février 2023"):
    return "\n\n".join([
        title, "à la convention d’engagement « Quartiers productifs »",
        "Vu la convention d’engagement Quartiers productifs conclue entre l’Etat et la Communauté urbaine "
        "d’Arras ;", "Article 1 – Durée", duration, "Les autres dispositions demeurent inchangées.", signature, ""])


def parse(tmp_path, text):
    path = tmp_path / "arras_avenant_2.txt"
    path.write_text(text, encoding="utf-8")
    return parse_avenant(read_document(path))


@pytest.mark.parametrize("duration, months, end", [
    ("La durée de la convention est prolongée de douze (12) mois.", 12, None),
    ("La convention est prorogée de 6 mois.", 6, None),
    ("La durée de la convention est prolongée d’un an.", 12, None),
    ("La convention est prolongée jusqu’au 18 mars 2024.", None, dt.date(2024, 3, 18)),
    ("La convention est prolongée jusqu’au 31/12/2024 inclus.", None, dt.date(2024, 12, 31)),
])
def test_extension_as_written(tmp_path, duration, months, end):
    a = parse(tmp_path, avenant_text(duration=duration))
    assert (a.territory_name, a.number) == ("Communauté urbaine d’Arras", 2)
    assert (a.extension_months, a.new_end_date) == (months, end)


def test_signature(tmp_path):
    a = parse(tmp_path, avenant_text())
    assert (a.signature_place, a.signature_date) == ("Arras", dt.date(2023, 2, 3))
    a = parse(tmp_path, avenant_text(signature="A Arras, le …"))
    assert (a.signature_place, a.signature_date) == ("Arras", None)
    assert [w["code"] for w in a.warnings] == ["undated"]


@pytest.mark.parametrize("change, field", [
    ({"title": "AVENANT"}, "number"),
    ({"duration": "La convention est modifiée."}, "extension"),
    ({"duration": "La convention est prolongée jusqu’au 30/02/2024."}, "new_end_date"),
])
def test_refused(tmp_path, change, field):
    with pytest.raises(ConventionError) as err:
        parse(tmp_path, avenant_text(**change))
    assert [p.split(":")[0] for p in err.value.problems] == [field]


def test_cli(tmp_path):
    path = tmp_path / "arras_avenant_2.txt"
    path.write_text(avenant_text(), encoding="utf-8")
    result = CliRunner().invoke(main, ["parse", "avenant", str(path), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert {k: data[k] for k in ("number", "extension_months", "new_end_date", "signature_date")} == {
        "number": 2, "extension_months": 12, "new_end_date": None, "signature_date": "2023-02-03"}
    path.write_text(avenant_text(title="Annexe"), encoding="utf-8")
    result = CliRunner().invoke(main, ["parse", "avenant", str(path)])
    assert result.exit_code == 2 and f"{path}: number:" in result.output
