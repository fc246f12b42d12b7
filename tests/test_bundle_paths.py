"""The start-up check of packaged files (paths.check_installation): fast, part of the normal suite.
The bundle itself is tested by tests/test_bundle.py (PEROCUBE_TEST_BUNDLE=1) / packaging/test_bundle.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from perocube_desktop import paths

REPO = Path(__file__).resolve().parent.parent


def test_this_install_is_complete():
    assert paths.missing_files() == []
    paths.check_installation()


def test_required_lists_match_the_source_tree():
    queries = {p.stem for p in (REPO / "sql" / "queries").glob("*.sql")}
    assert set(paths.REQUIRED_QUERIES) <= queries
    for name in paths.REQUIRED_RESOURCES:
        assert (REPO / "resources" / name).is_file()


def _copy_sql(tmp_path: Path) -> tuple[Path, Path]:
    sql = tmp_path / "sql"
    shutil.copytree(REPO / "sql", sql)
    res = tmp_path / "resources"
    shutil.copytree(REPO / "resources", res)
    return sql, res


def test_missing_migration_query_and_resource_are_named(tmp_path):
    sql, res = _copy_sql(tmp_path)
    assert paths.missing_in(sql, res) == []
    next(sql.glob("migrations/0002_*.sql")).unlink()
    (sql / "queries" / "report.sql").unlink()
    (res / "app.qss").unlink()
    missing = paths.missing_in(sql, res)
    assert len(missing) == 3
    assert "0002_*.sql" in missing[0]
    assert "report.sql" in missing[1]
    assert "app.qss" in missing[2]
    shutil.rmtree(sql / "migrations")
    assert "schema migrations" in paths.missing_in(sql, res)[0]
    assert "perocube_desktop.sql" in paths.missing_in(None, res)[0]
    assert "perocube_desktop.resources" in paths.missing_in(sql, None)[-1]


def test_cli_refuses_to_start_without_its_sql(tmp_path):
    """An install laid out like the wheel, without one migration: one line, exit 2, no traceback."""
    site = tmp_path / "site"
    pkg = site / "perocube_desktop"
    shutil.copytree(REPO / "perocube_desktop", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sql", pkg / "sql", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "resources", pkg / "resources", ignore=shutil.ignore_patterns("__pycache__"))
    next((pkg / "sql" / "migrations").glob("0003_*.sql")).unlink()
    env = dict(os.environ, PYTHONPATH=str(site), PEROCUBE_CONFIG_DIR=str(tmp_path / "cfg"),
               PEROCUBE_DATA_DIR=str(tmp_path / "data"), PEROCUBE_LOG_DIR=str(tmp_path / "log"))
    done = subprocess.run([sys.executable, "-c", "import sys; from perocube_desktop.cli import main; sys.exit(main())",
                           "db", "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "0003_*.sql" in done.stderr and "reinstall" in done.stderr
    assert "Traceback" not in done.stderr


def test_required_queries_name_every_query_file():
    """The start-up check of a frozen or broken install knows every named-query file."""
    from perocube_desktop import paths

    shipped = {p.stem for p in (paths.sql_dir() / "queries").glob("*.sql")}
    assert set(paths.REQUIRED_QUERIES) == shipped
