"""Write a complete raw folder of illustrative data: registry, conventions, roadmaps, avenants, manifest.

Files the folder's manifest lists as real are never overwritten; what the generator meant to write is
returned, so that tests can read every file back and compare.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qp_analytics.french import add_months
from qp_analytics.generators.conventions import (
    ConventionSpec,
    plan_convention,
    plan_layout,
    programme_chefs,
    render_document,
    render_docx,
    render_pdf,
    render_text,
)
from qp_analytics.generators.roadmaps import (
    AvenantSpec,
    RoadmapSpec,
    plan_avenant,
    plan_roadmap,
    render_avenant_docx,
    render_avenant_pdf,
    render_avenant_text,
    story_profiles,
    write_csv_exports,
    write_workbook,
)
from qp_analytics.reading.convention import parse_convention
from qp_analytics.reading.documents import read_document
from qp_analytics.reading.manifest import ManifestEntry, read_manifest, sha256_of, write_manifest
from qp_analytics.reading.territories import Territory, is_territory_id, write_registry

ILLUSTRATIVE = "generated from the national template (seed {seed}); not a real document"


@dataclass
class GenerationResult:
    out_dir: Path
    specs: list[ConventionSpec]  # the illustrative conventions written
    kept_real: list[str]
    manifest: Path
    roadmaps: list[RoadmapSpec] = field(default_factory=list)
    roadmap_formats: dict[str, str] = field(default_factory=dict)  # territory -> xlsx | csv
    avenants: list[AvenantSpec] = field(default_factory=list)


def _avenant_plan(ids: list[str], rng: random.Random) -> dict[str, int]:
    """How many avenants each territory gets: two or three documents for a small programme, about one
    territory in seven beyond."""
    if not ids:
        return {}
    chosen = rng.sample(ids, max(1, min(len(ids), round(len(ids) / 7))))
    plan = dict.fromkeys(chosen, 1)
    plan[chosen[0]] = 2
    return plan


def _write_document(path: Path, as_pdf: Callable[[Any], bytes], as_text: Callable[[Any], str],
                    as_docx: Callable[[Any], bytes], spec: Any) -> Path:
    path.write_bytes(render_document(spec, as_pdf, as_text, as_docx))
    return path


def _special_formats(names: list[str], rng: random.Random, word: int, scans: int) -> dict[str, str]:
    """Which documents are written as a Word file or as a scan: a few, drawn from their own random source so
    that the rest of every plan is unchanged."""
    chosen = rng.sample(names, min(len(names), word + scans))
    return {name: ("docx" if i < word else "scan") for i, name in enumerate(chosen)}


def write_raw_folder(out_dir: str | Path, territories: list[Territory], seed: int = 2021,
                     progress: Callable[[int, int, str], None] | None = None,
                     csv_every: int = 0, word: int = 1, scans: int = 1) -> GenerationResult:
    """Write territories.csv, one convention and one roadmap per territory, a few avenants, and the manifest.

    `csv_every`: when > 0, every n-th territory's roadmap is written as CSV exports instead of a workbook.
    `word`, `scans`: how many conventions, and how many avenants, are written as a Word file and as a scan
    (an image-only PDF, which the pipeline reads by OCR)."""
    out = Path(out_dir)
    for sub in ("conventions", "roadmaps", "avenants"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    previous = read_manifest(out)
    real = {e.path: e for e in previous.values() if e.provenance == "real"}
    real_conventions = {e.territory_id for e in real.values() if e.kind == "convention"}
    rng = random.Random(seed)
    chefs = programme_chefs(territories, rng)
    ids = [t.territory_id for t in territories]
    profiles = story_profiles(ids, random.Random(f"{seed}:profiles"))
    avenant_counts = _avenant_plan(ids, random.Random(f"{seed}:avenants"))
    generated_ids = [t for t in ids if t not in real_conventions]
    convention_formats = _special_formats(generated_ids, random.Random(f"{seed}:formats"), word, scans)
    avenant_names = [f"{t}:{n}" for t in ids for n in range(1, avenant_counts.get(t, 0) + 1)]
    avenant_formats = _special_formats(avenant_names, random.Random(f"{seed}:avenant-formats"), word, scans)
    note = ILLUSTRATIVE.format(seed=seed)
    result = GenerationResult(out, [], [], out / "manifest.csv")
    entries: list[ManifestEntry] = list(real.values())

    def add(path: Path, territory_id: str, kind: str) -> None:
        entries.append(ManifestEntry(path.relative_to(out).as_posix(), territory_id, kind, "illustrative",
                                     sha256_of(path), note))

    for i, (territory, chef) in enumerate(zip(territories, chefs, strict=True)):
        tid = territory.territory_id
        if not is_territory_id(tid):
            raise ValueError(f"{tid!r} is not a territory id")
        if tid in real_conventions:
            # Plan the rest from what the real document says, never from assumptions.
            real_path = next(out / e.path for e in real.values() if e.territory_id == tid and e.kind == "convention")
            convention = parse_convention(read_document(real_path))
            labellisation, deadline = convention.labellisation_date, convention.roadmap_deadline_months
            duration = convention.duration_months
            result.kept_real.append(tid)
        else:
            spec = plan_convention(territory, random.Random(f"{seed}:{tid}"), chef)
            spec.layout = plan_layout(random.Random(f"{seed}:{tid}:layout"))
            spec.fmt = convention_formats.get(tid, spec.fmt)
            for stale in (out / "conventions").glob(f"{tid}.*"):
                stale.unlink()
            path = _write_document(out / "conventions" / f"{tid}.{spec.suffix}", render_pdf, render_text,
                                   render_docx, spec)
            add(path, tid, "convention")
            result.specs.append(spec)
            labellisation, deadline, duration = spec.labellisation_date, spec.deadline_months, spec.duration_months

        roadmap = plan_roadmap(territory, labellisation, add_months(labellisation, deadline), ids,
                               random.Random(f"{seed}:{tid}:roadmap"), profiles[tid])
        for stale in (out / "roadmaps").glob(f"{tid}.*"):
            stale.unlink()
        writer_rng = random.Random(f"{seed}:{tid}:roadmap-cells")
        if csv_every and (i + 1) % csv_every == 0:
            for path in write_csv_exports(roadmap, out / "roadmaps", writer_rng):
                add(path, tid, "roadmap")
            result.roadmap_formats[tid] = "csv"
        else:
            path = out / "roadmaps" / f"{tid}.xlsx"
            write_workbook(roadmap, path, writer_rng)
            add(path, tid, "roadmap")
            result.roadmap_formats[tid] = "xlsx"
        result.roadmaps.append(roadmap)

        for stale in (out / "avenants").glob(f"{tid}_avenant_*"):
            if stale.relative_to(out).as_posix() not in real:
                stale.unlink()
        end = add_months(labellisation, duration)
        for number in range(1, avenant_counts.get(tid, 0) + 1):
            avenant = plan_avenant(territory, number, end, random.Random(f"{seed}:{tid}:avenant:{number}"))
            avenant.fmt = avenant_formats.get(f"{tid}:{number}", avenant.fmt)
            path = _write_document(out / "avenants" / f"{tid}_avenant_{number}.{avenant.suffix}",
                                   render_avenant_pdf, render_avenant_text, render_avenant_docx, avenant)
            add(path, tid, "avenant")
            result.avenants.append(avenant)
            end = avenant.new_end_date or add_months(end, avenant.extension_months or 0)
        if progress:
            progress(i + 1, len(territories), tid)

    registry = write_registry(out, territories)
    registry_entry = previous.get("territories.csv")
    entries.append(ManifestEntry(
        "territories.csv", "", "registry", registry_entry.provenance if registry_entry else "illustrative",
        sha256_of(registry), registry_entry.note if registry_entry else f"fictitious territories (seed {seed})"))
    write_manifest(out, entries)
    return result
