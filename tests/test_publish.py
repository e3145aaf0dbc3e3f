"""Publication: a complete new set or the previous one, never a mix; the dictionary from the same definitions."""

import contextlib
import datetime as dt
import errno
import json
import os
import resource
import signal
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from qp_analytics.dictionary import columns_frame, columns_markdown
from qp_analytics.publication import release as publish
from qp_analytics.publication.release import current_release, publish_release
from qp_analytics.schema import MARTS


def frames(as_of: dt.date) -> dict[str, pl.DataFrame]:
    return {name: pl.DataFrame({"as_of": [as_of]}) for name in MARTS}


def test_release_layout_and_stable_names(tmp_path):
    release = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    assert current_release(tmp_path) == release.resolve()
    names = {p.name for p in release.iterdir()}
    marts = {n.split(".")[1] for n in MARTS}
    assert names == {f"{n}.parquet" for n in marts} | {f"{n}.csv" for n in marts} | {
        "dictionary.parquet", "dictionary.md", "release.json", "marts.xlsx", "datapackage.json"}
    for name in names - {"release.json"}:
        assert (tmp_path / name).is_symlink()
        assert (tmp_path / name).resolve() == (release / name).resolve()
    assert pl.read_parquet(tmp_path / "mart_timeliness.parquet")["as_of"].to_list() == [dt.date(2023, 1, 1)]


