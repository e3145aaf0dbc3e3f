"""Dagster's SQLite event log, its connections kept open for the run that writes it.

Dagster's `SqliteEventLogStorage` opens a new SQLAlchemy engine and SQLite connection for every event it
stores, and closes them after (its engines have no pool): a run of 14 territories stores about 200 events,
each opened, initialised by SQLAlchemy, written and closed, some of them twice (the run's own database and the
instance's index). `PooledSqliteEventLogStorage` is the same storage, with the same files and the same
tables, but each database's engine is kept, with its pool of connections: an event then costs its write.

The command line's runs use it when the instance's dagster.yaml leaves the storage to Dagster's default (SQLite
in DAGSTER_HOME): `pipelines.instance.project_instance(quiet=True)`. The UI and the daemon, which open the same
folder with Dagster's own classes, read what it writes as theirs (the files are the same). Engines are kept
for the index and for the most recent runs' databases only (RUN_ENGINES_KEPT), so a process that runs many
runs (a test session) does not keep a file open per run.
"""

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine
from sqlalchemy.pool import QueuePool

# run databases whose engines stay open besides the index's: the run being written, and the one before
RUN_ENGINES_KEPT = 2


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose engines (and their connections) are kept between events."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        # shard -> engine, the least recent first (before Dagster's __init__, which makes a new index through it)
        self._engines: OrderedDict[str, Any] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> "PooledSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        # as Dagster's own (one connection at a time, under its lock; the database made on first use), but the
        # engine is kept, its connection returned to the pool, not closed
        with self._db_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1,
                                       connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                self._engines[shard] = engine
                self._forget_old_runs()
            else:
                self._engines.move_to_end(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _forget_old_runs(self) -> None:
        runs = [shard for shard in self._engines if shard != INDEX_SHARD_NAME]
        for shard in runs[:-RUN_ENGINES_KEPT]:
            self._engines.pop(shard).dispose()

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()
