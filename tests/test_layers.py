"""The layer rule: core packages never import Qt (checked in a fresh interpreter)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_pyproject_lists_every_package():
    """setuptools' explicit package list must name every package, or a wheel (and the frozen
    bundle built from it) silently lacks one (an editable install would not show it)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "perocube_desktop").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
