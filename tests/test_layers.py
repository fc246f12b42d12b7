"""The layer rule: core packages never import Qt (checked in a fresh interpreter)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import perocube_desktop

CORE = [m.name for m in pkgutil.walk_packages(perocube_desktop.__path__, "perocube_desktop.")
        if not m.name.startswith(("perocube_desktop.ui", "perocube_desktop.app", "perocube_desktop.__main__"))]


def test_core_imports_no_qt():
    assert "perocube_desktop.ingest.receiver" in CORE and "perocube_desktop.stats.report" in CORE
    code = ("import sys, importlib\n"
            f"for name in {CORE!r}:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'qasync', 'shiboken6'))\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
