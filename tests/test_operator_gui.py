"""Operator-proof GUI (#20 items 4, 7, 9 `--page`, 10): real processes for what is about the process,
pytest-qt with the real App for what is on the screen."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from helpers import free_port

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", re.M)


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "perocube_desktop", *args], capture_output=True, text=True,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), timeout=timeout)


def log_text() -> str:
    path = Path(os.environ["PEROCUBE_LOG_DIR"]) / "perocube-desktop.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def logged_at(text: str, what: str) -> float:
    """Time of the first log line containing ``what``."""
    line = next(line for line in text.splitlines() if what in line)
    return datetime.strptime(LOG_TIME.match(line).group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


@pytest.fixture
def gui_app(qtbot):
    """``start(settings=None, **args)``: the real App (as ``perocube-desktop`` builds it), stopped after the test."""
    from perocube_desktop.app import App
    from perocube_desktop.config import Settings

    apps = []

    def start(settings=None, **kw):
        args = dict(db=None, port=0, demo=False, page=None, smoke_test=None, screenshot=None)
        args.update(kw)
        a = App(argparse.Namespace(**args), settings or Settings())
        apps.append(a)
        a.start()
        qtbot.addWidget(a.window)
        return a

    yield start
    for a in apps:
        if a.window is not None:
            a.window.close()
        a.stop()


# --- 4. an unreachable --db ------------------------------------------------------------------------------


def test_unreachable_database_no_traceback_and_the_smoke_test_ends_on_time(tmp_path):
    closed = free_port()
    started = time.monotonic()
    out = cli("--db", f"postgresql://nobody@127.0.0.1:{closed}/none", "--port", "0", "--smoke-test", "2")
    wall = time.monotonic() - started
    console = out.stdout + out.stderr
    assert "Traceback" not in console and "PoolTimeout" not in console, console[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and last.startswith("error: smoke test failed") and str(closed) in last
    log = log_text()
    assert "Traceback" not in log, log[-3000:]
    # the window's background reads waited 10 s for a connection and held the shutdown (19 s for
    # --smoke-test 8); now the smoke test ends after its seconds and the shutdown takes no wait
    assert logged_at(log, "shutdown complete") - logged_at(log, "window open") < 2 + 6, log[-3000:]
    assert wall < 90  # start-up on a loaded 2-core machine included


@pytest.mark.gui
def test_unreachable_database_is_a_status_bar_state_and_one_log_line(gui_app, qtbot, caplog):
    a = gui_app(db=f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    w = a.window
    assert not a.database_ok
    qtbot.waitUntil(lambda: "not reachable" in w.lbl_db.text() or "reconnecting" in w.lbl_db.text(), timeout=10000)
    caplog.clear()
    w.refresh_metadata()
    w.refresh_lifetime()
    w.lbl_error.setText("")
    qtbot.waitUntil(lambda: re.search(r"(metadata|lifetime projection): database not reachable \(couldn't get a "
                                      r"connection", w.lbl_error.text()) is not None, timeout=30000)
    assert "PoolTimeout" not in w.lbl_error.text()
    lines = [r for r in caplog.records if r.name == "perocube_desktop.ui.worker" and r.levelname != "DEBUG"]
    assert len(lines) <= 1 and all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)
    assert "Traceback" not in caplog.text
