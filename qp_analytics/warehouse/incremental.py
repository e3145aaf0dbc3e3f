"""Incremental runs: a territory whose inputs have not changed is not read or parsed again.

Each stage records, per territory, the fingerprint of what it processed: the SHA-256 of the input files' bytes
(or of the upstream stage's output), what else shapes its rows (the file's path, its provenance in the
manifest), and the version of the code that processes them (the library's sources and the reading
libraries' versions). A territory is processed again when its fingerprint differs, when the stage rejected it last
time, or when it has none; fingerprints are written in the same transaction as the rows they describe.

Every stage goes the same way (`run_stage`): it looks at what it would process (the fingerprints of its inputs
as they are now, against those recorded), reads from the warehouse what the territories to process need,
computes their rows without holding the warehouse (other steps may use it meanwhile), then, in one transaction,
replaces the accepted territories' rows, records the rejections and the fingerprints of what it processed. A
stage is described once (`Stage`: its tables, the rejections it records, those upstream it respects) and each
asset says only what its inputs are, how to compute its rows and what to record.

SQL here carries its values as literals, never as bound parameters: DuckDB's Python client imports pandas
(about 0.4 s of CPU) the first time a query binds a Python value, which a run that changes nothing would pay
for nothing.
"""

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from qp_analytics.schema import TABLES, Table
from qp_analytics.text import sql_literal
from qp_analytics.warehouse.database import Warehouse, ensure_tables, holds, id_list, replace_rows, replace_table

FINGERPRINTS = "staging.input_fingerprints"
REJECTIONS = "staging.rejections"
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


# what writes a fingerprint's parts as JSON, made once: `json.dumps` with options builds an encoder at each call,
# half the time of the 18,000 fingerprints of the core checks at 1,400 territories (the same text either way)
_FINGERPRINT_JSON = json.JSONEncoder(ensure_ascii=False, default=str, sort_keys=True)


def fingerprint(stage: str, *parts: object) -> str:
    """The fingerprint of one territory's input to a stage: the stage, the parts (JSON) and the code version."""
    payload = _FINGERPRINT_JSON.encode([stage, code_version(), *parts])
    return hashlib.sha256(payload.encode()).hexdigest()


def to_process(con: duckdb.DuckDBPyConnection, stage: str, territory_ids: Sequence[str],
               current: Mapping[str, str], rejection_stages: Iterable[str], everything: bool = False) -> list[str]:
    """The territories this stage must process, in order: those without a current fingerprint, with a different
    one, or rejected at these stages last time. `everything` turns incremental work off."""
    if everything:
        return list(territory_ids)
    ids = list(territory_ids)
    # the stage's fingerprints, all of them, matched here: a list of 1,400 ids as SQL cost DuckDB 15 ms to parse
    stored = dict(con.execute(
        f"SELECT territory_id, fingerprint FROM {FINGERPRINTS} WHERE stage = {sql_literal(stage)}").fetchall())
    rejected = set(rejected_at(con, rejection_stages))
    return [t for t in ids if t in rejected or t not in current or stored.get(t) != current[t]]


def rejected_at(con: duckdb.DuckDBPyConnection, stages: Iterable[str], territory_ids: Sequence[str] | None = None
                ) -> list[str]:
    """The territories (of these, or all) whose last input was rejected at one of these stages, in order."""
    found = [r[0] for r in con.execute(
        f"SELECT DISTINCT territory_id FROM {REJECTIONS} WHERE stage IN (SELECT unnest({id_list(stages)})) "
        "ORDER BY territory_id").fetchall()]
    if territory_ids is None:
        return found
    wanted = set(territory_ids)
    return [t for t in found if t in wanted]


_PAIR = "\x1e"  # joins a stage and a territory id in record_stages (the ASCII record separator: in neither)


def record(con: duckdb.DuckDBPyConnection, stage: str, fingerprints: Mapping[str, str]) -> None:
    """Store what the stage processed, inside the caller's transaction (with the rows it describes). Only
    accepted territories are recorded: a rejected one keeps the fingerprint of its last good data."""
    record_stages(con, {stage: fingerprints})


