"""Issue #11: the app works with the lab as it is (docs/lab-compat.md lists what each test covers).

* The lab's existing database (tests/data/lab_schema.sql, the lab's schema before the app) upgrades
  on both backends; the six functions keep their exact signatures and answers.
* A failing migration leaves the database as it was and says so in one line; an edited migration
  is refused unless its old checksum is a documented superseded one.
* Same-instant events: DISCONNECTED first, then CONNECTED, in the functions, board status, the
  registry timeline and the report's data loading, on the sample folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from perocube_desktop.config import ReportSettings
from perocube_desktop.db import migrate
from perocube_desktop.importer.engine import run_import
from perocube_desktop.paths import sql_dir
from perocube_desktop.registry.repository import RegistryRepository
from perocube_desktop.registry.wiring import WiringService
from perocube_desktop.stats.report import Selection, build
from perocube_desktop.db.session import POOL_KWARGS


def _connect(url: str, **kwargs) -> psycopg.Connection:
    """The lab's own queries, as any client behind a transaction-pooling PgBouncer must send them:
    without server-side prepared statements (the pgbouncer backend runs these tests through one)."""
    return psycopg.connect(url, prepare_threshold=None, **kwargs)

DATA = Path(__file__).resolve().parent / "data"
LAB_SCHEMA = DATA / "lab_schema.sql"
UTC = timezone.utc
MOVE = datetime(2024, 5, 2, tzinfo=UTC)  # pixel A moved from 1/1 to 1/2, pixel B arrived on 1/1

# the lab's signatures (sql/migrations/0003_lab_functions.sql), as PostgreSQL prints them
LAB_SIGNATURES = {
    ("get_pixel_activity_range", "p_solar_cell_id_in character varying, p_pixel_in character varying",
     "TABLE(calculated_start_datetime timestamp with time zone, calculated_end_datetime timestamp with time zone)"),
    ("get_mpp_data_for_pixel", "p_solar_cell_id character varying, p_pixel character varying, "
     "p_start_datetime timestamp with time zone, p_end_datetime timestamp with time zone",
     'TABLE("timestamp" timestamp with time zone, current double precision, voltage double precision, '
     "power double precision, tracking_channel_board integer, tracking_channel_channel integer, "
     "connection_event_time timestamp with time zone)"),
    ("get_mpp_data_for_pixel", "p_solar_cell_id_in character varying, p_pixel_in character varying",
     'TABLE("timestamp" timestamp with time zone, current double precision, voltage double precision, '
     "power double precision, tracking_channel_board integer, tracking_channel_channel integer, "
     "connection_event_time timestamp with time zone)"),
    ("get_queryable_solar_cell_pixels", "",
     "TABLE(solar_cell_name character varying, pixel_identifier character varying, first_connection_event_time "
     "timestamp with time zone, last_event_time timestamp with time zone, last_event_type_recorded character varying)"),
    ("get_board_connection_status", "p_check_time timestamp with time zone DEFAULT now()",
     "TABLE(board_number integer, channel_number integer, solar_cell_name character varying, pixel_identifier "
     "character varying, is_active integer, last_event_time timestamp with time zone, last_event_type character varying)"),
    ("get_board_connection_status", "p_start_time timestamp with time zone, p_end_time timestamp with time zone",
     "TABLE(board_number integer, channel_number integer, solar_cell_name character varying, pixel_identifier "
     "character varying, is_active integer, event_time timestamp with time zone, event_type character varying)"),
}


def signatures(conn) -> dict[tuple[str, str, str], int]:
    return {(n, a, r): oid for oid, n, a, r in conn.execute(
        "SELECT p.oid::int, p.proname::text, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid)"
        " FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname IN"
        " ('get_pixel_activity_range', 'get_mpp_data_for_pixel', 'get_queryable_solar_cell_pixels',"
        "  'get_board_connection_status')")}


@pytest.fixture
def lab_db_url(empty_db_url, backend):
    """The lab's database as it is today: its schema, functions and data, hypertables with TimescaleDB."""
    with _connect(empty_db_url, autocommit=True) as conn:
        if backend == "timescaledb":
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute(LAB_SCHEMA.read_text(encoding="utf-8"))
        if backend == "timescaledb":
            hyper = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
            assert hyper == {"mpp_measurement", "temperature_measurement", "irradiance_measurement"}
    return empty_db_url


# ---------------------------------------------------------------------------------------------
# calling the six functions, positionally and by the lab's parameter names

PIXELS = ("A", "B", "C", "D", "nope")
TIMES = [datetime(2024, 4, 30, tzinfo=UTC), datetime(2024, 5, 1, 12, tzinfo=UTC), MOVE,
         MOVE - timedelta(microseconds=1), datetime(2024, 5, 3, tzinfo=UTC), datetime(2024, 5, 3, 6, tzinfo=UTC),
         datetime(2030, 1, 1, tzinfo=UTC)]
WINDOWS = [(datetime(2024, 5, 1, 20, tzinfo=UTC), datetime(2024, 5, 2, 9, tzinfo=UTC)),
           (MOVE, MOVE), (datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))]


def _now_free(value):
    """now() is part of some answers: make it comparable across two calls."""
    if isinstance(value, datetime) and abs(value - datetime.now(UTC)) < timedelta(hours=1):
        return "now"
    return value


def _rows(conn, query: str, params=()) -> list[tuple]:
    return [tuple(_now_free(v) for v in row) for row in conn.execute(query, params).fetchall()]


def answers(url: str) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    with _connect(url, autocommit=True) as conn:
        for px in PIXELS:
            out[f"range {px}"] = _rows(conn, "SELECT * FROM get_pixel_activity_range('LAB_01', %s)", (px,))
            out[f"range by name {px}"] = _rows(
                conn, "SELECT * FROM get_pixel_activity_range(p_solar_cell_id_in => 'LAB_01', p_pixel_in => %s)", (px,))
            out[f"mpp {px}"] = _rows(conn, "SELECT * FROM get_mpp_data_for_pixel('LAB_01', %s)", (px,))
            out[f"mpp by name {px}"] = _rows(
                conn, "SELECT * FROM get_mpp_data_for_pixel(p_solar_cell_id_in => 'LAB_01', p_pixel_in => %s)", (px,))
            for i, (t0, t1) in enumerate(WINDOWS):
                out[f"mpp window {i} {px}"] = _rows(
                    conn, "SELECT * FROM get_mpp_data_for_pixel('LAB_01', %s, %s, %s)", (px, t0, t1))
                out[f"mpp window by name {i} {px}"] = _rows(
                    conn, "SELECT * FROM get_mpp_data_for_pixel(p_solar_cell_id => 'LAB_01', p_pixel => %s,"
                          " p_start_datetime => %s, p_end_datetime => %s)", (px, t0, t1))
        out["pixels"] = _rows(conn, "SELECT * FROM get_queryable_solar_cell_pixels()")
        out["status now"] = _rows(conn, "SELECT * FROM get_board_connection_status()")
        for t in TIMES:
            out[f"status {t}"] = _rows(conn, "SELECT * FROM get_board_connection_status(%s)", (t,))
            out[f"status by name {t}"] = _rows(conn, "SELECT * FROM get_board_connection_status(p_check_time => %s)", (t,))
        for i, (t0, t1) in enumerate(WINDOWS):
            out[f"events {i}"] = _rows(conn, "SELECT * FROM get_board_connection_status(%s::timestamptz, %s::timestamptz)",
                                       (t0, t1))
            out[f"events by name {i}"] = _rows(
                conn, "SELECT * FROM get_board_connection_status(p_start_time => %s, p_end_time => %s)", (t0, t1))
    return out


def _same_after_dedupe(before: list[tuple], after: list[tuple]) -> int:
    """MPP rows: the same rows in the same order, except that rows sharing (timestamp, channel) are
    now one (one of the former variants). Returns how many rows the upgrade removed."""
    keys, variants = [], {}
    for row in before:
        key = (row[0], row[4], row[5])
        if key not in variants:
            keys.append(key)
            variants[key] = set()
        variants[key].add(row)
    assert [(r[0], r[4], r[5]) for r in after] == keys
    assert all(row in variants[(row[0], row[4], row[5])] for row in after)
    return len(before) - len(after)


