"""The release a report is drawn from: every mart of one published release, with its as_of and id, read and
checked for consistency."""

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from qp_analytics.marts.compute import value_column
from qp_analytics.publication.releases import CURRENT, current_release
from qp_analytics.report.formatting import is_null
from qp_analytics.schema import MARTS, release_name

MART_NAMES = tuple(release_name(name) for name in MARTS)


class ReportError(Exception):
    """A user's mistake or an unusable publication: the message says what and where."""


@dataclass(frozen=True)
class Release:
    folder: Path
    release_id: str
    as_of: dt.date
    published_at: dt.datetime | None
    marts: dict[str, pl.DataFrame]  # short name -> frame
    sha256s: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256, as release.json records them


def indicator_value(row: dict[str, Any]) -> int | Decimal | float | None:
    """The value of a row of mart_evaluation_national: in the column its unit says (the marts' value_column)."""
    value = row.get(value_column(row["unit"]))
    return None if is_null(value) else value


def load_release(marts_dir: str | Path, release: str | Path | None = None) -> Release:
    """Read every mart of one release: `release` (a release folder) or the current one of `marts_dir`."""
    root = Path(marts_dir)
    if release is None:
        if not root.is_dir():
            raise ReportError(f"{root}: marts folder not found; run `qp-analytics materialize` first to publish "
                              "the marts, or give --marts-dir")
        folder = current_release(root)
        if folder is None or not folder.is_dir():
            raise ReportError(f"{root} has no current release ({root / CURRENT} is missing or broken); run "
                              "`qp-analytics materialize` first to publish the marts")
    else:
        folder = Path(release).resolve()
        if not folder.is_dir():
            raise ReportError(f"{folder}: release folder not found")
    manifest_path = folder / "release.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        as_of = dt.date.fromisoformat(manifest["as_of"])
    except FileNotFoundError:
        raise ReportError(f"{manifest_path}: missing; this release is incomplete") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{manifest_path}: unreadable release description ({exc})") from None
    published_at = None
    if isinstance(manifest.get("published_at"), str):
        try:
            published_at = dt.datetime.fromisoformat(manifest["published_at"])
        except ValueError:
            published_at = None
    marts: dict[str, pl.DataFrame] = {}
    for name, table in zip(MART_NAMES, MARTS.values(), strict=True):
        path = folder / f"{name}.parquet"
        try:
            frame = pl.read_parquet(path)
        except FileNotFoundError:
            raise ReportError(f"{path}: missing; this release is incomplete") from None
        except Exception as exc:  # polars raises several kinds for a damaged file
            raise ReportError(f"{path}: unreadable Parquet file ({exc})") from None
        missing = [c for c in table.column_names if c not in frame.columns]
        if missing:
            raise ReportError(f"{path}: column(s) {', '.join(missing)} missing; the release was written by "
                              "another version of qp-analytics: run `qp-analytics materialize` again")
        dates = set(frame["as_of"].drop_nulls().unique().to_list())
        if dates - {as_of}:
            raise ReportError(f"{path}: computed for {', '.join(sorted(d.isoformat() for d in dates))}, but "
                              f"{manifest_path} says as_of {as_of.isoformat()}: the release is inconsistent")
        marts[name] = frame
    _check_units(marts["mart_evaluation_national"], folder / "mart_evaluation_national.parquet")
    files = manifest.get("files")
    sha256s = {name: record["sha256"] for name, record in files.items()
               if isinstance(record, dict) and isinstance(record.get("sha256"), str)} if isinstance(files, dict) else {}
    return Release(folder, str(manifest.get("release") or folder.name), as_of, published_at, marts, sha256s)


def _check_units(national: pl.DataFrame, path: Path) -> None:
    """Each national indicator's value is read from the column its unit names: a unit this version does not
    know means another version wrote the release."""
    unknown = []
    for unit in national["unit"].unique(maintain_order=True).to_list():
        try:
            value_column(unit)
        except ValueError:
            unknown.append(repr(unit))
    if unknown:
        raise ReportError(f"{path}: unit(s) {', '.join(unknown)} unknown to this version; the release was written "
                          "by another version of qp-analytics: run `qp-analytics materialize` again")
