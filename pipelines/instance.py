"""The one Dagster instance every run records on: the command line's, the UI's, the schedule's and the sensor's.

It is DAGSTER_HOME's when that is set (an absolute path holding a dagster.yaml: the UI's and the daemon's, or
PostgreSQL's for a deployment, see docs/distributed.md); otherwise `.dagster_home` in the working directory,
created on first use with the project's shipped dagster.yaml, the folder `dagster dev` is started on in
docs/dagster.md. So after `qp-analytics materialize`, the UI shows its run, its materialisations and its checks.

PostgreSQL's storage (dagster-postgres) and the Celery executor (dagster-celery) are an optional extra,
`qp-analytics[distributed]`: a dagster.yaml that names PostgreSQL without it is refused in one line that says
how to install it (missing_extra), rather than by Dagster's traceback.
"""

import importlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"
DEFAULT_HOME = ".dagster_home"


class InstanceError(Exception):
    """The instance's folder cannot be used (said in one line)."""


def dagster_home() -> Path:
    """DAGSTER_HOME, or the project-local default, created with the shipped dagster.yaml when missing.

    A DAGSTER_HOME that is not an existing folder is refused (InstanceError), as Dagster refuses it: a path
    mistyped would otherwise start an instance of its own there, which neither the UI nor the next run would
    look at (and Dagster said so in a traceback, once the run had started)."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        home = Path(configured)
        if not home.is_dir():
            state = "is not a folder" if home.exists() else "does not exist"
            raise InstanceError(f"DAGSTER_HOME={configured}: {state}; create that folder (the instance is made "
                                f"there on first use) or unset DAGSTER_HOME to use {DEFAULT_HOME} in the working "
                                "directory")
        return home
    home = Path.cwd() / DEFAULT_HOME
    config = home / "dagster.yaml"
    if not config.exists():
        try:
            home.mkdir(exist_ok=True)
            shutil.copyfile(SHIPPED_CONFIG, config)
        except OSError as exc:
            raise InstanceError(f"cannot create the Dagster instance's folder {home} ({exc.strerror or exc}); "
                                "set DAGSTER_HOME to a writable folder holding the project's dagster.yaml") from None
    return home.resolve()


def missing_extra(needed_for: str, modules: Iterable[str]) -> str | None:
    """None when these modules import; otherwise one line: what needs the distributed extra, and how to install it
    (pinned as the tests run it: requirements-dev.lock holds its exact versions)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            return (f"{needed_for} needs the optional dependencies of PostgreSQL and Celery, not installed here "
                    f"(no module {name}): install the extra with `pip install -e '.[distributed]' -c "
                    "requirements-dev.lock` (see docs/distributed.md)")
    return None


def storage_modules(home: Path, config: dict | None = None) -> list[str]:
    """The packages beyond Dagster's own that the instance's dagster.yaml names (`config`: the file as `_config`
    reads it, read here when not given): dagster_postgres for PostgreSQL (`storage: postgres:`, or a storage whose
    `module` is dagster_postgres's). A file Dagster cannot read is Dagster's to report: none then."""
    config = (_config(home) if config is None else config) or {}
    storage = config.get("storage")
    named = isinstance(storage, dict) and "postgres" in storage
    for section in config.values():
        module = section.get("module") if isinstance(section, dict) else None
        named = named or (isinstance(module, str) and module.split(".")[0] == "dagster_postgres")
    return ["dagster_postgres"] if named else []


def _config(home: Path) -> dict | None:
    """The instance's dagster.yaml as a mapping (empty for an empty or missing file: Dagster's defaults, as for a
    DAGSTER_HOME without one); None when it cannot be read or is not a mapping (Dagster's to report then)."""
    import yaml  # Dagster's own dependency

    try:
        config = yaml.safe_load((home / "dagster.yaml").read_text()) or {}
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def require_storage(home: Path, config: dict | None = None) -> None:
    """InstanceError when the instance's storage needs a package that is not installed (the distributed extra);
    `config` as storage_modules'."""
    missing = missing_extra(f"the Dagster instance of {home / 'dagster.yaml'} (on PostgreSQL)",
                            storage_modules(home, config))
    if missing:
        raise InstanceError(missing)


def project_instance(quiet: bool = False):  # -> DagsterInstance, a context manager
    """The instance; `quiet`: its Python log level at CRITICAL for this process and the steps it starts, so a
    command's standard error carries no Dagster debug lines, and the steps' own log lines are not stored (their
    Dagster events are: materialisations, check evaluations, step starts...; docs/dagster.md, 'Events'). The
    UI's instance, opened from the same folder, keeps its own level."""
    from dagster import DagsterInstance

    folder = dagster_home()
    config = _config(folder)  # read once, for both uses below
    require_storage(folder, config)  # one line naming the extra, not Dagster's CheckError from deep in its config
    home = str(folder)
    if quiet:
        try:  # Dagster's reference with overrides: what DagsterInstance.local_temp takes, for a stored home
            from dagster._core.instance.ref import InstanceRef

            return DagsterInstance.from_ref(InstanceRef.from_dir(home, overrides={
                "python_logs": {"python_log_level": "CRITICAL"}, **pooled_event_log(folder, config)}))
        except ImportError:  # moved in another Dagster version: Dagster's lines then show
            pass
    return DagsterInstance.from_config(home)


def pooled_event_log(home: Path, config: dict | None = None) -> dict:
    """The override that stores the run's events with pipelines.event_storage's pooled SQLite event log, when the
    instance's dagster.yaml leaves the storage to Dagster's default (SQLite, in `home`): the same files, in the
    same folder (`history/runs`, as Dagster's default storage puts them). Nothing for any other storage.
    `config`: the file as `_config` reads it (read here when not given)."""
    config = _config(home) if config is None else config
    if config is None or any(config.get(k) for k in STORAGE_KEYS):
        return {}
    return {"event_log_storage": {"module": "pipelines.event_storage", "class": "PooledSqliteEventLogStorage",
                                  "config": {"base_dir": str(home / "history" / "runs")}}}


# the dagster.yaml sections that choose a storage other than Dagster's default
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")
