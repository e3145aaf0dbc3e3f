"""The evaluation report (pages.py draws it). Here only what the command line needs before importing it."""

from pathlib import Path


def report_folder(marts_dir: str | Path, report_dir: str | Path | None = None) -> Path:
    """Where the report of these marts goes: report_dir when given, else `report` beside the marts folder."""
    return Path(report_dir) if report_dir else Path(marts_dir).parent / "report"
