"""The command line's event log (pipelines.event_storage): what it stores, Dagster's own storage reads as its own;
it keeps open the databases of the index and of the latest runs only; it is used only where the instance's
storage is Dagster's default."""

import logging
import os
import shutil
import time
from pathlib import Path

import pytest
from dagster import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines.event_storage import RUN_ENGINES_KEPT, PooledSqliteEventLogStorage
from pipelines.instance import pooled_event_log, project_instance
from tests.conftest import REPO


def _open_databases(folder: Path) -> set[str]:
    """The SQLite databases of `folder` this process has a file open on (the database, its WAL or shared memory)."""
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
        if target.parent == folder:
            names.add(target.name.split(".db")[0])
    return names


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_pooled_events_read_back_with_dagsters_own_storage_and_few_databases_stay_open(tmp_path):
    folder = tmp_path / "runs"
    pooled = PooledSqliteEventLogStorage(str(folder))
    runs = [f"run{i}" for i in range(RUN_ENGINES_KEPT + 3)]
    for i, run_id in enumerate(runs):
        for n in range(3):
            pooled.store_event(EventLogEntry(None, logging.INFO, f"{run_id} line {n}", run_id, time.time()))
        # the index and the latest runs' databases, not one per run so far
        assert _open_databases(folder) <= {"index", *runs[: i + 1][-RUN_ENGINES_KEPT:]}
    assert _open_databases(folder) == {"index", *runs[-RUN_ENGINES_KEPT:]}
    own = SqliteEventLogStorage(str(folder))
    for run_id in runs:
        records = own.get_records_for_run(run_id).records
        assert [r.event_log_entry.user_message for r in records] == [f"{run_id} line {n}" for n in range(3)]
    pooled.dispose()
    assert _open_databases(folder) == set()


def _home(tmp_path: Path, text: str | None) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    if text is None:
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    elif text == NO_FILE:
        pass
    else:
        (home / "dagster.yaml").write_text(text)
    return home


NO_FILE = "(no dagster.yaml)"  # a DAGSTER_HOME without one: Dagster's defaults


@pytest.mark.parametrize("text", [None, "", NO_FILE], ids=["shipped dagster.yaml", "empty dagster.yaml", "none"])
def test_the_default_storage_gets_the_pooled_event_log_in_dagsters_own_folder(tmp_path, monkeypatch, text):
    home = _home(tmp_path, text)
    override = pooled_event_log(home)["event_log_storage"]
    assert (override["module"], override["class"]) == ("pipelines.event_storage", "PooledSqliteEventLogStorage")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with project_instance(quiet=True) as quiet, project_instance() as own:
        assert isinstance(quiet.event_log_storage, PooledSqliteEventLogStorage)
        assert type(own.event_log_storage) is SqliteEventLogStorage
        # the same folder as Dagster's default storage
        assert quiet.event_log_storage._base_dir == own.event_log_storage._base_dir  # noqa: SLF001


@pytest.mark.parametrize("text", [
    "storage:\n  postgres:\n    postgres_url: postgresql://localhost/dagster\n",
    "event_log_storage:\n  module: dagster._core.storage.event_log\n  class: SqliteEventLogStorage\n"
    "  config:\n    base_dir: /somewhere\n",
    "storage: [not, a, mapping\n",
], ids=["postgres", "an event log storage of its own", "unreadable"])
def test_any_other_storage_is_left_as_configured(tmp_path, text):
    assert pooled_event_log(_home(tmp_path, text)) == {}
