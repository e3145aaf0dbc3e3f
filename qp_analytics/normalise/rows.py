"""The conventions' journey, stage by stage, as plain functions: read files, parse, normalise into rows.

Each stage takes the territories of a run and returns the rows to load and the rejections; a rejected
territory produces no rows, so its last good rows stay in the warehouse.
"""

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from qp_analytics.files import read_while_unchanged
from qp_analytics.parallel import AHEAD_BATCH, goes_parallel, map_ordered, start_ahead
from qp_analytics.reading.convention import ConventionError, parse_convention
from qp_analytics.reading.documents import Document, DocumentError, read_document
from qp_analytics.reading.identity import TerritoryIndex
from qp_analytics.reading.manifest import read_manifest, sha256_of
from qp_analytics.reading.ocr import OcrWord
from qp_analytics.reading.territories import (
    REGISTRY_FILE,
    ListedFolder,
    MissingFile,
    OutsideRawFolder,
    RawFolderLinks,
    Territory,
    convention_path,
    read_registry,
)
from qp_analytics.schema import TABLES
from qp_analytics.warehouse.incremental import Rejection, StageResult

Progress = Callable[[str, int, int, str], None]  # (stage, done, total, territory_id)
# what a convention's parse reads of its row of raw.convention_documents
PARSE_INPUT = ("territory_id", "path", "format", "sha256", "text", "ocr_words")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def registry_rows(territories: Sequence[Territory]) -> pl.DataFrame:
    return TABLES["core.territories"].frame([dict(t.__dict__) for t in territories])


def _read_one(item: tuple[str, str, str | None]) -> tuple[dict[str, Any] | None, Rejection | None]:
    """Read one territory's convention file (runs in a worker process on large runs). The item: raw folder,
    territory, and the file's path if the caller found it already (convention_path)."""
    raw_dir, tid, known_path = item
    path = None
    try:
        path = Path(known_path) if known_path is not None else convention_path(raw_dir, tid)
        doc = read_document(path)
    except (MissingFile, DocumentError) as exc:
        return None, Rejection(tid, "read", None if path is None or isinstance(exc, MissingFile) else str(path),
                               [str(exc)])
    return {"territory_id": tid, "path": doc.path, "format": doc.format, "sha256": doc.sha256,
            "page_count": doc.page_count, "char_count": len(doc.text), "text": doc.text,
            "ocr_words": json.dumps([[w.start, w.end, w.confidence] for w in doc.ocr_words]) if doc.ocr_words else None,
            "read_at": _now()}, None


def read_conventions(raw_dir: str | Path, territory_ids: Sequence[str], known: Sequence[str],
                     progress: Progress | None = None, workers: int | None = None,
                     paths: Mapping[str, Path] | None = None) -> StageResult:
    """Read each territory's convention file (text layer, sha256, pages). paths: the files the caller found
    already (convention_path), by territory."""
    records: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    known_set = set(known)
    registry = Path(raw_dir) / "territories.csv"
    for tid in territory_ids:
        if tid not in known_set:
            rejections.append(Rejection(tid, "registry", None, [f"unknown territory {tid!r}: not a row of {registry}"]))
    todo = [tid for tid in territory_ids if tid in known_set]
    done = len(territory_ids) - len(todo)
    items = [(str(raw_dir), t, str(paths[t]) if paths and t in paths else None) for t in todo]
    # in a run that shares its workers, each convention read is parsed meanwhile (a task per AHEAD_BATCH), for the
    # parse to take
    ahead: list[tuple[str, dict[str, Any]]] | None = [] if goes_parallel(len(items), workers) else None
    for tid, (record, rejection) in zip(todo, map_ordered(_read_one, items, workers), strict=True):
        if record is not None:
            records.append(record)
            if ahead is not None:
                ahead.append((tid, {c: record[c] for c in PARSE_INPUT}))
                if len(ahead) == AHEAD_BATCH:
                    ahead = [] if start_ahead(_parse_one, ahead) else None
        if rejection is not None:
            rejections.append(rejection)
        done += 1
        if progress:
            progress("read", done, len(territory_ids), tid)
    if ahead:
        start_ahead(_parse_one, ahead)
    rows = TABLES["raw.convention_documents"].frame(records)
    return StageResult({"raw.convention_documents": rows}, rows["territory_id"].to_list(), rejections)


