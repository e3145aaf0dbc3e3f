"""The `qp-analytics` command line: parse a document, generate illustrative data, run the pipeline.

A user's mistake (a missing file, a document without a required field) ends with a message naming the
file and the place, and exit status 2; never with a traceback.

Each command imports what it needs when it runs, not at start: `query` must answer in a fraction of a second,
so loading this module imports click and nothing of the library (tests/test_query.py checks it).
"""

import atexit
import datetime as dt
import gc
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipelines.cli.errors import fail
from pipelines.cli.report import report

if TYPE_CHECKING:
    from qp_analytics.reading.documents import Document

T = TypeVar("T")

# At exit, the interpreter's last garbage collections walk every object a command leaves (Dagster's, polars',
# the report's...): about 0.9 s at the end of a 14-territory run, for memory the system takes back anyway. The
# objects are frozen out of the collector's sight first (registered at import, before the command's own exit
# handlers, so run after them: they still close and flush what they hold, as do the interpreter's own).
atexit.register(gc.freeze)
FULL_COLLECTIONS_RARER = 10  # a run's automatic full collections: one where there would be ten (see materialize)
# the Comité interministériel des villes announced the programme on this day (DOMAIN.md): an evaluation date
# before it is most likely a mistyped year
PROGRAMME_ANNOUNCED = dt.date(2021, 1, 29)

PARTY_LABELS = {"etat": "État", "intercommunalite": "Intercommunalité", "chef_de_file": "Chef de file",
                "partenaires": "Partenaires"}
FIELD_LABELS = [
    ("territory_name", "Intercommunalité"), ("representative", "Représentée par"),
    ("state_representative", "État représenté par"), ("chef_de_file", "Chef de file"),
    ("labellisation_date", "Labellisation"), ("roadmap_deadline_months", "Délai feuille de route (mois)"),
    ("roadmap_due_date", "Feuille de route due le"), ("duration_months", "Durée (mois)"),
    ("end_date", "Fin de la convention"), ("signature_place", "Signée à"), ("signature_date", "Signée le"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qp-analytics")
def main() -> None:
    """Evaluation data platform of the Quartiers productifs programme."""


@main.group()
def parse() -> None:
    """Read one document and show what the pipeline would load from it."""


def _format_value(value: Any) -> str:
    if value is None:
        return "— (absent)"
    if isinstance(value, dict):
        return ", ".join(f"{v}" for v in (value.get("title"), value.get("name")) if v) or "—"
    return str(value)


def _read_or_fail(file: Path, parser: Callable[["Document"], T]) -> tuple["Document", T]:
    """Read a document and parse it, or exit 2 with one message per problem."""
    from qp_analytics.reading.convention import ConventionError
    from qp_analytics.reading.documents import DocumentError, read_document

    try:
        doc = read_document(file)
        return doc, parser(doc)
    except DocumentError as exc:
        fail(str(exc))
    except ConventionError as exc:
        fail([f"{exc.path}: {p}" for p in exc.problems])
    raise AssertionError("unreachable: fail() exits")


@parse.command("convention")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
def parse_convention_cmd(file: Path, as_json: bool) -> None:
    """Read a convention d'engagement (PDF with a text layer, or text) and print its fields.

    Exit status 2, with one message per problem, when the file cannot be read or lacks a required
    field (intercommunalité, chef de file, labellisation, deadlines)."""
    from qp_analytics.reading.convention import parse_convention

    doc, convention = _read_or_fail(file, parse_convention)
    data = convention.to_dict()
    data["document"] = {"path": doc.path, "format": doc.format, "sha256": doc.sha256, "pages": doc.page_count}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"Convention {doc.path} ({doc.format}, {doc.page_count} page(s), sha256 {doc.sha256[:12]}…)")
    width = max(len(label) for _, label in FIELD_LABELS)
    for key, label in FIELD_LABELS:
        source = data["provenance"].get(key)
        where = f"  [page {source['page']}]" if isinstance(source, dict) and "page" in source else ""
        click.echo(f"  {label:<{width}}  {_format_value(data[key])}{where}")
    click.echo(f"  Engagements ({len(data['commitments'])}):")
    for c in data["commitments"]:
        ref = f"({c['ref']}) " if c["ref"] else ""
        text = c["text"] if len(c["text"]) <= 90 else c["text"][:89] + "…"
        click.echo(f"    {PARTY_LABELS[c['party']]:<16} {ref}{text}")
    if data["warnings"]:
        click.echo("  Avertissements:")
        for w in data["warnings"]:
            click.echo(f"    - {w['field']}: {w['message']}")


@parse.command("avenant")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
def parse_avenant_cmd(file: Path, as_json: bool) -> None:
    """Read an avenant (amendment): territory, number, extension in months or new end date, signature."""
    from qp_analytics.reading.avenant import parse_avenant

    doc, avenant = _read_or_fail(file, parse_avenant)
    data = avenant.to_dict()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"Avenant {doc.path} ({doc.format}, {doc.page_count} page(s))")
    for key in ("territory_name", "number", "extension_months", "new_end_date", "signature_place", "signature_date"):
        click.echo(f"  {key:<17} {_format_value(data[key])}")
    for w in data["warnings"]:
        click.echo(f"  - {w['field']}: {w['message']}")


