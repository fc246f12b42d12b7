"""Helpers for the benchmark scripts: a throw-away embedded PostgreSQL with the current schema."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@contextmanager
def scratch_database():
    """Yields (conninfo, workdir) for a fresh migrated database; everything is removed afterwards."""
    import shutil

    from perocube_desktop.db.embedded import EmbeddedServer
    from perocube_desktop.db.migrate import migrate

    work = Path(tempfile.mkdtemp(prefix="perocube-bench-"))
    os.environ.setdefault("PEROCUBE_DATA_DIR", str(work / "data"))
    os.environ.setdefault("PEROCUBE_CONFIG_DIR", str(work / "config"))
    os.environ.setdefault("PEROCUBE_LOG_DIR", str(work / "log"))
    server = EmbeddedServer(work / "pgdata")
    url = server.start()
    migrate(url)
    try:
        yield url, work, server
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6
