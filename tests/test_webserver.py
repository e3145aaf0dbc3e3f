"""The real `dagster-webserver`: started on a free local port with a private DAGSTER_HOME, asked over GraphQL for
the assets, checks, schedule and sensor of the code location, then stopped cleanly."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster
import pytest

from pipelines.definitions import defs
from tests.conftest import RAW, REPO

pytestmark = pytest.mark.slow  # runs the pipeline or a server: the full tier only

WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
HOST = "127.0.0.1"
START_DEADLINE = 120.0  # seconds: CI machines are slow and the code location imports a lot
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0
LAYERS = {"raw", "staging", "core", "marts", "publish"}

# Never route requests to 127.0.0.1 through an HTTP proxy taken from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

WORKSPACE_QUERY = """{ workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename
      ... on PythonError { message causes { message } } ... on RepositoryLocation { name } } } }
  ... on PythonError { message } } }"""

ASSETS_QUERY = """{ assetNodes { assetKey { path } groupName isPartitioned
  partitionDefinition { type name dimensionTypes { type dynamicPartitionsDefinitionName } }
  assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } } } }"""

AUTOMATION_QUERY = """{ repositoriesOrError { __typename
  ... on RepositoryConnection { nodes { name location { name }
      schedules { name cronSchedule executionTimezone pipelineName scheduleState { status } }
      sensors { name minIntervalSeconds sensorState { status } } } }
  ... on PythonError { message } } }"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nobody listens on the port: it can be bound again (TIME_WAIT leftovers of closed connections allowed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            sock.listen(1)
        except OSError:
            return False
    return True


def log_tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def get_json(url: str) -> dict:
    with _OPENER.open(url, timeout=REQUEST_TIMEOUT) as response:
        return json.loads(response.read())


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://{HOST}:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with _OPENER.open(request, timeout=REQUEST_TIMEOUT) as response:
        answer = json.loads(response.read())
    assert not answer.get("errors"), f"GraphQL errors for {query!r}: {answer['errors']}"
    return answer["data"]


def wait_until_ready(proc: subprocess.Popen, port: int, log: Path) -> dict:
    """Poll /server_info, then the workspace, until the code location is loaded; fail early if the server dies."""
    deadline = time.monotonic() + START_DEADLINE
    info = None
    last_error: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited early with status {proc.returncode}:\n{log_tail(log)}")
        try:
            if info is None:
                info = get_json(f"http://{HOST}:{port}/server_info")
            workspace = graphql(port, WORKSPACE_QUERY)["workspaceOrError"]
            assert workspace["__typename"] == "Workspace", f"workspace unavailable: {workspace}"
            entries = workspace["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return {"info": info, "locations": entries}
            last_error = f"locations still loading: {entries}"
        except OSError as exc:  # refused, reset, timed out, HTTP error: not up yet
            last_error = exc
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not answer on port {port} within {START_DEADLINE:.0f} s "
                f"(last error: {last_error}):\n{log_tail(log)}")


def group_members(pgid: int) -> list[str]:
    """The live processes of a process group ("pid command"), zombies left out (an orphan's is reaped by init)."""
    if not Path("/proc/self/stat").exists():  # not Linux: ask the kernel whether any member is left
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [f"(a process of group {pgid})"]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # exited meanwhile
            continue
        state, _parent, group = stat[stat.rindex(")") + 2:].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(f"{entry.name} {command}")
    return members


def group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def force_stop(proc: subprocess.Popen) -> None:
    """Best effort, never raises: the server and whatever it started (code server) are gone afterwards."""
    for sig, timeout in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        if not group_alive(proc.pid) and proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        wait_group_gone(proc.pid, timeout)