@parse.command("roadmap")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
def parse_roadmap_cmd(path: Path, as_json: bool) -> None:
    """Check a feuille de route workbook (or a folder of its CSV exports) against the template's contract.

    Exit status 2 with every problem listed (file, sheet, row, column, value, what was expected)."""
    from collections import Counter

    from qp_analytics.reading.roadmap import RoadmapError, parse_roadmap, to_jsonable

    try:
        roadmap = parse_roadmap(path)
    except RoadmapError as exc:
        fail([str(p) for p in exc.problems])
        return
    data = to_jsonable(roadmap)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"Feuille de route {path}: conforms to the template")
    for key, value in data["fiche"].items():
        click.echo(f"  {key:<26} {'— (absent)' if value is None else value}")
    for sheet, column in (("actions", "statut"), ("partenaires", "partenaire"), ("financements", "decision"),
                          ("jalons", None), ("gouvernance", "instance"), ("bonnes_pratiques", "canal")):
        rows = data[sheet]
        detail = ""
        if column and rows:
            counts = Counter(str(r[column]) for r in rows)
            detail = " (" + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) + ")"
        click.echo(f"  {sheet:<17} {len(rows):>4} rows{detail}")


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write (territories.csv, conventions/, roadmaps/, avenants/, manifest.csv).")
@click.option("--territories", "count", type=click.IntRange(min=1), default=None,
              help="Number of fictitious territories to create.")
@click.option("--registry", type=click.Path(path_type=Path), default=None,
              help="Use the territories of this territories.csv instead (e.g. data/raw/territories.csv).")
@click.option("--seed", type=int, default=2021, show_default=True, help="Random seed: same seed, same bytes.")
@click.option("--word", type=click.IntRange(min=0), default=1, show_default=True,
              help="Conventions, and avenants, written as Word .docx files.")
@click.option("--scans", type=click.IntRange(min=0), default=1, show_default=True,
              help="Conventions, and avenants, written as scans (image-only PDFs, read by OCR: tesseract needed).")