@contextlib.contextmanager
def files_limited_to(size: int):
    """Writing a file past `size` bytes fails in this process, as on a full disk: the kernel's file size limit
    (RLIMIT_FSIZE), with its signal ignored so that the write fails with EFBIG instead of ending the process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_crash_mid_publication_leaves_the_previous_set(tmp_path):
    first = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    # the second mart's Parquet file is too large to write: the marker and the first mart are written, then the
    # publication fails in the middle
    big = frames(dt.date(2024, 1, 1))
    second_mart = list(MARTS)[1]
    big[second_mart] = pl.DataFrame({"as_of": [dt.date(2024, 1, 1)] * 4000,
                                     "filler": [os.urandom(16).hex() for _ in range(4000)]})
    with files_limited_to(32 * 1024), pytest.raises(OSError) as failed:
        publish_release(tmp_path, big, dt.date(2024, 1, 1))
    assert failed.value.errno == errno.EFBIG
    staged = [p for p in (tmp_path / "releases").iterdir() if p.name.startswith(".incomplete-")]
    assert len(staged) == 1 and (staged[0] / f"{list(MARTS)[0].split('.')[1]}.parquet").is_file()  # mid-way
    assert current_release(tmp_path) == first.resolve()
    for name in MARTS:
        short = name.split(".")[1]
        assert pl.read_parquet(tmp_path / f"{short}.parquet")["as_of"].to_list() == [dt.date(2023, 1, 1)]
    second = publish_release(tmp_path, frames(dt.date(2024, 1, 1)), dt.date(2024, 1, 1))
    assert current_release(tmp_path) == second.resolve()
    assert not list((tmp_path / "releases").glob(".incomplete-*"))  # the leftover is cleaned


def test_old_releases_are_pruned_but_not_the_current(tmp_path):
    for day in range(1, 9):
        publish_release(tmp_path, frames(dt.date(2023, 1, day)), dt.date(2023, 1, day))
    releases = [p for p in (tmp_path / "releases").iterdir() if not p.name.startswith(".")]
    assert len(releases) == publish.KEEP_RELEASES
    assert current_release(tmp_path) in [r.resolve() for r in releases]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".current-")]


def test_dictionary_is_drawn_from_the_schema():
    d = columns_frame()
    assert d.height == sum(len(t.columns) for t in MARTS.values())
    row = d.filter((pl.col("table") == "mart_timeliness") & (pl.col("column") == "roadmap_status")).to_dicts()[0]
    assert row["type"] == "VARCHAR" and row["meaning"].startswith("on_time (delay ≤ 0)")
    md = columns_markdown()
    assert "## mart_partner_mobilisation" in md and "| attendance_rate | DOUBLE |" in md


def test_the_same_marts_keep_the_current_release(tmp_path):
    day = dt.date(2023, 1, 1)
    first = publish_release(tmp_path, frames(day), day)
    assert publish_release(tmp_path, frames(day), day, reuse=True) == first.resolve()
    assert len([p for p in (tmp_path / "releases").iterdir()]) == 1  # nothing written
    assert publish_release(tmp_path, frames(day), day) != first  # without reuse: a new release all the same

    current = current_release(tmp_path)
    changed = {**frames(day), "marts.mart_timeliness": pl.DataFrame({"as_of": [day, day]})}  # one row more
    assert publish_release(tmp_path, changed, day, reuse=True) != current
    current = current_release(tmp_path)
    assert publish_release(tmp_path, changed, dt.date(2023, 1, 2), reuse=True) != current  # another as_of

    # a file of the current release that no longer holds what was published: a new release
    current = current_release(tmp_path)
    later = frames(dt.date(2023, 1, 2))
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) != current
    current = current_release(tmp_path)
    (current / "mart_timeliness.parquet").write_bytes(b"damaged")
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) != current
    current = current_release(tmp_path)
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) == current  # as published: kept
    (current / "dictionary.md").write_text("an older dictionary")  # e.g. written by another version
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) != current


def test_a_reused_release_is_named_as_a_new_one_would_be(tmp_path, monkeypatch):
    """A relative marts folder gives a relative release path, whether the release is new or reused."""
    monkeypatch.chdir(tmp_path)
    day = dt.date(2023, 1, 1)
    first = publish_release("marts", frames(day), day)
    assert not first.is_absolute() and first.parent == Path("marts", "releases")
    assert publish_release("marts", frames(day), day, reuse=True) == first


def test_a_reused_release_is_activated_again(tmp_path):
    """Reusing the current release still puts back its stable names, even after a run killed mid-activation."""
    day = dt.date(2023, 1, 1)
    first = publish_release(tmp_path, frames(day), day)
    (tmp_path / "mart_timeliness.parquet").unlink()  # a stable name removed by hand
    (tmp_path / f".current-{first.name}").symlink_to(f"releases/{first.name}")  # left by a killed activation
    assert publish_release(tmp_path, frames(day), day, reuse=True) == first.resolve()
    assert (tmp_path / "mart_timeliness.parquet").resolve() == (first / "mart_timeliness.parquet").resolve()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".current-")]


def published_releases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "releases").iterdir() if not p.name.startswith("."))


def test_a_release_never_made_current_is_pruned_as_an_orphan(tmp_path):
    """A run killed after writing its release (inactive, as the CLI writes it) but before making it current: the
    next pruning removes that orphan, and the last five kept are five releases that were published."""
    real = [publish_release(tmp_path, frames(dt.date(2023, 1, day)), dt.date(2023, 1, day)).name for day in (1, 2, 3)]
    orphan = publish_release(tmp_path, frames(dt.date(2023, 2, 1)), dt.date(2023, 2, 1), activate=False)
    assert (orphan / ".pending").exists() and current_release(tmp_path).name == real[-1]
    real += [publish_release(tmp_path, frames(dt.date(2023, 1, day)), dt.date(2023, 1, day)).name for day in (4, 5, 6)]
    assert published_releases(tmp_path) == real[-publish.KEEP_RELEASES:]
    assert not [p for p in (tmp_path / "releases").rglob(".pending")]
    assert current_release(tmp_path).name == real[-1]


def test_a_release_being_published_by_another_run_is_not_pruned(tmp_path):
    from qp_analytics.publication.releases import publishing

    first = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    with publishing(tmp_path):  # another run, between writing its release and making it current
        theirs = publish_release(tmp_path, frames(dt.date(2023, 1, 2)), dt.date(2023, 1, 2), activate=False)
        ours = publish_release(tmp_path, frames(dt.date(2023, 1, 3)), dt.date(2023, 1, 3))
        assert published_releases(tmp_path) == sorted([first.name, theirs.name, ours.name])
        publish.activate_release(tmp_path, theirs)
    assert current_release(tmp_path) == theirs.resolve() and not (theirs / ".pending").exists()
    assert published_releases(tmp_path) == sorted([first.name, theirs.name, ours.name])


def test_a_release_made_current_before_its_marker_went_counts_as_published(tmp_path):
    first = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    (first / ".pending").write_text("killed between the swap and the marker's removal")
    publish.prune_releases(tmp_path)
    assert published_releases(tmp_path) == [first.name] and not (first / ".pending").exists()


def _typed_release(tmp_path):
    """A release of two core tables and two marts, typed as the pipeline types them, with values worked out here."""
    frames, day = _typed_frames()
    return publish_release(tmp_path, frames, day), day


def _typed_frames():
    from decimal import Decimal

    day = dt.date(2023, 6, 30)
    money = pl.Decimal(14, 2)
    frames = {
        "core.territories": pl.DataFrame({"territory_id": ["alpha", "beta"], "name": ["CA Alpha", "Métropole Bêta"],
                                          "siren": ["200000001", None], "departement_code": ["13", "59"],
                                          "departement": ["Bouches-du-Rhône", "Nord"]}),
        "core.funding_requests": pl.DataFrame(
            {"territory_id": ["alpha", "alpha"], "source_row": [2, 3], "action_id": ["A-01", "A-02"],
             "financeur": ["etat", "Région Sud"], "type_credit": ["specifique", None], "nature": ["ingenierie", None],
             "montant_sollicite": [Decimal("40500.00"), Decimal("1250000.50")],
             "montant_accorde": [Decimal("34425.00"), None], "montant_verse": [Decimal("0.00"), None],
             "date_sollicitation": [dt.date(2022, 5, 6), dt.date(2023, 1, 2)],
             "date_decision": [dt.date(2022, 7, 7), None], "decision": ["accordee", "en_instruction"]},
            schema_overrides={"source_row": pl.Int32, "montant_sollicite": money, "montant_accorde": money,
                              "montant_verse": money}),
        "marts.mart_evaluation_national": pl.DataFrame(
            {"indicator": ["territories_in_programme", "amount_granted_total", "median_instruction_days"],
             "value_count": [2, None, None], "value_amount": [None, Decimal("34425.00"), None],
             "value_measure": [None, None, 62.0], "territories_counted": [2, 2, 1], "as_of": [day] * 3},
            schema_overrides={"value_amount": pl.Decimal(18, 2)}),
        "marts.mart_practice_diffusion": pl.DataFrame({"territory_id": ["alpha"], "practice_id": ["BP-1"],
                                                       "reused_by": [["beta", "gamma"]], "as_of": [day]}),
    }
    return frames, day


def test_every_release_carries_csv_a_workbook_and_a_data_package_of_the_same_rows(tmp_path):
    import csv
    import json

    from python_calamine import CalamineWorkbook

    release, day = _typed_release(tmp_path)
    names = {p.name for p in release.iterdir()}
    assert {"core_territories.parquet", "core_funding_requests.parquet", "core_territories.csv",
            "core_funding_requests.csv", "mart_evaluation_national.csv", "mart_practice_diffusion.csv",
            "marts.xlsx", "datapackage.json"} <= names
    with (release / "core_funding_requests.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["territory_id", "source_row", "action_id"]
    # amounts as decimals with their cents, dates ISO, an unknown value empty
    assert rows[2][6:12] == ["1250000.50", "", "", "2023-01-02", "", "en_instruction"]
    assert rows[1][6:9] == ["40500.00", "34425.00", "0.00"]
    with (release / "mart_practice_diffusion.csv").open(encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh))[1][2] == '["beta","gamma"]'  # a list as a JSON array
    with (release / "mart_evaluation_national.csv").open(encoding="utf-8", newline="") as fh:
        national = list(csv.DictReader(fh))
    assert [(r["value_count"], r["value_amount"], r["value_measure"]) for r in national] == [
        ("2", "", ""), ("", "34425.00", ""), ("", "", "62.0")]  # a count prints as 2, not 2.0
    workbook = CalamineWorkbook.from_path(str(release / "marts.xlsx"))
    assert workbook.sheet_names == ["mart_practice_diffusion", "mart_evaluation_national", "dictionary"]
    sheet = workbook.get_sheet_by_name("mart_evaluation_national").to_python()
    assert sheet[0][:3] == ["indicator", "value_count", "value_amount"]
    assert sheet[2][2] == 34425.0 and sheet[1][5] == day  # numbers as numbers, dates as dates
    package = json.loads((release / "datapackage.json").read_text(encoding="utf-8"))
    resources = {r["name"]: r for r in package["resources"]}
    assert set(resources) == {"core_territories", "core_funding_requests", "mart_evaluation_national",
                              "mart_practice_diffusion"}
    funding = resources["core_funding_requests"]["schema"]
    assert funding["primaryKey"] == ["territory_id", "source_row"]
    assert funding["foreignKeys"] == [{"fields": ["territory_id"],
                                       "reference": {"resource": "core_territories", "fields": ["territory_id"]}}]
    types = {f["name"]: f["type"] for f in funding["fields"]}
    assert (types["source_row"], types["montant_accorde"], types["date_decision"]) == ("integer", "number", "date")
    assert {f["name"]: f["type"] for f in resources["mart_practice_diffusion"]["schema"]["fields"]}["reused_by"] == \
        "array"


def test_the_data_package_is_valid_for_frictionless(tmp_path):
    from frictionless import Package

    release, _ = _typed_release(tmp_path)
    report = Package(str(release / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_a_row_breaking_the_package_schema_is_found_by_frictionless(tmp_path):
    """The validation can fail: a territory the release's territories do not hold breaks the foreign key."""
    from frictionless import Package

    release, _ = _typed_release(tmp_path)
    path = release / "core_funding_requests.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("alpha,3,", "nowhere,3,"), encoding="utf-8")
    report = Package(str(release / "datapackage.json")).validate()
    assert not report.valid
    assert any(error[2] == "foreign-key" for error in report.flatten(["rowNumber", "fieldName", "type"]))