@pytest.mark.parametrize("compressed", [False, True], ids=["uncompressed", "compressed"])
def test_lab_database_upgrades_keeping_signatures_and_answers(lab_db_url, backend, compressed):
    if compressed:
        if backend != "timescaledb":
            pytest.skip("compressed chunks exist only with TimescaleDB")
        with _connect(lab_db_url, autocommit=True) as conn:  # the lab's server compresses old chunks
            for table in ("mpp_measurement", "temperature_measurement", "irradiance_measurement"):
                conn.execute(f"ALTER TABLE {table} SET (timescaledb.compress)")
                conn.execute(f"SELECT count(compress_chunk(c)) FROM show_chunks('{table}') c")
    with _connect(lab_db_url) as conn:
        sig_before = signatures(conn)
    assert set(sig_before) == LAB_SIGNATURES  # the fixture is the lab's schema
    before = answers(lab_db_url)
    assert len(before["mpp A"]) == 288 + 577 + 24 + 1  # 1/1 for a day, then 1/2 (with duplicates) until the end
    assert [(r[0], r[1], r[3], r[4]) for r in before["status 2024-05-02 00:00:00+00:00"]] == [
        (1, 1, "B", 1), (1, 2, "A", 1), (1, 3, "C", 1)]

    result = migrate.migrate(lab_db_url)
    assert result.applied == [m.version for m in migrate.available()]
    assert any("mpp_measurement: 48 exact duplicate rows removed" in n for n in result.notices)
    assert any("chunks decompressed for the upgrade" in n for n in result.notices) == compressed

    with _connect(lab_db_url) as conn:
        sig_after = signatures(conn)
        # same signatures, and the same function objects (replaced in place: owner and grants kept)
        assert sig_after == sig_before
        assert conn.execute("SELECT count(*) FROM measurement_conflict").fetchone()[0] == 1
    after = answers(lab_db_url)
    assert after.keys() == before.keys()
    removed = {}
    for name in before:
        if name.startswith("mpp"):
            removed[name] = _same_after_dedupe(before[name], after[name])
        else:
            assert after[name] == before[name], name
    # duplicates were on 1/1 (B's period) and 1/2 (A's period after the move); none elsewhere
    assert removed["mpp A"] == 24 + 1 and removed["mpp B"] == 24
    assert removed["mpp C"] == removed["mpp D"] == 0
    assert removed["mpp window 1 A"] == 0 and len(after["mpp window 1 A"]) == 1  # the move instant: on 1/2
    assert after["mpp window 1 A"][0][4:7] == (1, 2, MOVE)


def test_lab_database_stopped_by_the_first_0003_upgrades_now(lab_db_url, tmp_path):
    """The failure the issue reports, reproduced with the first 0003, and the recovery: the failed
    migration left the database at version 2; today's migrations complete the upgrade."""
    old = tmp_path / "migrations"
    old.mkdir()
    for name in ("0001_lab_schema.sql", "0002_integrity.sql"):
        shutil.copy(sql_dir() / "migrations" / name, old / name)
    shutil.copy(DATA / "superseded_migrations" / "0003_lab_functions.sql", old / "0003_lab_functions.sql")
    with pytest.raises(migrate.MigrationFailedError,
                       match=r"0003_lab_functions.sql failed: cannot change name of input parameter \"p_solar_cell_id_in\""):
        migrate.migrate(lab_db_url, directory=old)
    assert migrate.status(lab_db_url).version == 2
    with _connect(lab_db_url) as conn:
        assert set(signatures(conn)) == LAB_SIGNATURES
    before = answers(lab_db_url)  # duplicates are gone already (0002)
    result = migrate.migrate(lab_db_url)
    assert result.applied == [m.version for m in migrate.available() if m.version > 2]
    with _connect(lab_db_url) as conn:
        assert set(signatures(conn)) == LAB_SIGNATURES
    assert answers(lab_db_url) == before


def test_upgraded_lab_database_imports_and_keeps_sensor_ids(lab_db_url, tmp_path):
    migrate.migrate(lab_db_url)
    folder = tmp_path / "lab" / "data_2024-05"
    folder.mkdir(parents=True)
    # overlaps rows the lab already has on 1/2, plus new ones
    (folder / "output_board1_channel2.txt").write_text(
        "".join(f"2024-05-03T23:{m:02d}:00\t1.0\t2.0\t0.5\n" for m in range(0, 60, 5))
        + "".join(f"2024-05-04T00:{m:02d}:00\t1.0\t2.0\t0.5\n" for m in range(1, 5)))
    # PT-104 channel 2 was registered by hand with another id: the rows must go to that sensor
    (folder / "PT-104_channel_02.txt").write_text("2024-05-05T00:00:00\t40200.0\t1000.0\n2024-05-05T00:01:00\t40210\t1001.0\n")
    res = run_import(lab_db_url, tmp_path / "lab")
    assert res.inserted == {"mpp": 4, "temperature": 0, "irradiance": 2} and res.duplicates["mpp"] == 12
    with _connect(lab_db_url) as conn:
        ids = conn.execute("SELECT DISTINCT irradiance_sensor_id::text FROM irradiance_measurement"
                           " WHERE \"timestamp\" >= '2024-05-05'").fetchall()
        assert ids == [("0badc0de-0000-4000-8000-000000000002",)]
        assert conn.execute("SELECT count(*) FROM irradiance_sensor").fetchone()[0] == 2