def _parse_one(row: dict[str, Any]) -> tuple[dict[str, Any] | None, Rejection | None, dict[str, Any]]:
    """Parse one read convention (runs in a worker process on large runs): its record, or its rejection, and
    the intercommunalité it names (territory_name, siren), for the check against the registry (which then needs
    no parse of the record's JSON)."""
    words = tuple(OcrWord(*w) for w in json.loads(row["ocr_words"])) if row.get("ocr_words") else ()
    doc = Document(row["path"], row["format"], row["sha256"], row["text"].split("\f"), words)
    try:
        convention = parse_convention(doc)
    except ConventionError as exc:
        return None, Rejection(row["territory_id"], "parse", doc.path, [f"{exc.path}: {p}" for p in exc.problems]), {}
    data = convention.to_dict()
    return {"territory_id": row["territory_id"], "sha256": doc.sha256,
            "parsed": json.dumps(data, ensure_ascii=False),
            "warning_count": len(data["warnings"]), "parsed_at": _now()}, None, \
        {"territory_name": data.get("territory_name"), "siren": data.get("siren")}


def parse_documents(documents: pl.DataFrame, progress: Progress | None = None,
                    workers: int | None = None, registry: TerritoryIndex | None = None) -> StageResult:
    """Parse read conventions (rows of raw.convention_documents). With the registry, a convention naming
    another intercommunalité than its territory's is rejected."""
    records: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    total = documents.height
    columns = [c for c in PARSE_INPUT if c in documents.columns]
    rows = documents.select(columns).rows(named=True)
    parsed = map_ordered(_parse_one, rows, workers, key=lambda row: row["territory_id"])
    for i, (row, (record, rejection, named)) in enumerate(zip(rows, parsed, strict=True), start=1):
        if record is not None and registry is not None:
            rejection = _identity_rejection(registry, row["territory_id"], "parse", row["path"], named)
            record = None if rejection else record
        if record is not None:
            records.append(record)
        if rejection is not None:
            rejections.append(rejection)
        if progress:
            progress("parse", i, total, row["territory_id"])
    frame = TABLES["staging.convention_parses"].frame(records)
    return StageResult({"staging.convention_parses": frame}, frame["territory_id"].to_list(), rejections)


def _identity_rejection(registry: TerritoryIndex, territory_id: str, stage: str, path: str,
                        parsed: Mapping[str, Any]) -> Rejection | None:
    """A rejection when a parsed document (its territory_name, and siren if it gives one) names another
    intercommunalité than the registry's territory."""
    problem = registry.mismatch(territory_id, parsed.get("territory_name"), parsed.get("siren"))
    return Rejection(territory_id, stage, path, [f"{path}: territory_name: {problem}"]) if problem else None


