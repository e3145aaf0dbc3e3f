"""A throw-away PostgreSQL server on 127.0.0.1 for the tests (initdb in a temporary folder, a free port).

PostgreSQL refuses to run as root: when the tests run as root, its programs run as the `postgres` user (or
`nobody`), in a folder made under /tmp and given to that user (pytest's own temporary folders are private to
root). The server binaries come from PATH or Debian's /usr/lib/postgresql/<version>/bin.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    role = "postgres"  # the superuser initdb creates (trust authentication, loopback only)

    def __init__(self):
        bindir = server_binaries()
        if bindir is None:
            raise RuntimeError("PostgreSQL server programs not found (initdb): run scripts/system-deps.sh")
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="qp-pg-", dir="/tmp"))
        self.data, self.sockets, self.log = self.base / "data", self.base / "sockets", self.base / "server.log"
        self.sockets.mkdir()
        self.port = free_port()
        self._as: dict = {}
        if os.geteuid() == 0:
            user = next(u for u in ("postgres", "nobody") if _exists(u))
            pw = pwd.getpwnam(user)
            self._as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            for path in (self.base, self.sockets):
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
        return subprocess.run([str(self.bindir / program), *args], check=check, env=env, cwd=self.base,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180, **self._as)

    def start(self) -> "PgServer":
        self._run("initdb", "-D", str(self.data), "-U", self.role, "--auth=trust", "-E", "UTF8", "--locale=C",
                  "--no-sync", "--no-instructions")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.sockets} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        try:
            self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "120", "-l", str(self.log), "-o", options)
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {exc.stdout}{exc.stderr}\n{log}") from exc
        return self

    def stop(self) -> int:
        """Fast shutdown; returns pg_ctl's status (0: stopped)."""
        if not (self.data / "postmaster.pid").exists():
            return 0
        stopped = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "120", check=False)
        return stopped.returncode

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://{self.role}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.role, dbname="postgres")
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()

    def query(self, database: str, sql: str) -> list[tuple]:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.role, dbname=database)
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            con.close()


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True
