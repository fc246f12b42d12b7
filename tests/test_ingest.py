"""Receiver + local buffer + writer with real sockets, a real PostgreSQL and real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from perocube_desktop.config import Settings
from perocube_desktop.db.embedded import EmbeddedServer
from perocube_desktop.db.migrate import migrate
from perocube_desktop.ingest.service import IngestService
from perocube_desktop.protocol import temperature_sensor_uuid

from helpers import LineClient, assert_rollups_match, free_port, mpp, wait_until

T = 1714745230.0


def count(url: str, table: str = "mpp_measurement") -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # table names are literals here


@pytest.fixture
def service(db_url, tmp_path):
    settings = Settings()
    settings.writer.flush_interval_s = 0.05
    svc = IngestService(settings, db_url, buffer_file=tmp_path / "buf.sqlite3", port=0)
    svc.start()
    yield svc
    svc.stop()


def test_single_messages_reach_database_once(service, db_url):
    c = LineClient(service.receiver.port)
    for i in range(20):
        assert c.request(mpp(T + i, id=i)) == f"ACK 1 id={i}"
    # a client that got no reply re-sends: no duplicate
    for i in range(20):
        assert c.request(mpp(T + i)) == "ACK 1"
    c.close()
    wait_until(lambda: service.buffer.count() == 0 and count(db_url) == 20)
    time.sleep(0.3)
    assert count(db_url) == 20
    with psycopg.connect(db_url) as conn:  # channel registered automatically
        assert conn.execute("SELECT count(*) FROM mpp_tracking_channel WHERE board = 1 AND channel = 1").fetchone()[0] == 1


def test_byte_at_a_time_and_500_lines_in_one_write(service, db_url):
    slow = LineClient(service.receiver.port)
    line = (json.dumps(mpp(T, channel=2)) + "\r\n").encode()
    for b in line:
        slow.send_raw(bytes([b]))
    assert slow.reply() == "ACK 1"
    fast = LineClient(service.receiver.port)
    fast.send_raw(b"".join((json.dumps(mpp(T + i, channel=3, id=i)) + "\n").encode() for i in range(500)))
    replies = [fast.reply() for _ in range(500)]
    assert replies == [f"ACK 1 id={i}" for i in range(500)]
    wait_until(lambda: count(db_url) == 501)


def test_bad_lines_between_good_ones_are_quarantined(service, db_url):
    c = LineClient(service.receiver.port)
    c.send_raw(b"".join([
        json.dumps(mpp(T, id="a")).encode() + b"\n",
        b"this is not json\n",
        b"\n",
        json.dumps({"type": "mpp", "data": [{"timestamp": T + 1, "power": 1}, {"timestamp": "yesterday", "power": 1}],
                    "metadata": {"board": 1, "channel": 1}, "id": "b"}).encode() + b"\r\n",
        b'{"type": "weather"}\n',
        b"x" * (1 << 20) + b"y" * 100 + b"\n",
        json.dumps({"type": "ping"}).encode() + b"\n",
        json.dumps({"type": "temperature", "data": {"timestamp": T, "temperature": 30.0},
                    "metadata": {"sensor_id": "0c8a9d7e-0000-4000-8000-000000000000"}}).encode() + b"\n",
    ]))
    replies = [c.reply() for _ in range(7)]
    assert replies[0] == "ACK 1 id=a"
    assert replies[1].startswith("ERR BAD_JSON")
    assert replies[2] == "ACK 1 1 id=b"
    assert replies[3].startswith("ERR UNKNOWN_TYPE")
    assert replies[4].startswith("ERR TOO_LONG")
    assert replies[5] == "PONG"
    assert replies[6] == "ACK 1"  # accepted into the buffer; the unknown sensor_id is quarantined by the writer
    wait_until(lambda: count(db_url, "quarantine") == 5)
    with psycopg.connect(db_url) as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM quarantine ORDER BY id")]
        origins = {r[0] for r in conn.execute("SELECT origin FROM quarantine WHERE origin IS NOT NULL")}
    assert any("unreadable timestamp" in r for r in reasons)
    assert any(r.startswith("TOO_LONG") for r in reasons)
    assert any("unknown temperature sensor_id" in r for r in reasons)
    assert all(o.startswith("127.0.0.1:") for o in origins)
    assert count(db_url) == 2


def test_sensors_by_identifier_are_registered(service, db_url):
    c = LineClient(service.receiver.port)
    assert c.request({"type": "temperature", "data": [{"timestamp": T + i, "temperature": 40 + i} for i in range(3)],
                      "metadata": {"sensor_identifier": "m7004_ID_37F6F9511A64FF28"}}) == "ACK 3"
    assert c.request({"type": "irradiance", "data": {"timestamp": T, "raw_reading": 40213, "irradiance": NaN_SAFE},
                      "metadata": {"sensor_identifier": "PT-104", "channel": 1}}) == "ACK 1"
    wait_until(lambda: count(db_url, "temperature_measurement") == 3 and count(db_url, "irradiance_measurement") == 1)
    with psycopg.connect(db_url) as conn:
        sid = conn.execute("SELECT temperature_sensor_id FROM temperature_sensor").fetchone()[0]
    assert sid == temperature_sensor_uuid("m7004_ID_37F6F9511A64FF28")


NaN_SAFE = 998.4


def test_refused_peer(db_url, tmp_path):
    settings = Settings()
    svc = IngestService(settings, db_url, buffer_file=tmp_path / "b.sqlite3", port=0, allow=["10.9.9.9"])
    svc.start()
    try:
        c = LineClient(svc.receiver.port)
        with pytest.raises((ConnectionError, OSError)):
            c.request({"type": "ping"})
        wait_until(lambda: svc.receiver.counters.peers_refused == 1)
    finally:
        svc.stop()


def test_database_outage_mid_stream(tmp_path):
    server = EmbeddedServer(tmp_path / "pg")
    url = server.start()
    migrate(url)
    settings = Settings()
    settings.writer.flush_interval_s = 0.05
    settings.writer.max_backoff_s = 0.5
    svc = IngestService(settings, url, buffer_file=tmp_path / "buf.sqlite3", port=0)
    svc.start()
    try:
        c = LineClient(svc.receiver.port)
        for i in range(100):
            assert c.request(mpp(T + i)) == "ACK 1"
        wait_until(lambda: count(url) == 100)
        server.stop()
        for i in range(100, 300):
            assert c.request(mpp(T + i)) == "ACK 1"  # still ACKed: durable in the local buffer
        wait_until(lambda: svc.status().db_state == "reconnecting")
        assert svc.status().buffered_rows > 0 and svc.status().db_error
        server.start()
        for i in range(300, 350):
            assert c.request(mpp(T + i)) == "ACK 1"
        wait_until(lambda: svc.buffer.count() == 0, timeout=30)
        assert count(url) == 350
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(DISTINCT \"timestamp\") FROM mpp_measurement").fetchone()[0] == 350
    finally:
        svc.stop()
        server.stop()


def test_receive_process_killed_and_restarted(db_url, tmp_path):
    port = free_port()
    buf = tmp_path / "buf.sqlite3"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "perocube_desktop", "receive", "--db", db_url, "--port", str(port), "--buffer", str(buf)]

    def start():
        # Windows: a process group of its own, so that Ctrl-Break (the orderly stop there) reaches only it
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if sys.platform == "win32" else 0
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, creationflags=flags)
        assert b"receiving on" in proc.stdout.readline()
        return proc

    from perocube_desktop.ingest.buffer import DiskBuffer

    proc = start()
    # hold the writer off the table, so that every ACKed row is only in the disk buffer when the
    # process dies: what comes back after the restart can only come from that buffer
    blocker = psycopg.connect(db_url)
    blocker.execute("LOCK TABLE mpp_measurement IN ACCESS EXCLUSIVE MODE")
    c = LineClient(port)
    acked = 0
    for i in range(300):
        batch = {"type": "mpp", "metadata": {"board": 3}, "data": [
            {"timestamp": T + i, "channel": ch, "power": 1.0, "current": 1.0, "voltage": 1.0} for ch in range(1, 9)]}
        assert c.request(batch) == "ACK 8"
        acked += 8
    proc.kill()  # SIGKILL; on Windows TerminateProcess (no SIGKILL there)
    proc.wait(10)
    c.close()
    blocker.rollback()  # the killed writer's transaction, if it got that far, can only fail now
    blocker.close()
    assert count(db_url) == 0
    killed_buffer = DiskBuffer(buf)
    assert killed_buffer.count() == acked  # every ACKed row survived the kill in the buffer
    killed_buffer.close()
    proc = start()
    try:
        c = LineClient(port)
        # the VI re-sends the last few batches it is unsure about
        for i in range(290, 300):
            batch = {"type": "mpp", "metadata": {"board": 3}, "data": [
                {"timestamp": T + i, "channel": ch, "power": 1.0} for ch in range(1, 9)]}
            assert c.request(batch) == "ACK 8"
        wait_until(lambda: count(db_url) == acked, timeout=30)
        time.sleep(0.5)
        assert count(db_url) == acked
    finally:
        stop_in_order(proc)


def stop_in_order(proc: subprocess.Popen) -> None:
    """SIGTERM, on Windows Ctrl-Break (it has no SIGTERM): the command stops in order, exit 128 + the
    signal's number (#20). Under Wine no console event can be sent to a process without a console
    (a Wine gap, docs/packaging.md): there it is terminated, its exit code not checked."""
    if sys.platform != "win32":
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 128 + signal.SIGTERM
        return
    try:
        proc.send_signal(signal.CTRL_BREAK_EVENT)
    except (OSError, SystemError):  # GenerateConsoleCtrlEvent failed: no console (Wine)
        proc.terminate()
        proc.wait(20)
        return
    assert proc.wait(20) == 128 + signal.SIGBREAK


def test_writer_fast_path_and_replay_without_duplicates(db_url, tmp_path):
    from perocube_desktop.db import rollups
    from perocube_desktop.ingest.buffer import DiskBuffer
    from perocube_desktop.ingest.writer import DatabaseWriter
    from perocube_desktop.protocol import Sample

    buf = DiskBuffer(tmp_path / "b.sqlite3")
    rows = [Sample("mpp", 1_714_745_230_000_000 + i * 1_000_000, 1.5, None, 0.9, board=8, channel=i % 4 + 1)
            for i in range(3000)]
    buf.append(rows)
    w = DatabaseWriter(buf, db_url)
    assert w.flush_once() == 3000  # one batch through the direct COPY path
    buf.append(rows[:2500])  # a replay after a crash between the two commits
    assert w.flush_once() == 2500
    assert buf.count() == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), count(current), min(power) FROM mpp_measurement").fetchone() == (3000, 0, 1.5)
        # the rows reach the rollups (marked by the table triggers, refreshed by rollups.refresh)
        conn.commit()
        rollups.refresh(conn)
        assert_rollups_match(conn)
    w.stop()
    buf.close()


# --- clients that behave exactly like the lab's LabVIEW VIs (bare JSON, 3-byte replies) ----------

import logging  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402


def vi_message(ts: float, board: int = 5, channel: int = 1) -> bytes:
    """One object as the VIs write it: no line ending, the lab's ISO timestamps."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(round(ts % 1 * 1000)):03d}Z"
    return json.dumps({"type": "mpp", "data": {"timestamp": stamp, "power": 12.31, "current": 13.02, "voltage": 0.945},
                       "metadata": {"board": board, "channel": channel}}).encode()


