"""Qt's environment, set before the QApplication exists (no Qt import here).

Offscreen fonts on Windows: Qt's ``offscreen`` platform (smoke tests, screenshots, CI) does not ask
Windows for its fonts; it reads font files from ``QT_QPA_FONTDIR``, by default a ``fonts`` folder
beside the Qt libraries that PySide6's Windows wheels do not ship. Without it every text of an
offscreen window is an empty box. The Windows fonts folder is used unless the user set one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

HEADLESS_PLATFORMS = ("offscreen", "minimal")


def offscreen_font_dir(environ: MutableMapping[str, str], platform: str = sys.platform) -> Path | None:
    """The folder Qt should read fonts from, or None when Qt finds them itself (or the user chose)."""
    qpa = environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    if platform != "win32" or qpa not in HEADLESS_PLATFORMS or environ.get("QT_QPA_FONTDIR"):
        return None
    windir = environ.get("WINDIR") or environ.get("SYSTEMROOT") or r"C:\Windows"
    return Path(windir) / "Fonts"


def prepare(environ: MutableMapping[str, str] = os.environ, platform: str = sys.platform) -> None:
    """Call before the QApplication is created (the app, the screenshot script, the tests)."""
    folder = offscreen_font_dir(environ, platform)
    if folder is not None:
        environ["QT_QPA_FONTDIR"] = str(folder)