def test_core_tables_are_queryable_like_the_marts(tmp_path):
    from qp_analytics.publication.query import run_query

    _typed_release(tmp_path)
    result = run_query(tmp_path, "SELECT sum(montant_sollicite) AS asked FROM core_funding_requests "
                                 "WHERE territory_id = 'alpha'")
    assert [tuple(r) for r in result.rows] == [(Decimal("1290500.50"),)]


def test_a_releases_dictionary_covers_its_tables_the_indicators_and_the_template(tmp_path):
    release, day = _typed_release(tmp_path)
    text = (release / "dictionary.md").read_text(encoding="utf-8")
    assert f"Computed for as_of = {day.isoformat()}." in text
    assert "## core_funding_requests" in text and "| montant_accorde | DECIMAL(14,2) |" in text
    assert "## National indicators (mart_evaluation_national)" in text and "| territories_in_programme |" in text
    assert "## The roadmap template's field names" in text and "| financements | montant_accorde |" in text
    tables = set(pl.read_parquet(release / "dictionary.parquet")["table"])
    assert tables == {"core_territories", "core_funding_requests", "mart_evaluation_national",
                      "mart_practice_diffusion"}


def _parquet(release, name: str, select: str):
    """`<release>/<name>.parquet` holding the rows of `select`, as a mart's file in a release."""
    import duckdb

    release.mkdir(exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"COPY ({select}) TO '{release / (name + '.parquet')}' (FORMAT parquet)")


