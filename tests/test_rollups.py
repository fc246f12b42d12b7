"""Rollups equal a fresh aggregate of the raw rows, whoever wrote them, on both backends:
the historical import, live rows through the real writer (recent and back-filled after an
outage), the policy jobs (TimescaleDB), and plain SQL from another connection."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import psycopg
from conftest import MANIFEST
from helpers import assert_rollups_match

from perocube_desktop.config import ReportSettings
from perocube_desktop.db import rollups
from perocube_desktop.importer.engine import run_import
from perocube_desktop.ingest.buffer import DiskBuffer
from perocube_desktop.ingest.writer import DatabaseWriter
from perocube_desktop.protocol import Sample
from perocube_desktop.stats.report import Selection, build

HISTORY_T0 = datetime(2024, 5, 3, tzinfo=timezone.utc)  # the sample folder: 3-4 May 2024


def _run_every_job(conn: psycopg.Connection) -> int:
    """TimescaleDB: run every policy job now (refresh and compression), as the scheduler would."""
    jobs = [j for (j,) in conn.execute("SELECT job_id FROM timescaledb_information.jobs"
                                       " WHERE hypertable_name IS NOT NULL ORDER BY job_id")]
    for job in jobs:
        for attempt in range(100):
            try:
                conn.execute("CALL run_job(%s)", (job,))
                break
            except psycopg.errors.LockNotAvailable as exc:  # the scheduler runs the same policy right now
                assert rollups.is_concurrent_refresh(exc) and attempt < 99, exc
                time.sleep(0.2)
            except psycopg.errors.DataException as exc:
                # the scheduler compresses the same chunk right now (the import resumed the compression
                # policies with next_start = now() when it ended): the next run finds it compressed
                assert "columnstore policy failure" in str(exc) and attempt < 99, exc
                time.sleep(0.2)
    return len(jobs)


def _settle(conn: psycopg.Connection, backend: str) -> None:
    """What happens in the background of a running system: the policy jobs (TimescaleDB) or the
    writer's periodic refresh (plain PostgreSQL)."""
    if backend == "timescaledb":
        assert _run_every_job(conn) >= 9
    else:
        rollups.refresh(conn)


def _pixel_a_samples(url: str) -> int:
    rep = build(url, Selection(device="OK_240415_02"), ReportSettings())
    return next(p for p in rep.pixels if p.pixel == "A").samples


def test_rollups_equal_raw_after_import_live_rows_and_policy_jobs(db_url, sample_dir, backend, tmp_path):
    run_import(db_url, sample_dir)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert_rollups_match(conn)
        assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0

    # live rows through the real writer: a minute of recent data on a new board, and rows of
    # channel 1/1 back-filled into the imported history (a buffer drained after an outage)
    now_us = int(time.time()) * 1_000_000
    live = [Sample("mpp", now_us - i * 1_000_000, 2.0, 1.0, 0.5, board=9, channel=c) for i in range(60) for c in (1, 2)]
    late = [Sample("mpp", int((HISTORY_T0 + timedelta(hours=10, seconds=5 + 10 * i)).timestamp() * 1e6),
                   3.0, 1.5, 0.6, board=1, channel=1) for i in range(1500)]
    buf = DiskBuffer(tmp_path / "buffer.sqlite3")
    writer = DatabaseWriter(buf, db_url)
    try:
        buf.append(live)
        buf.append(late)
        while writer.flush_once():
            pass
        assert buf.count() == 0
    finally:
        writer.stop()
        buf.close()

    with psycopg.connect(db_url, autocommit=True) as conn:
        # before anything refreshed them, reads through the fallback functions are already right
        for width in ("1 minute", "1 hour"):
            got = conn.execute(
                "SELECT sum(n), min(power_min), max(power_max), count(*) FROM perocube_mpp_rollup(%s, ARRAY[1, 9],"
                " ARRAY[1, 1], '2000-01-01', now() + interval '1 day')", (width,)).fetchone()
            want = conn.execute(
                f"SELECT count(*), min(power), max(power), count(DISTINCT (tracking_channel_board,"
                f" date_bin('{width}', \"timestamp\", 'epoch'))) FROM mpp_measurement"
                " WHERE (tracking_channel_board, tracking_channel_channel) IN ((1, 1), (9, 1))").fetchone()
            assert got == want
        _settle(conn, backend)
        assert_rollups_match(conn)
        assert conn.execute("SELECT sum(n) FROM mpp_rollup_1m WHERE tracking_channel_board = 1 AND"
                            " tracking_channel_channel = 1").fetchone()[0] == MANIFEST["mpp_good_samples_per_channel"]["1/1"] + 1500

    # another client (psql, a notebook) writes with plain SQL: inserts, a correction, a deletion
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("INSERT INTO mpp_measurement (\"timestamp\", power, current, voltage, tracking_channel_board,"
                      " tracking_channel_channel) SELECT %s + i * interval '10 s' + interval '7 s', 5.0, 2.0, 0.5, 1, 1"
                      " FROM generate_series(0, 299) i", (HISTORY_T0 + timedelta(hours=20),))
        other.execute("UPDATE mpp_measurement SET power = power * 1.5 WHERE tracking_channel_board = 1 AND"
                      " tracking_channel_channel = 2 AND \"timestamp\" < %s", (HISTORY_T0 + timedelta(hours=6),))
        other.execute("DELETE FROM mpp_measurement WHERE tracking_channel_board = 2 AND tracking_channel_channel = 4"
                      " AND \"timestamp\" BETWEEN %s AND %s",
                      (HISTORY_T0 + timedelta(hours=30), HISTORY_T0 + timedelta(hours=31)))
        other.execute("INSERT INTO temperature_measurement (\"timestamp\", temperature, temperature_sensor_id)"
                      " SELECT %s + i * interval '1 minute' + interval '13 s', 40.0, temperature_sensor_id"
                      " FROM temperature_sensor, generate_series(0, 59) i", (HISTORY_T0 + timedelta(hours=12),))
    # before anything refreshed the rollups, the report already counts those rows: it reads marked
    # ranges through the raw-fallback functions
    assert _pixel_a_samples(db_url) == MANIFEST["mpp_good_samples_per_channel"]["1/1"] + 1500 + 300
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] > 0
        _settle(conn, backend)
        assert_rollups_match(conn)
    # the report reads the rollups: pixel A (channel 1/1) counts every row, imported, drained, inserted by hand
    assert _pixel_a_samples(db_url) == MANIFEST["mpp_good_samples_per_channel"]["1/1"] + 1500 + 300
