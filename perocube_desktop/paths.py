"""Platform folders (platformdirs) and packaged resources, and the start-up check that the
packaged SQL and resources are really there (a frozen bundle or a broken install may lack them)."""

from __future__ import annotations

import os
import re
import sys
from importlib import resources
from pathlib import Path

import platformdirs

APP_NAME = "perocube-desktop"
APP_AUTHOR = "PeroCube"

# What the app loads at run time through importlib.resources. Query files are loaded by name
# (db/queries.py); tests/test_bundle_paths.py checks that each one exists in sql/queries/ (a new
# query file may be added here so that the start-up check covers it too).
REQUIRED_QUERIES = ("api", "disk_buffer", "import", "import_history", "import_staging", "lifetime", "logbook",
                    "migrate", "monitor", "nomad", "registry", "report", "rollups", "server", "status", "viewer", "wiring",
                    "writer_merge", "writer_mpp", "writer_staging")  # = sql/queries (a test checks)
REQUIRED_RESOURCES = ("app.qss",)
_MIGRATION = re.compile(r"^(\d{4})_\w+\.sql$")


class InstallationError(RuntimeError):
    """Packaged files are missing: the message names them and says how to repair the install."""


def _override(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value) if value else None


def config_dir() -> Path:
    return _override("PEROCUBE_CONFIG_DIR") or platformdirs.user_config_path(APP_NAME, APP_AUTHOR)


def config_file() -> Path:
    return _override("PEROCUBE_CONFIG") or config_dir() / "config.yaml"


def data_dir() -> Path:
    return _override("PEROCUBE_DATA_DIR") or platformdirs.user_data_path(APP_NAME, APP_AUTHOR)


def log_dir() -> Path:
    return _override("PEROCUBE_LOG_DIR") or platformdirs.user_log_path(APP_NAME, APP_AUTHOR)


def sql_dir() -> Path:
    """Folder holding ``migrations/`` and ``queries/`` (top-level ``sql/`` in the repo)."""
    return Path(str(resources.files("perocube_desktop.sql")))


def resource_path(name: str) -> Path:
    return Path(str(resources.files("perocube_desktop.resources") / name))


def is_frozen() -> bool:
    """True inside the PyInstaller bundle (``packaging/build.py``)."""
    return bool(getattr(sys, "frozen", False))


def _repair_hint() -> str:
    if is_frozen():
        return ("the app folder is incomplete: reinstall Perocube Desktop, or rebuild the bundle with "
                "'python packaging/build.py' (it bundles sql/ and resources/)")
    return ("the installed package is incomplete: reinstall it ('pip install --force-reinstall perocube-desktop', "
            "or 'pip install -e .' in a source checkout)")


def _package_dir(package: str) -> Path | None:
    """The package's folder, or None when it is not a real, regular package (a freezer that
    left out its ``__init__`` turns it into a namespace package with no usable path)."""
    try:
        files = resources.files(package)
    except (ModuleNotFoundError, TypeError):
        return None
    path = Path(str(files))
    return path if path.is_dir() else None


def missing_files() -> list[str]:
    """Packaged files the app needs that are not there (empty when the install is complete)."""
    return missing_in(_package_dir("perocube_desktop.sql"), _package_dir("perocube_desktop.resources"))


def missing_in(sql: Path | None, res: Path | None) -> list[str]:
    """What the SQL folder ``sql`` and the resources folder ``res`` lack (None: no such package)."""
    missing: list[str] = []
    if sql is None:
        missing.append("the package perocube_desktop.sql (the schema migrations and SQL queries, sql/ in the source)")
    else:
        migrations = sql / "migrations"
        versions = sorted(int(m.group(1)) for p in (migrations.glob("*.sql") if migrations.is_dir() else [])
                          if (m := _MIGRATION.match(p.name)))
        if not versions:
            missing.append(f"the schema migrations ({migrations}{os.sep}NNNN_name.sql)")
        else:
            gaps = sorted(set(range(1, versions[-1] + 1)) - set(versions))
            if gaps:
                missing.append("schema migration " + ", ".join(f"{v:04d}_*.sql" for v in gaps) + f" in {migrations}")
        queries = [f"{name}.sql" for name in REQUIRED_QUERIES if not (sql / "queries" / f"{name}.sql").is_file()]
        if queries:
            missing.append(f"the SQL queries {', '.join(queries)} in {sql / 'queries'}")
    if res is None:
        missing.append("the package perocube_desktop.resources (stylesheet and icons, resources/ in the source)")
    else:
        names = [name for name in REQUIRED_RESOURCES if not (res / name).is_file()]
        if names:
            missing.append(f"the resources {', '.join(names)} in {res}")
    return missing


def check_installation() -> None:
    """Raise :class:`InstallationError` naming every missing packaged file and the fix.

    Called at start-up (cli.main), so a frozen app without its SQL says so instead of
    reporting "schema version 0" or failing deep inside a migration.
    """
    missing = missing_files()
    if missing:
        raise InstallationError("missing " + "; ".join(missing) + " -- " + _repair_hint())
