"""Real database infrastructure for the tests and the soak benchmark: PgBouncer in front of a
server, and a PostgreSQL 15 primary with a streaming standby (``pg_basebackup -R``).

Nothing here is mocked: these are the Debian packages' own binaries (``apt-get install pgbouncer
postgresql-15``), run on free ports with their own configuration files in a folder of their own.
When a binary is missing, ``missing()`` says which one, and the caller skips with that reason.

Run as root (CI, these machines), the servers run as the ``postgres`` user (PostgreSQL refuses
root), and PgBouncer as the owner of the socket folder it connects to (the embedded server's data
folder is readable by its owner only).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PG15_BIN = Path(os.environ.get("PEROCUBE_TEST_PG15_BIN", "/usr/lib/postgresql/15/bin"))
TIMESCALEDB_CONTROL = Path("/usr/share/postgresql/15/extension/timescaledb.control")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _give(path: Path, user: str | None) -> None:
    """Make ``path`` (and what is in it) belong to ``user`` (root only; a no-op otherwise)."""
    if user is None or not _is_root():
        return
    pw = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid)


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s")


class PgBouncer:
    """A PgBouncer process in ``pool_mode`` in front of one server (``host``: address or socket folder).

    Every database of the server is reachable through it (``* =`` fallback entry), with the
    client's user name; authentication is ``trust`` (as the test servers themselves)."""

    def __init__(self, host: str, port: int, pool_mode: str = "transaction", workdir: Path | None = None,
                 pool_size: int = 20, users: tuple[str, ...] = ("postgres",), databases: tuple[str, ...] = ()) -> None:
        self.host, self.server_port, self.pool_mode = host, port, pool_mode
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="perocube-pgbouncer-"))
        self.pool_size = pool_size
        self.users = users
        self.databases = databases  # named entries (a RELOAD re-points them; the "*" fallback's pools keep theirs)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.run_as: str | None = None
        if _is_root():
            # the socket folder's owner may enter it; for a TCP server any unprivileged user will do
            owner = Path(host).owner() if host.startswith("/") else "postgres"
            self.run_as = owner if owner != "root" else "postgres"

    def config(self) -> str:
        named = [f"{db} = host={self.host} port={self.server_port} dbname={db}" for db in self.databases]
        return "\n".join([
            "[databases]",
            *named,
            f"* = host={self.host} port={self.server_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.workdir / 'users.txt'}",
            # roles the tests create (a read-only role, a non-superuser owner) are looked up in the server
            "auth_user = postgres",
            f"pool_mode = {self.pool_mode}",
            "max_client_conn = 1000",
            f"default_pool_size = {self.pool_size}",
            "max_db_connections = 0",
            "server_reset_query = DISCARD ALL",
            "server_check_delay = 0",
            "server_login_retry = 1",
            "autodb_idle_timeout = 30",
            f"logfile = {self.workdir / 'pgbouncer.log'}",
            "log_connections = 0",
            "log_disconnections = 0",
            f"pidfile = {self.workdir / 'pgbouncer.pid'}",
            "admin_users = postgres",
            "",
        ])

    def start(self) -> PgBouncer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "users.txt").write_text("".join(f'"{u}" ""\n' for u in self.users))
        (self.workdir / "pgbouncer.ini").write_text(self.config())
        _give(self.workdir, self.run_as)
        # -q: nothing on stderr (a pipe nobody reads would block it once full); the log file has it all
        self.proc = subprocess.Popen([PGBOUNCER, "-q", str(self.workdir / "pgbouncer.ini")], user=self.run_as,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port, 15)
        except TimeoutError as exc:
            self.stop()
            log = self.workdir / "pgbouncer.log"
            raise RuntimeError(f"pgbouncer did not start: {log.read_text()[-800:] if log.exists() else exc}") from exc
        return self

    def retarget(self, host: str, port: int) -> None:
        """Point the pooler at another server and RELOAD (what a cluster manager does after a
        failover): new transactions go to the new server."""
        self.host, self.server_port = host, port
        (self.workdir / "pgbouncer.ini").write_text(self.config())
        _give(self.workdir, self.run_as)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def url(self, database: str, user: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={database} user={user}"

    def log_text(self) -> str:
        p = self.workdir / "pgbouncer.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # immediate shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class PgServer:
    """One PostgreSQL 15 server (initdb'd primary, or a standby made with ``pg_basebackup -R``)."""

    def __init__(self, datadir: Path, port: int | None = None, timescaledb: bool | None = None) -> None:
        self.datadir = Path(datadir)
        self.port = port or free_port()
        self.timescaledb = TIMESCALEDB_CONTROL.exists() if timescaledb is None else timescaledb
        self.user = "postgres" if _is_root() else None
        self.log = self.datadir.parent / f"{self.datadir.name}.log"

    def _run(self, *args: str, timeout: float = 120) -> None:
        res = subprocess.run([str(a) for a in args], user=self.user, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {(res.stderr or res.stdout).strip()[-800:]}")

    def _settings(self) -> str:
        lines = [f"port = {self.port}", "listen_addresses = '127.0.0.1'", f"unix_socket_directories = '{self.datadir}'",
                 "wal_level = replica", "max_wal_senders = 10", "hot_standby = on", "max_connections = 200",
                 "fsync = on", "shared_buffers = 64MB", "wal_keep_size = 256MB", "hot_standby_feedback = on",
                 "logging_collector = off", "log_min_messages = warning"]
        if self.timescaledb:
            lines += ["shared_preload_libraries = 'timescaledb'", "timescaledb.telemetry_level = off",
                      "timescaledb.max_background_workers = 4", "max_worker_processes = 16"]
        return "\n".join(lines) + "\n"

    def init_primary(self) -> PgServer:
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        _give(self.datadir.parent, self.user)
        self._run(PG15_BIN / "initdb", "-D", self.datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-instructions")
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(self._settings())
        with open(self.datadir / "pg_hba.conf", "a") as f:
            f.write("host replication postgres 127.0.0.1/32 trust\n")
        return self

    def init_standby(self, primary: PgServer) -> PgServer:
        """A streaming standby of ``primary`` (``-R``: standby.signal and primary_conninfo written)."""
        self._run(PG15_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", primary.port, "-U", "postgres",
                  "-D", self.datadir, "-R", "-X", "stream", "-c", "fast")
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(f"port = {self.port}\nunix_socket_directories = '{self.datadir}'\n")
        return self

    def start(self) -> PgServer:
        self._run(PG15_BIN / "pg_ctl", "-D", self.datadir, "-l", self.log, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run(PG15_BIN / "pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "60", "stop")

    def promote(self) -> None:
        self._run(PG15_BIN / "pg_ctl", "-D", self.datadir, "-w", "-t", "60", "promote")

    def url(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={database} user=postgres"

    def is_in_recovery(self) -> bool:
        with psycopg.connect(self.url(), connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            return bool(row and row[0])


def missing(*binaries: str) -> str | None:
    """Why these tools cannot run here (a reason for ``pytest.skip``), or None."""
    for name in binaries:
        path = Path(PGBOUNCER) if name == "pgbouncer" else PG15_BIN / name
        if not path.exists():
            hint = "apt-get install pgbouncer" if name == "pgbouncer" else "apt-get install postgresql-15"
            return f"{path} not found ({hint})"
    return None


class StreamingPair:
    """A primary and its hot standby (streaming replication), PostgreSQL 15, each on a free port.

    ``synchronous``: commits wait until the standby has flushed them (``synchronous_standby_names
    = '*'``, set on the primary only, after the base backup, so that a promoted standby does not
    wait for a standby of its own). That is what makes a failover lose no committed row."""

    def __init__(self, workdir: Path | None = None, timescaledb: bool | None = False, synchronous: bool = True) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="perocube-pg15-"))
        self.primary = PgServer(self.workdir / "primary", timescaledb=timescaledb)
        self.standby = PgServer(self.workdir / "standby", timescaledb=self.primary.timescaledb)
        self.synchronous = synchronous

    def start(self, database: str = "perocube") -> StreamingPair:
        self.primary.init_primary().start()
        with psycopg.connect(self.primary.url(), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
        self.standby.init_standby(self.primary).start()
        if self.synchronous:
            with psycopg.connect(self.primary.url(), autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
                conn.execute("SELECT pg_reload_conf()")
        self.wait_streaming()
        return self

    def wait_streaming(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with psycopg.connect(self.primary.url(), autocommit=True) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
            if row and row[0]:
                return
            time.sleep(0.2)
        raise TimeoutError("the standby never started streaming")

    def wait_replayed(self, timeout: float = 60.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary.url(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        target = row[0] if row else "0/0"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with psycopg.connect(self.standby.url(), autocommit=True) as conn:
                row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.1)
        raise TimeoutError("the standby did not catch up")

    def multi_host_url(self, database: str = "perocube", attrs: str = "read-write") -> str:
        """libpq's multi-host form: the writer's URL that follows a failover."""
        return (f"host=127.0.0.1,127.0.0.1 port={self.primary.port},{self.standby.port} dbname={database} "
                f"user=postgres target_session_attrs={attrs} connect_timeout=3")

    def kill_primary(self) -> None:
        self.primary.stop("immediate")

    def promote(self) -> None:
        self.standby.promote()

    def stop(self) -> None:
        for server in (self.standby, self.primary):
            try:
                server.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # already down: say so, go on
                print(f"stopping {server.datadir}: {exc}")
        shutil.rmtree(self.workdir, ignore_errors=True)
