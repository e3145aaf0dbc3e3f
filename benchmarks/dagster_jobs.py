"""The two ways Dagster can refresh every territory, compared: a run over every territory partition (job
`evaluation_refresh` over the whole partition range, what a backfill of all partitions makes) against the
batch run the weekly schedule launches (job `evaluation_batch`, the run of `qp-analytics materialize`).

For each size it reuses (or generates) the raw folder of benchmarks/benchmark.py, then runs each job in a
process of its own, on a temporary Dagster instance, into a new warehouse and marts folder, and reports wall
time, time inside the job and peak memory. Not a test: timings depend on the machine.

    python benchmarks/dagster_jobs.py                   # 14 and 140 territories
    python benchmarks/dagster_jobs.py --sizes 14 140 1400 --out benchmarks/results/dagster-jobs.json
"""

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import REPO, generate, measure  # noqa: E402

JOBS = ("evaluation_refresh", "evaluation_batch")


def run_job(job_name: str, raw: Path, work: Path) -> int:
    """In this process: one run of the job over every territory of the raw folder."""
    os.environ.update(QP_RAW_DIR=str(raw), QP_WAREHOUSE=str(work / "warehouse.duckdb"),
                      QP_MARTS_DIR=str(work / "marts"))
    sys.path.insert(0, str(REPO))  # the project, installed or not (as the dev venv may have it)
    from dagster import DagsterInstance

    from pipelines.definitions import defs
    from pipelines.partitions import RANGE_END_TAG, RANGE_START_TAG, territory_partitions
    from qp_analytics.territories import read_registry

    ids = [t.territory_id for t in read_registry(raw)]
    with tempfile.TemporaryDirectory(prefix="qp-bench-dagster-") as home, DagsterInstance.local_temp(home) as instance:
        tags = {}
        if job_name == "evaluation_refresh":  # every partition, in one run (as the UI's backfill makes it)
            instance.add_dynamic_partitions(territory_partitions.name, ids)
            tags = {RANGE_START_TAG: ids[0], RANGE_END_TAG: ids[-1]}
        started = time.perf_counter()
        result = defs.get_job_def(job_name).execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        print(f"{job_name}: {len(ids)} territories in {time.perf_counter() - started:.1f} s, "
              f"success {result.success}", flush=True)
    return 0 if result.success else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[14, 140])
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / ".work",
                        help="raw folders (shared with benchmark.py), runs and logs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dagster-jobs-latest.json")
    parser.add_argument("--run-job", nargs=3, metavar=("JOB", "RAW", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_job:
        job_name, raw, work = args.run_job
        sys.exit(run_job(job_name, Path(raw), Path(work)))

    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        raw = args.work / f"raw-{size}"
        generate(raw, size, logs)
        row: dict = {"territories": size}
        for job_name in JOBS:
            work = args.work / f"job-{job_name}-{size}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            result = measure([sys.executable, str(Path(__file__).resolve()), "--run-job", job_name, str(raw),
                              str(work)], logs / f"job-{job_name}-{size}.log")
            if result["exit_code"] != 0:
                sys.exit(f"{job_name} failed at {size} territories: see {result['log']}")
            row[job_name] = result
            print(f"[{size}] {job_name}: {result['wall_s']:.1f} s (in the job {result['in_run_s']} s, "
                  f"peak {result['peak_memory_mib']:.0f} MiB)", flush=True)
        row["batch_speedup"] = round(row["evaluation_refresh"]["in_run_s"] / row["evaluation_batch"]["in_run_s"], 2)
        rows.append(row)

    table = ["| territories | every partition, in the job s | batch, in the job s | batch faster by | peak MiB "
             "(partitions / batch) |", "|---|---|---|---|---|"]
    table += [f"| {r['territories']} | {r['evaluation_refresh']['in_run_s']:.1f} | "
              f"{r['evaluation_batch']['in_run_s']:.1f} | {r['batch_speedup']:.1f}× | "
              f"{r['evaluation_refresh']['peak_memory_mib']:.0f} / {r['evaluation_batch']['peak_memory_mib']:.0f} |"
              for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                    "cpus": os.cpu_count(), "rows": rows}, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))
    print(f"results: {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
