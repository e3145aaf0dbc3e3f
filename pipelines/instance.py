"""The one Dagster instance every run records on: the command line's, the UI's, the schedule's and the sensor's.

It is DAGSTER_HOME's when that is set (an absolute path holding a dagster.yaml: the UI's and the daemon's, or
PostgreSQL's for a deployment, see docs/distributed.md); otherwise `.dagster_home` in the working directory,
created on first use with the project's shipped dagster.yaml, the folder `dagster dev` is started on in
docs/dagster.md. So after `qp-analytics materialize`, the UI shows its run, its materialisations and its checks.
"""

import os
import shutil
from pathlib import Path

SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"
DEFAULT_HOME = ".dagster_home"


class InstanceError(Exception):
    """The instance's folder cannot be used (said in one line)."""


def dagster_home() -> Path:
    """DAGSTER_HOME, or the project-local default, created with the shipped dagster.yaml when missing."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured)
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


def project_instance(quiet: bool = False):  # -> DagsterInstance, a context manager
    """The instance; `quiet`: its Python log level at CRITICAL for this process and the steps it starts, so a
    command's standard error carries no Dagster debug lines (the runs' events are stored all the same; the
    UI's instance, opened from the same folder, keeps its own level)."""
    from dagster import DagsterInstance

    home = str(dagster_home())
    if quiet:
        try:  # Dagster's reference with overrides: what DagsterInstance.local_temp takes, for a stored home
            from dagster._core.instance.ref import InstanceRef

            return DagsterInstance.from_ref(InstanceRef.from_dir(home, overrides={
                "python_logs": {"python_log_level": "CRITICAL"}}))
        except ImportError:  # moved in another Dagster version: Dagster's lines then show
            pass
    return DagsterInstance.from_config(home)