@read_while_unchanged(REGISTRY_FILE)
def registry_index(raw_dir: str | Path) -> TerritoryIndex:
    """The registry's names, to match the documents' intercommunalités against."""
    return TerritoryIndex.of(read_registry(raw_dir))


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def normalise_conventions(parses: pl.DataFrame, documents: pl.DataFrame, raw_dir: str | Path) -> StageResult:
    """Rows of core.conventions, core.convention_commitments, core.convention_field_sources and
    core.convention_warnings from parsed conventions (staging.convention_parses joined to their documents)."""
    manifest = read_manifest(raw_dir)
    links = RawFolderLinks(raw_dir)
    paths = {r["territory_id"]: r["path"] for r in documents.iter_rows(named=True)}
    conventions, commitments, sources, warnings = [], [], [], []
    for row in parses.iter_rows(named=True):
        tid = row["territory_id"]
        p = json.loads(row["parsed"])
        rep = p["representative"] or {}
        path = paths.get(tid, "")
        conventions.append({
            "territory_id": tid, "territory_name": p["territory_name"],
            "representative_name": rep.get("name"), "representative_title": rep.get("title"),
            "state_representative": p["state_representative"], "chef_de_file": p["chef_de_file"],
            "labellisation_date": _date(p["labellisation_date"]),
            "roadmap_deadline_months": p["roadmap_deadline_months"], "roadmap_due_date": _date(p["roadmap_due_date"]),
            "duration_months": p["duration_months"], "end_date": _date(p["end_date"]),
            "signature_place": p["signature_place"], "signature_date": _date(p["signature_date"]),
            "warning_count": len(p["warnings"]), "source_path": path, "source_sha256": row["sha256"],
            "source_provenance": provenance_of(manifest, raw_dir, path, links),
        })
        commitment_sources = p["provenance"].get("commitments", [])
        for pos, c in enumerate(p["commitments"], start=1):
            src = commitment_sources[pos - 1] if pos - 1 < len(commitment_sources) else {}
            commitments.append({"territory_id": tid, "position": pos, "party": c["party"], "ref": c["ref"],
                                "text": c["text"], "page": src.get("page"), "paragraph": src.get("paragraph")})
        for name, src in p["provenance"].items():
            if isinstance(src, list):
                items = [(f"{name}[{n}]", s) for n, s in enumerate(src, start=1)]
            else:
                items = [(name, src)]
            for field_name, s in items:
                derived = s.get("derived_from")
                sources.append({
                    "territory_id": tid, "field": field_name, "page": s.get("page"),
                    "paragraph": s.get("paragraph"), "read_by": s.get("read_by"), "ocr_confidence": s.get("confidence"),
                    "start_offset": s.get("start"), "end_offset": s.get("end"), "excerpt": s.get("excerpt"),
                    "sentence": s.get("sentence") if not derived else "computed from " + " + ".join(derived),
                })
        for n, w in enumerate(p["warnings"], start=1):
            warnings.append({"territory_id": tid, "warning_no": n, **w})
    frames = {
        "core.conventions": TABLES["core.conventions"].frame(conventions),
        "core.convention_commitments": TABLES["core.convention_commitments"].frame(commitments),
        "core.convention_field_sources": TABLES["core.convention_field_sources"].frame(sources),
        "core.convention_warnings": TABLES["core.convention_warnings"].frame(warnings),
    }
    return StageResult(frames, parses["territory_id"].to_list())


# -- roadmaps -------------------------------------------------------------------------------------------

def roadmap_source(raw_dir: str | Path, territory_id: str, listed: ListedFolder | None = None,
                   links: RawFolderLinks | None = None) -> tuple[Path | None, str | None]:
    """(path, format) of a territory's roadmap: roadmaps/<id>.xlsx or its CSV exports; (None, None) if absent.
    listed, links: the folder's files and links, looked at once for many territories (else asked here).

    Raises MissingFile when both forms are present, OutsideRawFolder when a file leads out of the raw folder."""
    from qp_analytics.reading.roadmap import SHEETS

    folder = Path(raw_dir) / "roadmaps"

    def is_file(path: Path) -> bool:
        return listed.has(path) if listed is not None else path.is_file()

    workbook = folder / f"{territory_id}.xlsx"
    csvs = [folder / f"{territory_id}.{s}.csv" for s in SHEETS if is_file(folder / f"{territory_id}.{s}.csv")]
    has_workbook = is_file(workbook)
    if has_workbook and csvs:
        raise MissingFile(f"{workbook} and {csvs[0]}: a workbook and CSV exports for territory {territory_id!r}; "
                          "keep one of them")
    for path in [workbook] if has_workbook else csvs:
        problem = (links or RawFolderLinks(raw_dir)).outside(path)
        if problem:
            raise OutsideRawFolder(problem)
    if has_workbook:
        return workbook, "xlsx"
    if csvs:
        return csvs[0], "csv"
    return None, None


