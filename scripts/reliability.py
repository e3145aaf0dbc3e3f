"""Kill `qp-analytics materialize` at random moments and check that nothing is ever half-done.

It copies the repository's data/raw to a temporary folder, runs the pipeline there once to completion (the
starting state), once more to time a run, then N times:

1. notes the state: the warehouse file's sha256 and the `current` release (its name and every file's sha256);
2. starts `qp-analytics materialize` (a new as_of each time, so that a completed run changes both) in a process
   group of its own and kills the whole group (SIGKILL) after a random delay between 0 and 1.1 times the latest
   completed run's time (the machine's load varies);
3. checks that the warehouse and `current` are byte-identical to the state noted in 1 (killed before its commit),
   or, when they changed (killed after its commit, or the run had ended), that they hold what a completed run
   holds: the same run, from a copy of the state noted in 1, taken to its end, gives the same tables (run times,
   file paths and fingerprints left out: they differ between any two runs) and byte-identical mart files. A
   warehouse committed with `current` not yet moved (the instant between the two swaps) is reported as such;
4. runs the pipeline again to completion: it must exit 0 and leave no working copy, no partial or pending
   release behind.

Not part of the test suite: it takes minutes.

    python scripts/reliability.py --runs 10 --seed 1
"""

import argparse
import datetime as dt
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from qp_analytics.publication.releases import PENDING, RELEASES, current_release

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2024, 6, 30)
# columns that differ between any two runs of the same inputs: when, and where (a fingerprint includes its path)
VOLATILE = {"read_at", "parsed_at", "rejected_at", "recorded_at", "path", "source_path", "fingerprint"}


@dataclass(frozen=True)
class Site:
    """A raw folder, and the warehouse and marts a run writes from it."""

    raw: Path
    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "w.duckdb"

    @property
    def marts(self) -> Path:
        return self.root / "marts"

    def command(self, as_of: dt.date) -> list[str]:
        return [sys.executable, "-m", "pipelines.cli.main", "materialize", "--raw-dir", str(self.raw),
                "--warehouse", str(self.warehouse), "--marts-dir", str(self.marts),
                "--report-dir", str(self.root / "report"), "--as-of", as_of.isoformat()]

    def copy(self, root: Path) -> "Site":
        shutil.copytree(self.root, root, symlinks=True)
        return Site(self.raw, root)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state(site: Site) -> dict[str, str]:
    """The warehouse file's sha256, the current release's name and each of its files' sha256."""
    out = {"warehouse": sha256(site.warehouse) if site.warehouse.exists() else "absent"}
    release = current_release(site.marts)
    out["current"] = release.name if release else "absent"
    for path in sorted(release.iterdir()) if release else []:
        out[f"current/{path.name}"] = sha256(path)
    return out


def content(site: Site) -> dict[str, object]:
    """What a run's result holds, whenever it ran: every table (without VOLATILE columns) and the mart files."""
    import duckdb

    from qp_analytics.schema import TABLES

    out: dict[str, object] = {}
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        for name, table in TABLES.items():
            columns = ", ".join(f'"{c}"' for c in table.column_names if c not in VOLATILE)
            out[name] = con.execute(f"SELECT {columns} FROM {name} ORDER BY ALL").fetchall()
    release = current_release(site.marts)
    out.update({f"current/{p.name}": sha256(p) for p in sorted(release.glob("*.parquet"))})
    return out


def leftovers(site: Site) -> list[str]:
    """What a completed run must not leave: working copies, partial releases, releases never made current."""
    found = [p.name for p in site.root.glob(".w.duckdb.run-*")]
    releases = site.marts / RELEASES
    if releases.is_dir():
        found += [p.name for p in releases.glob(".incomplete-*")]
        found += [f"{p.parent.name}/{PENDING}" for p in releases.glob(f"*/{PENDING}")]
    return sorted(found)


def verdict(before: dict[str, str], after: dict[str, str], completed: bool) -> str:
    """unchanged | changed | torn: warehouse committed, current not moved | torn: current moved alone | ..."""
    if after == before:
        return "unchanged"
    warehouse_moved = after["warehouse"] != before["warehouse"]
    current_moved = {k: v for k, v in after.items() if k != "warehouse"} != \
        {k: v for k, v in before.items() if k != "warehouse"}
    if warehouse_moved and (current_moved or completed):
        return "changed"  # completed with the marts unchanged keeps `current` (same marts, same release)
    if warehouse_moved:
        return "torn: warehouse committed, current not moved yet"
    return "torn: current moved, warehouse not committed"


def run(site: Site, as_of: dt.date) -> tuple[int, float, str]:
    """A run to its end: its status, its seconds and the last line it wrote (stderr, else stdout)."""
    started = time.monotonic()
    proc = subprocess.run(site.command(as_of), capture_output=True, text=True, cwd=REPO)
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return proc.returncode, time.monotonic() - started, lines[-1] if lines else ""


def killed_run(site: Site, as_of: dt.date, delay: float) -> bool:
    """Start a run and kill its process group after delay seconds; whether it had ended by then."""
    proc = subprocess.Popen(site.command(as_of), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs to kill (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments (default 1)")
    parser.add_argument("--raw", type=Path, default=REPO / "data" / "raw", help="raw folder (default data/raw)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="qp-reliability-"))
    try:
        shutil.copytree(args.raw, work / "raw")
        site = Site(work / "raw", work / "site")
        site.root.mkdir()
        for as_of in (START, START + dt.timedelta(days=1)):
            code, seconds, last = run(site, as_of)
            if code != 0:
                print(f"the run as_of {as_of} failed (status {code}): {last}", file=sys.stderr)
                return 2
        print(f"a run takes {seconds:.1f} s; killing {args.runs} runs, each between 0 and 1.1 times the latest "
              f"completed run's time (seed {args.seed})")
        failures = 0
        for i in range(args.runs):
            as_of = START + dt.timedelta(days=2 + i)
            before = state(site)
            reference = site.copy(work / f"reference-{i}")
            scale = seconds
            delay = rng.uniform(0, 1.1 * scale)
            completed = killed_run(site, as_of, delay)
            after = state(site)
            outcome = verdict(before, after, completed)
            problems = []
            if outcome == "changed":
                code, _, last = run(reference, as_of)
                if code != 0:
                    problems.append(f"the reference run failed: {last}")
                elif content(reference) != content(site):
                    problems.append("the result differs from a completed run's")
            elif outcome.startswith("torn"):
                problems.append(outcome)
            shutil.rmtree(reference.root)
            code, took, last = run(site, as_of)
            if code != 0:
                problems.append(f"the next run failed (status {code}): {last}")
            else:  # the next kill is drawn against the latest run's time: the machine's load varies
                seconds = took
            left = leftovers(site)
            if left:
                problems.append(f"left behind after the next run: {', '.join(left)}")
            failures += bool(problems)
            when = (f"kill due at {delay:.2f} s, after the run ended" if completed
                    else f"killed at {delay:.2f} s") + f"; the latest run took {scale:.1f} s"
            print(f"run {i + 1:>2} ({when}): {outcome}; next run {'ok' if code == 0 else 'FAILED'}"
                  + (f" — PROBLEM: {'; '.join(problems)}" if problems else ""))
        print(f"{args.runs - failures}/{args.runs} killed runs left the warehouse and `current` whole "
              f"and the next run succeeded")
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
