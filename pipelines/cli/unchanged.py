"""Whether `qp-analytics materialize` has anything to do: nothing changed since its last clean run.

A clean run (exit status 0) leaves a stamp beside the warehouse: what it was asked (the folders, the evaluation
date, the territories, the Dagster instance), the SHA-256 of every raw file it watched, the digest of the code
(the project's sources and the installed packages' versions), and the state it left its outputs in (the
warehouse file, the current release, the report). The next request whose stamp is the same, outputs included,
would run the graph to rewrite the same bytes: the command says so and prints that run's summary instead,
without starting a Dagster run. Anything different (a file's bytes, a new date, an edited source, a package
upgraded, the warehouse written by another run, a report deleted) runs as usual; `--force` always runs.

The stamp also keeps each raw file's state (inode, size, modification and change times) with its SHA-256: a file
in the same state is not read again to be hashed (a write changes its change time, which no tool sets back).
Kept light: it imports nothing of Dagster, polars or GX, so that the answer costs what hashing the files costs.
"""

import datetime as dt
import email.parser
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

import pipelines
import qp_analytics
from qp_analytics.files import file_state
from qp_analytics.publication.releases import current_release
from qp_analytics.reading.raw_index import raw_fingerprints

FORMAT = 1


def stamp_path(warehouse: Path) -> Path:
    return warehouse.with_name(f".{warehouse.name}.last-run.json")


def tree_digest(root: Path) -> str:
    """The SHA-256 of a package's files (sources, templates, stylesheets), each relative name and its bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_digest() -> str:
    """The project's code and the versions of every installed package: what a run's output depends on besides
    its inputs."""
    digest = hashlib.sha256()
    for package in (qp_analytics, pipelines):
        digest.update(tree_digest(Path(package.__file__).parent).encode())
    installed = sorted(installed_version(d) for d in importlib.metadata.distributions())
    digest.update("\n".join(installed).encode())
    return digest.hexdigest()


def installed_version(distribution: importlib.metadata.Distribution) -> str:
    """`name==version` of an installed distribution, from its metadata's headers alone: `metadata` parses the
    whole file, its long description with it, twice for a name and a version (155 distributions: 0.1 s a run)."""
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO") or ""
    headers = email.parser.HeaderParser().parsestr(text.replace("\r\n", "\n").split("\n\n", 1)[0])
    return f"{headers['Name']}=={headers['Version']}"


def _file_state(path: Path) -> list[int] | None:
    """What tells that a file was written again: its inode, size and modification time (None: absent)."""
    try:
        return file_state(path)
    except OSError:
        return None


def outputs_state(warehouse: Path, marts_dir: Path, report_dir: Path) -> dict:
    """The state of what a run writes: the warehouse file, the current release (its folder and its release.json),
    the report's pages index and manifest."""
    release = current_release(marts_dir)
    return {"warehouse": _file_state(warehouse),
            "current": release.name if release else None,
            "release": _file_state(release / "release.json") if release else None,
            "report": [_file_state(report_dir / "index.html"), _file_state(report_dir / "report.json")]}


def last_stamp(warehouse: Path) -> dict | None:
    """The last clean run's stamp, or None (there is none, or it cannot be read)."""
    try:
        stored = json.loads(stamp_path(warehouse).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def inputs_stamp(raw_dir: Path, warehouse: Path, marts_dir: Path, report_dir: Path, as_of: dt.date,
                 territories: list[str], dagster_home: Path, raw_files: dict | None = None,
                 last: dict | None = None) -> dict:
    """What a run is asked and reads: taken before it starts, so that a file changed during the run makes the
    next request run again. A raw file whose state is the one the last stamp kept is not read again (its hash
    is kept); raw_files: filled with this look's states and hashes, for record_clean_run; last: the last stamp
    when the caller has read it (`last_stamp`), else it is read here. territories named: the raw files a run of
    them reads (theirs and those of no territory), not the other territories'."""
    known = (last if last is not None else last_stamp(warehouse) or {}).get("raw_files")
    raw = json.dumps(raw_fingerprints(raw_dir, known if isinstance(known, dict) else None, raw_files,
                                      set(territories) if territories else None), sort_keys=True).encode()
    return {"format": FORMAT,
            "request": {"raw_dir": str(raw_dir.resolve()), "warehouse": str(warehouse.resolve()),
                        "marts_dir": str(marts_dir.resolve()), "report_dir": str(report_dir.resolve()),
                        "as_of": as_of.isoformat(), "territories": sorted(set(territories)),
                        "dagster_home": str(dagster_home.resolve())},
            "raw": hashlib.sha256(raw).hexdigest(),
            "code": code_digest()}


def unchanged_since(inputs: dict, warehouse: Path, marts_dir: Path, report_dir: Path,
                    last: dict | None = None) -> dict | None:
    """The last clean run's stamp when nothing differs from it (inputs, code and outputs), else None. last: the
    stamp when the caller has read it (`last_stamp`), else it is read here."""
    stored = last if last is not None else last_stamp(warehouse)
    if stored is None or stored.get("inputs") != inputs:
        return None
    if stored.get("outputs") != outputs_state(warehouse, marts_dir, report_dir):
        return None
    return stored


def record_clean_run(inputs: dict, warehouse: Path, marts_dir: Path, report_dir: Path, summary: str,
                     raw_files: dict | None = None) -> None:
    """Stamp a clean run (written whole, or not at all: a stamp that cannot be written only means the next
    request runs), with the raw files' states and hashes inputs_stamp saw (raw_files)."""
    _write(warehouse, {"inputs": inputs, "outputs": outputs_state(warehouse, marts_dir, report_dir),
                       "summary": summary, "finished_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                       "raw_files": raw_files or {}})


def _write(warehouse: Path, body: dict) -> None:
    """The stamp written whole, or not at all."""
    path = stamp_path(warehouse)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)


def forget(warehouse: Path) -> None:
    """No stamp: the next request runs (after a run that was not clean)."""
    stamp_path(warehouse).unlink(missing_ok=True)


def put_back(warehouse: Path, stamp: dict | None) -> None:
    """The stamp forgotten before a request that was then refused, written again as it was (a refused request
    writes nothing: what the stamp says of the outputs still holds)."""
    if stamp is not None:
        _write(warehouse, stamp)
