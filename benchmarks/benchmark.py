"""Scale benchmark: what the pipeline costs against the true floor, checked against the issue's targets.

For each size (default 14, 140 and 1,400 territories) it generates a raw folder with `qp-analytics generate`
(kept in the work folder and reused while it exists), then measures, each command in its own process (wall
time, CPU time of the process and the children it waited for and of its whole tree, peak memory of the process
tree as resident sets summed and as proportional set sizes):

- the reading floor: the same files read and nothing else, with the fastest well-kept readers (PDF text with
  pypdfium2, every workbook sheet with python-calamine, the text of a Word file straight from its XML, text and
  CSV files as text), in one process on one core, imports excluded, the best of FLOOR_READS processes. OCR is
  outside it: the raw folders are generated without scans;
- a full run: `qp-analytics materialize` into a new warehouse and marts folder;
- a rerun with nothing changed (the command finds that nothing changed since its last clean run and starts no
  run), and the same with `--force` (the graph runs, every step finding nothing to do);
- `qp-analytics query` on the release the runs published (the median of QUERY_RUNS processes);
- the refresh of one territory (`--territory ID`) after a change to its convention's bytes that leaves its
  content as it was (one newline appended: the file's sha256 changes, the figures do not);
- the refresh of one territory after a change to its content (the roadmap deadline of its convention, six
  months made seven: its timeliness figures change, so the marts, their release and the report do);
- MEMORY_PASS: a full run and a content-changing refresh once more, into a folder of their own, untimed, with
  the proportional set sizes of their process trees sampled (which would slow the timed runs: see `measure`).

And once, in fresh processes, best of three (FLOORS): the import floor of the stack (IMPORT_FLOOR: every
library a full run imports to do its work, Dagster with its stored instance's SQLAlchemy and Alembic, Great
Expectations with pandas and NumPy, DuckDB, polars, pyarrow, the readers, matplotlib); Python
started with what `materialize` imports before its run; that and one in-process Dagster run of one asset doing
nothing, recorded on a stored instance as `materialize` records its runs; Great Expectations' import alone.

The targets (TARGETS, the issue's) are then checked and printed, met or not met, each with its figures: the
marginal cost per territory between the two largest sizes at most 3x the reading floor's; peak memory under
1 GiB (on the proportional set sizes); at 14 territories a full run at most 2 s above the import floor, a
rerun with nothing changed under 2.5 s and a query under 0.4 s; a one-territory refresh at the largest size
at most 1 s longer than the same refresh at 14 (both kinds). A target whose sizes were not measured is "not measured".

The refresh target compares two sizes measured minutes apart, on a machine whose speed drifts by more than the
second it allows: once every size is measured, PAIRED_ROUNDS rounds refresh the small size and the largest in
turn, each kind of change (`paired_refreshes`), the small first in one round and the largest first in the next
(a machine slowing or speeding up within the rounds then weighs on both sides alike), and the verdict is on the
median of the rounds' differences; the sizes' own refreshes stay in the table.

Results go to a JSON file and a short table with the verdicts. Not a test: timings depend on the machine, and
this one is shared: --repeat runs each materialisation several times and keeps the median.

    python benchmarks/benchmark.py                      # 14, 140, 1400
    python benchmarks/benchmark.py --sizes 14 140 --label before --out benchmarks/results/before.json
"""

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2023-06-30"
TARGETS = {
    # the issue's targets, checked by `check_targets`
    "marginal_ratio_to_floor_max": 3.0,  # marginal cost per territory, largest sizes, over the reading floor's
    "peak_memory_max_mib": 1024,  # every command's peak, every size: under 1 GiB
    "small_size": 14,  # the size of the small-run targets below
    "full_above_import_floor_max_s": 2.0,  # a full run at most 2 s above the import floor of the stack
    "rerun_unchanged_max_s": 2.5,  # a rerun with nothing changed
    "query_max_s": 0.4,  # `qp-analytics query`, a whole process
    "refresh_growth_max_s": 1.0,  # a one-territory refresh at the largest size over the same at the small size
}
QUERY = "SELECT count(*) FROM mart_timeliness"
QUERY_RUNS = 5  # processes timed per size; the median is kept
PAIRED_ROUNDS = 5  # rounds of the small and the largest size's refreshes run in turn (the refresh target's verdict)


