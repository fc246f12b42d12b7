"""What the screenshot scripts (make_screenshots.py, make_operator_screenshots.py) share: Qt offscreen
with its fonts prepared, the two screen sizes the lab uses, the event loop pumped by hand, and the
app started as ``perocube-desktop`` starts it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))  # _common.scratch_database
sys.path.insert(0, str(HERE.parent / "tests"))  # helpers.reused_channel (the long-gap sample data)
sys.path.insert(0, str(HERE.parent))

from perocube_desktop import qt_setup  # noqa: E402

qt_setup.prepare()  # offscreen fonts on Windows, before the QApplication exists

SCREENS = [(1366, 768), (1920, 1080)]
CHROME_H = 70  # taskbar + title bar of a maximised window


class Gui:
    """The QApplication, driven by the script instead of ``exec()``."""

    def __init__(self) -> None:
        from PySide6.QtWidgets import QApplication

        self.qt = QApplication.instance() or QApplication(sys.argv[:1])

    def pump(self, seconds: float) -> None:
        """Let Qt work (signals, timers, painting) for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.qt.processEvents()
            time.sleep(0.01)

    def wait(self, cond, timeout: float = 60) -> None:
        """Pump until ``cond()`` holds, at most ``timeout`` s."""
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            self.pump(0.1)

    def start_app(self, url: str, settings):
        """The App on database ``url`` with a free receiver port, started (its window shown)."""
        import argparse

        from perocube_desktop.app import App

        app = App(argparse.Namespace(db=url, port=0, demo=False, page=None, smoke_test=None, screenshot=None),
                  settings)
        app.start()
        return app
