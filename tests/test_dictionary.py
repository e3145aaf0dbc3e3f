"""The data dictionary: the template's field names explained, the national indicators listed with their
definitions, and every description written into the warehouse as a comment."""

import duckdb

from qp_analytics.dictionary import dictionary_markdown, indicators_frame, template_frame
from qp_analytics.marts.compute import compute_marts
from qp_analytics.schema import MARTS, TABLES
from qp_analytics.warehouse.database import ensure_tables, write_comments
from tests.roadmap_builder import HEADERS, valid_sheets
from tests.test_quality import AS_OF, IDS, fill_good_core


def test_every_template_field_is_explained():
    # the template's names, as the test workbook writes them (independently of the dictionary)
    expected = {(sheet, column) for sheet, columns in HEADERS.items() if sheet != "fiche" for column in columns}
    expected |= {("fiche", champ) for champ, _ in valid_sheets()["fiche"]}
    frame = template_frame()
    assert set(zip(frame["sheet"], frame["field"], strict=True)) == expected
    assert frame.height == len(expected)  # once each
    assert all(len(meaning) > 10 for meaning in frame["meaning"])
    markdown = dictionary_markdown()
    assert "## The roadmap template's field names" in markdown
    assert "| actions | fin_prevue | Planned end: the action is due once fin_prevue ≤ the evaluation date;" in markdown


def test_the_national_indicators_listed_are_those_computed():
    con = duckdb.connect()
    ensure_tables(con)
    fill_good_core(con)
    national = compute_marts(con, IDS, AS_OF)["marts.mart_evaluation_national"]
    listed = indicators_frame()
    assert listed["indicator"].to_list() == national["indicator"].to_list()
    assert listed["definition"].to_list() == national["definition"].to_list()
    for row, value_column in zip(national.iter_rows(named=True), listed["value_column"], strict=True):
        others = {"value_count", "value_amount", "value_measure"} - {value_column}
        assert all(row[c] is None for c in others), row
    # the mart's indicator column names them and says where their definitions are (a list that exists)
    meaning = MARTS["marts.mart_evaluation_national"].columns[0].description
    assert all(name in meaning for name in listed["indicator"]) and "this row's definition column" in meaning
    markdown = dictionary_markdown()
    assert "## National indicators (mart_evaluation_national)" in markdown
    assert "| total_granted_anru | EUR | value_amount | Sum of amount_granted of anru over all territories. |" in \
        markdown
    assert "| conventions_signed | conventions | value_count |" in markdown


def test_the_warehouse_carries_the_dictionary_as_comments():
    con = duckdb.connect()
    ensure_tables(con)
    ensure_tables(con, tables=list(MARTS), definitions=MARTS)
    comments = {(s, t, c): m for s, t, c, m in con.execute(
        "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns()").fetchall()}
    for name, table in {**TABLES, **MARTS}.items():
        schema, bare = name.split(".")
        for column in table.columns:
            assert comments[schema, bare, column.name] == column.description, (name, column.name)
    assert con.execute("SELECT comment FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = "
                       "'mart_late_items'").fetchone()[0] == MARTS["marts.mart_late_items"].description
    # a comment changed by hand is put back by the next run; unchanged ones are not written again
    con.execute("COMMENT ON COLUMN core.actions.fin_prevue IS 'something else'")
    assert write_comments(con, TABLES) == 1
    assert write_comments(con, TABLES) == 0
    assert con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'actions' AND column_name = "
                       "'fin_prevue'").fetchone()[0] == "Planned end."


def test_tables_are_made_in_the_warehouse_whatever_another_database_holds():
    """A table of the same name in another attached database (or a column missing there) is not the
    warehouse's: every table is created in the connection's database, with every column, and made again
    by a second call once dropped."""
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS other")
    con.execute("CREATE SCHEMA other.core")
    con.execute("CREATE TABLE other.core.conventions (unrelated INTEGER)")
    ensure_tables(con)
    made = {(s, t, c) for s, t, c in con.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() WHERE database_name = 'memory'"
    ).fetchall()}
    expected = {(*name.split("."), column.name) for name, table in TABLES.items() for column in table.columns}
    assert made == expected
    con.execute("DROP TABLE core.actions")
    ensure_tables(con)
    assert con.execute("SELECT count(*) FROM core.actions").fetchone() == (0,)