def read_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def assert_nothing_more(sock: socket.socket) -> None:
    """No stray bytes after the expected replies (byte-exact)."""
    sock.settimeout(0.3)
    try:
        extra = sock.recv(100)
    except TimeoutError:
        extra = b""
    assert extra == b""


def vi_connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def stored(url: str, board: int) -> tuple[int, int]:
    """(rows, distinct (channel, timestamp)) of one board."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT (tracking_channel_channel, \"timestamp\")) FROM mpp_measurement"
                            " WHERE tracking_channel_board = %s", (board,)).fetchone()


def test_vi_one_long_connection_without_line_endings(service, db_url):
    s = vi_connect(service.receiver.port)
    for i in range(30):
        s.sendall(vi_message(T + i))
        assert read_exactly(s, 3) == b"ACK"
    # a partly usable batch is ACKed (the bad row is quarantined); nothing usable: ERR
    s.sendall(json.dumps({"type": "mpp", "metadata": {"board": 5, "channel": 2}, "data": [
        {"timestamp": T, "power": 1.0}, {"timestamp": "yesterday", "power": 1.0}]}).encode())
    assert read_exactly(s, 3) == b"ACK"
    s.sendall(b'{"type": "mpp", "data": {"timestamp": "never", "power": 1.0}, "metadata": {"board": 5, "channel": 3}}')
    assert read_exactly(s, 3) == b"ERR"
    s.sendall(b'{"type": "weather", "data": {}}')
    assert read_exactly(s, 3) == b"ERR"
    s.sendall(b'{"type": "ping"}')
    assert read_exactly(s, 3) == b"ACK"
    assert_nothing_more(s)
    s.close()
    wait_until(lambda: stored(db_url, 5) == (31, 31))
    wait_until(lambda: count(db_url, "quarantine") == 3)


def test_vi_one_connection_per_message_reading_three_bytes(service, db_url):
    for i in range(30):
        s = vi_connect(service.receiver.port)
        s.sendall(vi_message(T + i, board=6))
        assert read_exactly(s, 3) == b"ACK"
        if i == 29:
            assert_nothing_more(s)
        s.close()
    wait_until(lambda: stored(db_url, 6) == (30, 30))


def test_vi_write_and_close_without_reading(service, db_url, caplog):
    for i in range(30):
        s = vi_connect(service.receiver.port)
        s.sendall(vi_message(T + i, board=7))
        s.close()  # at once: the object must still be stored
    half = vi_connect(service.receiver.port)
    half.sendall(vi_message(T + 100, board=7))
    half.shutdown(socket.SHUT_WR)  # done writing, still reading
    assert read_exactly(half, 4) == b"ACK"
    half.close()
    with caplog.at_level(logging.WARNING, logger="perocube_desktop.ingest.receiver"):
        cut = vi_connect(service.receiver.port)
        cut.sendall(vi_message(T + 200, board=7)[:40])  # an unfinished object, then the VI closes
        peer = "%s:%d" % cut.getsockname()
        cut.close()
        wait_until(lambda: service.receiver.counters.unfinished == 1)
        wait_until(lambda: count(db_url, "quarantine") == 1)
    assert any("closed in the middle of a request" in r.getMessage() and peer in r.getMessage() for r in caplog.records)
    wait_until(lambda: stored(db_url, 7) == (31, 31))
    with psycopg.connect(db_url) as conn:
        origin, raw, reason = conn.execute("SELECT origin, raw, reason FROM quarantine").fetchone()
    assert origin == peer and raw == vi_message(T + 200, board=7)[:40].decode() and "40 bytes" in reason


def test_vi_several_objects_in_one_write_and_one_object_in_many(service, db_url):
    s = vi_connect(service.receiver.port)
    s.sendall(b"".join(vi_message(T + i, board=8) for i in range(10)))  # back to back
    assert read_exactly(s, 30) == b"ACK" * 10
    s.sendall(b"  ".join(vi_message(T + i, board=8) for i in range(10, 20)))  # whitespace between
    assert read_exactly(s, 30) == b"ACK" * 10
    msg = vi_message(T + 20, board=8)
    for k in range(0, len(msg), 9):  # one object split over many writes
        s.sendall(msg[k:k + 9])
        time.sleep(0.01)
    assert read_exactly(s, 3) == b"ACK"
    batch = json.dumps({"type": "mpp", "metadata": {"board": 8}, "data": [
        {"timestamp": T + 100 + i, "channel": 2, "power": 1.0, "current": 2.0, "voltage": 0.5} for i in range(3000)]}).encode()
    for k in range(0, len(batch), 50_000):  # a large batch in several writes
        s.sendall(batch[k:k + 50_000])
        time.sleep(0.02)
    assert read_exactly(s, 3) == b"ACK"
    assert_nothing_more(s)
    s.close()
    wait_until(lambda: stored(db_url, 8) == (3021, 3021))


def test_vi_object_over_the_limit(service, db_url):
    s = vi_connect(service.receiver.port)
    s.sendall(vi_message(T, board=9))
    assert read_exactly(s, 3) == b"ACK"
    s.sendall(b'{"type": "mpp", "data": {"timestamp": "' + b"x" * (1 << 20) + b'"}, "metadata": {}}')
    assert read_exactly(s, 3) == b"ERR"
    s.sendall(vi_message(T + 1, board=9))
    assert read_exactly(s, 3) == b"ACK"
    s.close()
    wait_until(lambda: stored(db_url, 9) == (2, 2))
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT reason FROM quarantine").fetchone()[0].startswith("TOO_LONG")


def test_vi_and_line_clients_together_on_one_port(service, db_url):
    """Every style at once: each object stored exactly once, every reply byte-exact."""
    port = service.receiver.port
    errors: list[BaseException] = []
    n = 40

    def long_vi():
        s = vi_connect(port)
        for i in range(n):
            s.sendall(vi_message(T + i, board=20))
            assert read_exactly(s, 3) == b"ACK"
        assert_nothing_more(s)
        s.close()

    def per_message_vi():
        for i in range(n):
            s = vi_connect(port)
            s.sendall(vi_message(T + i, board=21))
            assert read_exactly(s, 3) == b"ACK"
            s.close()

    def write_and_close_vi():
        for i in range(n):
            s = vi_connect(port)
            s.sendall(vi_message(T + i, board=22))
            s.close()

    def burst_vi():
        s = vi_connect(port)
        for k in range(0, n, 10):
            s.sendall(b"".join(vi_message(T + i, board=23) for i in range(k, k + 10)))
            assert read_exactly(s, 30) == b"ACK" * 10
        s.close()

    def line_client(board: int):
        c = LineClient(port)
        for i in range(n):
            c.send_raw(json.dumps(mpp(T + i, board=board, id=i)).encode() + b"\r\n")
            assert c.file.readline() == b"ACK 1 id=%d\r\n" % i  # byte-exact, with its line ending
        c.send_raw(b'{"type": "ping", "id": "x"}\n')
        assert c.file.readline() == b"PONG id=x\r\n"
        assert c.request("not json").startswith("ERR BAD_JSON ")
        c.close()

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=a) for a in
               [(long_vi,), (per_message_vi,), (write_and_close_vi,), (burst_vi,), (line_client, 24), (line_client, 25)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for board in range(20, 26):
        wait_until(lambda b=board: stored(db_url, b) == (n, n))
    time.sleep(0.3)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0] == 6 * n


def test_buffer_batches_many_small_segments(tmp_path):
    from perocube_desktop.ingest.buffer import DiskBuffer
    from perocube_desktop.protocol import Sample

    buf = DiskBuffer(tmp_path / "b.sqlite3")
    buf.append([Sample("mpp", 1_714_745_230_000_000 + i, 1.0, 2.0, 0.5, board=1, channel=i % 3 + 1) for i in range(100)],
               segment_rows=1)
    buf.append([Sample("temperature", 1_714_745_230_000_000, 40.0, sensor="0c8a9d7e-0000-4000-8000-000000000000")])
    assert buf.count() == 101
    first = buf.read_segments(30)
    assert [(s.id, s.kind, s.rows, s.channels) for s in first] == [(30, "mpp", 30, "1/1 1/2 1/3")]
    assert first[0].body.count("\n") == 30 and (first[0].t_lo, first[0].t_hi) == (1_714_745_230_000_000, 1_714_745_230_000_029)
    buf.delete_upto(first[0].id)
    rest = buf.read_segments(1000)
    assert sorted((s.kind, s.rows) for s in rest) == [("mpp", 70), ("temperature", 1)] and {s.id for s in rest} == {101}
    buf.delete_upto(101)
    assert buf.count() == 0 and buf.read_segments(10) == []
    buf.close()


def test_buffer_file_of_an_earlier_version_is_drained(db_url, tmp_path):
    """Rows left by the previous version (one SQLite row per sample) still reach the database."""
    import sqlite3

    from perocube_desktop.ingest.buffer import DiskBuffer
    from perocube_desktop.ingest.writer import DatabaseWriter

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE pending (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ts_us INTEGER NOT NULL,
            a REAL, b REAL, c REAL, board INTEGER, channel INTEGER, sensor TEXT, ident TEXT, ichan INTEGER, copy_line TEXT);
        CREATE TABLE quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, received_us INTEGER NOT NULL, origin TEXT,
            raw TEXT NOT NULL, reason TEXT NOT NULL);
    """)
    ident = "m7004_ID_37F6F9511A64FF28"
    conn.executemany("INSERT INTO pending (kind, ts_us, a, b, c, board, channel, sensor, ident, ichan) VALUES (?,?,?,?,?,?,?,?,?,?)", [
        ("mpp", 1_714_745_230_000_000, 1.0, 2.0, 0.5, 4, 1, None, None, None),
        ("mpp", 1_714_745_231_000_000, None, 2.0, 0.5, 4, 2, None, None, None),
        ("temperature", 1_714_745_230_000_000, 41.5, None, None, None, None, str(temperature_sensor_uuid(ident)), ident, None),
    ])
    conn.commit()
    conn.close()
    buf = DiskBuffer(path)
    assert buf.count() == 3
    w = DatabaseWriter(buf, db_url)
    assert w.flush_once() == 3
    assert buf.count() == 0
    assert count(db_url) == 2 and count(db_url, "temperature_measurement") == 1
    w.stop()
    buf.close()