def stop_cleanly(proc: subprocess.Popen, log: Path) -> int:
    """SIGTERM to the webserver alone, as a service manager would; it must shut its code server down itself."""
    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dagster-webserver still running {STOP_TIMEOUT:.0f} s after SIGTERM:\n{log_tail(log)}")
    assert wait_group_gone(proc.pid, STOP_TIMEOUT), (
        "processes started by the webserver (its code server) survive it:\n" + "\n".join(group_members(proc.pid)))
    return status


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def expected_from_definitions() -> tuple[dict, set, list, list]:
    """What the code location defines, read from the Definitions object itself (not from the server)."""
    assets = {}
    for spec in defs.resolve_all_asset_specs():
        partitions = spec.partitions_def
        assets[tuple(spec.key.path)] = (spec.group_name, None if partitions is None else partitions.name)
    checks = {(tuple(k.asset_key.path), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    repository = defs.get_repository_def()
    schedules = sorted(s.name for s in repository.schedule_defs)
    sensors = sorted(s.name for s in repository.sensor_defs)
    return assets, checks, schedules, sensors


def test_webserver_serves_assets_schedule_and_sensor_and_stops_cleanly(tmp_path):
    assert WEBSERVER.exists(), f"dagster-webserver not installed next to the interpreter: {WEBSERVER}"
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, DAGSTER_HOME=str(home), QP_RAW_DIR=str(RAW),
               QP_WAREHOUSE=str(tmp_path / "warehouse.duckdb"), QP_MARTS_DIR=str(tmp_path / "marts"))
    # dagster-webserver also reads the repo's .env (cwd) and its values win over these; the webserver alone opens
    # none of these paths (it materialises nothing), which the snapshot of data/ below checks.
    data_before = snapshot(REPO / "data")
    root_before = {p.name for p in REPO.iterdir()}
    log = tmp_path / "webserver.log"
    port = free_port()

    with log.open("wb") as log_file:
        proc = subprocess.Popen([str(WEBSERVER), "-w", "workspace.yaml", "-h", HOST, "-p", str(port)], cwd=REPO,
                                env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            ready = wait_until_ready(proc, port, log)
            assets = graphql(port, ASSETS_QUERY)["assetNodes"]
            repositories = graphql(port, AUTOMATION_QUERY)["repositoriesOrError"]
            status = stop_cleanly(proc, log)
        finally:
            force_stop(proc)

    # stopped cleanly: normal exit status, its code server gone (checked in stop_cleanly), the port released
    assert status == 0, f"dagster-webserver exited with status {status} after SIGTERM:\n{log_tail(log)}"
    assert port_is_free(port), f"port {port} still in use after the webserver stopped"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=5).close()

    # the server is this environment's Dagster, serving the one location of workspace.yaml, loaded without error
    info = ready["info"]
    assert info["dagster_webserver_version"] == info["dagster_version"] == dagster.__version__, info
    [location] = ready["locations"]
    assert location["name"] == "pipelines.definitions", location
    assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", (
        f"code location failed to load: {location['locationOrLoadError']}")

    # assets: the same keys and layers as the Definitions object, none partitioned
    want_assets, want_checks, want_schedules, want_sensors = expected_from_definitions()
    got = {tuple(n["assetKey"]["path"]): n for n in assets}
    assert sorted(got) == sorted(want_assets), (
        f"missing: {sorted(set(want_assets) - set(got))}, unexpected: {sorted(set(got) - set(want_assets))}")
    for key in [("raw", "convention_documents"), ("staging", "convention_parses"), ("core", "conventions"),
                ("core", "funding_requests"), ("marts", "mart_timeliness"), ("published", "marts")]:
        assert key in got, f"asset {list(key)} not served; served: {sorted(got)}"
    assert {n["groupName"] for n in assets} == LAYERS
    for key, node in got.items():
        group, partitions = want_assets[key]
        assert node["groupName"] == group, f"{list(key)} in group {node['groupName']!r}, defined in {group!r}"
        assert key[0] == group or (key[0], group) == ("published", "publish"), (
            f"{list(key)} is in group {group!r}, not its layer")
        # one graph for every run: no asset is partitioned, runs name their territories (pipelines.selection)
        assert partitions is None and not node["isPartitioned"] and node["partitionDefinition"] is None, (
            f"{list(key)} should not be partitioned: {node['partitionDefinition']}")

    # asset checks: the Great Expectations suites on every core table and mart, blocking, and the rejections
    served_checks = {}
    for key, node in got.items():
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", f"{list(key)}: checks unavailable: {checks}"
        served_checks.update({(key, c["name"]): c for c in checks["checks"]})
    assert set(served_checks) == want_checks, (
        f"missing: {sorted(want_checks - set(served_checks))}, unexpected: {sorted(set(served_checks) - want_checks)}")
    for key in got:
        if key[0] in {"core", "marts"}:
            check = served_checks.get((key, "great_expectations"))
            assert check is not None, f"no great_expectations check on {list(key)}"
            assert check["blocking"], f"great_expectations check on {list(key)} is not blocking"
    for key, name in [(("staging", "convention_parses"), "conventions_accepted"),
                      (("staging", "roadmap_parses"), "roadmaps_accepted"),
                      (("core", "avenants"), "avenants_accepted")]:
        assert (key, name) in served_checks, f"check {name} on {list(key)} not served"

    # the schedule and the sensor, on by default
    assert repositories["__typename"] == "RepositoryConnection", repositories
    [repository] = repositories["nodes"]
    schedules = {s["name"]: s for s in repository["schedules"]}
    sensors = {s["name"]: s for s in repository["sensors"]}
    assert sorted(schedules) == want_schedules and sorted(sensors) == want_sensors, (schedules, sensors)
    assert schedules["weekly_refresh"]["cronSchedule"] == "0 6 * * 1", schedules["weekly_refresh"]
    assert schedules["weekly_refresh"]["executionTimezone"] == "Europe/Paris", schedules["weekly_refresh"]
    assert schedules["weekly_refresh"]["pipelineName"] == "evaluation_refresh", schedules["weekly_refresh"]
    assert schedules["weekly_refresh"]["scheduleState"]["status"] == "RUNNING", schedules["weekly_refresh"]
    assert "raw_files_sensor" in sensors, f"sensors served: {sorted(sensors)}"
    assert sensors["raw_files_sensor"]["sensorState"]["status"] == "RUNNING", sensors["raw_files_sensor"]
    assert sensors["raw_files_sensor"]["minIntervalSeconds"] == 60, sensors["raw_files_sensor"]

    # the private DAGSTER_HOME was the instance, and nothing was written in the repository
    instance_entries = {p.name for p in home.iterdir()} - {"dagster.yaml"}
    assert instance_entries, "the webserver wrote nothing in its DAGSTER_HOME: it used another instance"
    new_in_root = {p.name for p in REPO.iterdir()} - root_before  # the other files are not ours to police
    leaked = {n for n in new_in_root if n in instance_entries or n.startswith(".tmp_dagster_home_")}
    assert not leaked, f"Dagster instance files written in the repository: {sorted(leaked)}"
    data_after = snapshot(REPO / "data")
    changed = sorted(p for p in data_before.keys() | data_after.keys() if data_before.get(p) != data_after.get(p))
    assert not changed, f"files under data/ created, changed or removed while the webserver ran: {changed}"