def generate(out_dir: Path, count: int | None, registry: Path | None, seed: int, word: int, scans: int) -> None:
    """Write a complete raw folder of illustrative territories.

    Files the folder's manifest lists as real are never overwritten."""
    from qp_analytics.generators.conventions import synthetic_territories
    from qp_analytics.generators.raw_folder import write_raw_folder
    from qp_analytics.reading.territories import RegistryError, read_registry

    if (count is None) == (registry is None):
        fail("give either --territories N or --registry FILE")
    try:
        if registry is not None:
            territories = read_registry(registry.parent) if registry.name == "territories.csv" else None
            if territories is None:
                fail(f"{registry}: the registry file must be named territories.csv")
                return
        else:
            territories = synthetic_territories(count or 0, random.Random(seed))
    except RegistryError as exc:
        fail(exc.problems)
        return
    step = max(1, len(territories) // 10)

    def progress(done: int, total: int, territory_id: str) -> None:
        if done % step == 0 or done == total:
            click.echo(f"  {done}/{total} territories written ({territory_id})", err=True)

    # Fictitious sets exercise both roadmap forms: every tenth one as CSV exports.
    try:
        result = write_raw_folder(out_dir, territories, seed=seed, progress=progress,
                                  csv_every=10 if registry is None else 0, word=word, scans=scans)
    except OSError as exc:  # the folder or the disk (a file where a sub-folder goes, no room, no right)
        fail(f"cannot write the raw folder {out_dir}: {exc.strerror or exc}"
             + (f" ({exc.filename})" if exc.filename else ""))
    click.echo(f"Wrote {len(territories)} territories to {out_dir}: {len(result.specs)} illustrative convention(s)"
               + (f" (kept {len(result.kept_real)} real one(s): {', '.join(result.kept_real)})"
                  if result.kept_real else "")
               + f", {len(result.roadmaps)} roadmap(s), {len(result.avenants)} avenant(s); "
               f"manifest: {result.manifest}")


@main.command()
@click.option("--raw-dir", type=click.Path(path_type=Path), default=Path("data/raw"), show_default=True)
@click.option("--warehouse", type=click.Path(path_type=Path), default=Path("data/warehouse.duckdb"),
              show_default=True, help="DuckDB file (created if absent).")
@click.option("--marts-dir", type=click.Path(path_type=Path), default=Path("data/marts"), show_default=True)
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Where the run writes the HTML evaluation report.  [default: `report` beside the marts folder: "
                   "data/report]")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Evaluation date (YYYY-MM-DD). Default: today, recorded with the run.")
@click.option("--territory", "territories", multiple=True, metavar="ID",
              help="Only this territory (repeatable). Default: every territory of territories.csv.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="When another materialisation holds the warehouse: wait for it, or refuse at once.")
@click.option("--reprocess", is_flag=True,
              help="Read and parse every file again, even those unchanged since the last run (same sha256).")
@click.option("--force", is_flag=True,
              help="Run even when nothing changed since the last clean run (same files, date, territories, code "
                   "and outputs), which otherwise only prints that run's summary.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes reading and parsing files on large runs (0: one per core; 1: no worker processes).")
@click.option("--executor", type=click.Choice(["in-process", "multiprocess", "celery"]), default="in-process",
              show_default=True, help="Where the steps run: this process, parallel processes, or Celery workers "
              "(needs DAGSTER_HOME on PostgreSQL and running workers, see docs/distributed.md).")
@click.option("--celery-broker", envvar="QP_CELERY_BROKER", default=None, metavar="URL",
              help="Celery broker URL (celery executor; default from QP_CELERY_BROKER).")
@click.option("--celery-backend", envvar="QP_CELERY_BACKEND", default=None, metavar="URL",
              help="Celery result backend URL (celery executor; default from QP_CELERY_BACKEND).")
def materialize(raw_dir: Path, warehouse: Path, marts_dir: Path, report_dir: Path | None, as_of: dt.datetime | None,
                territories: tuple[str, ...], wait: bool, reprocess: bool, force: bool, workers: int, executor: str,
                celery_broker: str | None, celery_backend: str | None) -> None:
    """Run the Dagster asset graph for all territories (or those named) in one run.

    Territories whose files are unchanged since the last run (same sha256, same code) are not read again. When
    nothing at all changed since the last clean run, no run starts: its summary is printed again."""
    from pipelines.cli import unchanged
    from pipelines.instance import InstanceError, dagster_home
    from qp_analytics.reading.territories import RegistryError
    from qp_analytics.report import report_folder

    as_of_date = as_of.date() if as_of else dt.date.today()
    if as_of_date > dt.date.today():  # a mistyped year, most often: its figures would look like any other's
        click.echo(f"warning: the evaluation date {as_of_date.isoformat()} is after today "
                   f"({dt.date.today().isoformat()}): deadlines up to it count as passed, so what is due by then and "
                   "not done yet counts as late or missing", err=True)
    elif as_of_date < PROGRAMME_ANNOUNCED:  # a mistyped year too: every figure would read "not yet"
        click.echo(f"warning: the evaluation date {as_of_date.isoformat()} is before the programme was announced "
                   f"({PROGRAMME_ANNOUNCED.isoformat()}): no convention, roadmap or action of it is due by then, "
                   "so the marts count nearly everything as pending or not yet done", err=True)
    reports = report_folder(marts_dir, report_dir)
    raw_files: dict = {}  # the raw files' states and hashes, kept in the stamp for the next request
    stamp = unchanged.last_stamp(warehouse)  # read once: its raw files' hashes, then what it says of the run
    try:
        inputs = unchanged.inputs_stamp(raw_dir, warehouse, marts_dir, reports, as_of_date, list(territories),
                                        dagster_home(), raw_files, stamp)
    except InstanceError as exc:
        fail(str(exc))
        return
    last = None if force or reprocess else unchanged.unchanged_since(inputs, warehouse, marts_dir, reports, stamp)
    if last is not None:
        files = "raw files of the territories asked" if territories else "raw files"
        click.echo(f"Nothing changed since the run of {last['finished_at']} (the same {files}, evaluation date, "
                   "territories and code; the warehouse, the release and the report as it left them): no run "
                   "started, its summary follows. --force runs anyway.", err=True)
        click.echo(last["summary"])
        sys.exit(0)
    unchanged.forget(warehouse)  # whatever this run ends with, the stamp no longer says what the outputs hold

    from pipelines.run import RunFault, RunOptions, RunRequestError, run_pipeline
    from pipelines.run.pipeline import KEPT_VALIDATOR

    if executor == "in-process":
        KEPT_VALIDATOR.start()  # GX imported there, on another core, while this process imports the graph
    import pipelines.definitions  # noqa: F401  (the run's graph: imported now, see below)

    # What is imported by now (Dagster, polars, DuckDB, the graph) outlives the run: frozen out of the garbage
    # collector's sight while it runs, the run's full collections look only at what the run makes (0.3 s less of
    # them at 14 territories); handed back to it after, for a caller that runs the command in its own process.
    # And those full collections made ten times rarer (FULL_COLLECTIONS_RARER): what the run makes is mostly
    # young, freed or collected by the young generations' passes; a run still had five or six full ones, 50 ms
    # each (0.25-0.31 s a run, at 14 territories as at 1,400), for no memory the run's peak shows.
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], thresholds[2] * FULL_COLLECTIONS_RARER)

    options = RunOptions(report_dir=report_dir, executor=executor, reprocess=reprocess, workers=workers,
                         celery_broker=celery_broker, celery_backend=celery_backend)
    try:
        summary = run_pipeline(raw_dir=raw_dir, warehouse=warehouse, marts_dir=marts_dir, as_of=as_of_date,
                               territories=list(territories), echo=lambda m: click.echo(m, err=True), wait=wait,
                               options=options)
    except RegistryError as exc:
        unchanged.put_back(warehouse, stamp)  # refused before anything was written
        fail(exc.problems)
        return
    except RunFault as exc:  # the disk or the folder, not the request: status 1, as a failed run
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except RunRequestError as exc:
        unchanged.put_back(warehouse, stamp)  # refused before anything was written
        fail(str(exc))
        return
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    rendered = summary.render()
    if summary.exit_code == 0:
        unchanged.record_clean_run(inputs, warehouse, marts_dir, reports, rendered, raw_files)
    click.echo(rendered)
    sys.exit(summary.exit_code)


