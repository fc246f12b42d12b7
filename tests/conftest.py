"""Test fixtures: one embedded PostgreSQL per session, a fresh database per test.

Every test gets fresh user folders (config, data, logs) so nothing leaks between tests
or into the developer's own settings.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLE = SHARED / "sample_data"

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="perocube-tests-"))


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


@pytest.fixture(scope="session")
def pg_server():
    from perocube_desktop.db.embedded import EmbeddedServer
    from perocube_desktop.db.migrate import migrate

    server = EmbeddedServer(_SESSION_DIR / "pgdata", database="perocube_template")
    server.start()
    migrate(server.url())
    yield server
    server.stop()


def _create(server, template: str | None) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _drop(server, name: str) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(pg_server):
    """A freshly migrated database of its own."""
    name = _create(pg_server, "perocube_template")
    yield pg_server.url(name)
    _drop(pg_server, name)


@pytest.fixture
def empty_db_url(pg_server):
    name = _create(pg_server, None)
    yield pg_server.url(name)
    _drop(pg_server, name)


@pytest.fixture
def sample_dir(tmp_path) -> Path:
    """A writable copy of the shared sample folder."""
    import shutil

    dest = tmp_path / "lab"
    shutil.copytree(SAMPLE, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest
