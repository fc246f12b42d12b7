"""Migrations and the lab's six functions, against a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from perocube_desktop.db import migrate, rollups, status
from perocube_desktop.paths import sql_dir

from helpers import assert_rollups_match

T0 = datetime(2024, 5, 3, 8, 0, tzinfo=timezone.utc)


def test_fresh_migrate_then_noop(empty_db_url, backend):
    first = migrate.migrate(empty_db_url)
    assert first.applied == [m.version for m in migrate.available()]
    second = migrate.migrate(empty_db_url)
    assert second.applied == []
    assert second.version == first.version
    st = migrate.status(empty_db_url)
    assert st.version == st.known_version and st.timescaledb_active == (backend == "timescaledb")
    with psycopg.connect(empty_db_url) as conn:
        for rel in ("mpp_measurement", "imported_file", "quarantine", "audit_log", "mpp_rollup_1m", "irradiance_rollup_1h"):
            assert conn.execute("SELECT to_regclass(%s)", (rel,)).fetchone()[0] is not None, rel


def test_refuses_newer_schema(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO perocube_schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')")
    with pytest.raises(migrate.SchemaTooNewError, match="999"):
        migrate.migrate(db_url)


def test_upgrades_legacy_lab_database_keeping_rows(empty_db_url):
    legacy = (sql_dir() / "migrations" / "0001_lab_schema.sql").read_text()
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(legacy)
        conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (1, 1), (1, 2)")
        rows = [(T0 + timedelta(seconds=10 * i), 1.0 + i, 0.9, 2.0 + i, 1, 1) for i in range(100)]
        rows += rows[:7]  # 7 exact duplicates (the lab re-imported a file)
        rows += [(T0, 5.0, 0.5, 9.9, 1, 1)]  # same key, different values
        rows += [(T0 + timedelta(seconds=10 * i), 1.0, 1.0, 1.0, 1, 2) for i in range(50)]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO mpp_measurement (\"timestamp\", current, voltage, power, tracking_channel_board,"
                " tracking_channel_channel) VALUES (%s, %s, %s, %s, %s, %s)", rows)
    result = migrate.migrate(empty_db_url)
    assert any("mpp_measurement: 7 exact duplicate rows removed" in n for n in result.notices)
    assert any("mpp_measurement: 1 conflicting rows moved" in n for n in result.notices)
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0] == 150
        assert conn.execute("SELECT count(*) FROM measurement_conflict").fetchone()[0] == 1
        # the unique key now refuses duplicates
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO mpp_measurement (\"timestamp\", tracking_channel_board, tracking_channel_channel)"
                         " VALUES (%s, 1, 1)", (T0,))
    with psycopg.connect(empty_db_url) as conn:
        # existing data was rolled up during the migration
        n = conn.execute("SELECT sum(n) FROM mpp_rollup_1h").fetchone()[0]
        assert n == 150


def _history(conn):
    """Pixel P1 of DEV: ch 1/1 from T0 to T0+1h, then ch 1/2 from T0+2h, still connected.
    Pixel P2 of DEV: ch 1/1 from T0+1h (same instant P1 left), disconnected at T0+3h."""
    conn.execute("INSERT INTO solar_cell_device (name, area) VALUES ('DEV', 1.0)")
    conn.execute("INSERT INTO solar_cell_pixel (solar_cell_id, pixel, active_area) VALUES ('DEV', 'P1', 0.25), "
                 "('DEV', 'P2', 0.25), ('DEV', 'P3', 0.25)")
    conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (1, 1), (1, 2)")
    ev = [("P1", 1, 1, T0, "CONNECTED"), ("P1", 1, 1, T0 + timedelta(hours=1), "DISCONNECTED"),
          ("P2", 1, 1, T0 + timedelta(hours=1), "CONNECTED"), ("P1", 1, 2, T0 + timedelta(hours=2), "CONNECTED"),
          ("P2", 1, 1, T0 + timedelta(hours=3), "DISCONNECTED")]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board,"
                        " tracking_channel_channel, connection_datetime, event_type) VALUES ('DEV', %s, %s, %s, %s, %s)", ev)
        data = [(T0 + timedelta(minutes=m), 1, c, float(m)) for m in range(0, 240) for c in (1, 2)]
        cur.executemany("INSERT INTO mpp_measurement (\"timestamp\", tracking_channel_board, tracking_channel_channel,"
                        " power) VALUES (%s, %s, %s, %s)", data)


def test_lab_functions_on_known_history(db_url):
    with psycopg.connect(db_url) as conn:
        _history(conn)
        start, end = conn.execute("SELECT * FROM get_pixel_activity_range('DEV', 'P2')").fetchone()
        assert (start, end) == (T0 + timedelta(hours=1), T0 + timedelta(hours=3))
        start, end = conn.execute("SELECT * FROM get_pixel_activity_range('DEV', 'P1')").fetchone()
        assert start == T0 and end > datetime.now(timezone.utc) - timedelta(minutes=1)
        assert conn.execute("SELECT * FROM get_pixel_activity_range('DEV', 'P3')").fetchone() == (None, None)

        rows = conn.execute("SELECT * FROM get_mpp_data_for_pixel('DEV', 'P1')").fetchall()
        # ch 1/1 minutes 0..59 (60 rows), then ch 1/2 minutes 120..239 (120 rows)
        assert len(rows) == 180
        assert rows[0][0] == T0 and rows[0][4:6] == (1, 1) and rows[0][6] == T0
        assert rows[60][0] == T0 + timedelta(hours=2) and rows[60][4:6] == (1, 2)
        assert [r[3] for r in rows[:60]] == [float(m) for m in range(60)]
        rows = conn.execute("SELECT * FROM get_mpp_data_for_pixel('DEV', 'P1', %s, %s)",
                            (T0 + timedelta(minutes=30), T0 + timedelta(minutes=150))).fetchall()
        assert len(rows) == 30 + 31 and rows[-1][0] == T0 + timedelta(minutes=150)
        rows = conn.execute("SELECT * FROM get_mpp_data_for_pixel('DEV', 'P2')").fetchall()
        assert len(rows) == 120 and {r[4:6] for r in rows} == {(1, 1)}

        q = conn.execute("SELECT * FROM get_queryable_solar_cell_pixels() ORDER BY 2").fetchall()
        assert [(r[1], r[2], r[3], r[4]) for r in q] == [
            ("P1", T0, T0 + timedelta(hours=2), "CONNECTED"),
            ("P2", T0 + timedelta(hours=1), T0 + timedelta(hours=3), "DISCONNECTED")]

        st = conn.execute("SELECT * FROM get_board_connection_status(%s) ORDER BY 1, 2",
                          (T0 + timedelta(hours=1),)).fetchall()
        assert [(r[0], r[1], r[3], r[4], r[6]) for r in st] == [(1, 1, "P2", 1, "CONNECTED")]
        st = conn.execute("SELECT * FROM get_board_connection_status(%s) ORDER BY 1, 2",
                          (T0 + timedelta(hours=4),)).fetchall()
        assert [(r[1], r[3], r[4]) for r in st] == [(1, "P2", 0), (2, "P1", 1)]
        assert len(conn.execute("SELECT * FROM get_board_connection_status()").fetchall()) == 2
        ev = conn.execute("SELECT * FROM get_board_connection_status(%s::timestamptz, %s::timestamptz)",
                          (T0 + timedelta(minutes=30), T0 + timedelta(hours=2))).fetchall()
        assert [(r[3], r[6]) for r in ev] == [("P1", "DISCONNECTED"), ("P2", "CONNECTED"), ("P1", "CONNECTED")]


def test_rollups_follow_rows_written_by_any_client(db_url, backend):
    """Plain SQL inserts, updates and deletes (as psql or a notebook would) reach the rollups."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        _history(conn)
        # plain PostgreSQL: marked by the triggers; TimescaleDB: nothing materialised yet, so the
        # continuous aggregates compute these rows from the raw ones (real-time aggregation)
        marks = conn.execute("SELECT count(*) FROM perocube_rollup_marks('mpp', 'mpp_rollup_1m')").fetchone()[0]
        assert marks > 0 if backend == "plain" else marks == 0
        rollups.refresh(conn)
        n, pmax, pmean = conn.execute(
            "SELECT sum(n), max(power_max), sum(power_mean * n) / sum(n) FROM mpp_rollup_1h"
            " WHERE tracking_channel_channel = 1").fetchone()
        assert n == 240 and pmax == 239.0 and pmean == pytest.approx(119.5)
        assert conn.execute("SELECT count(*) FROM mpp_rollup_1m").fetchone()[0] == 480
        assert conn.execute("SELECT count(*) FROM perocube_rollup_marks('mpp', 'mpp_rollup_1m')").fetchone()[0] == 0
        assert_rollups_match(conn)
        # corrections by another client, below what is already rolled up
        conn.execute("UPDATE mpp_measurement SET power = power * 2 WHERE tracking_channel_channel = 2"
                     " AND \"timestamp\" < %s", (T0 + timedelta(minutes=90),))
        conn.execute("DELETE FROM mpp_measurement WHERE tracking_channel_channel = 1 AND \"timestamp\" >= %s",
                     (T0 + timedelta(hours=3),))
        rollups.refresh(conn)
        assert_rollups_match(conn)
        assert conn.execute("SELECT sum(n) FROM mpp_rollup_1h WHERE tracking_channel_channel = 1").fetchone()[0] == 180


def test_db_status_counts_what_is_waiting_for_a_refresh(db_url, backend):
    """A row written by another client into rolled-up history is pending in ``db status`` until the
    next refresh: a mark (plain PostgreSQL) or TimescaleDB's own invalidation log (migration 0013)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        _history(conn)
        rollups.refresh_all(conn)
    assert "rollups:     up to date" in status.report_lines(db_url, "test")
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("INSERT INTO mpp_measurement (\"timestamp\", tracking_channel_board, tracking_channel_channel, power)"
                      " VALUES (%s, 1, 1, 5.0)", (T0 + timedelta(minutes=30, seconds=7),))
    pending = [line for line in status.report_lines(db_url, "test") if line.startswith("rollups:")]
    assert len(pending) == 1 and "changed ranges waiting for a refresh" in pending[0], pending
    with psycopg.connect(db_url, autocommit=True) as conn:
        rollups.refresh(conn)
        assert_rollups_match(conn)
    assert "rollups:     up to date" in status.report_lines(db_url, "test")


def test_rollup_reads_survive_unreadable_timescaledb_internals(db_url, backend):
    """Every rollup read consults TimescaleDB's invalidation logs (internal catalog). A role that may
    not read them (or a TimescaleDB whose internals differ) gets right answers from raw rows and a
    warning naming the cause, never an error."""
    if backend != "timescaledb":
        pytest.skip("TimescaleDB's internal catalog")
    role = "perocube_t_" + uuid.uuid4().hex[:8]
    with psycopg.connect(db_url, autocommit=True) as conn:
        _history(conn)
        rollups.refresh_all(conn)
        conn.execute(f"CREATE ROLE {role} LOGIN")
        try:
            conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
            conn.execute("REVOKE SELECT ON _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log FROM PUBLIC")
            # a later insert into rolled-up history: only the (unreadable) log knows it
            conn.execute("INSERT INTO mpp_measurement (\"timestamp\", tracking_channel_board, tracking_channel_channel,"
                         " power) VALUES (%s, 1, 1, 1000.0)", (T0 + timedelta(minutes=30, seconds=7),))
            warnings: list[str] = []
            with psycopg.connect(make_conninfo(db_url, user=role)) as reader:
                reader.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
                got = reader.execute("SELECT sum(n), max(power_max) FROM perocube_mpp_rollup('1 hour', ARRAY[1],"
                                     " ARRAY[1], %s, %s)", (T0, T0 + timedelta(hours=4))).fetchone()
            assert got == (241, 1000.0)  # the new row counted: raw rows, not the stale rollup
            assert any("invalidation logs cannot be read" in w for w in warnings), warnings
        finally:
            conn.execute("GRANT SELECT ON _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log TO PUBLIC")
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