@pytest.mark.parametrize("framing", ["vi", "vi-per-message"])
def test_simulator_speaks_like_the_vis(service, db_url, framing):
    from perocube_desktop.ingest.simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(port=service.receiver.port, boards=2, channels=4, interval_s=1.0, duration_s=6,
                              speedup=1000.0, framing=framing))
    stats = sim.run()
    assert stats.errors == 0 and stats.rows == 6 * 2 * (4 + 2)
    wait_until(lambda: count(db_url) == 6 * 2 * 4)
    wait_until(lambda: count(db_url, "temperature_measurement") == 6 * 2)
    assert service.receiver.counters.requests == stats.messages


def test_writer_large_batches_on_two_connections_exactly_once(db_url, tmp_path):
    """Batches over PARALLEL_MIN_ROWS are written by two connections; re-sent rows, also ones that
    fall into both halves, still end up exactly once."""
    from perocube_desktop.ingest.buffer import DiskBuffer
    from perocube_desktop.ingest.writer import PARALLEL_MIN_ROWS, DatabaseWriter
    from perocube_desktop.protocol import Sample

    n = PARALLEL_MIN_ROWS + 5000
    buf = DiskBuffer(tmp_path / "b.sqlite3")
    rows = [Sample("mpp", 1_714_745_230_000_000 + i * 1_000_000, 1.5, 2.0, 0.9, board=9, channel=i % 8 + 1)
            for i in range(n)]
    w = DatabaseWriter(buf, db_url, batch_rows=10 * n)
    buf.append(rows, segment_rows=1000)
    assert w.flush_once() == n  # two halves, direct COPY each
    buf.append(rows[: n // 2], segment_rows=1000)  # a replay, large enough for two connections
    buf.append(rows[: n // 2], segment_rows=1000)
    assert w.flush_once() == n // 2 * 2
    more = [Sample("mpp", 1_800_000_000_000_000 + i * 1_000_000, 1.0, 1.0, 1.0, board=9, channel=1)
            for i in range(n // 2)]
    buf.append(more + more)  # the same new rows in both halves
    w.flush_once()
    while buf.count():
        w.flush_once()
    assert count(db_url) == n + n // 2
    crossed = [Sample("mpp", 1_900_000_000_000_000 + i * 1_000_000, 1.0, 1.0, 1.0, board=9, channel=2)
               for i in range(n // 2)]
    buf.append(crossed + crossed[::-1])  # both halves, opposite orders: each may wait for the other
    while buf.count():
        w.flush_once()
    assert count(db_url) == n + n // 2 * 2
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(DISTINCT (tracking_channel_channel, \"timestamp\")) FROM mpp_measurement"
                            " WHERE tracking_channel_board = 9").fetchone()[0] == n + n // 2 * 2
    w.stop()
    buf.close()


def test_line_fast_path_and_its_fallbacks_then_a_vi_client(service, db_url):
    """A connection known to be line-framed splits a write holding exactly one line at once; anything
    else (a line over several writes, several lines or a line and a half per write, blank lines,
    lines sent while the previous ones are being committed) takes the general path, byte-exact."""
    port = service.receiver.port
    c = LineClient(port)
    assert c.request(mpp(T, board=30, id=0)) == "ACK 1 id=0"  # decides: line protocol

    def line(i: int) -> bytes:
        return (json.dumps(mpp(T + i, board=30, id=i)) + "\r\n").encode()

    msg = line(1)
    c.send_raw(msg[:20])  # one line split over writes
    time.sleep(0.02)
    c.send_raw(msg[20:])
    assert c.reply() == "ACK 1 id=1"
    c.send_raw(line(2) + line(3)[:30])  # a line and a half, then the rest with a whole line
    assert c.reply() == "ACK 1 id=2"
    c.send_raw(line(3)[30:] + line(4))
    assert [c.reply(), c.reply()] == ["ACK 1 id=3", "ACK 1 id=4"]
    c.send_raw(line(5) + b"\n  \r\n" + line(6) + line(7))  # several per write, blank lines between
    assert [c.reply() for _ in range(3)] == ["ACK 1 id=5", "ACK 1 id=6", "ACK 1 id=7"]
    c.send_raw(line(8)[:-2])  # the line ending alone in the next write
    time.sleep(0.02)
    c.send_raw(b"\r\n")
    assert c.reply() == "ACK 1 id=8"
    c.send_raw(b" \r\n")  # a blank line alone: no reply
    assert c.request(mpp(T + 9, board=30, id=9)) == "ACK 1 id=9"
    for i in range(10, 310):  # one write each, without waiting: many arrive during a commit
        c.send_raw(line(i))
    assert [c.reply() for _ in range(300)] == [f"ACK 1 id={i}" for i in range(10, 310)]
    c.send_raw(b"not json\n")  # bad input after the fast path: quarantined with the peer
    assert c.reply().startswith("ERR BAD_JSON")

    s = vi_connect(port)  # a VI on the same port: bare objects, 3-byte replies
    for i in range(2):
        s.sendall(vi_message(T + i, board=31))
        assert read_exactly(s, 3) == b"ACK"
    assert_nothing_more(s)
    s.close()

    c.send_raw(line(310))  # done writing, still reading: the reply comes
    c.sock.shutdown(socket.SHUT_WR)
    assert c.reply() == "ACK 1 id=310"
    with pytest.raises(ConnectionError):
        c.reply()
    c.close()
    wait_until(lambda: stored(db_url, 30) == (311, 311) and stored(db_url, 31) == (2, 2))
    wait_until(lambda: count(db_url, "quarantine") == 1)
    with psycopg.connect(db_url) as conn:
        origin, raw = conn.execute("SELECT origin, raw FROM quarantine").fetchone()
    assert origin.startswith("127.0.0.1:") and raw == "not json"
    wait_until(lambda: service.receiver.counters.clients == 0)


def test_pipelining_client_then_close_while_committing(service, db_url):
    """Lines sent during a commit and an end of stream right behind them: all stored, all answered in order."""
    s = vi_connect(service.receiver.port)
    lines = [(json.dumps(mpp(T + i, board=32, id=i)) + "\n").encode() for i in range(200)]
    s.sendall(lines[0])
    assert read_exactly(s, 10) == b"ACK 1 id=0"
    for ln in lines[1:]:
        s.sendall(ln)
    s.shutdown(socket.SHUT_WR)
    expected = b"".join(b"\r\nACK 1 id=%d" % i for i in range(1, 200)) + b"\r\n"
    assert read_exactly(s, len(expected) + 10) == expected
    s.close()
    wait_until(lambda: stored(db_url, 32) == (200, 200))
    wait_until(lambda: service.receiver.counters.clients == 0)


# -- hostile or malformed input: one bad frame costs only itself, never the connection slot or the process --

SURROGATE_ID = b'"id": "\\ud800"'  # JSON allows a lone surrogate escape; UTF-8 cannot encode it


def quarantined(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT origin, raw, reason FROM quarantine ORDER BY id").fetchall()


def test_lone_surrogate_id_is_answered_and_the_slot_released(service, db_url):
    """A reply that could not be encoded left the connection paused and counted: 256 of them and every VI was refused."""
    msg = json.dumps(mpp(T, board=40)).encode()
    bad = msg[:-1] + b", " + SURROGATE_ID + b"}\n"
    for i in range(300):  # more than MAX_CLIENTS: a leaked slot per message would refuse the last ones
        c = LineClient(service.receiver.port)
        c.send_raw(bad if i % 2 else b'{"type": "ping", ' + SURROGATE_ID + b"}\n")
        assert c.reply() == ("ACK 1 id=\\ud800" if i % 2 else "PONG id=\\ud800")
        c.close()
    s = vi_connect(service.receiver.port)  # pipelined: both answered, in order
    s.sendall(bad + json.dumps(mpp(T + 1, board=40, id="next")).encode() + b"\n")
    expected = b"ACK 1 id=\\ud800\r\nACK 1 id=next\r\n"
    assert read_exactly(s, len(expected)) == expected
    s.close()
    wait_until(lambda: service.receiver.counters.clients == 0)
    s = vi_connect(service.receiver.port)
    s.sendall(vi_message(T + 2, board=40))
    assert read_exactly(s, 3) == b"ACK"
    s.close()
    wait_until(lambda: stored(db_url, 40) == (3, 3))


def test_nesting_that_breaks_the_json_parser_is_quarantined(service, db_url):
    """json.loads raised RecursionError out of the read callback, then again at the end of the connection: the slot leaked."""
    deep = b"[" * 3000 + b"NaN" + b"]" * 3000  # orjson refuses NaN, json recursed
    c = LineClient(service.receiver.port)
    peer = "%s:%d" % c.sock.getsockname()
    c.send_raw(json.dumps(mpp(T, board=41)).encode() + b"\n" + deep + b"\n" + json.dumps(mpp(T + 1, board=41)).encode() + b"\n")
    assert [c.reply() for _ in range(3)] == ["ACK 1", "ERR TOO_DEEP JSON nested deeper than 512 levels", "ACK 1"]
    c.send_raw(deep)  # the last line, unfinished, and the peer closes: parsed again at the end
    c.close()
    for k in range(300):  # write and close at once, line and VI framing
        s = vi_connect(service.receiver.port)
        s.sendall(deep + (b"\n" if k % 2 else b""))
        s.close()
    wait_until(lambda: service.receiver.counters.clients == 0)
    s = vi_connect(service.receiver.port)
    s.sendall(vi_message(T + 2, board=41))
    assert read_exactly(s, 3) == b"ACK"
    s.close()
    wait_until(lambda: stored(db_url, 41) == (3, 3))
    wait_until(lambda: count(db_url, "quarantine") == 302)
    rows = quarantined(db_url)
    assert rows[0][0] == rows[1][0] == peer and all(r[2].startswith("TOO_DEEP") and r[1].startswith("[[[") for r in rows)


def test_a_frame_that_fails_to_parse_costs_only_itself(service, db_url):
    """uuid5() of a lone surrogate, int() of a non-ASCII digit: the VI got no reply, or the connection dropped."""
    temp = b'{"type": "temperature", "data": {"timestamp": 1714745230, "temperature": 41.7}, "metadata": {"sensor_identifier": "m7004_\\ud800"}}'
    odd = json.dumps({"type": "mpp", "data": {"timestamp": T, "power": 1.0}, "metadata": {"board": "\u00b2", "channel": 1}}).encode()
    good = [vi_message(T + i, board=42) for i in range(4)]
    s = vi_connect(service.receiver.port)  # VI framing, all in one write
    peer = "%s:%d" % s.getsockname()
    s.sendall(good[0] + temp + good[1] + odd + good[2])
    assert read_exactly(s, 15) == b"ACKERRACKERRACK"
    s.sendall(temp)  # alone: framing decided by the timer callback
    assert read_exactly(s, 3) == b"ERR"
    s.close()
    c = LineClient(service.receiver.port)
    c.send_raw(temp + b"\n" + odd + b"\n" + good[3] + b"\n")
    assert c.reply() == "ACK 0 1"  # the row is rejected and quarantined
    assert c.reply().startswith("ERR BAD_REQUEST could not be parsed (ValueError")
    assert c.reply() == "ACK 1"
    c.close()
    wait_until(lambda: service.receiver.counters.clients == 0)
    wait_until(lambda: stored(db_url, 42) == (4, 4))
    wait_until(lambda: count(db_url, "quarantine") == 5)
    rows = quarantined(db_url)
    assert [r[0] for r in rows[:3]] == [peer] * 3
    assert sum("sensor_identifier is not valid text" in r[2] for r in rows) == 3
    assert sum(r[2].startswith("BAD_REQUEST") for r in rows) == 2


def test_nesting_deep_enough_to_crash_orjson_is_refused(service, db_url):
    """orjson 3.8 overflowed its stack on an array nested 200,000 deep (600 kB, under the size limit): exit 139."""
    deep = b"[" * 300_000 + b"]" * 300_000
    good = vi_connect(service.receiver.port)
    good.sendall(vi_message(T, board=43))
    assert read_exactly(good, 3) == b"ACK"
    s = vi_connect(service.receiver.port)
    peer = "%s:%d" % s.getsockname()
    s.sendall(vi_message(T + 1, board=43) + deep + vi_message(T + 2, board=43))
    assert read_exactly(s, 9) == b"ACKERRACK"
    s.sendall(deep)
    assert read_exactly(s, 3) == b"ERR"
    s.close()
    good.sendall(vi_message(T + 3, board=43))
    assert read_exactly(good, 3) == b"ACK"
    good.close()
    wait_until(lambda: service.receiver.counters.clients == 0)
    wait_until(lambda: stored(db_url, 43) == (4, 4))
    wait_until(lambda: count(db_url, "quarantine") == 2)
    rows = quarantined(db_url)
    assert all(r[0] == peer and r[2].startswith("TOO_DEEP") and len(r[1]) < 300 for r in rows)
