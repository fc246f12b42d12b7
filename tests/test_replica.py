"""A read replica and a failover, with real servers: a PostgreSQL 15 primary and a hot standby made
with ``pg_basebackup -R`` (streaming replication, synchronous commit), started by the test.

Not parametrised by the suite's backends: these tests start the two servers they need (Debian's
PostgreSQL 15 binaries; skipped with the reason where they are missing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import psycopg
import pytest
from conftest import MPP_GOOD
from helpers import LineClient, free_port, gui_args, mpp, wait_until
from pgcluster import StreamingPair, missing

from perocube_desktop.api.server import ApiServer
from perocube_desktop.config import Settings
from perocube_desktop.db import migrate
from perocube_desktop.importer.engine import run_import
from perocube_desktop.ingest.service import IngestService
from perocube_desktop.monitor.live import DatabasePoller

T = 1_767_225_600.0  # 2026-01-01 UTC

pytestmark = pytest.mark.skipif(bool(missing("initdb", "pg_ctl", "pg_basebackup", "postgres")),
                                reason=f"streaming replication: {missing('initdb', 'pg_ctl', 'pg_basebackup', 'postgres')}")


@pytest.fixture
def pair():
    p = StreamingPair().start()
    yield p
    p.stop()


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (tracking_channel_board, tracking_channel_channel, "
                           "\"timestamp\")) FROM mpp_measurement").fetchone()
    assert row is not None
    return row[0], row[1]


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "perocube_desktop", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_read_replica_serves_viewer_api_and_reports_and_shows_its_lag(pair, sample_dir, tmp_path):
    primary, standby = pair.primary.url("perocube"), pair.standby.url("perocube")
    migrate.migrate(primary)
    run_import(primary, sample_dir)
    # rows a client wrote after the import's refresh: their rollup marks are pending (nobody refreshes:
    # the replica never does), so reads on the replica must count them from the raw rows
    with psycopg.connect(primary) as conn:
        conn.execute("INSERT INTO mpp_measurement (\"timestamp\", power, current, voltage, tracking_channel_board, "
                     "tracking_channel_channel) SELECT to_timestamp(%s + g), 1, 1, 1, 1, 1 FROM generate_series(0, 99) g",
                     (T,))
    pair.wait_replayed()
    assert _counts(standby) == (MPP_GOOD + 100, MPP_GOOD + 100)

    # db status: the primary, then the replica with its role and lag (PEROCUBE_DB_READ_URL)
    out = _cli("db", "status", env_extra={"PEROCUBE_DB_URL": primary, "PEROCUBE_DB_READ_URL": standby})
    assert out.returncode == 0, out.stderr
    assert f"read replica: standby 127.0.0.1:{pair.standby.port}, lag " in out.stdout

    # the read API on the replica: /health says standby and its lag; counts include the pending rows
    api = ApiServer(standby, Settings(), "127.0.0.1", free_port())
    api.start()
    try:
        with httpx.Client(base_url=api.url, timeout=60) as client:
            health = client.get("/health").json()
            assert health["standby"] is True and health["replica_lag_s"] is not None
            assert health["database_server"] == f"127.0.0.1:{pair.standby.port}"
            with psycopg.connect(primary) as conn:
                expected = conn.execute("SELECT count(*) FROM mpp_measurement WHERE tracking_channel_board = 1 "
                                        "AND tracking_channel_channel = 1").fetchone()
            r = client.get("/measurements/mpp", params={"board": 1, "channel": 1, "limit": 1})
            assert r.status_code == 200, r.text
            assert expected is not None and expected[0] > 100
            assert (r.json()["total"], r.json()["total_exact"]) == (expected[0], True)
    finally:
        api.stop()

    # viewer mode on the replica: the newest rows arrive, the status names the standby and its lag
    poller = DatabasePoller(standby, 0.2, description="read replica")
    poller.INITIAL_S = 10 * 365 * 86400.0  # the sample data is old: show all of it
    poller.start()
    try:
        wait_until(lambda: poller.status().db_server is not None and poller.rows_seen > 0, timeout=30)
        st = poller.status()
        assert st.db_server is not None and st.db_server.startswith(f"standby 127.0.0.1:{pair.standby.port}, lag ")
    finally:
        poller.stop()

    # a report from the replica (reads only), the same as from the primary
    out_p, out_s = tmp_path / "p.json", tmp_path / "s.json"
    for url, out_file in ((primary, out_p), (standby, out_s)):
        env = {"PEROCUBE_DB_URL": primary, "PEROCUBE_DB_READ_URL": url}
        res = _cli("report", "--all", "--out", str(out_file), env_extra=env)
        assert res.returncode == 0, res.stderr
    assert json.loads(out_p.read_text())["pixels"] == json.loads(out_s.read_text())["pixels"]

    # nothing of the app wrote there: a hot standby refuses writes, and no migration ran on it
    with psycopg.connect(standby) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("INSERT INTO scientist (scientist_id, name) VALUES (gen_random_uuid(), 'x')")


def test_writer_and_importer_follow_a_failover_exactly_once(pair, sample_dir, tmp_path):
    """Rows ACKed while the primary dies (immediate stop) and the standby is promoted reach the
    new primary exactly once; the writer says where it writes now; an import runs again there."""
    url = pair.multi_host_url()
    migrate.migrate(url)
    settings = Settings()
    settings.writer.flush_interval_s = 0.05
    settings.writer.max_backoff_s = 0.5
    svc = IngestService(settings, url, buffer_file=tmp_path / "buf.sqlite3", port=0)
    svc.start()
    acked: dict[tuple[int, int], int] = {}
    try:
        c = LineClient(svc.receiver.port)

        def send(i0: int, n: int) -> None:
            for i in range(i0, i0 + n):
                board, channel = 1 + i % 2, 1 + i % 4
                assert c.request(mpp(T + i, board=board, channel=channel)) == "ACK 1"
                acked[(board, channel)] = acked.get((board, channel), 0) + 1

        send(0, 300)
        wait_until(lambda: svc.status().rows_written == 300, timeout=30)
        assert svc.status().db_server == f"127.0.0.1:{pair.primary.port}"
        pair.kill_primary()
        send(300, 300)  # ACKed: durable in the local buffer while there is no primary
        wait_until(lambda: svc.status().db_state == "reconnecting", timeout=30)
        assert svc.status().buffered_rows > 0
        pair.promote()
        send(600, 300)
        wait_until(lambda: svc.status().buffered_rows == 0 and svc.status().rows_written >= 900, timeout=60)
        st = svc.status()
        assert st.db_state == "connected" and st.db_server == f"127.0.0.1:{pair.standby.port}"
        assert st.db_switched and st.db_switched.startswith(
            f"from 127.0.0.1:{pair.primary.port} to 127.0.0.1:{pair.standby.port} at ")
        c.close()
    finally:
        svc.stop()
    new_primary = pair.standby.url("perocube")
    with psycopg.connect(new_primary) as conn:
        stored = dict(((b, ch), n) for b, ch, n in conn.execute(
            "SELECT tracking_channel_board, tracking_channel_channel, count(*) FROM mpp_measurement "
            "GROUP BY 1, 2").fetchall())
    assert stored == acked  # per channel: every ACKed row, once
    assert _counts(new_primary) == (900, 900)

    # the importer with the same multi-host URL lands on the new primary, exactly once again
    first = run_import(url, sample_dir)
    again = run_import(url, sample_dir)
    assert sum(first.inserted.values()) > 0 and sum(again.inserted.values()) == 0
    assert _counts(new_primary)[0] == 900 + MPP_GOOD


@pytest.mark.gui
def test_gui_status_bar_shows_the_failover(pair, qtbot, tmp_path):
    """The operator sees where the app writes and that it failed over (status bar, in words)."""
    from perocube_desktop.app import App

    url = pair.multi_host_url()
    settings = Settings()
    settings.writer.max_backoff_s = 0.5
    settings.api.enabled = False
    app = App(gui_args(db=url), settings)
    app.start()
    qtbot.addWidget(app.window)
    try:
        w = app.window
        c = LineClient(app.service.receiver.port)
        assert c.request(mpp(T)) == "ACK 1"
        qtbot.waitUntil(lambda: w.lbl_db.text() == f"Database connected · 127.0.0.1:{pair.primary.port}", timeout=20000)
        pair.kill_primary()
        assert c.request(mpp(T + 1)) == "ACK 1"
        qtbot.waitUntil(lambda: "Database reconnecting" in w.lbl_db.text(), timeout=20000)
        pair.promote()
        assert c.request(mpp(T + 2)) == "ACK 1"
        qtbot.waitUntil(lambda: "failed over" in w.lbl_db.text(), timeout=30000)
        assert w.lbl_db.text().startswith(f"Database connected · 127.0.0.1:{pair.standby.port} · failed over at ")
        assert w.lbl_db.toolTip().startswith(f"the database failed over from 127.0.0.1:{pair.primary.port} to "
                                             f"127.0.0.1:{pair.standby.port} at ")
        w.resize(1366, 768)
        w.grab().save(os.environ.get("PEROCUBE_SHOT_DIR", str(tmp_path)) + "/failover-status-bar.png")
        c.close()
    finally:
        app.window.close()
        app.stop()