def test_upgraded_lab_database_receives(lab_db_url, tmp_path):
    """The receiver on the upgraded lab database: rows the lab has already are not stored twice;
    sensors named by identifier go to the lab's stored ids."""
    from helpers import LineClient, mpp, wait_until

    from perocube_desktop.config import Settings
    from perocube_desktop.ingest.service import IngestService

    migrate.migrate(lab_db_url)
    settings = Settings()
    settings.writer.flush_interval_s = 0.05
    svc = IngestService(settings, lab_db_url, buffer_file=tmp_path / "buf.sqlite3", port=0)
    svc.start()
    try:
        client = LineClient(svc.receiver.port)
        t_lab = datetime(2024, 5, 3, 12, tzinfo=UTC).timestamp()  # the lab has this row on 1/2
        assert client.request(mpp(t_lab, board=1, channel=2)) == "ACK 1"
        assert client.request(mpp(t_lab + 1, board=1, channel=2)) == "ACK 1"
        for ch in (1, 2):
            assert client.request({"type": "irradiance", "data": {"timestamp": t_lab + 30, "raw_reading": 40213,
                                                                  "irradiance": 998.4},
                                   "metadata": {"sensor_identifier": "PT-104", "channel": ch}}) == "ACK 1"
        client.close()

        def stored():
            with _connect(lab_db_url) as conn:
                return conn.execute(
                    "SELECT (SELECT count(*) FROM mpp_measurement WHERE tracking_channel_board = 1"
                    "        AND tracking_channel_channel = 2 AND \"timestamp\" >= to_timestamp(%s)"
                    "        AND \"timestamp\" <= to_timestamp(%s) + interval '1 second'),"
                    "       (SELECT count(*) FROM irradiance_measurement WHERE irradiance = 998.4)",
                    (t_lab, t_lab)).fetchone()

        wait_until(lambda: svc.buffer.count() == 0 and stored() == (2, 2))
    finally:
        svc.stop()
    with _connect(lab_db_url) as conn:
        ids = {r[0] for r in conn.execute("SELECT irradiance_sensor_id::text FROM irradiance_measurement"
                                          " WHERE irradiance = 998.4")}
        assert ids == {"26bc6c2b-e0ef-5534-9ef9-bad0b741d76a", "0badc0de-0000-4000-8000-000000000002"}
        assert conn.execute("SELECT count(*) FROM irradiance_sensor").fetchone()[0] == 2


# ---------------------------------------------------------------------------------------------
# failing and edited migrations

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "perocube_desktop", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_failing_migration_rolls_back_and_says_what_to_do(empty_db_url, tmp_path):
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "0001_first.sql").write_text("CREATE TABLE first_table (x int);\n")
    (mig / "0002_broken.sql").write_text("CREATE TABLE half_done (x int);\nINSERT INTO no_such_table VALUES (1);\n")
    with pytest.raises(migrate.MigrationFailedError) as err:
        migrate.migrate(empty_db_url, directory=mig)
    text = str(err.value)
    assert "0002_broken.sql" in text and "no_such_table" in text and "does not exist" in text
    assert "rolled back" in text and "schema version 1" in text and "db migrate" in text
    assert "\n" not in text
    with _connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('first_table') IS NOT NULL").fetchone()[0]
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        assert [r[0] for r in conn.execute("SELECT version FROM perocube_schema_migrations")] == [1]


