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

from helpers import LineClient, free_port, mpp, wait_until

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
        wait_until(lambda: svc.receiver.peers_refused == 1)
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
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert b"receiving on" in proc.stdout.readline()
        return proc

    proc = start()
    c = LineClient(port)
    acked = 0
    for i in range(300):
        batch = {"type": "mpp", "metadata": {"board": 3}, "data": [
            {"timestamp": T + i, "channel": ch, "power": 1.0, "current": 1.0, "voltage": 1.0} for ch in range(1, 9)]}
        assert c.request(batch) == "ACK 8"
        acked += 8
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    c.close()
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
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_writer_fast_path_and_replay_without_duplicates(db_url, tmp_path):
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
        assert conn.execute("SELECT count(*) FROM rollup_dirty WHERE kind = 'mpp'").fetchone()[0] >= 1
    w.stop()
    buf.close()
