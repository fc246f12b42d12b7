"""TimescaleDB specifics against real servers: migrations that cannot race, a server that has the
extension installed but not preloaded, policies that cover back-fills."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import conftest
from perocube_desktop.db import migrate

NOPRELOAD_ENV = "PEROCUBE_TEST_TSDB_NOPRELOAD_URL"


def test_five_fresh_migrates_in_a_row(pg_server, backend):
    """The migration's own refresh used to race the policy jobs it had just scheduled."""
    if backend != "timescaledb":
        pytest.skip("TimescaleDB only: plain PostgreSQL has no background refresh jobs")
    for _ in range(5):
        name = conftest._create(pg_server, None)
        try:
            url = pg_server.url(name)
            result = migrate.migrate(url)
            assert result.version == max(m.version for m in migrate.available()) and result.problem is None
            with psycopg.connect(url) as conn:
                jobs = conn.execute(
                    "SELECT config, next_start > now() FROM timescaledb_information.jobs"
                    " WHERE proc_name = 'policy_refresh_continuous_aggregate'").fetchall()
            # six refresh policies covering the whole history, started only after the initial refresh
            assert len(jobs) == 6
            assert all(cfg["start_offset"] is None for cfg, _later in jobs)
        finally:
            conftest._drop(pg_server, name)


@pytest.fixture
def nopreload_url():
    admin = os.environ.get(NOPRELOAD_ENV)
    if not admin:
        pytest.skip(f"needs a server with TimescaleDB installed but not preloaded: set {NOPRELOAD_ENV} "
                    "(its admin URL: the extension installed, not in shared_preload_libraries)")
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(admin, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_not_preloaded_server_migrates_as_plain_postgresql(nopreload_url):
    result = migrate.migrate(nopreload_url)  # used to die with FATAL "extension timescaledb must be preloaded"
    assert result.problem == migrate.NOT_PRELOADED
    assert "TimescaleDB installed but not preloaded: add it to shared_preload_libraries and restart, then run db migrate" \
        == migrate.NOT_PRELOADED
    st = migrate.status(nopreload_url)
    assert st.version == max(m.version for m in migrate.available())
    assert not st.timescaledb_active and st.timescaledb_available and st.timescaledb_problem == migrate.NOT_PRELOADED
    with psycopg.connect(nopreload_url) as conn:
        # plain rollup tables, maintained from the triggers' marks
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'mpp_rollup_1m'").fetchone()[0] == "r"
    out = subprocess.run([sys.executable, "-m", "perocube_desktop", "db", "status", "--db", nopreload_url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and migrate.NOT_PRELOADED in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "perocube_desktop", "db", "migrate", "--db", nopreload_url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and migrate.NOT_PRELOADED in out.stdout + out.stderr


def test_app_runs_as_a_non_superuser_owner(pg_server, backend, sample_dir):
    """Least privilege: a DBA creates the role, the database (owned by the role) and, with
    TimescaleDB, the extension; the app then migrates, imports and reports as that role."""
    from helpers import assert_rollups_match

    from perocube_desktop.config import ReportSettings
    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.stats.report import Selection, build

    role, name = "perocube_app_" + uuid.uuid4().hex[:8], "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'app'").format(
            sql.Identifier(role)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
    try:
        if backend == "timescaledb":
            with psycopg.connect(pg_server.url(name), autocommit=True) as dba:
                dba.execute("CREATE EXTENSION timescaledb")
        url = make_conninfo(pg_server.url(name), user=role, password="app")
        with psycopg.connect(url) as conn:
            assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        result = migrate.migrate(url)
        assert result.problem is None
        assert migrate.status(url).timescaledb_active == (backend == "timescaledb")
        summary = run_import(url, sample_dir)
        assert summary.inserted["mpp"] == sum(conftest.MANIFEST["mpp_good_samples_per_channel"].values())
        rep = build(url, Selection(device="OK_240415_02"), ReportSettings())
        a = next(p for p in rep.pixels if p.pixel == "A")
        assert a.samples == conftest.MANIFEST["mpp_good_samples_per_channel"]["1/1"]
        with psycopg.connect(url, autocommit=True) as conn:
            assert_rollups_match(conn)
    finally:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _compress_all_chunks(conn: psycopg.Connection, table: str) -> int:
    """Compress every chunk of ``table``; returns how many are compressed. The compression policy,
    resumed at the end of the import, may compress a chunk at the same moment: that one counts too."""
    done = 0
    for (chunk,) in conn.execute("SELECT c::text FROM show_chunks(%s::regclass) c", (table,)).fetchall():
        # "already compressed": the policy job did it meanwhile
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            conn.execute("SELECT compress_chunk(%s::regclass, if_not_compressed => true)", (chunk,))
        done += 1
    return done


def test_backfill_into_compressed_chunks_imports_exactly_the_new_rows(db_url, sample_dir, backend, tmp_path):
    """An old folder imported after its chunks were compressed: exactly the new rows arrive (the
    folder overlaps the previous one by 30 minutes: those rows are duplicates), the compression
    policies are paused while the import loads and resumed after it, the rollups stay exact."""
    import shutil

    from helpers import assert_rollups_match

    from perocube_desktop.importer.engine import run_import

    total = sum(conftest.MANIFEST["mpp_good_samples_per_channel"].values())
    later = sample_dir / "data_2024-05" / "data_2024-05-04"
    shutil.move(str(later), str(tmp_path / "later"))
    run_import(db_url, sample_dir)
    with psycopg.connect(db_url, autocommit=True) as conn:
        first = conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0]
        if backend == "timescaledb":
            compressed = sum(_compress_all_chunks(conn, t)
                             for t in ("mpp_measurement", "temperature_measurement", "irradiance_measurement"))
            assert compressed >= 3

    shutil.move(str(tmp_path / "later"), str(later))
    seen: list[bool] = []

    def progress(_state):
        if backend == "timescaledb" and not seen:
            with psycopg.connect(db_url) as c:
                seen.append(c.execute("SELECT bool_or(scheduled) FROM timescaledb_information.jobs"
                                      " WHERE proc_name = 'policy_compression'").fetchone()[0])

    second = run_import(db_url, sample_dir, progress=progress)
    assert first + second.inserted["mpp"] == total and second.duplicates["mpp"] > 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM mpp_measurement").fetchone()[0] == total
        assert_rollups_match(conn)
        if backend == "timescaledb":
            assert seen == [False]  # paused while loading
            assert conn.execute("SELECT bool_and(scheduled) FROM timescaledb_information.jobs"
                                " WHERE proc_name = 'policy_compression'").fetchone()[0]
