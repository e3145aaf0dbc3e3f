"""Incremental runs: a territory whose inputs have not changed is not read or parsed again.

Each stage records, per territory, the fingerprint of what it processed: the SHA-256 of the input files' bytes
(or of the upstream stage's output), what else shapes its rows (the file's path, its provenance in the
manifest), and the version of the code that processes them (the library's sources and the reading
libraries' versions). A territory is processed again when its fingerprint differs, when the stage rejected it last
time, or when it has none; fingerprints are written in the same transaction as the rows they describe.
"""

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import duckdb

from qp_analytics.schema import TABLES
from qp_analytics.warehouse.database import replace_rows

FINGERPRINTS = "staging.input_fingerprints"
_LIBRARIES = ("pypdfium2", "pytesseract", "python-docx", "pyspellchecker", "python-calamine", "polars", "duckdb",
              "text2num", "python-dateutil")


# Parts of the library (a package folder or a module, relative to it) that shape no row a fingerprinted stage
# writes: the marts and their publication with its exports (recomputed on every run), the report, the quality
# suites (versioned on their own: see quality.suites.suites_version), the data dictionary, the worker pool
# (results come back in order), the raw folder's fingerprints (the sensor's) and the generators of
# illustrative files. Editing one of them does not make the next run read every file again.
NOT_SHAPING_ROWS = ("marts", "publication", "report", "quality", "generators", "dictionary.py", "parallel.py",
                    "reading/raw_index.py")
PACKAGE = Path(__file__).resolve().parent.parent


def _within(relative: str, parts: Iterable[str]) -> bool:
    return any(relative == part or relative.startswith(part.rstrip("/") + "/") for part in parts)


def sources_digest(root: Path, names: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> str:
    """SHA-256 of the .py files of a folder (each relative path and its bytes, in order): those within the named
    parts (modules or sub-folders), or all of them but those within the excluded parts."""
    named = None if names is None else tuple(names)
    skipped = tuple(exclude)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if (named is None or _within(relative, named)) and not _within(relative, skipped):
            digest.update(relative.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def code_version() -> str:
    """SHA-256 of the sources that read, parse and normalise (the library but NOT_SHAPING_ROWS) and of the
    versions of the libraries that read the files. The Dagster definitions only orchestrate and are not part
    of it."""
    digest = hashlib.sha256(sources_digest(PACKAGE, exclude=NOT_SHAPING_ROWS).encode())
    for name in _LIBRARIES:
        digest.update(f"{name}=={importlib.metadata.version(name)}".encode())
    return digest.hexdigest()


@functools.cache
def modules_version(*names: str) -> str:
    """The code version and the SHA-256 of some modules of the library besides (e.g. the report's)."""
    return f"{code_version()}+{sources_digest(PACKAGE, names)}"


def fingerprint(stage: str, *parts: object) -> str:
    """The fingerprint of one territory's input to a stage: the stage, the parts (JSON) and the code version."""
    payload = json.dumps([stage, code_version(), *parts], ensure_ascii=False, default=str, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def to_process(con: duckdb.DuckDBPyConnection, stage: str, territory_ids: Sequence[str],
               current: Mapping[str, str], rejection_stages: Iterable[str], everything: bool = False) -> list[str]:
    """The territories this stage must process, in order: those without a current fingerprint, with a different
    one, or rejected at these stages last time. `everything` turns incremental work off."""
    if everything:
        return list(territory_ids)
    ids = list(territory_ids)
    stored = dict(con.execute(
        f"SELECT territory_id, fingerprint FROM {FINGERPRINTS} WHERE stage = ? "
        "AND territory_id IN (SELECT unnest(?::VARCHAR[]))", [stage, ids]).fetchall())
    rejected = {r[0] for r in con.execute(
        "SELECT DISTINCT territory_id FROM staging.rejections WHERE stage IN (SELECT unnest(?::VARCHAR[])) "
        "AND territory_id IN (SELECT unnest(?::VARCHAR[]))", [list(rejection_stages), ids]).fetchall()}
    return [t for t in ids if t in rejected or t not in current or stored.get(t) != current[t]]


def record(con: duckdb.DuckDBPyConnection, stage: str, fingerprints: Mapping[str, str]) -> None:
    """Store what the stage processed, inside the caller's transaction (with the rows it describes). Only
    accepted territories are recorded: a rejected one keeps the fingerprint of its last good data."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = TABLES[FINGERPRINTS].frame([{"territory_id": t, "stage": stage, "fingerprint": f, "recorded_at": now}
                                       for t, f in fingerprints.items()])
    replace_rows(con, FINGERPRINTS, list(fingerprints), rows, " AND stage = ?", [stage])