def record_stages(con: duckdb.DuckDBPyConnection, fingerprints: Mapping[str, Mapping[str, str]]) -> None:
    """`record` for several stages at once ({stage: {territory: fingerprint}}): one delete and one insert for
    them all (the core checks record a stage per table: 25 writes of 1,400 rows each took 0.19 s)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = TABLES[FINGERPRINTS].frame([{"territory_id": t, "stage": stage, "fingerprint": f, "recorded_at": now}
                                       for stage, prints in fingerprints.items() for t, f in prints.items()])
    if rows.height == 0:
        return
    if len(fingerprints) == 1:
        (stage, prints), = fingerprints.items()
        replace_rows(con, FINGERPRINTS, list(prints), rows, f" AND stage = {sql_literal(stage)}")
        return
    pairs = [f"{stage}{_PAIR}{t}" for stage, prints in fingerprints.items() for t in prints]
    replace_rows(con, FINGERPRINTS, sorted({t for prints in fingerprints.values() for t in prints}), rows,
                 f" AND stage || chr({ord(_PAIR)}) || territory_id IN (SELECT unnest({id_list(pairs)}))")


# -- a stage's work, the same for every stage ----------------------------------------------------------------


@dataclass
class Rejection:
    territory_id: str
    stage: str
    file: str | None
    problems: list[str]


@dataclass
class StageResult:
    rows: dict[str, pl.DataFrame]  # table name -> rows for the accepted territories
    accepted: list[str]
    rejections: list[Rejection] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # what else the stage found, told with its rows


def rejection_rows(rejections: Sequence[Rejection]) -> pl.DataFrame:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    records = [
        {"territory_id": r.territory_id, "stage": r.stage, "problem_no": i, "file": r.file, "problem": p,
         "rejected_at": now}
        for r in rejections for i, p in enumerate(r.problems, start=1)
    ]
    return TABLES[REJECTIONS].frame(records)


@dataclass(frozen=True)
class Stage:
    """A stage of the territories' journey, as the warehouse keeps it."""

    name: str | None  # its stage in staging.input_fingerprints; None: not incremental (every territory, every run)
    tables: tuple[str, ...]  # what it writes: the accepted territories' rows of each, replaced together
    rejects: tuple[str, ...] = ()  # the staging.rejections stages it records (a territory rejected there last time
    #                                is processed again)
    after: tuple[str, ...] = ()  # rejection stages upstream: a territory rejected there is left as it is (its rows
    #                              are its last good data, not to be rebuilt from older inputs)
    whole: bool = False  # its tables hold the run's rows only: every row replaced (the national mart)
    listed_only: bool = False  # its tables hold the rows of the run's territories only: the others' rows (a
    #                            territory no longer listed) and their fingerprints are removed (the marts)
    definitions: Mapping[str, Table] = field(default_factory=lambda: TABLES)  # where its tables are defined


@dataclass
class StageRun:
    """What a stage did in one run."""

    stage: Stage
    keys: list[str]  # the run's territories
    considered: list[str]  # those the stage looked at (not rejected upstream)
    todo: list[str]  # those it processed (the others are unchanged)
    result: StageResult
    described: Any = None  # what `describe` said of the written tables, in the write's transaction

    @property
    def unchanged(self) -> int:
        return len(self.considered) - len(self.todo)

    @property
    def rejected(self) -> list[str]:
        return [r.territory_id for r in self.result.rejections]


Fingerprints = Mapping[str, str] | Callable[[duckdb.DuckDBPyConnection, list[str]], Mapping[str, str]]