@pytest.mark.parametrize("workers", ["1", "2"])  # drawn in this process, or in a process of its own
def test_the_workbook_holds_every_kind_of_cell_as_excel_reads_it(tmp_path, monkeypatch, workers):
    """Each DuckDB type as its cell, read back by calamine; the values are written here, the expected ones by hand."""
    monkeypatch.setenv("QP_WORKERS", workers)
    import zipfile
    from xml.dom import minidom

    from python_calamine import CalamineWorkbook

    from qp_analytics.publication.exports import write_workbook

    _parquet(tmp_path / "r", "t & <u>", """SELECT * FROM (VALUES
        ('a & b <c> "d"', ' lead', 'x' || chr(1) || 'y', 'lit _x0041_ here', 3::INTEGER, 'NaN'::DOUBLE,
         1250000.50::DECIMAL(14,2), DATE '2023-06-30', TIMESTAMP '2023-06-30 12:00:00', true, ['a', 'b'], 0.1::DOUBLE),
        (NULL, 'tab' || chr(9), 'Métropole Bêta', repeat('z', 40000), -7::INTEGER, 'inf'::DOUBLE, NULL, NULL, NULL,
         false, [], 1e300::DOUBLE))
        t(s1, s2, s3, s4, i, f, amount, day, moment, flag, list, small)""")
    path = write_workbook(tmp_path / "r", {"t & <u>": None}, tmp_path / "no dictionary.parquet")
    workbook = CalamineWorkbook.from_path(str(path))
    assert workbook.sheet_names == ["t & <u>"]
    header, first, second = workbook.get_sheet_by_name("t & <u>").to_python()
    assert header == ["s1", "s2", "s3", "s4", "i", "f", "amount", "day", "moment", "flag", "list", "small"]
    assert first == ['a & b <c> "d"', " lead", "x\x01y", "lit _x0041_ here", 3.0, "", 1250000.5,
                     dt.date(2023, 6, 30), dt.datetime(2023, 6, 30, 12), True, '["a","b"]', 0.1]  # NaN: no cell
    assert second[:3] == ["", "tab\t", "Métropole Bêta"] and second[3] == "z" * 32767  # Excel's limit
    assert second[4:] == [-7.0, "inf", "", "", "", False, "[]", 1e300]  # a null is no cell
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            minidom.parseString(archive.read(name))  # every part is well-formed XML
        sheet = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
        styles = archive.read("xl/styles.xml").decode("utf-8")
    assert 'state="frozen"' in sheet and 'ySplit="1"' in sheet  # the header row kept in view
    for number_format in ("yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss", "#,##0.00"):
        assert f'formatCode="{number_format}"' in styles
    again = write_workbook(tmp_path / "r", {"t & <u>": None}, tmp_path / "no dictionary.parquet")
    assert CalamineWorkbook.from_path(str(again)).get_sheet_by_name("t & <u>").to_python() == [header, first, second]


