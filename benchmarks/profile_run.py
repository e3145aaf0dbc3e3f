"""Where a `qp-analytics` command spends its seconds: a sampling profile of the whole command, put in phases.

The command runs in this process (its imports included) while a thread looks at the main thread's stack every
few milliseconds. Each sample is weighted by the wall time and by the process's CPU time since the previous one
(all its threads, DuckDB's included, less the sampler's own), so the CPU column holds on a loaded machine where
the wall column does not. A sample goes to one phase:

- importing: the sample is inside an import; named by the first installed package the import runs (an import
  that runs SQLAlchemy or Alembic, which Dagster imports when it opens its stored instance, counts as theirs),
  else the project's modules;
- else the innermost frame that belongs to a phase decides: Dagster's instance and event storage (its storage
  code, SQLAlchemy, sqlite3), Great Expectations, a stage of the library (`qp_analytics/<stage>/`; the
  publication split into Parquet, CSV, workbook, data package and the rest), the pipeline's own Dagster code
  (`pipelines/...`), Dagster's run machinery (any other Dagster frame), else "other".

Child processes are not sampled (the Great Expectations validator of a small run, the reading pool of a large
one): their CPU time is given on its own line (the last seen of each, with psutil, every quarter of a second),
and the main process's wait for them is in the wall column.
After the command, Dagster's own step timings of the run it recorded (STEP_START to STEP_SUCCESS or
STEP_FAILURE, from DAGSTER_HOME's instance) are printed too.

    DAGSTER_HOME=/tmp/dh python benchmarks/profile_run.py -- materialize --raw-dir /tmp/raw-14 \\
        --warehouse /tmp/w/w.duckdb --marts-dir /tmp/w/marts --report-dir /tmp/w/report --as-of 2023-06-30
    python benchmarks/profile_run.py --folded /tmp/stacks.txt -- query "SELECT 1"   # also the stacks, folded

Not a test: a measuring tool. The sampler reads `sys._current_frames()` (CPython's documented hook for this).
"""

import argparse
import collections
import json
import os
import resource
import sys
import sysconfig
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE = sysconfig.get_paths()["purelib"]
PLATSITE = sysconfig.get_paths()["platlib"]

# installed packages grouped under one name in the import table (their top-level module -> the name shown)
IMPORT_GROUPS = {"great_expectations": "great_expectations", "dagster": "dagster", "dagster_shared": "dagster",
                 "dagster_pipes": "dagster", "dagster_graphql": "dagster", "dagster_postgres": "dagster",
                 "dagster_celery": "dagster", "sqlalchemy": "sqlalchemy, alembic (Dagster's instance)",
                 "alembic": "sqlalchemy, alembic (Dagster's instance)", "duckdb": "duckdb", "polars": "polars",
                 "pandas": "pandas, numpy", "numpy": "pandas, numpy", "pyarrow": "pyarrow",
                 "matplotlib": "matplotlib (the report's charts)", "xlsxwriter": "xlsxwriter"}
PUBLICATION = {"_parquet_files": "Parquet", "write_csv_files": "CSV", "write_workbook": "workbook (xlsx)",
               "data_package": "data package"}
STORAGE = ("dagster/_core/storage/", "dagster/_core/instance/", "dagster/_core/events/log", "sqlalchemy/",
           "sqlite3/", "alembic/")


def _package(filename: str) -> str | None:
    """The top-level module of an installed package's file, else None."""
    for root in (SITE, PLATSITE):
        if filename.startswith(root + os.sep):
            return filename[len(root) + 1:].split(os.sep, 1)[0].removesuffix(".py")
    return None


def phase(stack: list[tuple[str, str]]) -> str:
    """The phase of one sample; stack: (file name, function name) from the outermost frame to the innermost."""
    for i, (filename, _) in enumerate(stack):
        if filename.startswith("<frozen importlib"):
            # Dagster opening its stored instance imports its storage, SQLAlchemy and Alembic: told apart
            if any(_package(inner) in ("sqlalchemy", "alembic") for inner, _ in stack[i + 1:]):
                return "import: " + IMPORT_GROUPS["sqlalchemy"]
            for inner, _ in stack[i + 1:]:
                package = _package(inner)
                if package and not package.startswith("_distutils"):
                    return "import: " + IMPORT_GROUPS.get(package, "other installed packages")
            return "import: the project's modules (pipelines, qp_analytics)"
    for filename, _ in reversed(stack):
        name = filename.replace(os.sep, "/")
        if any(part in name for part in STORAGE):
            return "Dagster: instance and event storage"
        if "/great_expectations/" in name:
            return "checks: Great Expectations"
        if "/qp_analytics/" in name:
            stage = name.split("/qp_analytics/", 1)[1].split("/", 1)
            if len(stage) == 1:
                return "library: " + stage[0].removesuffix(".py")
            if stage[0] == "publication":
                for frame_file, frame_function in reversed(stack):
                    if "/qp_analytics/publication/" in frame_file and frame_function in PUBLICATION:
                        return "publication: " + PUBLICATION[frame_function]
                return "publication: the rest (release, links, pruning)"
            return {"reading": "reading", "normalise": "normalising", "warehouse": "warehouse (writes, state)",
                    "quality": "checks: the project's suites", "marts": "marts", "report": "report"
                    }.get(stage[0], "library: " + stage[0])
        if "/pipelines/" in name and not name.endswith("/profile_run.py"):
            return "pipeline's Dagster code: " + name.split("/pipelines/", 1)[1].removesuffix(".py")
        if "/dagster/" in name:
            return "Dagster: run machinery"
    return "other"