def run_stage(warehouse: Warehouse, stage: Stage, keys: Sequence[str], *,
              current: Fingerprints | None = None,
              read: Callable[[duckdb.DuckDBPyConnection, list[str]], Any] | None = None,
              compute: Callable[[list[str], Any], StageResult] | None = None,
              processed: Callable[[StageResult], Mapping[str, str]] | None = None,
              describe: Callable[[duckdb.DuckDBPyConnection, StageRun], Any] | None = None,
              everything: bool = False) -> StageRun:
    """Run a stage over the run's territories (`keys`):

    1. look, under a connection: the territories not rejected upstream (`stage.after`), the fingerprints of
       their inputs as they are now (`current`: given, or found in the warehouse), those to process, and what
       they need from the warehouse (`read`);
    2. `compute` their rows and rejections (a StageResult), without holding the warehouse (with no `compute`,
       `read` gave the result);
    3. in one transaction: replace the accepted territories' rows of the stage's tables (where they differ from
       those stored), the rejections it records for the territories it looked at again, and the fingerprints of
       what it processed (`processed`: by default the current fingerprints of the accepted territories), then
       `describe` what was written.
    """
    keys = list(keys)
    considered, todo, fingerprints, inputs = keys, keys, {}, None
    looked = stage.name is not None or read is not None or bool(stage.after)
    if looked:
        with warehouse.connect() as con:
            _ensure(con, stage)
            if stage.after:
                rejected = set(rejected_at(con, stage.after, keys))
                considered = [k for k in keys if k not in rejected]
            if stage.name is not None:
                fingerprints = dict(current(con, considered) if callable(current) else current or {})
                todo = to_process(con, stage.name, considered, fingerprints, stage.rejects, everything=everything)
            else:
                todo = considered
            inputs = read(con, todo) if read is not None else None
    result = compute(todo, inputs) if compute is not None else inputs
    if not isinstance(result, StageResult):
        raise TypeError(f"stage {stage.name or stage.tables[0]}: expected a StageResult, got {type(result).__name__}")
    run = StageRun(stage, keys, considered, todo, result)
    unchanged = set(considered) - set(todo)
    with warehouse.transaction() as con:
        if not looked:
            _ensure(con, stage)
        for table in stage.tables:
            scope = None if stage.whole else result.accepted
            if holds(con, table, result.rows[table], scope, stage.definitions):
                # the same rows as stored (a stage recomputed on every run, or rows computed again from inputs that
                # changed in nothing they show): nothing to write, and nothing for the checkpoint to rewrite
                continue
            if stage.whole:
                replace_table(con, table, result.rows[table], stage.definitions)
            else:
                replace_rows(con, table, result.accepted, result.rows[table], definitions=stage.definitions)
        if stage.listed_only:
            _remove_unlisted(con, stage, keys)
        if stage.rejects:  # those looked at again, and those rejected upstream (no rejection of theirs here stays)
            replace_rows(con, REJECTIONS, [k for k in keys if k not in unchanged], rejection_rows(result.rejections),
                         f" AND stage IN (SELECT unnest({id_list(stage.rejects)}))")
        if stage.name is not None:
            record(con, stage.name, processed(result) if processed is not None else
                   {t: fingerprints[t] for t in result.accepted})
        run.described = describe(con, run) if describe is not None else None
    return run


def _remove_unlisted(con: duckdb.DuckDBPyConnection, stage: Stage, keys: Sequence[str]) -> None:
    """The rows, and the fingerprints, of territories other than `keys` in the stage's tables (deleted only where
    there are some: a delete marks the table written)."""
    listed = f"territory_id NOT IN (SELECT unnest({id_list(keys)}))"
    tables = [*stage.tables, FINGERPRINTS] if stage.name is not None else list(stage.tables)
    for table in tables:
        narrowed = f" AND stage = {sql_literal(stage.name)}" if table == FINGERPRINTS else ""
        if con.execute(f"SELECT count(*) FROM {table} WHERE {listed}{narrowed}").fetchone()[0]:
            con.execute(f"DELETE FROM {table} WHERE {listed}{narrowed}")


def _ensure(con: duckdb.DuckDBPyConnection, stage: Stage) -> None:
    ensure_tables(con)
    if stage.definitions is not TABLES:
        ensure_tables(con, tables=list(stage.tables), definitions=stage.definitions)
