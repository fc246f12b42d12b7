"""Issue #20.3: Ctrl-C (SIGINT) and SIGTERM end every command with one line (what was done, what to
run to resume), exit 130/143, no traceback, no partial output file, and the next run resumes.

Real processes and real signals. A command is caught in the middle deterministically: the test holds
an ACCESS EXCLUSIVE lock on the tables the command needs, waits until the command's session waits
for that lock (pg_stat_activity), and only then sends the signal. POSIX only (Windows delivers no
SIGTERM to a console program; the app code is the same there)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from conftest import MANIFEST
from helpers import free_port, wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TABLES = "mpp_measurement, temperature_measurement, irradiance_measurement"


def start(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "perocube_desktop", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def last_line(err: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    return [ln for ln in err.splitlines() if ln.strip()][-1]


def waiting_for_lock(admin: psycopg.Connection, application: str, statement: str = "%") -> bool:
    """The command's session waits for a lock in a statement like ``statement`` (for the import: writing
    rows; with TimescaleDB its session may wait earlier, behind a compression job that waits for us)."""
    return bool(admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s "
                              "AND wait_event_type = 'Lock' AND query ILIKE %s",
                              (application + "%", statement)).fetchone()[0])


def import_waits(admin: psycopg.Connection) -> bool:
    return waiting_for_lock(admin, "perocube-import", "INSERT %")


def hold_channels(db_url: str, folder) -> psycopg.Connection:
    """Every MPP channel of the folder inserted in a transaction left open: the import's registration
    of its first MPP file waits for it, inside the import (table locks would also stop TimescaleDB's
    policy jobs, which the import's compression hold then waits behind)."""
    from perocube_desktop.importer.scan import scan

    conn = psycopg.connect(db_url)
    channels = sorted({(f.board, f.channel) for f in scan(folder).files if f.kind == "mpp"})
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO mpp_tracking_channel (board, channel) VALUES (%s, %s)", channels)
    return conn


def hold_tables(db_url: str, tables: str = TABLES) -> psycopg.Connection:
    conn = psycopg.connect(db_url, prepare_threshold=None)
    conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
    return conn


def signal_while_blocked(db_url: str, tables: str, application: str, sig: int, *args: str) -> tuple[int, str, str]:
    """Start the command, wait until its session (``application``) waits for the lock held on
    ``tables``, send it ``sig``, and return its (exit code, stdout, stderr); the lock is released after."""
    lock = hold_tables(db_url, tables)
    admin = psycopg.connect(db_url, autocommit=True)
    try:
        proc = start(*args)
        wait_until(lambda: waiting_for_lock(admin, application), timeout=60)
        proc.send_signal(sig)
        return finish(proc, timeout=30)
    finally:
        lock.rollback()
        lock.close()
        admin.close()


def all_rows(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES.split(", "))


def mpp_rows(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0]


@pytest.mark.direct_connection("holds a transaction open and watches pg_stat_activity for the command's session")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_import_stops_after_the_chunk_says_so_and_resumes(sig, db_url, sample_dir):
    lock = hold_channels(db_url, sample_dir)
    admin = psycopg.connect(db_url, autocommit=True)
    proc = start("import", str(sample_dir), "--db", db_url)
    try:
        wait_until(lambda: import_waits(admin), timeout=60)
        proc.send_signal(sig)  # the first signal lets the work in hand finish (after the lock goes)
        time.sleep(0.5)
    finally:
        lock.rollback()
        lock.close()
    code, out, err = finish(proc)
    assert code == 128 + sig
    m = re.fullmatch(rf"interrupted by {signal.Signals(sig).name}: (\d+) of 26 files imported, ([\d,]+) rows "
                     rf"inserted; run 'perocube-desktop import {re.escape(str(sample_dir))}' again to import the rest",
                     last_line(err))
    assert m, err
    assert "files imported" not in out  # no summary pretending it finished
    expected = sum(MANIFEST["mpp_good_samples_per_channel"].values())
    assert int(m.group(1)) < 26 and all_rows(db_url) == int(m.group(2).replace(",", "")) and mpp_rows(db_url) < expected
    code, out, err = finish(start("import", str(sample_dir), "--db", db_url), timeout=300)
    assert code == 0, err
    assert mpp_rows(db_url) == expected  # resumed: every row once
    admin.close()


@pytest.mark.direct_connection("holds a transaction open and watches pg_stat_activity for the command's session")
def test_a_second_signal_stops_the_import_at_once(db_url, sample_dir):
    lock = hold_channels(db_url, sample_dir)
    admin = psycopg.connect(db_url, autocommit=True)
    try:
        proc = start("import", str(sample_dir), "--db", db_url)
        wait_until(lambda: import_waits(admin), timeout=60)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        code, _out, err = finish(proc, timeout=20)  # while the lock is still held: the query was cancelled
        assert code == 130
        assert last_line(err).startswith("interrupted by SIGINT: the chunks committed so far are kept; run ")
    finally:
        lock.rollback()
        lock.close()
    assert mpp_rows(db_url) == 0  # the import stopped at its first MPP file
    code, _out, err = finish(start("import", str(sample_dir), "--db", db_url), timeout=300)
    assert code == 0, err
    assert mpp_rows(db_url) == sum(MANIFEST["mpp_good_samples_per_channel"].values())
    admin.close()


@pytest.mark.direct_connection("holds a transaction open and watches pg_stat_activity for the command's session")
def test_report_interrupted_leaves_no_file(db_url, sample_dir, tmp_path):
    from perocube_desktop.importer.engine import run_import

    run_import(db_url, sample_dir)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = signal_while_blocked(db_url, "mpp_measurement, mpp_rollup_1m", "perocube-report", signal.SIGTERM,
                                          "report", "--all", "--out", str(out_dir / "r.pdf"), "--db", db_url)
    assert code == 143
    assert last_line(err) == f"interrupted by SIGTERM: {out_dir / 'r.pdf'} was not written; run the same command again"
    assert list(out_dir.iterdir()) == []


@pytest.mark.direct_connection("holds a transaction open and watches pg_stat_activity for the command's session")
def test_backup_interrupted_leaves_no_file(db_url, tmp_path):
    (tmp_path / "backups").mkdir()
    dump = tmp_path / "backups" / "lab.dump"
    code, _out, err = signal_while_blocked(db_url, TABLES, "pg_dump", signal.SIGINT,
                                           "db", "backup", str(dump), "--db", db_url)
    assert code == 130
    assert last_line(err) == f"interrupted by SIGINT: no backup was written to {dump}; run " \
                             f"'perocube-desktop db backup {dump}' again"
    assert list(dump.parent.iterdir()) == []  # neither the file nor a partial one
    code, _out, err = finish(start("db", "backup", str(dump), "--db", db_url), timeout=120)
    assert code == 0 and dump.stat().st_size > 1000, err


def test_serve_on_sigint_says_it_stopped(db_url):
    port = free_port()
    proc = start("serve", "--port", str(port), "--db", db_url)
    try:
        assert "read API on" in proc.stdout.readline()
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
    code, _out, err = finish(proc)
    assert code == 130
    assert last_line(err).startswith(f"interrupted by SIGINT: the read API on 127.0.0.1:{port} stopped")


def test_receive_on_sigterm_says_what_it_kept_and_restarts(db_url, tmp_path):
    from helpers import LineClient, mpp

    port = free_port()
    args = ("receive", "--port", str(port), "--db", db_url, "--buffer", str(tmp_path / "b.sqlite3"))
    proc = start(*args)
    assert "receiving on" in proc.stdout.readline()
    c = LineClient(port)
    assert c.request(mpp(1_714_745_230.0)) == "ACK 1"
    c.close()
    proc.send_signal(signal.SIGTERM)
    code, _out, err = finish(proc)
    assert code == 143
    assert last_line(err).startswith("interrupted by SIGTERM: receiver stopped after 1 rows accepted")
    proc = start(*args)  # the next run starts cleanly on the same port and buffer
    assert "receiving on" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    assert finish(proc)[0] == 130


def test_simulate_on_sigterm_says_what_it_sent(db_url, tmp_path):
    from perocube_desktop.config import Settings
    from perocube_desktop.ingest.service import IngestService

    svc = IngestService(Settings(), db_url, buffer_file=tmp_path / "b.sqlite3", port=0, tap_size=0)
    svc.start()
    try:
        proc = start("simulate", "--port", str(svc.receiver.port), "--boards", "1", "--channels", "2",
                     "--interval", "0.05")
        wait_until(lambda: svc.receiver.counters.rows_accepted >= 20, timeout=60)
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    finally:
        svc.stop()
    assert code == 143
    line = last_line(err)
    assert line.startswith("interrupted by SIGTERM: sent ") and "run the same 'perocube-desktop simulate' again" in line
    assert out == ""


def test_a_signal_while_waiting_for_the_database_is_one_line(tmp_path):
    """Before any work: the generic line, exit 130, no traceback (here: a database that never answers)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers: libpq waits for its connect_timeout
    try:
        proc = start("db", "status", "--db", f"postgresql://x@127.0.0.1:{silent.getsockname()[1]}/x?connect_timeout=60")
        silent.settimeout(60)
        conn, _ = silent.accept()  # the command is inside its connection attempt
        proc.send_signal(signal.SIGINT)
        code, _out, err = finish(proc, timeout=30)
        conn.close()
    finally:
        silent.close()
    assert code == 130 and last_line(err).startswith("interrupted by SIGINT: ")
