"""Perocube Desktop: operator application for the PeroCube perovskite ageing lab.

Only ``perocube_desktop.ui`` and ``.app`` import Qt; everything else
is plain Python and is tested without a GUI.
"""

from .db import pg_version as _pg_version

__version__ = "0.1.0"

# before any entry point imports the embedded-server wheel, which reads the version at import (db/pg_version.py)
_pg_version.choose()