def test_a_mart_too_long_for_a_sheet_is_refused_by_name(tmp_path):
    """A sheet holds 1,048,576 rows, its header included: a mart with more is an error naming it (raised in the
    process that draws the workbook, told here), and no workbook is left."""
    from qp_analytics.publication.exports import WORKBOOK, write_workbook

    _parquet(tmp_path / "r", "mart_long", "SELECT i FROM range(1048576) r(i)")
    with pytest.raises(ValueError, match="^mart_long: more rows than an Excel sheet holds; use mart_long.csv$"):
        write_workbook(tmp_path / "r", {"mart_long": None}, tmp_path / "none")
    assert not (tmp_path / "r" / WORKBOOK).exists()


def test_the_workbook_keeps_wide_and_long_sheets_in_order(tmp_path):
    from python_calamine import CalamineWorkbook

    from qp_analytics.publication.exports import write_workbook

    wide = ", ".join(f"i + {k} AS c{k}" for k in range(30))
    _parquet(tmp_path / "r", "wide", f"SELECT {wide} FROM range(25000) r(i)")
    sheet = CalamineWorkbook.from_path(str(write_workbook(tmp_path / "r", {"wide": None}, tmp_path / "none"))
                                       ).get_sheet_by_name("wide").to_python()
    assert len(sheet) == 25001 and sheet[0][29] == "c29"
    assert sheet[1][:2] == [0.0, 1.0] and sheet[25000][29] == 24999.0 + 29


def test_a_release_copies_the_exports_of_the_tables_it_does_not_change(tmp_path):
    """The CSV file of a table whose Parquet bytes are the current release's is copied from it (a mark put in the
    current file shows the copy); a changed table's is written again; exports made by other code are not reused."""
    frames, day = _typed_frames()
    first = publish_release(tmp_path, frames, day)
    (first / "core_funding_requests.csv").write_text("copied, not written\n", encoding="utf-8")
    (first / "marts.xlsx").write_bytes(b"copied workbook")
    registry = frames["core.territories"]
    frames["core.territories"] = pl.concat([registry, registry.head(1).with_columns(territory_id=pl.lit("gamma"))])
    second = publish_release(tmp_path, frames, day)
    assert second != first
    assert (second / "core_funding_requests.csv").read_text(encoding="utf-8") == "copied, not written\n"
    assert (second / "marts.xlsx").read_bytes() == b"copied workbook"  # the marts are the same
    territories = (second / "core_territories.csv").read_text(encoding="utf-8").splitlines()
    assert len(territories) == 4 and territories[-1].startswith("gamma,CA Alpha,")  # written again: a row more
    # a release whose exports another version of the code made: nothing of it is reused
    manifest = json.loads((second / "release.json").read_text(encoding="utf-8"))
    (second / "release.json").write_text(json.dumps({**manifest, "exports_version": "older"}), encoding="utf-8")
    frames["core.territories"] = registry
    third = publish_release(tmp_path, frames, day)
    assert (third / "core_funding_requests.csv").read_text(encoding="utf-8").startswith("territory_id,source_row,")
    assert (third / "marts.xlsx").read_bytes()[:2] == b"PK"


