"""The data manifest of a raw folder: for each file, whether it is real or illustrative, and its sha256."""

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from qp_analytics.files import file_sha256, read_while_unchanged

MANIFEST_FILE = "manifest.csv"
PROVENANCES = ("real", "reference", "illustrative")


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative to the raw folder, with '/'
    territory_id: str  # empty for folder-wide files
    kind: str  # registry, convention, ...
    provenance: str  # real | reference | illustrative
    sha256: str
    note: str


def sha256_of(path: Path) -> str:
    return file_sha256(path)


@read_while_unchanged(MANIFEST_FILE)
def read_manifest(raw_dir: str | Path) -> dict[str, ManifestEntry]:
    path = Path(raw_dir) / MANIFEST_FILE
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["path"]: ManifestEntry(**row) for row in csv.DictReader(fh)}


def write_manifest(raw_dir: str | Path, entries: list[ManifestEntry]) -> Path:
    path = Path(raw_dir) / MANIFEST_FILE
    fields = list(ManifestEntry.__dataclass_fields__)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for e in sorted(entries, key=lambda e: (e.kind != "registry", e.path)):
            writer.writerow(asdict(e))
    return path