class Sampler(threading.Thread):
    """Samples the main thread's stack every `interval` seconds, each weighted by wall and CPU time."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True, name="profile-sampler")
        self.interval = interval
        self.target = threading.main_thread().ident
        self.wall: collections.Counter[str] = collections.Counter()
        self.cpu: collections.Counter[str] = collections.Counter()
        self.folded: collections.Counter[str] = collections.Counter()
        self.children: dict[int, tuple[str, float]] = {}  # pid -> (command line, CPU seconds last seen)
        self.stop = threading.Event()

    def look_at_children(self) -> None:
        try:
            import psutil
        except ImportError:  # the dev venv has it
            return
        for child in psutil.Process().children(recursive=True):
            try:
                with child.oneshot():
                    times = child.cpu_times()
                    self.children[child.pid] = (" ".join(child.cmdline())[:100],
                                                times.user + times.system + times.children_user + times.children_system)
            except psutil.Error:
                pass

    def run(self) -> None:
        last_wall, last_cpu = time.perf_counter(), time.process_time() - time.thread_time()
        next_look = last_wall
        while not self.stop.wait(self.interval):
            if time.perf_counter() >= next_look:
                self.look_at_children()
                next_look = time.perf_counter() + 0.25
            frame = sys._current_frames().get(self.target)
            now_wall, now_cpu = time.perf_counter(), time.process_time() - time.thread_time()
            stack = []
            while frame is not None:
                stack.append((frame.f_code.co_filename, frame.f_code.co_name))
                frame = frame.f_back
            stack.reverse()
            name = phase(stack)
            self.wall[name] += now_wall - last_wall
            self.cpu[name] += now_cpu - last_cpu
            self.folded[";".join(f"{Path(f).name}:{fn}" for f, fn in stack)] += now_cpu - last_cpu
            last_wall, last_cpu = now_wall, now_cpu


def step_timings() -> list[tuple[str, float]]:
    """Dagster's timing of each step of the last run recorded on DAGSTER_HOME's instance (seconds)."""
    if not os.environ.get("DAGSTER_HOME") or "dagster" not in sys.modules:
        return []
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return []
        started, took = {}, []
        for record in instance.all_logs(runs[0].run_id):
            event = record.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = record.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
                took.append((event.step_key, record.timestamp - started[event.step_key]))
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.005, help="seconds between two samples")
    parser.add_argument("--folded", type=Path, help="also write the stacks, folded (CPU seconds), to this file")
    parser.add_argument("--json", type=Path, help="also write the phases and step timings as JSON")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the qp-analytics command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    sys.path.insert(0, str(REPO))
    sampler = Sampler(args.interval)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    sampler.start()
    status = 0
    try:
        from pipelines.cli.main import main as cli

        cli(command, prog_name="qp-analytics")
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    finally:
        sampler.stop.set()
        sampler.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = sorted(sampler.cpu, key=lambda k: -sampler.cpu[k])
    out = sys.stderr
    print(f"\n{' '.join(command[:1])}: exit {status}, {wall:.2f} s wall, {cpu:.2f} s CPU in this process, "
          f"{children.ru_utime + children.ru_stime:.2f} s CPU in the child processes it waited for", file=out)
    for pid, (cmdline, seconds) in sorted(sampler.children.items()):
        print(f"  child process {pid}: {seconds:.2f} s CPU (last seen): {cmdline}", file=out)
    print("| phase | CPU s | CPU share | wall s | wall share |\n|---|---|---|---|---|", file=out)
    total_cpu, total_wall = sum(sampler.cpu.values()) or 1.0, sum(sampler.wall.values()) or 1.0
    for name in rows:
        print(f"| {name} | {sampler.cpu[name]:.2f} | {sampler.cpu[name] / total_cpu:.0%} | {sampler.wall[name]:.2f} | "
              f"{sampler.wall[name] / total_wall:.0%} |", file=out)
    steps = step_timings() if command[:1] == ["materialize"] else []
    if steps:
        print("\nDagster's step timings (the run's events):", file=out)
        for key, seconds in sorted(steps, key=lambda s: -s[1]):
            print(f"  {key:<48} {seconds:6.2f} s", file=out)
    if args.folded:
        args.folded.write_text("".join(f"{stack} {round(s * 1e6)}\n" for stack, s in sampler.folded.items() if s > 0))
    if args.json:
        args.json.write_text(json.dumps({"command": command, "exit": status, "wall_s": wall, "cpu_s": cpu,
                                         "children_cpu_s": children.ru_utime + children.ru_stime,
                                         "child_processes": {str(k): v for k, v in sampler.children.items()},
                                         "phases": {k: {"cpu_s": sampler.cpu[k], "wall_s": sampler.wall[k]}
                                                    for k in rows},
                                         "steps": dict(steps)}, indent=1) + "\n")
    sys.exit(status)


if __name__ == "__main__":
    main()
