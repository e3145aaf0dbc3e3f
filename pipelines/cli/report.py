"""`qp-analytics report`: the HTML evaluation report of the last complete publication of the marts."""

from pathlib import Path

import click

from pipelines.cli.errors import fail


@click.command()
@click.option("--marts-dir", type=click.Path(path_type=Path), default=Path("data/marts"), show_default=True,
              help="Marts folder: the report reads its current release.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("data/report"), show_default=True,
              help="Folder to write (index.html, territoires/<id>.html); a full report replaces it as a whole.")
@click.option("--territory", "territories", multiple=True, metavar="ID",
              help="Only this territory's page (repeatable); the national page and the other pages are left "
                   "as they are.")
def report(marts_dir: Path, out_dir: Path, territories: tuple[str, ...]) -> None:
    """Write the evaluation report in HTML: a national page and one page per territory, in French.

    The pages are self-contained (no script, nothing fetched from elsewhere: they read offline and print
    cleanly) and all come from one release of the marts: its evaluation date, its release id and the
    provenance (real or illustrative) of the documents are stated on every page. Exit status 2, with a
    message, when no release is published yet or a territory id is unknown."""
    from qp_analytics.report.pages import ReportError, build_report

    try:
        result = build_report(marts_dir, out_dir, list(territories) or None)
    except ReportError as exc:
        fail(str(exc))
        return
    kept = len(result.pages) - len(result.redrawn)
    unchanged = f", {kept} kept as they were (their figures unchanged)" if kept else ""
    if result.national:
        click.echo(f"The evaluation report of release {result.release} (as_of {result.as_of.isoformat()}): "
                   f"{len(result.pages)} pages in {result.out_dir}, {len(result.redrawn)} drawn{unchanged}; "
                   f"open {result.index}")
    else:
        click.echo(f"{len(result.pages)} territory page(s) of release {result.release} (as_of "
                   f"{result.as_of.isoformat()}) in {result.out_dir}, {len(result.redrawn)} drawn{unchanged}; the "
                   "national page was not rewritten (run without --territory for the whole report)")
    drawn = set(result.redrawn)
    for page in result.pages:
        click.echo(f"  {page}{'' if page in drawn else ' (kept)'}")