main.add_command(report)


@main.command()
@click.argument("sql")
@click.option("--marts-dir", type=click.Path(path_type=Path), default=Path("data/marts"), show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              metavar="SECONDS", help="Stop the query after this many seconds (exit status 1).")
@click.option("--memory-limit", default="1GiB", show_default=True,
              help="DuckDB's memory limit for the query (e.g. 512MiB, 2GiB); a query over it stops (exit status 1).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="DuckDB threads.")
def query(sql: str, marts_dir: Path, fmt: str, timeout: float, memory_limit: str, threads: int) -> None:
    """Answer a read-only SQL query over the last complete publication of the marts.

    Tables: mart_timeliness, mart_partner_mobilisation, mart_good_practices, mart_practice_diffusion,
    mart_evaluation_territories, mart_evaluation_national, dictionary. One SELECT (or WITH, VALUES, FROM-first,
    DESCRIBE, SUMMARIZE, SHOW TABLES) over these tables is accepted; anything else (DDL, DML, COPY, ATTACH, SET,
    PRAGMA, EXPLAIN, reading files, other table functions than range/generate_series/unnest, functions that
    reveal settings or the catalog) is refused with status 2. See docs/query-and-faults.md."""
    from qp_analytics.publication.query import Limits, QueryError, render, run_query

    try:
        result = run_query(marts_dir, sql, Limits(timeout=timeout, memory_limit=memory_limit, threads=threads))
    except QueryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.status)
    click.echo(render(result, fmt))


if __name__ == "__main__":
    main()