def test_failing_lab_upgrade_from_the_command_line(lab_db_url):
    """A real failure: the lab's database has its own table named 'quarantine'. The command says which
    migration failed and why, in one line without a traceback; the database is as before that
    migration; once the cause is fixed the same command completes the upgrade."""
    with _connect(lab_db_url) as conn:
        conn.execute("CREATE TABLE quarantine (cell varchar(255), note text)")
    out = _cli("db", "migrate", "--db", lab_db_url)
    assert out.returncode == 3
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "0002_integrity.sql failed" in errors[0] and "received_at" in errors[0]
    assert "schema version 1" in errors[0]
    with _connect(lab_db_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM perocube_schema_migrations")] == [1]
        assert conn.execute("SELECT to_regclass('schema_upgrade_log')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'mpp_measurement_channel_time_key'"
                            ).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) - count(DISTINCT (\"timestamp\", tracking_channel_board,"
                            " tracking_channel_channel)) FROM mpp_measurement").fetchone()[0] == 48 + 1
        conn.execute("ALTER TABLE quarantine RENAME TO lab_quarantine")
    out = _cli("db", "migrate", "--db", lab_db_url)
    assert out.returncode == 0, out.stderr
    assert migrate.status(lab_db_url).version == max(m.version for m in migrate.available())


def test_edited_migration_is_refused_naming_the_file(db_url):
    with _connect(db_url) as conn:
        conn.execute("UPDATE perocube_schema_migrations SET checksum = 'f00d' || checksum WHERE version = 5")
    with pytest.raises(migrate.ChecksumMismatchError, match="0005_logbook_columns.sql"):
        migrate.migrate(db_url)
    out = _cli("db", "migrate", "--db", db_url)
    assert out.returncode == 3 and "Traceback" not in out.stderr
    assert "0005_logbook_columns.sql" in out.stderr and "different content" in out.stderr


def test_crlf_checkout_is_the_same_migration(empty_db_url, backend, tmp_path):
    """Windows checkouts may turn the migration files' line endings into CRLF: not an edited migration."""
    if backend != "plain":  # the same runner logic; TimescaleDB adds nothing but time here
        pytest.skip("backend-independent check, run on plain PostgreSQL")
    crlf = tmp_path / "migrations"
    crlf.mkdir()
    for m in migrate.available():
        (crlf / m.path.name).write_bytes(m.path.read_bytes().replace(b"\n", b"\r\n"))
    migrate.migrate(empty_db_url, directory=crlf)
    assert migrate.migrate(empty_db_url).applied == []


def test_database_with_the_first_0003_gets_the_corrected_functions(empty_db_url, tmp_path):
    """An app database that applied the superseded 0003 (other parameter names, same-instant bug):
    accepted by the checksum check, and 0006 replaces its functions with the lab's."""
    old = tmp_path / "migrations"
    old.mkdir()
    for name in ("0001_lab_schema.sql", "0002_integrity.sql", "0004_timescale_and_rollups.sql", "0005_logbook_columns.sql"):
        shutil.copy(sql_dir() / "migrations" / name, old / name)
    shutil.copy(DATA / "superseded_migrations" / "0003_lab_functions.sql", old / "0003_lab_functions.sql")
    migrate.migrate(empty_db_url, directory=old)
    old_checksum = migrate.Migration(3, "lab_functions", old / "0003_lab_functions.sql").checksum
    assert old_checksum in migrate.SUPERSEDED_CHECKSUMS[3]
    with _connect(empty_db_url) as conn:
        # only the function without parameters had the lab's signature already
        assert {s[0] for s in set(signatures(conn)) & LAB_SIGNATURES} == {"get_queryable_solar_cell_pixels"}
    result = migrate.migrate(empty_db_url)
    assert result.applied == [m.version for m in migrate.available() if m.version > 5]
    assert sum("differs from the lab's: dropped and re-created" in n for n in result.notices) == 5
    with _connect(empty_db_url) as conn:
        assert set(signatures(conn)) == LAB_SIGNATURES
        conn.execute("INSERT INTO solar_cell_device (name) VALUES ('D')")
        conn.execute("INSERT INTO solar_cell_pixel (solar_cell_id, pixel) VALUES ('D', 'P')")
        conn.execute("INSERT INTO mpp_tracking_channel (board, channel) VALUES (1, 1), (1, 2)")
        conn.execute("INSERT INTO measurement_connection_event (solar_cell_id, pixel, tracking_channel_board,"
                     " tracking_channel_channel, connection_datetime, event_type) VALUES"
                     " ('D', 'P', 1, 1, %s, 'CONNECTED'), ('D', 'P', 1, 1, %s, 'DISCONNECTED'),"
                     " ('D', 'P', 1, 2, %s, 'CONNECTED')", (MOVE - timedelta(days=1), MOVE, MOVE))
        assert conn.execute("SELECT calculated_end_datetime > now() - interval '1 minute'"
                            " FROM get_pixel_activity_range('D', 'P')").fetchone()[0]
        assert conn.execute("SELECT last_event_type_recorded FROM get_queryable_solar_cell_pixels()").fetchone()[0] \
            == "CONNECTED"


# ---------------------------------------------------------------------------------------------
# same-instant events on the sample folder

def test_moved_pixel_on_the_sample_folder(db_url, sample_dir):
    """OK_240415_02 / B moved from 1/2 to 2/4 on 2024-05-04 (logbook dates: both events at 00:00)."""
    run_import(db_url, sample_dir)
    moved = datetime(2024, 5, 4, tzinfo=UTC)
    with _connect(db_url) as conn:
        # the lab's functions' answer
        rows = conn.execute("SELECT * FROM get_mpp_data_for_pixel('OK_240415_02', 'B')").fetchall()
        assert len(rows) == 17238
        by_channel = {}
        for r in rows:
            by_channel.setdefault((r[4], r[5], r[6]), []).append(r[0])
        assert set(by_channel) == {(1, 2, datetime(2024, 5, 3, tzinfo=UTC)), (2, 4, moved)}
        assert max(by_channel[(1, 2, datetime(2024, 5, 3, tzinfo=UTC))]) < moved <= min(by_channel[(2, 4, moved)])
        # and the lab's own functions (tests/data/lab_schema.sql) agree, for every pixel
        lab_functions = LAB_SCHEMA.read_text().split("-- lab functions: begin\n")[1].split("-- lab functions: end\n")[0]
        conn.execute("CREATE SCHEMA lab")
        conn.execute("SET search_path = lab, public")
        conn.execute(lab_functions)
        pixels = conn.execute("SELECT solar_cell_name, pixel_identifier FROM public.get_queryable_solar_cell_pixels()"
                              ).fetchall()
        assert conn.execute("SELECT * FROM lab.get_queryable_solar_cell_pixels()").fetchall() == \
            conn.execute("SELECT * FROM public.get_queryable_solar_cell_pixels() ORDER BY 1, 2").fetchall()
        for cell, px in pixels:
            ours = conn.execute("SELECT * FROM public.get_mpp_data_for_pixel(%s, %s)", (cell, px)).fetchall()
            theirs = conn.execute("SELECT * FROM lab.get_mpp_data_for_pixel(%s, %s)", (cell, px)).fetchall()
            assert ours == theirs, (cell, px)
        for t in (moved, moved + timedelta(hours=9), datetime.now(UTC)):
            assert conn.execute("SELECT * FROM public.get_board_connection_status(%s)", (t,)).fetchall() == \
                conn.execute("SELECT * FROM lab.get_board_connection_status(%s)", (t,)).fetchall()
        conn.execute("SET search_path = public")
        # board status: active on its new channel, from the instant of the move
        for t in (moved, datetime.now(UTC)):
            status = {(r[0], r[1]): r for r in conn.execute("SELECT * FROM get_board_connection_status(%s)", (t,))}
            assert status[(2, 4)][2:5] == ("OK_240415_02", "B", 1)
            assert status[(1, 2)][2:5] == ("OK_240415_02", "B", 0)
        # the live overview's query says the same
        from perocube_desktop.db import queries

        now = {(b, c): (cell, px, active) for b, c, cell, px, active, _t in
               conn.execute(queries.get("monitor", "connections_now")).fetchall()}
        assert now[(2, 4)] == ("OK_240415_02", "B", 1)

    # the registry timeline: DISCONNECTED first at the same instant, periods as the function's
    pool = ConnectionPool(db_url, min_size=1, max_size=2, open=True, kwargs=POOL_KWARGS)
    try:
        timeline = WiringService(RegistryRepository(pool)).timeline("OK_240415_02", "B")
    finally:
        pool.close()
    assert [(t, kind, b, c) for t, kind, _cell, _px, b, c in timeline] == [
        (datetime(2024, 5, 3, tzinfo=UTC), "CONNECTED", 1, 2), (moved, "DISCONNECTED", 1, 2),
        (moved, "CONNECTED", 2, 4)]

    # the report loads the same periods: 1/2 until the move, 2/4 from that instant on
    rep = build(db_url, Selection(device="OK_240415_02", pixel="B"), ReportSettings())
    periods = rep.periods[("OK_240415_02", "B")]
    assert [(p.board, p.channel, p.t0) for p in periods] == [
        (1, 2, datetime(2024, 5, 3, tzinfo=UTC).timestamp()), (2, 4, moved.timestamp())]
    assert periods[0].t1 == moved.timestamp() and periods[1].move_in
    assert {(p.board, p.channel, datetime.fromtimestamp(p.t0, UTC)) for p in periods} == set(by_channel)