def roadmap_sha256(path: Path, fmt: str, territory_id: str) -> str:
    import hashlib

    from qp_analytics.reading.roadmap import SHEETS

    if fmt == "xlsx":
        return sha256_of(path)  # the digest the raw folder's fingerprints took, while the file is unchanged
    digest = hashlib.sha256()
    for sheet in SHEETS:
        part = path.parent / f"{territory_id}.{sheet}.csv"
        if part.is_file():
            digest.update(part.read_bytes())
    return digest.hexdigest()


# A roadmap's fiche as its worker saw it: the intercommunalité it names (territoire) and the fiche's row of that
# field, for the check against the registry (which then needs no parse of the record's JSON)
FicheName = tuple[str | None, int | None]


def _roadmap_one(item: tuple[str, str, str | None, tuple[str, str] | None]
                 ) -> tuple[dict[str, Any] | None, Rejection | None, FicheName]:
    """Read and check one territory's roadmap (runs in a worker process on large runs); (None, None, …): no file.
    The item: raw folder, territory, and the roadmap's sha256 and (path, format) if the caller has them already
    (roadmap_source: 0.15 ms a territory)."""
    from qp_analytics.reading.roadmap import RoadmapError, json_default, parse_roadmap_with_rows

    raw_dir, tid, sha256, source = item
    try:
        path, fmt = (Path(source[0]), source[1]) if source is not None else roadmap_source(raw_dir, tid)
    except MissingFile as exc:
        return None, Rejection(tid, "roadmap", None, [str(exc)]), (None, None)
    if path is None or fmt is None:
        return None, None, (None, None)
    try:
        data, rows = parse_roadmap_with_rows(path)
    except RoadmapError as exc:
        return None, Rejection(tid, "roadmap", str(path), [str(p) for p in exc.problems]), (None, None)
    return {"territory_id": tid, "path": str(path), "format": fmt, "sha256": sha256 or roadmap_sha256(path, fmt, tid),
            "parsed": json.dumps(data, ensure_ascii=False, default=json_default), "source_rows": json.dumps(rows),
            "parsed_at": _now()}, None, (data["fiche"]["territoire"], rows.get("fiche", {}).get("territoire"))


def _roadmap_identity(registry: TerritoryIndex, territory_id: str, record: dict[str, Any], fiche: FicheName
                      ) -> Rejection | None:
    """A rejection when a roadmap's fiche names (territoire) another intercommunalité than its territory's."""
    name, row = fiche
    problem = registry.mismatch(territory_id, name)
    if not problem:
        return None
    place = f"sheet 'fiche', row {row}, column 'valeur' (territoire)" if row else "sheet 'fiche' (territoire)"
    return Rejection(territory_id, "roadmap", record["path"], [f"{record['path']}: {place}: {problem}"])


def parse_roadmaps(raw_dir: str | Path, territory_ids: Sequence[str], progress: Progress | None = None,
                   workers: int | None = None, sha256s: Mapping[str, str] | None = None,
                   sources: Mapping[str, tuple[Path, str]] | None = None) -> tuple[StageResult, list[str]]:
    """Read and check each territory's roadmap. Returns the stage result and the territories without one.
    sha256s, sources: the roadmaps' sha256 (roadmap_sha256) and (path, format) (roadmap_source) the caller
    found already, by territory."""
    records: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    absent: list[str] = []
    registry = registry_index(raw_dir)
    found = {tid: (str(path), fmt) for tid, (path, fmt) in (sources or {}).items()}
    items = [(str(raw_dir), tid, (sha256s or {}).get(tid), found.get(tid)) for tid in territory_ids]
    for i, (tid, (record, rejection, fiche)) in enumerate(zip(territory_ids, map_ordered(_roadmap_one, items, workers),
                                                              strict=True), start=1):
        if record is not None:
            rejection = _roadmap_identity(registry, tid, record, fiche)
            record = None if rejection else record
        if record is not None:
            records.append(record)
        elif rejection is not None:
            rejections.append(rejection)
        else:
            absent.append(tid)
        if progress:
            progress("roadmap", i, len(territory_ids), tid)
    rows_df = TABLES["staging.roadmap_parses"].frame(records)
    return StageResult({"staging.roadmap_parses": rows_df}, rows_df["territory_id"].to_list(), rejections), absent


