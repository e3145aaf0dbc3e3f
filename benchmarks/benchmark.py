"""Scale benchmark: what a full materialisation costs per territory, against the cost of merely reading the files.

For each size (default 14, 140 and 1,400 territories) it generates a raw folder with `qp-analytics generate`
(kept in the work folder and reused while it exists), then measures, each command in its own process:

- the reading floor: the same files read and nothing else, with the fastest well-kept readers (PDF text with
  pypdfium2, every workbook sheet with python-calamine, the text of a Word file straight from its XML, text and
  CSV files as text), in one process on one core, imports excluded. OCR is outside it: the raw folders are
  generated without scans;
- a full run: `qp-analytics materialize` into a new warehouse and marts folder (wall time, time inside the
  run, peak memory of the whole process tree);
- a rerun with nothing changed;
- the refresh of one territory (`--territory ID`) after a change to its convention's bytes that leaves its
  content as it was (one newline appended: the file's sha256 changes, the figures do not);
- the refresh of one territory after a change to its content (the roadmap deadline of its convention, six
  months made seven: its timeliness figures change, so the marts, their release and the report do);
- the floors of a refresh, each in fresh processes, best of three: starting Python and importing what
  `materialize` imports (start-up); that and one in-process Dagster run of one asset that does nothing, recorded
  on a stored instance as `materialize` records its runs (every refresh is such a run, so none is shorter);
  importing Great
  Expectations (a refresh whose rows changed validates them with it, and its validator cannot answer before
  GX is imported). A refresh share above the target that its floor alone explains is not a fixable cost.

Results go to a JSON file and a short table. Not a test: timings depend on the machine.

    python benchmarks/benchmark.py                      # 14, 140, 1400
    python benchmarks/benchmark.py --sizes 14 140 --label before --out benchmarks/results/before.json
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2023-06-30"
TARGETS = {
    # marginal cost per territory at most 3x the reading floor (the fastest readers': see read_floor)
    "ratio_to_floor_max": 3.0,
    "refresh_share_max": 0.05,  # one-territory refresh at most 5 % of a full run
    "peak_memory_max_mib": 1024,  # peak memory under 1 GiB
    "per_territory_growth_max": 1.2,  # cost per territory at the largest size within 1.2x of the previous size
}


def qp_command() -> list[str]:
    """`qp-analytics` of the interpreter running this script (the project's virtualenv)."""
    script = Path(sys.executable).with_name("qp-analytics")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from pipelines.cli.main import main; main()"]


def measure(cmd: list[str], log: Path) -> dict:
    """Run a command; wall seconds, exit status and the peak of the summed RSS of its process tree."""
    peak = 0
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        root = psutil.Process(proc.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    return
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                peak = max(peak, total)
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    inside = re.search(r"territories in ([0-9.]+) s", text)
    return {"wall_s": round(wall, 3), "in_run_s": float(inside.group(1)) if inside else None,
            "exit_code": code, "peak_memory_mib": round(peak / 2**20, 1), "log": str(log)}


FLOOR_READER = """\
import pathlib, re, sys, time, zipfile
import pypdfium2, python_calamine

def pdf(p):
    document = pypdfium2.PdfDocument(p)
    try:
        return sum(len(page.get_textpage().get_text_range()) for page in document)
    finally:
        document.close()

def docx(p):
    with zipfile.ZipFile(p) as z:
        return sum(len(t) for t in re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", z.read("word/document.xml").decode()))

def xlsx(p):
    wb = python_calamine.CalamineWorkbook.from_path(str(p))
    return sum(len(wb.get_sheet_by_name(s).to_python()) for s in wb.sheet_names)

def text(p):
    return len(p.read_text(encoding="utf-8"))

READERS = {".pdf": pdf, ".docx": docx, ".xlsx": xlsx, ".txt": text, ".csv": text}
raw = pathlib.Path(sys.argv[1]); t0 = time.perf_counter(); n = 0
for folder in ("conventions", "avenants", "roadmaps"):
    for p in sorted((raw / folder).iterdir()):
        if p.suffix in READERS:
            n += READERS[p.suffix](p)
print(time.perf_counter() - t0, n)
"""


def read_floor(raw: Path) -> dict:
    """Read every convention, roadmap and avenant of a raw folder, and nothing else (one process, imports done
    before the clock starts)."""
    out = subprocess.run([sys.executable, "-c", FLOOR_READER, str(raw)], check=True, capture_output=True, text=True)
    seconds, _ = out.stdout.split()
    return {"floor_s": round(float(seconds), 3)}


_IMPORTS = "import pipelines.run, pipelines.definitions, pipelines.cli.main\n"
FLOORS = {
    # Python and the pipeline's imports (Dagster, polars, DuckDB...)
    "startup_s": _IMPORTS,
    # that and one in-process run of one asset that does nothing, recorded on DAGSTER_HOME's instance (the
    # benchmark's own), as `materialize` records its runs
    "dagster_run_s": (_IMPORTS + "from dagster import DagsterInstance, asset, materialize\n"
                      "@asset\ndef nothing() -> None:\n    return None\n"
                      "with DagsterInstance.get() as instance:\n"
                      "    assert materialize([nothing], instance=instance).success\n"),
    # Great Expectations' import alone
    "gx_import_s": "import great_expectations",
}


def floors() -> dict:
    """Seconds of each FLOORS program in a fresh Python, best of three."""
    best: dict[str, float] = {}
    for name, code in FLOORS.items():
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
            took = time.perf_counter() - started
            best[name] = min(best.get(name, took), took)
    return {name: round(seconds, 3) for name, seconds in best.items()}


def generate(raw: Path, size: int, logs: Path) -> float | None:
    marker = raw / ".benchmark-size"
    if marker.is_file() and marker.read_text() == str(size):
        return None
    shutil.rmtree(raw, ignore_errors=True)
    started = time.perf_counter()
    # No scan: OCR is outside the reading floor this benchmark compares with (see docs/scale.md).
    result = measure([*qp_command(), "generate", "--territories", str(size), "--out", str(raw), "--scans", "0"],
                     logs / f"generate-{size}.log")
    if result["exit_code"] != 0:
        sys.exit(f"generate failed for {size} territories: see {result['log']}")
    marker.write_text(str(size))
    return round(time.perf_counter() - started, 1)


DEADLINE_BEFORE, DEADLINE_AFTER = "délai de six (6) mois", "délai de sept (7) mois"


def refresh_target(raw: Path) -> Path:
    """A territory whose convention is a text file stating a six-month roadmap deadline."""
    for line in (raw / "territories.csv").read_text(encoding="utf-8").splitlines()[1:]:
        tid = line.split(",")[0]
        path = raw / "conventions" / f"{tid}.txt"
        if path.is_file() and DEADLINE_BEFORE in path.read_text(encoding="utf-8"):
            return path
    sys.exit(f"{raw}: no territory with a text convention stating {DEADLINE_BEFORE!r} to refresh")


def refresh(base: list[str], target: Path, changed: bytes, log: Path) -> dict:
    """Run `--territory` on the target's territory with its convention changed, then put the file back."""
    original = target.read_bytes()
    try:
        target.write_bytes(changed)
        result = measure([*base, "--territory", target.stem], log)
    finally:
        target.write_bytes(original)
    if result["exit_code"] != 0:
        sys.exit(f"the refresh of {target.stem} failed: see {result['log']}")
    published = "Published marts:" in Path(result["log"]).read_text(errors="replace")  # else "Marts unchanged"
    return {**result, "territory": target.stem, "new_release": published}


def bench_size(size: int, work: Path, logs: Path, echo) -> dict:
    raw = work / f"raw-{size}"
    generated = generate(raw, size, logs)
    how = f"generated in {generated:.1f} s" if generated else "reused"
    echo(f"[{size}] raw folder {how}: {raw}")
    row: dict = {"territories": size, "generate_s": generated, **read_floor(raw)}
    echo(f"[{size}] reading floor {row['floor_s']:.2f} s")
    run_dir = work / f"run-{size}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    base = [*qp_command(), "materialize", "--raw-dir", str(raw), "--warehouse", str(run_dir / "warehouse.duckdb"),
            "--marts-dir", str(run_dir / "marts"), "--as-of", AS_OF]
    row["full"] = measure(base, logs / f"full-{size}.log")
    echo(f"[{size}] full run {row['full']['wall_s']:.1f} s (exit {row['full']['exit_code']}, "
         f"peak {row['full']['peak_memory_mib']:.0f} MiB)")
    row["rerun_unchanged"] = measure(base, logs / f"rerun-{size}.log")
    echo(f"[{size}] rerun, nothing changed {row['rerun_unchanged']['wall_s']:.1f} s")
    target = refresh_target(raw)
    original = target.read_bytes()
    row["refresh_one"] = refresh(base, target, original + b"\n", logs / f"refresh-{size}.log")
    echo(f"[{size}] refresh of {target.stem}, bytes changed, content not: {row['refresh_one']['wall_s']:.1f} s")
    edited = original.decode("utf-8").replace(DEADLINE_BEFORE, DEADLINE_AFTER, 1).encode("utf-8")
    row["refresh_changed"] = refresh(base, target, edited, logs / f"refresh-changed-{size}.log")
    echo(f"[{size}] refresh of {target.stem}, content changed: {row['refresh_changed']['wall_s']:.1f} s")
    full = row["full"]["wall_s"]
    row["per_territory_s"] = round(full / size, 4)
    row["floor_per_territory_s"] = round(row["floor_s"] / size, 4)
    row["ratio_to_floor"] = round(full / row["floor_s"], 2) if row["floor_s"] else None
    row["refresh_share"] = round(row["refresh_one"]["wall_s"] / full, 3)
    row["refresh_changed_share"] = round(row["refresh_changed"]["wall_s"] / full, 3)
    return row


def floor_shares(rows: list[dict], floor: dict) -> None:
    """The least share of a full run each refresh could take: a Dagster run that does nothing when only the
    bytes changed; when the content changed, GX's import too, which the validator does once the run's own
    imports are done: the larger of the two is a bound that holds whatever the overlap (the true floor is
    higher)."""
    least = {"one": floor["dagster_run_s"], "changed": max(floor["dagster_run_s"], floor["gx_import_s"])}
    for row in rows:
        for kind, seconds in least.items():
            row[f"refresh_{kind}_floor_share"] = round(seconds / row["full"]["wall_s"], 3)


def derive(rows: list[dict]) -> dict:
    """Marginal cost between consecutive sizes, and the targets checked at the largest size."""
    for prev, row in zip(rows, rows[1:], strict=False):
        added = row["territories"] - prev["territories"]
        row["marginal_per_territory_s"] = round((row["full"]["wall_s"] - prev["full"]["wall_s"]) / added, 4)
        floor_added = (row["floor_s"] - prev["floor_s"]) / added
        marginal = row["marginal_per_territory_s"]
        row["marginal_ratio_to_floor"] = round(marginal / floor_added, 2) if floor_added else None
        row["per_territory_growth"] = round(row["per_territory_s"] / prev["per_territory_s"], 2)
    last = rows[-1]
    checks = {"peak_memory": last["full"]["peak_memory_mib"] < TARGETS["peak_memory_max_mib"],
              "refresh_share (bytes changed)": last["refresh_share"] <= TARGETS["refresh_share_max"],
              "refresh_share (content changed)": last["refresh_changed_share"] <= TARGETS["refresh_share_max"]}
    if len(rows) > 1:
        checks["marginal_ratio_to_floor"] = (last["marginal_ratio_to_floor"] or 0) <= TARGETS["ratio_to_floor_max"]
        checks["per_territory_growth"] = last["per_territory_growth"] <= TARGETS["per_territory_growth_max"]
    reachable = {"refresh_share (bytes changed)": last["refresh_one_floor_share"] <= TARGETS["refresh_share_max"],
                 "refresh_share (content changed)":
                     last["refresh_changed_floor_share"] <= TARGETS["refresh_share_max"]}
    return {"largest": last["territories"], "met": checks, "refresh_floor_within_target": reachable}


def table(rows: list[dict]) -> str:
    head = ("| territories | full run s | in run s | per territory s | floor s | floor per terr. s | ratio | "
            "marginal s | marginal ratio | per-terr. growth | rerun unchanged s | refresh, bytes changed s (share) | "
            "refresh, content changed s (share) | refresh floor shares | peak MiB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def f(v, spec=".2f"):
        return "—" if v is None else format(v, spec)

    for r in rows:
        lines.append(
            f"| {r['territories']} | {f(r['full']['wall_s'], '.1f')} | {f(r['full']['in_run_s'], '.1f')} | "
            f"{f(r['per_territory_s'], '.3f')} | {f(r['floor_s'], '.1f')} | {f(r['floor_per_territory_s'], '.3f')} | "
            f"{f(r['ratio_to_floor'])} | {f(r.get('marginal_per_territory_s'), '.3f')} | "
            f"{f(r.get('marginal_ratio_to_floor'))} | {f(r.get('per_territory_growth'))} | "
            f"{f(r['rerun_unchanged']['wall_s'], '.1f')} | "
            f"{f(r['refresh_one']['wall_s'], '.1f')} ({f(r['refresh_share'], '.3f')}) | "
            f"{f(r['refresh_changed']['wall_s'], '.1f')} ({f(r['refresh_changed_share'], '.3f')}) | "
            f"{f(r.get('refresh_one_floor_share'), '.3f')}, {f(r.get('refresh_changed_floor_share'), '.3f')} | "
            f"{f(r['full']['peak_memory_mib'], '.0f')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[14, 140, 1400])
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / ".work",
                        help="generated raw folders (reused), warehouses, logs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "latest.json")
    parser.add_argument("--label", default="", help="a name for this measurement, kept in the JSON")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))
    logs = args.work / "logs"
    # the runs record on an instance of the benchmark's own (pipelines.instance), not the repository's
    home = args.work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    logs.mkdir(parents=True, exist_ok=True)

    def echo(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip() or None
    except OSError:
        commit = None
    floor = floors()
    echo("floors: " + ", ".join(f"{k} {v:.2f}" for k, v in floor.items()))
    rows = [bench_size(size, args.work, logs, echo) for size in sizes]
    floor_shares(rows, floor)
    result = {
        "label": args.label, "commit": commit, "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "platform": platform.platform()},
        "as_of": AS_OF, "targets": TARGETS, **floor, "sizes": rows, "summary": derive(rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    md = table(rows) + (
        f"\n\nFloors, best of three fresh processes: start-up (Python and the pipeline's imports) "
        f"{floor['startup_s']:.2f} s; that and a Dagster run of one asset doing nothing "
        f"{floor['dagster_run_s']:.2f} s; "
        f"Great Expectations' import {floor['gx_import_s']:.2f} s. Refresh floor shares: the Dagster run (bytes "
        "changed), the longer of it and GX's import (content changed), over the full run.")
    args.out.with_suffix(".md").write_text(md + "\n")
    print(md)
    print(f"\ntargets at {result['summary']['largest']} territories: " +
          ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in result["summary"]["met"].items()))
    print("refresh floors within the target: " + ", ".join(
        f"{k} {'yes' if v else 'no'}" for k, v in result["summary"]["refresh_floor_within_target"].items()))
    print(f"results: {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