def qp_command() -> list[str]:
    """`qp-analytics` of the interpreter running this script (the project's virtualenv)."""
    script = Path(sys.executable).with_name("qp-analytics")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from pipelines.cli.main import main; main()"]


def measure(cmd: list[str], log: Path, pss: bool = False) -> dict:
    """Run a command: wall seconds, exit status, CPU seconds and the peak of the summed RSS of its process tree.

    cpu_s: the process and the children it waited for (getrusage); tree_cpu_s: the last CPU time seen of every
    process of the tree (sampled every 50 ms, so a process's last moments are missed), which also counts the
    processes it did not wait for (a forkserver's workers, the Great Expectations validator).
    peak_memory_mib sums the processes' resident sets, which counts twice the pages a forked process shares with
    its parent; with `pss`, peak_pss_mib sums their proportional sets (each shared page split between its
    processes): the memory the tree really holds. Their sampling has the kernel walk each process's pages, about
    8 ms per large process: every 50 ms, a third of a core taken from the command on a 2-core machine, so the
    runs that are timed do without it (MEMORY_PASS)."""
    peak = peak_pss = 0
    cpu_seen: dict[int, float] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        root = psutil.Process(proc.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_pss
            while not done.is_set():
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    return
                total = total_pss = 0
                for p in procs:
                    try:
                        with p.oneshot():
                            memory = p.memory_full_info() if pss else p.memory_info()
                            times = p.cpu_times()
                        total += memory.rss
                        total_pss += getattr(memory, "pss", memory.rss)  # PSS: Linux
                        cpu_seen[p.pid] = times.user + times.system
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
                peak, peak_pss = max(peak, total), max(peak_pss, total_pss)
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    text = log.read_text(errors="replace")
    inside = re.search(r"territories in ([0-9.]+) s", text)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "tree_cpu_s": round(max(cpu, sum(cpu_seen.values())), 3),
            "in_run_s": float(inside.group(1)) if inside else None, "exit_code": code,
            "peak_memory_mib": round(peak / 2**20, 1), "log": str(log),
            **({"peak_pss_mib": round(peak_pss / 2**20, 1)} if pss else {})}


def median_of(results: list[dict]) -> dict:
    """One result for several runs of a command: the median of each figure (the peak: the largest), the runs'
    wall times kept as `walls_s`."""
    if len(results) == 1:
        return results[0]
    out = dict(results[-1])
    for key in ("wall_s", "cpu_s", "tree_cpu_s", "in_run_s"):
        values = [r[key] for r in results if r[key] is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    out["peak_memory_mib"] = max(r["peak_memory_mib"] for r in results)
    if all("peak_pss_mib" in r for r in results):
        out["peak_pss_mib"] = max(r["peak_pss_mib"] for r in results)
    out["exit_code"] = next((r["exit_code"] for r in results if r["exit_code"] != 0), 0)
    out["walls_s"] = [r["wall_s"] for r in results]
    return out


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
raw = pathlib.Path(sys.argv[1]); t0, c0 = time.perf_counter(), time.process_time(); n = 0
for folder in ("conventions", "avenants", "roadmaps"):
    for p in sorted((raw / folder).iterdir()):
        if p.suffix in READERS:
            n += READERS[p.suffix](p)
print(time.perf_counter() - t0, time.process_time() - c0, n)
"""


FLOOR_READS = 3  # the reading floor is the best of this many reads: one read at 1,400 took 4.1 s and 5.0 s


def read_floor(raw: Path) -> dict:
    """Read every convention, roadmap and avenant of a raw folder, and nothing else (one process, imports done
    before the clock starts), the best of FLOOR_READS processes: wall seconds, and CPU seconds (floor_cpu_s),
    which hold on a loaded machine."""
    best: dict[str, float] = {}
    for _ in range(FLOOR_READS):
        out = subprocess.run([sys.executable, "-c", FLOOR_READER, str(raw)], check=True, capture_output=True,
                             text=True)
        seconds, cpu, _ = out.stdout.split()
        best = {"floor_s": min(float(seconds), best.get("floor_s", math.inf)),
                "floor_cpu_s": min(float(cpu), best.get("floor_cpu_s", math.inf))}
    return {name: round(value, 3) for name, value in best.items()}


# What the run needs to do its work, imported in a fresh process: Dagster, and the SQLAlchemy and Alembic of its
# stored instance (imported when a run opens it); Great Expectations (with pandas and NumPy); DuckDB, polars,
# pyarrow; the readers (pdfium, calamine, python-docx, text2num, the spelling dictionary that repairs OCR and PDF
# words); matplotlib (the report's charts); xlsxwriter (the marts' workbook). Not the project's own modules.
IMPORT_FLOOR = ("dagster", "sqlalchemy", "alembic", "great_expectations", "pandas", "numpy", "duckdb", "polars",
                "pyarrow", "pypdfium2", "python_calamine", "docx", "text_to_num", "spellchecker", "matplotlib",
                "xlsxwriter")
_IMPORTS = "import pipelines.run, pipelines.definitions, pipelines.cli.main\n"
FLOORS = {
    # the import floor of the stack (IMPORT_FLOOR): what the small-run target is measured against
    "import_floor_s": "import " + ", ".join(IMPORT_FLOOR),
    # Python and what `materialize` imports before its run (Dagster, polars, DuckDB...)
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
    """Seconds of each FLOORS program in a fresh Python, best of three: wall (`<name>`) and CPU (`<name>_cpu`,
    the process's user and system time: what holds on a loaded machine)."""
    best: dict[str, float] = {}
    for name, code in FLOORS.items():
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
            took = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            best[name] = min(best.get(name, took), took)
            best[f"{name}_cpu"] = min(best.get(f"{name}_cpu", cpu), cpu)
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


DEADLINE_BEFORE = "délai de six (6) mois"
# a content change per repeat, each unlike the warehouse's state left by the one before
DEADLINES_AFTER = ("délai de sept (7) mois", "délai de huit (8) mois", "délai de neuf (9) mois",
                   "délai de dix (10) mois", "délai de onze (11) mois")


def refresh_target(raw: Path) -> Path:
    """A territory whose convention is a text file stating a six-month roadmap deadline."""
    for line in (raw / "territories.csv").read_text(encoding="utf-8").splitlines()[1:]:
        tid = line.split(",")[0]
        path = raw / "conventions" / f"{tid}.txt"
        if path.is_file() and DEADLINE_BEFORE in path.read_text(encoding="utf-8"):
            return path
    sys.exit(f"{raw}: no territory with a text convention stating {DEADLINE_BEFORE!r} to refresh")


def changed_file(kind: str, original: bytes, n: int) -> bytes:
    """The n-th change (from 0) of a refresh target's convention: for "refresh_one", n + 1 newlines appended
    (the bytes differ from what the warehouse holds, the content does not); for "refresh_changed", its roadmap
    deadline made the n-th of DEADLINES_AFTER, in turn (each unlike the one before it)."""
    if kind == "refresh_one":
        return original + b"\n" * (n + 1)
    after = DEADLINES_AFTER[n % len(DEADLINES_AFTER)]
    return original.decode("utf-8").replace(DEADLINE_BEFORE, after, 1).encode()


def refresh(base: list[str], target: Path, changed: bytes, log: Path, pss: bool = False) -> dict:
    """Run `--territory` on the target's territory with its convention changed, then put the file back."""
    original = target.read_bytes()
    try:
        target.write_bytes(changed)
        result = measure([*base, "--territory", target.stem], log, pss)
    finally:
        target.write_bytes(original)
    if result["exit_code"] != 0:
        sys.exit(f"the refresh of {target.stem} failed: see {result['log']}")
    published = "Published marts:" in Path(result["log"]).read_text(errors="replace")  # else "Marts unchanged"
    return {**result, "territory": target.stem, "new_release": published}


def query_time(marts: Path, size: int, logs: Path) -> dict:
    """`qp-analytics query` on the published marts, QUERY_RUNS processes: the median wall and CPU seconds."""
    runs = []
    for i in range(QUERY_RUNS):
        result = measure([*qp_command(), "query", "--format", "csv", "--marts-dir", str(marts), QUERY],
                         logs / f"query-{size}-{i}.log")
        answer = Path(result["log"]).read_text(errors="replace").split()
        if result["exit_code"] != 0 or answer[-1:] != [str(size)]:
            sys.exit(f"the query on {marts} did not answer {size}: see {result['log']}")
        runs.append(result)
    return median_of(runs)


def bench_size(size: int, work: Path, logs: Path, echo, repeat: int = 1) -> dict:
    raw = work / f"raw-{size}"
    generated = generate(raw, size, logs)
    how = f"generated in {generated:.1f} s" if generated else "reused"
    echo(f"[{size}] raw folder {how}: {raw}")
    row: dict = {"territories": size, "generate_s": generated, **read_floor(raw)}
    echo(f"[{size}] reading floor {row['floor_s']:.2f} s")
    run_dir = work / f"run-{size}"
    base = materialize_command(raw, run_dir)
    runs = []
    for i in range(repeat):  # each into a new warehouse and marts folder
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        runs.append(measure(base, logs / f"full-{size}-{i}.log"))
        if runs[-1]["exit_code"] != 0:
            sys.exit(f"the full run of {size} territories failed: see {runs[-1]['log']}")
    row["full"] = median_of(runs)
    echo(f"[{size}] full run {row['full']['wall_s']:.1f} s ({row['full']['cpu_s']:.1f} s CPU, "
         f"peak {row['full']['peak_memory_mib']:.0f} MiB)")
    row["rerun_unchanged"] = median_of([measure(base, logs / f"rerun-{size}-{i}.log") for i in range(repeat)])
    echo(f"[{size}] rerun, nothing changed {row['rerun_unchanged']['wall_s']:.1f} s "
         f"({row['rerun_unchanged']['cpu_s']:.1f} s CPU)")
    # the same, run anyway (--force): what the graph costs when every step finds nothing to do
    row["rerun_forced"] = median_of([measure([*base, "--force"], logs / f"rerun-forced-{size}-{i}.log")
                                     for i in range(repeat)])
    echo(f"[{size}] rerun, nothing changed, --force {row['rerun_forced']['wall_s']:.1f} s "
         f"({row['rerun_forced']['cpu_s']:.1f} s CPU)")
    row["query"] = query_time(run_dir / "marts", size, logs)
    echo(f"[{size}] query {row['query']['wall_s']:.2f} s ({row['query']['cpu_s']:.2f} s CPU)")
    target = refresh_target(raw)
    original = target.read_bytes()
    row["refresh_one"] = median_of([refresh(base, target, changed_file("refresh_one", original, i),
                                            logs / f"refresh-{size}-{i}.log") for i in range(repeat)])
    echo(f"[{size}] refresh of {target.stem}, bytes changed, content not: {row['refresh_one']['wall_s']:.1f} s")
    row["refresh_changed"] = median_of([refresh(base, target, changed_file("refresh_changed", original, i),
                                                logs / f"refresh-changed-{size}-{i}.log") for i in range(repeat)])
    echo(f"[{size}] refresh of {target.stem}, content changed: {row['refresh_changed']['wall_s']:.1f} s")
    full = row["full"]["wall_s"]
    row["per_territory_s"] = round(full / size, 4)
    row["floor_per_territory_s"] = round(row["floor_s"] / size, 4)
    row["ratio_to_floor"] = round(full / row["floor_s"], 2) if row["floor_s"] else None
    # MEMORY_PASS: the commands that do the most work, once more, untimed, their proportional sets sampled
    memory_dir = work / f"run-{size}-memory"
    shutil.rmtree(memory_dir, ignore_errors=True)
    memory_dir.mkdir(parents=True)
    memory_base = materialize_command(raw, memory_dir)
    row["memory_pass"] = {"full": measure(memory_base, logs / f"memory-full-{size}.log", pss=True)}
    if row["memory_pass"]["full"]["exit_code"] != 0:
        sys.exit(f"the full run of {size} territories failed: see {row['memory_pass']['full']['log']}")
    row["memory_pass"]["refresh_changed"] = refresh(
        memory_base, target, changed_file("refresh_changed", original, 0),
        logs / f"memory-refresh-changed-{size}.log", pss=True)
    shutil.rmtree(memory_dir, ignore_errors=True)
    echo(f"[{size}] memory pass: peak {max(m['peak_pss_mib'] for m in row['memory_pass'].values()):.0f} MiB "
         "(proportional sets), full run and content-changing refresh")
    commands = ("full", "rerun_unchanged", "rerun_forced", "query", "refresh_one", "refresh_changed")
    row["peak_memory_mib"] = max([row[k]["peak_memory_mib"] for k in commands]
                                 + [m["peak_memory_mib"] for m in row["memory_pass"].values()])
    row["peak_pss_mib"] = max(m["peak_pss_mib"] for m in row["memory_pass"].values())
    return row


def paired_refreshes(sizes: list[int], work: Path, logs: Path, echo, repeat: int, rounds: int = PAIRED_ROUNDS
                     ) -> dict:
    """The refresh target measured in turn: each round refreshes the first size and the last, one territory
    each (the same changes as `bench_size`: a newline more, then a deadline), on the warehouses `bench_size`
    left; the first size first in even rounds, the last first in odd ones (a drift of the machine's speed over the
    rounds, which made later rounds slower at both sizes in session 22's benchmark, would otherwise always fall
    on the size run second). Each change differs from the state its warehouse holds: an untimed run on the files
    as generated first puts the warehouses back to them, the newlines go on from those the sizes' own refreshes
    used, and the deadlines from the last one used. Per kind: the rounds' wall and CPU seconds at each size (medians)
    and the median of the rounds' differences (`growth_s`, `growth_cpu_s`)."""
    runs = {}
    for size in (sizes[0], sizes[-1]):
        raw, run_dir = work / f"raw-{size}", work / f"run-{size}"
        target = refresh_target(raw)
        base = materialize_command(raw, run_dir)
        reset = measure(base, logs / f"paired-reset-{size}.log")
        if reset["exit_code"] != 0:
            sys.exit(f"the run before the paired refreshes of {size} territories failed: see {reset['log']}")
        runs[size] = (base, target, target.read_bytes())
    out: dict = {"rounds": rounds, "small": sizes[0], "large": sizes[-1]}
    for kind in ("refresh_one", "refresh_changed"):
        timed: dict[int, list[dict]] = {size: [] for size in runs}
        for i in range(rounds):
            for size in (sizes[0], sizes[-1]) if i % 2 == 0 else (sizes[-1], sizes[0]):
                base, target, original = runs[size]
                timed[size].append(refresh(base, target, changed_file(kind, original, repeat + i),
                                           logs / f"paired-{kind}-{size}-{i}.log"))
        out[kind] = rounds_summary(timed[sizes[0]], timed[sizes[-1]])
        echo(f"[paired] {kind}: {out[kind]['large_s']:.2f} s at {sizes[-1]} against {out[kind]['small_s']:.2f} s at "
             f"{sizes[0]}, {out[kind]['growth_s']:+.2f} s (median of {rounds} rounds' differences)")
    return out


def rounds_summary(small: list[dict], large: list[dict]) -> dict:
    """Rounds of a command at two sizes, run in turn (small[i] then large[i]): each size's median wall and CPU
    seconds, and the median of the rounds' differences (large minus small)."""
    pairs = list(zip(small, large, strict=True))
    return {"small_s": round(statistics.median(r["wall_s"] for r in small), 3),
            "large_s": round(statistics.median(r["wall_s"] for r in large), 3),
            "growth_s": round(statistics.median(b["wall_s"] - a["wall_s"] for a, b in pairs), 3),
            "growth_cpu_s": round(statistics.median(b["cpu_s"] - a["cpu_s"] for a, b in pairs), 3),
            "small_walls_s": [r["wall_s"] for r in small], "large_walls_s": [r["wall_s"] for r in large]}


def materialize_command(raw: Path, run_dir: Path) -> list[str]:
    """`qp-analytics materialize` of the raw folder into run_dir's warehouse, marts and report."""
    return [*qp_command(), "materialize", "--raw-dir", str(raw), "--warehouse", str(run_dir / "warehouse.duckdb"),
            "--marts-dir", str(run_dir / "marts"), "--report-dir", str(run_dir / "report"), "--as-of", AS_OF]


def marginal(rows: list[dict]) -> None:
    """Marginal cost per territory between consecutive sizes, and over the reading floor's marginal cost: in wall
    seconds, and in CPU seconds (the full run's whole process tree, its reading workers included, against the
    floor's CPU time)."""
    for prev, row in zip(rows, rows[1:], strict=False):
        added = row["territories"] - prev["territories"]
        added_cost = (row["full"]["wall_s"] - prev["full"]["wall_s"]) / added
        floor_added = (row["floor_s"] - prev["floor_s"]) / added
        row["marginal_per_territory_s"] = round(added_cost, 5)
        row["floor_marginal_per_territory_s"] = round(floor_added, 5)
        row["marginal_ratio_to_floor"] = round(added_cost / floor_added, 2) if floor_added > 0 else None
        if "floor_cpu_s" in row and "tree_cpu_s" in row["full"]:
            cpu_added = (row["full"]["tree_cpu_s"] - prev["full"]["tree_cpu_s"]) / added
            floor_cpu_added = (row["floor_cpu_s"] - prev["floor_cpu_s"]) / added
            row["marginal_cpu_ratio_to_floor"] = round(cpu_added / floor_cpu_added, 2) if floor_cpu_added > 0 \
                else None


def check_targets(rows: list[dict], floor: dict, targets: dict = TARGETS, paired: dict | None = None) -> list[dict]:
    """Each of the issue's targets: what it says, the measured value and its limit (wall seconds, or MiB, or a
    ratio), met (True, False, or None when its sizes were not measured), and the same in CPU seconds where it
    applies (`cpu_value`, `cpu_limit`: a guide on a loaded machine, not the verdict). rows: the sizes in
    increasing order, with `marginal` done. paired: `paired_refreshes` of the small and the last size, whose
    rounds' differences then decide the refresh targets (else the sizes' own refreshes)."""
    small = next((r for r in rows if r["territories"] == targets["small_size"]), None)
    last = rows[-1]
    n = targets["small_size"]

    def verdict(name: str, what: str, value: float | None, limit: float | None, strict: bool = False,
                cpu: tuple[float | None, float | None] = (None, None)) -> dict:
        met = None if value is None or limit is None else (value < limit if strict else value <= limit)
        return {"name": name, "target": what, "value": value, "limit": None if limit is None else round(limit, 3),
                "met": met, "cpu_value": cpu[0], "cpu_limit": None if cpu[1] is None else round(cpu[1], 3)}

    several = len(rows) > 1
    out = [verdict("marginal", f"marginal cost per territory at {last['territories']} ≤ "
                   f"{targets['marginal_ratio_to_floor_max']:g}× the reading floor's (ratio)",
                   last.get("marginal_ratio_to_floor") if several else None,
                   targets["marginal_ratio_to_floor_max"] if several else None,
                   cpu=(last.get("marginal_cpu_ratio_to_floor"), targets["marginal_ratio_to_floor_max"]) if several
                   else (None, None)),
           peak_memory(rows, targets["peak_memory_max_mib"])]
    if small is None:
        small_runs = {kind: (None, None) for kind in ("full", "rerun_unchanged", "query")}
    else:
        small_runs = {kind: (small[kind]["wall_s"], small[kind]["cpu_s"]) for kind in ("full", "rerun_unchanged",
                                                                                        "query")}
    above = targets["full_above_import_floor_max_s"]
    out.append(verdict("full_run", f"full run at {n} ≤ the import floor of the stack + {above:g} s (s)",
                       small_runs["full"][0], floor["import_floor_s"] + above,
                       cpu=(small_runs["full"][1], floor.get("import_floor_s_cpu", 0.0) + above)))
    out.append(verdict("rerun_unchanged",
                       f"rerun with nothing changed at {n} < {targets['rerun_unchanged_max_s']:g} s (s)",
                       small_runs["rerun_unchanged"][0], targets["rerun_unchanged_max_s"], strict=True,
                       cpu=(small_runs["rerun_unchanged"][1], targets["rerun_unchanged_max_s"])))
    out.append(verdict("query", f"query at {n} < {targets['query_max_s']:g} s, median of {QUERY_RUNS} processes (s)",
                       small_runs["query"][0], targets["query_max_s"], strict=True,
                       cpu=(small_runs["query"][1], targets["query_max_s"])))
    measured = small is not None and last is not small
    growth = targets["refresh_growth_max_s"]
    pairs = paired if measured and paired and (paired["small"], paired["large"]) == (n, last["territories"]) \
        else None
    for kind, label in (("refresh_one", "bytes changed"), ("refresh_changed", "content changed")):
        if pairs is not None:  # the median of the rounds' differences, against the growth allowed
            out.append(verdict(
                kind, f"refresh of one territory, {label}, at {last['territories']} ≤ the same at {n} + {growth:g} s: "
                      f"how much longer, median of {pairs['rounds']} rounds run in turn (s)",
                pairs[kind]["growth_s"], growth, cpu=(pairs[kind]["growth_cpu_s"], growth)))
            continue
        out.append(verdict(
            kind, f"refresh of one territory, {label}, at {last['territories']} ≤ the same at {n} + {growth:g} s (s)",
            last[kind]["wall_s"] if measured else None, small[kind]["wall_s"] + growth if measured else None,
            cpu=(last[kind]["cpu_s"], small[kind]["cpu_s"] + growth) if measured else (None, None)))
    return out


def peak_memory(rows: list[dict], limit: float) -> dict:
    """The peak memory target, every command of every size: on the proportional set sizes of the process tree
    (what it holds) when measured, else on the sum of resident sets (which counts shared pages twice); the sum of
    resident sets is kept beside (`rss_value`)."""
    rss = max(r["peak_memory_mib"] for r in rows)
    pss = max((r["peak_pss_mib"] for r in rows if "peak_pss_mib" in r), default=None)
    value = rss if pss is None else pss
    what = ("summed resident sets, every command" if pss is None
            else "proportional set sizes of the process tree, the memory pass's full run and refresh")
    return {"name": "peak_memory", "target": f"peak memory < 1 GiB (MiB, {what}, every size)",
            "value": value, "limit": limit, "met": value < limit, "cpu_value": None, "cpu_limit": None,
            "rss_value": rss}


def verdict_lines(checks: list[dict]) -> list[str]:
    def shown(v):
        return "—" if v is None else f"{v:g}"

    lines = []
    for c in checks:
        cpu = f" (CPU: {shown(c['cpu_value'])} against {shown(c['cpu_limit'])})" if c["cpu_value"] is not None else ""
        if c.get("rss_value") is not None and c["rss_value"] != c["value"]:
            cpu = f" (resident sets summed: {shown(c['rss_value'])})"
        state = "met" if c["met"] else "not measured" if c["met"] is None else "NOT met"
        lines.append(f"- {c['target']}: {shown(c['value'])} against {shown(c['limit'])}: {state}{cpu}")
    return lines


def table(rows: list[dict]) -> str:
    head = ("| territories | full run s | full run CPU s (tree) | in run s | floor s (CPU) | per territory s | "
            "marginal s | marginal ratio (CPU) | rerun unchanged s (CPU) | rerun, --force s (CPU) | query s (CPU) | "
            "refresh, bytes changed s (CPU) | refresh, content changed s (CPU) | peak MiB (PSS) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def f(v, spec=".2f"):
        return "—" if v is None else format(v, spec)

    for r in rows:
        forced = r.get("rerun_forced", {})  # results written before it was measured have none
        lines.append(
            f"| {r['territories']} | {f(r['full']['wall_s'], '.1f')} | {f(r['full']['cpu_s'], '.1f')} "
            f"({f(r['full'].get('tree_cpu_s'), '.1f')}) | {f(r['full']['in_run_s'], '.1f')} | {f(r['floor_s'])} "
            f"({f(r.get('floor_cpu_s'))}) | {f(r['per_territory_s'], '.3f')} | "
            f"{f(r.get('marginal_per_territory_s'), '.4f')} | {f(r.get('marginal_ratio_to_floor'))} "
            f"({f(r.get('marginal_cpu_ratio_to_floor'))}) | "
            f"{f(r['rerun_unchanged']['wall_s'], '.1f')} ({f(r['rerun_unchanged']['cpu_s'], '.1f')}) | "
            f"{f(forced.get('wall_s'), '.1f')} ({f(forced.get('cpu_s'), '.1f')}) | "
            f"{f(r['query']['wall_s'])} ({f(r['query']['cpu_s'])}) | "
            f"{f(r['refresh_one']['wall_s'], '.1f')} ({f(r['refresh_one']['cpu_s'], '.1f')}) | "
            f"{f(r['refresh_changed']['wall_s'], '.1f')} ({f(r['refresh_changed']['cpu_s'], '.1f')}) | "
            f"{f(r['peak_memory_mib'], '.0f')} ({f(r.get('peak_pss_mib'), '.0f')}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[14, 140, 1400])
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each materialisation per size (the median is kept; the query: always "
                             f"{QUERY_RUNS})")
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
    echo("floors (wall, CPU): " + ", ".join(f"{k} {floor[k]:.2f} s, {floor[k + '_cpu']:.2f} s" for k in FLOORS))
    rows = [bench_size(size, args.work, logs, echo, max(1, args.repeat)) for size in sizes]
    marginal(rows)
    small = TARGETS["small_size"]
    paired = paired_refreshes([small, sizes[-1]], args.work, logs, echo, max(1, args.repeat)) \
        if small in sizes and sizes[-1] != small else None
    checks = check_targets(rows, floor, paired=paired)
    result = {
        "label": args.label, "commit": commit, "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "load_average": [round(x, 1) for x in os.getloadavg()]},
        "as_of": AS_OF, "repeat": max(1, args.repeat), "targets": TARGETS, "import_floor_modules": IMPORT_FLOOR,
        **floor, "sizes": rows, "paired_refreshes": paired, "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    md = "\n".join([
        table(rows), "",
        f"Floors, best of three fresh processes, wall (CPU): the import floor of the stack "
        f"({', '.join(IMPORT_FLOOR)}) {floor['import_floor_s']:.2f} s ({floor['import_floor_s_cpu']:.2f} s); start-up "
        f"(Python and what `materialize` imports) {floor['startup_s']:.2f} s ({floor['startup_s_cpu']:.2f} s); that "
        f"and a Dagster run of one asset doing nothing {floor['dagster_run_s']:.2f} s ({floor['dagster_run_s_cpu']:.2f}"
        f" s); Great Expectations' import {floor['gx_import_s']:.2f} s ({floor['gx_import_s_cpu']:.2f} s). Each "
        f"materialisation run {result['repeat']} time(s) (the median), "
        f"the query {QUERY_RUNS} times (the median); CPU: the process and the children it waited for. Load average "
        f"at the end: {', '.join(str(x) for x in result['machine']['load_average'])} on {os.cpu_count()} cores.",
        *([] if paired is None else [
            "", f"Refreshes run in turn, {paired['rounds']} rounds of {paired['small']} and {paired['large']} "
                "territories, each size first in every other round (medians, wall): " + "; ".join(
                    f"{label} {paired[kind]['small_s']:.2f} s against {paired[kind]['large_s']:.2f} s, the rounds' "
                    f"differences {paired[kind]['growth_s']:+.2f} s (CPU {paired[kind]['growth_cpu_s']:+.2f} s)"
                    for kind, label in (("refresh_one", "bytes changed"), ("refresh_changed", "content changed")))
                + "."]),
        "", "Targets (the issue's):", *verdict_lines(checks)])
    args.out.with_suffix(".md").write_text(md + "\n")
    print(md)
    print(f"results: {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