ROADMAP_TABLES = ("core.roadmaps", "core.actions", "core.action_qpv", "core.action_partners",
                  "core.funding_requests", "core.milestones", "core.governance_meetings",
                  "core.meeting_participants", "core.good_practices", "core.practice_reuse")


def provenance_of(manifest: dict, raw_dir: str | Path, path: str, links: RawFolderLinks | None = None) -> str | None:
    """The data manifest's provenance of a raw file (None when the manifest does not list it). links: the raw
    folder's, for a loop over many files (its directories resolved once; 1,400 territories resolved two whole
    paths each, 0.3 s)."""
    links = links or RawFolderLinks(raw_dir)
    try:
        relative = links.real(Path(path)).relative_to(links.root).as_posix()
    except ValueError:
        return None
    entry = manifest.get(relative)
    return entry.provenance if entry else None


def _roadmap_json_types() -> tuple[pl.Struct, pl.Struct]:
    """The polars types of a roadmap's parse (staging.roadmap_parses.parsed: the fiche's fields, each sheet's rows)
    and of its rows' places (source_rows), as the reader writes them: codes and texts as strings, dates as ISO
    strings, amounts as the JSON numbers' own text (read as decimals from it: exact to the cent, never through a
    binary float), lists of codes as lists."""
    from qp_analytics.reading.roadmap import FICHE_FIELDS, LIST_KINDS, SHEETS

    def kind_type(kind: str) -> pl.DataType:
        return pl.List(pl.String) if kind in LIST_KINDS else pl.Int64 if kind == "int" else pl.String

    sheets = {sheet: columns for sheet, columns in SHEETS.items() if sheet != "fiche"}
    parsed = pl.Struct({"fiche": pl.Struct({field: kind_type(kind) for field, kind in FICHE_FIELDS.items()}),
                        **{sheet: pl.List(pl.Struct({c: kind_type(k) for c, k in columns.items()}))
                           for sheet, columns in sheets.items()}})
    return parsed, pl.Struct({sheet: pl.List(pl.Int32) for sheet in sheets})


