"""Platform folders (platformdirs) and packaged resources."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

APP_NAME = "perocube-desktop"
APP_AUTHOR = "PeroCube"


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