def test_a_tables_digest_is_its_rows_in_any_order_with_its_columns():
    import duckdb

    from qp_analytics.warehouse.database import table_digests

    con = duckdb.connect()
    con.execute("CREATE SCHEMA s")
    made = {
        "base": "CREATE TABLE s.t AS SELECT * FROM (VALUES ('a', 1, [1, 2]), ('b', NULL, [])) v(id, n, l)",
        "reordered": "CREATE TABLE s.t AS SELECT * FROM (VALUES ('b', NULL, []), ('a', 1, [1, 2])) v(id, n, l)",
        "one value": "CREATE TABLE s.t AS SELECT * FROM (VALUES ('a', 2, [1, 2]), ('b', NULL, [])) v(id, n, l)",
        "a list item": "CREATE TABLE s.t AS SELECT * FROM (VALUES ('a', 1, [2, 1]), ('b', NULL, [])) v(id, n, l)",
        "a row twice": "CREATE TABLE s.t AS SELECT * FROM (VALUES ('a', 1, [1, 2]), ('a', 1, [1, 2]), ('b', NULL, []))"
                       " v(id, n, l)",
        "renamed": "CREATE TABLE s.t AS SELECT * FROM (VALUES ('a', 1, [1, 2]), ('b', NULL, [])) v(id, m, l)",
        "retyped": "CREATE TABLE s.t AS SELECT id, n::BIGINT AS n, l FROM (VALUES ('a', 1, [1, 2]), ('b', NULL, []))"
                   " v(id, n, l)",
    }
    digests = {}
    for label, sql in made.items():
        con.execute("DROP TABLE IF EXISTS s.t")
        con.execute(sql)
        digests[label] = table_digests(con, ["s.t"])["s.t"]
    assert digests["reordered"] == digests["base"]
    others = [digests[k] for k in made if k not in ("base", "reordered")]
    assert len(set(others)) == len(others) and digests["base"] not in others


def test_a_release_links_the_tables_unchanged_since_the_current_one(tmp_path):
    """A table whose digest is the one recorded with its file in the current release is linked into the next one
    (the same file), with its rows and SHA-256 as recorded; the others are encoded; another Parquet writer keeps
    nothing."""
    day = dt.date(2023, 1, 1)
    names = list(MARTS)
    first_frames = {name: pl.DataFrame({"as_of": [day], "n": [i]}) for i, name in enumerate(names)}
    digests = {name: f"digest-{i}" for i, name in enumerate(names)}
    first = publish_release(tmp_path, first_frames, day, digests=digests)
    changed = names[0]
    now = {**digests, changed: "digest-changed"}
    kept = publish.unchanged_tables(tmp_path, now)
    assert set(kept) == set(names) - {changed}
    second_frames = {changed: pl.DataFrame({"as_of": [day], "n": [99]})}
    second = publish_release(tmp_path, second_frames, day, kept=kept, digests=now, reuse=True)
    assert second.resolve() != first.resolve()
    recorded = json.loads((second / "release.json").read_text())["files"]
    before = json.loads((first / "release.json").read_text())["files"]
    for i, name in enumerate(names):
        file = f"{name.split('.')[1]}.parquet"
        assert pl.read_parquet(second / file)["n"].to_list() == [99 if name == changed else i]
        assert recorded[file]["digest"] == now[name]
        if name != changed:
            assert (second / file).stat().st_ino == (first / file).stat().st_ino
            assert recorded[file] == before[file]
    # the kept tables' CSV files are those of the current release; the changed one's is written again
    assert (second / f"{changed.split('.')[1]}.csv").read_text().splitlines()[1].endswith("99")
    # all kept and nothing else changed: the current release itself
    assert publish_release(tmp_path, {}, day, kept=publish.unchanged_tables(tmp_path, now), digests=now,
                           reuse=True) == second.resolve()
    # a file of the current release damaged on disk: that table is encoded again, not linked
    damaged = second / f"{names[1].split('.')[1]}.parquet"
    damaged.write_bytes(damaged.read_bytes() + b"\0")
    assert set(publish.unchanged_tables(tmp_path, now)) == set(names) - {names[1]}
    # written by another writer: nothing is kept
    manifest = json.loads((second / "release.json").read_text())
    (second / "release.json").write_text(json.dumps({**manifest, "parquet_writer": "another"}))
    assert publish.unchanged_tables(tmp_path, now) == {}