def _typed(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """A frame's columns as the table's, in its order: dates from their ISO text (empty: unknown), amounts from
    their text, to the cent."""
    schema = TABLES[table].polars_schema()
    columns = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if dtype == pl.Date and frame.schema[name] == pl.String:
            column = pl.when(column.str.len_bytes() > 0).then(column).str.to_date("%Y-%m-%d")
        columns.append(column.cast(dtype).alias(name))
    return frame.select(columns)


def normalise_roadmaps(parses: pl.DataFrame, raw_dir: str | Path) -> StageResult:
    """Rows of the core roadmap tables from staging.roadmap_parses: the parses decoded and their rows unnested
    column by column (polars), not row by row in Python (1,400 roadmaps: 0.66 s that way)."""
    manifest = read_manifest(raw_dir)
    links = RawFolderLinks(raw_dir)
    parsed_type, rows_type = _roadmap_json_types()
    decoded = parses.select("territory_id", "path", "sha256", pl.col("parsed").str.json_decode(parsed_type),
                            pl.col("source_rows").str.json_decode(rows_type))
    frames = {"core.roadmaps": decoded.select(
        "territory_id", pl.col("parsed").struct.field("fiche"),
        source_path=pl.col("path"), source_sha256=pl.col("sha256"),
        source_provenance=pl.Series([provenance_of(manifest, raw_dir, path, links) for path in parses["path"]],
                                    dtype=pl.String)).unnest("fiche")}

    def sheet(name: str) -> pl.DataFrame:  # a sheet's rows, each with its territory and its row in the sheet
        return (decoded.select("territory_id", rows=pl.col("parsed").struct.field(name),
                               source_row=pl.col("source_rows").struct.field(name))
                .filter(pl.col("rows").list.len() > 0).explode("rows", "source_row").unnest("rows"))

    def listed(rows: pl.DataFrame, keys: list[str], items: str, name: str) -> pl.DataFrame:  # one row per item, once
        return (rows.select(*keys, pl.col(items).list.unique(maintain_order=True).alias(name))
                .filter(pl.col(name).list.len() > 0).explode(name))

    actions, meetings, practices = sheet("actions"), sheet("gouvernance"), sheet("bonnes_pratiques")
    frames.update({
        "core.actions": actions,
        "core.action_qpv": listed(actions, ["territory_id", "action_id"], "qpv", "qpv_code"),
        "core.action_partners": sheet("partenaires"),
        "core.funding_requests": sheet("financements"),
        "core.milestones": sheet("jalons"),
        "core.governance_meetings": meetings,
        "core.meeting_participants": listed(meetings, ["territory_id", "source_row"], "participants", "participant"),
        "core.good_practices": practices,
        "core.practice_reuse": listed(practices, ["territory_id", "pratique_id"], "reutilisee_par", "reused_by"),
    })
    return StageResult({name: _typed(frame, name) for name, frame in frames.items()}, parses["territory_id"].to_list())


# -- avenants -------------------------------------------------------------------------------------------

_AVENANT_NAME = re.compile(r"^(?P<territory>.+)_avenant_(?P<number>\d+)\.(?:txt|pdf|docx)$")


def avenant_index(raw_dir: str | Path) -> dict[str, list[tuple[int, Path]]]:
    """{territory_id: [(number from the file name, path), by number]} of avenants/<territory_id>_avenant_<n>.txt|pdf,
    from one listing of the folder."""
    folder = Path(raw_dir) / "avenants"
    found: dict[str, list[tuple[int, Path]]] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            m = _AVENANT_NAME.match(path.name)
            if m:
                found.setdefault(m["territory"], []).append((int(m["number"]), path))
    return {territory: sorted(files) for territory, files in found.items()}


def avenant_files(raw_dir: str | Path, territory_id: str) -> list[tuple[int, Path]]:
    """(number from the file name, path) of one territory's avenants, by number."""
    return avenant_index(raw_dir).get(territory_id, [])


def _avenant_one(path: str) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    """Read and parse one avenant file (runs in a worker process on large runs): (what it says, the SHA-256 of
    its bytes, problems)."""
    from qp_analytics.reading.avenant import parse_avenant

    try:
        doc = read_document(Path(path))
        avenant = parse_avenant(doc)
    except DocumentError as exc:
        return None, None, [str(exc)]
    except ConventionError as exc:
        return None, None, [f"{exc.path}: {p}" for p in exc.problems]
    said = {"number": avenant.number, "territory_name": avenant.territory_name,
            "siren": getattr(avenant, "siren", None), "extension_months": avenant.extension_months,
            "new_end_date": avenant.new_end_date, "signature_place": avenant.signature_place,
            "signature_date": avenant.signature_date}
    return said, doc.sha256, []


def read_avenants(raw_dir: str | Path, territory_ids: Sequence[str], progress: Progress | None = None,
                  workers: int | None = None) -> StageResult:
    """Read each territory's avenants (the files in worker processes on large runs); a territory with one bad
    avenant keeps its last good set."""
    manifest = read_manifest(raw_dir)
    index = avenant_index(raw_dir)
    registry = registry_index(raw_dir)
    links = RawFolderLinks(raw_dir)
    # each file in order: the problem that keeps it from being read (two files for one number, a link out of the
    # raw folder), else None, and it is read
    slots: list[tuple[str, int, Path, str | None]] = []
    for tid in territory_ids:
        files = index.get(tid, [])
        numbers = [n for n, _ in files]
        for n, path in files:
            if numbers.count(n) > 1:
                slots.append((tid, n, path, f"{path}: avenant n° {n} exists in two files (.pdf, .docx or .txt); "
                                            "keep one"))
            else:
                slots.append((tid, n, path, links.outside(path) or None))
    read = iter(map_ordered(_avenant_one, [str(path) for _, _, path, problem in slots if problem is None], workers))
    by_territory: dict[str, list[tuple[str, int, Path, str | None]]] = {}
    for slot in slots:
        by_territory.setdefault(slot[0], []).append(slot)
    records: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    accepted: list[str] = []
    for i, tid in enumerate(territory_ids, start=1):
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        for _, n, path, problem in by_territory.get(tid, []):  # the files are read as they come, in order
            if problem is not None:
                problems.append(problem)
                continue
            said, sha256, unread = next(read)
            if said is None:
                problems.extend(unread)
                continue
            if said["number"] != n:
                problems.append(f"{path}: the file is named for avenant n° {n} but the document is n° "
                                f"{said['number']}")
                continue
            other = registry.mismatch(tid, said["territory_name"], said["siren"])
            if other:
                problems.append(f"{path}: territory_name: {other}")
                continue
            rows.append({"territory_id": tid, "number": n, "territory_name": said["territory_name"],
                         "extension_months": said["extension_months"], "new_end_date": said["new_end_date"],
                         "signature_place": said["signature_place"], "signature_date": said["signature_date"],
                         "source_path": str(path), "source_sha256": sha256,
                         "source_provenance": provenance_of(manifest, raw_dir, str(path), links)})
        if problems:
            rejections.append(Rejection(tid, "avenant", None, problems))
        else:
            accepted.append(tid)
            records.extend(rows)
        if progress:
            progress("avenant", i, len(territory_ids), tid)
    return StageResult({"core.avenants": TABLES["core.avenants"].frame(records)}, accepted, rejections)


# -- files that belong to no territory ----------------------------------------------------------------------

def unknown_files(raw_dir: str | Path, known: Sequence[str]) -> list[str]:
    """Problems for raw files whose name is not a known territory's file (a typo, an unknown territory), and
    for anything at the top of the raw folder that is not part of it (notes.docx)."""
    from qp_analytics.reading.roadmap import SHEETS

    known_set = set(known)
    patterns = {
        "conventions": (re.compile(r"^(?P<id>[^.]+)\.(?:pdf|docx|txt)$"), "<territory_id>.pdf|.docx|.txt"),
        "roadmaps": (re.compile(r"^(?P<id>[^.]+)\.(?:xlsx|(?:" + "|".join(SHEETS) + r")\.csv)$"),
                     "<territory_id>.xlsx or <territory_id>.<sheet>.csv"),
        "avenants": (re.compile(r"^(?P<id>[^.]+)_avenant_\d+\.(?:pdf|docx|txt)$"),
                     "<territory_id>_avenant_<n>.pdf|.docx|.txt"),
    }
    problems = []
    layout = {"territories.csv", "manifest.csv", *patterns}
    for file in sorted(Path(raw_dir).iterdir()) if Path(raw_dir).is_dir() else []:
        if not file.name.startswith(".") and file.name not in layout:
            problems.append(f"{file}: not part of a raw folder, not read; expected only territories.csv, "
                            "manifest.csv and the folders conventions/, roadmaps/ and avenants/")
    for folder, (pattern, expected) in patterns.items():
        path = Path(raw_dir) / folder
        if not path.is_dir():
            continue
        for file in sorted(path.iterdir()):
            if file.name.startswith("."):
                continue
            m = pattern.match(file.name)
            if not m:
                problems.append(f"{file}: not a {folder[:-1]} file name; expected {expected}")
            elif m.group("id") not in known_set:
                problems.append(f"{file}: unknown territory {m.group('id')!r} (not a row of territories.csv)")
    return problems
