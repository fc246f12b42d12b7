"""The GUI process: one per user and data folder; the ``App`` (``app.py``, handed in by ``cli``, which
composes: this layer does not import the one above it) started, its window shown until it is closed
(by the user, a signal or the end of a smoke test), everything stopped, and the process ended without
Python's final garbage collection (docs/decisions.md)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from .. import paths, qt_setup
from ..config import Settings, UserError

log = logging.getLogger(__name__)


class GuiApp(Protocol):
    """What the process asks of the ``App`` it runs (``app.App``)."""

    @property
    def window(self) -> Any: ...

    @property
    def notifier(self) -> Any: ...  # its ``raise_window`` signal

    @property
    def database_ok(self) -> bool: ...

    @property
    def database_error(self) -> str | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _smoke_problem(app: GuiApp) -> str | None:
    """What makes a smoke test fail: no font (every text an empty box), or no database."""
    from PySide6.QtGui import QFontDatabase

    if not QFontDatabase.families():
        return "Qt found no font: every text is an empty box (offscreen on Windows: QT_QPA_FONTDIR, qt_setup.py)"
    return None if app.database_ok else f"the database never answered: {app.database_error}"


def run_gui(args: argparse.Namespace, settings: Settings,
            make_app: Callable[[argparse.Namespace, Settings], GuiApp]) -> int:
    """The GUI process: one per user and data folder, the App started and its window shown until
    it is closed (by the user, a signal or the end of a smoke test), then everything stopped."""
    from PySide6.QtWidgets import QApplication

    from .. import shutdown
    from .session import GuiSession
    from .single_instance import SingleInstance, instance_name

    if args.smoke_test is not None:  # errors also on stderr, not only in the log file (CI, bundle checks)
        stderr_handler = logging.StreamHandler()
        stderr_handler.setLevel(logging.ERROR)
        stderr_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(stderr_handler)
    qt_setup.prepare()  # offscreen fonts on Windows, before the QApplication exists
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("Perocube Desktop")
    settings.demo = bool(args.demo)
    guard = SingleInstance(instance_name(settings.demo_dir() if settings.demo else paths.data_dir()))
    if guard.signal_running(page=args.page):  # the running window shows itself (on that page) and logs it
        shown = f" on the {args.page} page" if args.page else ""
        print(f"Perocube Desktop is already running for this user: its window was brought to the front{shown}",
              file=sys.stderr)
        return 0
    app = make_app(args, settings)
    session = GuiSession(qt_app, lambda: app.window)
    stopped = threading.Event()
    sys.excepthook = session.excepthook
    shutdown.install(session.stop_requests.append, stopped)
    if not _start(app, args):
        return 1
    app.notifier.raise_window.connect(session.bring_to_front)
    guard.listen(app.notifier.raise_window.emit)
    session.watch_stop_requests()
    if args.smoke_test is not None:
        session.finish_after(args.smoke_test, args.screenshot, lambda: _smoke_problem(app))
    qt_app.aboutToQuit.connect(app.stop)
    qt_app.exec()
    app.stop()
    session.stop_watching()
    guard.close()
    stopped.set()
    sys.excepthook = sys.__excepthook__
    return _exit(session.exit_code(), args)


def _start(app: GuiApp, args: argparse.Namespace) -> bool:
    """``app.start()``; False (the reason on stderr and, unless a smoke test, in a message box) if it failed."""
    from PySide6.QtWidgets import QMessageBox

    try:
        app.start()
    except UserError:
        app.stop()
        raise
    except Exception as exc:
        log.exception("start-up failed")
        print(f"error: cannot start: {exc}", file=sys.stderr)
        if args.smoke_test is None:
            QMessageBox.critical(None, "Perocube Desktop", f"Cannot start:\n{exc}")
        app.stop()
        return False
    return True


def _exit(code: int, args: argparse.Namespace) -> int:
    # Everything is stopped and flushed by now. PySide6 6.12 + pyqtgraph can crash in the
    # interpreter's final garbage collection ("bool_dealloc"), turning a clean exit into
    # SIGABRT; skip that finalisation (see docs/decisions.md).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if not getattr(args, "no_hard_exit", False):
        os._exit(code)
    return code
