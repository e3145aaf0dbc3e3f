"""The territory registry (`territories.csv`) and where each territory's raw files live.

Territory ids become partition keys, file names and SQL values: they are checked against a strict
slug pattern before any of that happens.
"""

import contextlib
import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from qp_analytics.files import read_while_unchanged

REGISTRY_FILE = "territories.csv"
REGISTRY_COLUMNS = ("territory_id", "name", "siren", "departement_code", "departement")
TERRITORY_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CONVENTION_SUFFIXES = (".pdf", ".docx", ".txt")


class RegistryError(Exception):
    """territories.csv is missing or malformed; one message per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Territory:
    territory_id: str
    name: str
    siren: str
    departement_code: str
    departement: str


def is_territory_id(value: str) -> bool:
    return bool(TERRITORY_ID.match(value)) and len(value) <= 80


@read_while_unchanged(REGISTRY_FILE)
def read_registry(raw_dir: str | Path) -> list[Territory]:
    """Read and validate `<raw_dir>/territories.csv` (row numbers as a spreadsheet shows them)."""
    path = Path(raw_dir) / REGISTRY_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RegistryError([f"{path}: file not found (the territory registry is expected here)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError([f"{path}: cannot be read as UTF-8 text ({exc})"]) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise RegistryError([f"{path}: empty file; expected a header {','.join(REGISTRY_COLUMNS)}"])
    header = [h.strip() for h in rows[0]]
    missing = [c for c in REGISTRY_COLUMNS if c not in header]
    if missing:
        raise RegistryError([f"{path}: row 1: missing column(s) {', '.join(missing)}; "
                             f"expected {','.join(REGISTRY_COLUMNS)}"])
    problems: list[str] = []
    territories: list[Territory] = []
    seen: dict[str, int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"{path}: row {line_no}: {len(row)} cells, expected {len(header)}")
            continue
        values = {h: cell.strip() for h, cell in zip(header, row, strict=True)}
        tid = values["territory_id"]
        if not is_territory_id(tid):
            problems.append(f"{path}: row {line_no}, column territory_id: {tid!r} is not a territory id "
                            "(lower-case letters, digits and single hyphens, e.g. 'grand-nancy')")
            continue
        if tid in seen:
            problems.append(f"{path}: row {line_no}, column territory_id: {tid!r} already on row {seen[tid]}")
            continue
        if not values["name"]:
            problems.append(f"{path}: row {line_no}, column name: empty; the intercommunalité's name is expected")
        if values["siren"] and not re.fullmatch(r"\d{9}", values["siren"]):
            problems.append(f"{path}: row {line_no}, column siren: {values['siren']!r} is not 9 digits")
        seen[tid] = line_no
        territories.append(Territory(**{c: values[c] for c in REGISTRY_COLUMNS}))
    if problems:
        raise RegistryError(problems)
    return territories


def write_registry(raw_dir: str | Path, territories: list[Territory]) -> Path:
    path = Path(raw_dir) / REGISTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(REGISTRY_COLUMNS)
        for t in territories:
            writer.writerow([getattr(t, c) for c in REGISTRY_COLUMNS])
    return path


class MissingFile(Exception):
    """A territory's file is absent or ambiguous."""


class OutsideRawFolder(MissingFile):
    """A file whose real path (links followed) leaves the raw folder: it is never read, not even hashed."""


class RawFolderLinks:
    """Which files lead out of a raw folder (links), for a loop over many of its files: the folder and each
    directory are resolved once, a file only when it is a link itself (the real path of a file that is not a
    link is its directory's real path and its name)."""

    def __init__(self, raw_dir: str | Path) -> None:
        self.root = Path(raw_dir).resolve()
        self._dirs: dict[Path, Path] = {}

    def real(self, path: Path) -> Path:
        """`path` resolved (Path.resolve), its directory resolved once for all the files in it."""
        if path.is_symlink() or path.name in ("", ".", ".."):
            return path.resolve()
        return self._real_folder(path.parent) / path.name

    def _real_folder(self, folder: Path) -> Path:
        real = self._dirs.get(folder)
        if real is None:
            real = self._dirs[folder] = folder.resolve()
        return real

    def folder_inside(self, folder: Path) -> bool:
        """Whether a folder's real path is inside the raw folder's (then so is every file in it that is not a
        link)."""
        return self._real_folder(folder).is_relative_to(self.root)

    def outside(self, path: Path) -> str | None:
        """None when `path`'s real path is inside the raw folder's; otherwise the problem, naming both."""
        real = self.real(path)
        if real.is_relative_to(self.root):
            return None
        return (f"{path}: leads to {real}, outside the raw folder {self.root} (a link): not read; put the file "
                "itself in the raw folder")


def outside_raw_folder(raw_dir: str | Path, path: Path) -> str | None:
    """None when `path`'s real path is inside the raw folder's; otherwise the problem, naming both."""
    return RawFolderLinks(raw_dir).outside(path)


class ListedFolder:
    """A folder of the raw folder looked at once, for a loop over every territory: the names of its files (as
    Path.is_file sees them: links followed). 1,400 territories asked the file system for each name they may
    have (three conventions, eleven roadmap files)."""

    def __init__(self, folder: str | Path) -> None:
        self.files: set[str] = set()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            self.files = {e.name for e in entries if e.is_file()}

    def has(self, path: Path) -> bool:
        return path.name in self.files


def convention_path(raw_dir: str | Path, territory_id: str, listed: ListedFolder | None = None,
                    links: RawFolderLinks | None = None) -> Path:
    """The one convention file of a territory: conventions/<id>.pdf or .txt. listed, links: the conventions
    folder's files and the raw folder's links, looked at once for many territories (else asked here)."""
    if not is_territory_id(territory_id):
        raise MissingFile(f"{territory_id!r} is not a territory id")
    folder = Path(raw_dir) / "conventions"
    is_file = listed.has if listed is not None else Path.is_file
    found = [folder / f"{territory_id}{s}" for s in CONVENTION_SUFFIXES if is_file(folder / f"{territory_id}{s}")]
    if not found:
        raise MissingFile(f"{folder}/{territory_id}.pdf|.docx|.txt: no convention file for territory {territory_id!r}")
    if len(found) > 1:
        raise MissingFile(f"{', '.join(str(p) for p in found)}: two convention files for territory "
                          f"{territory_id!r}; keep exactly one")
    problem = (links or RawFolderLinks(raw_dir)).outside(found[0])
    if problem:
        raise OutsideRawFolder(problem)
    return found[0]
