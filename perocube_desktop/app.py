"""Composition of the GUI application, in one place: config -> database -> services ->
window, and the shutdown order in reverse. Windows never create their own workers or
connections."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import traceback

from .config import Settings

log = logging.getLogger(__name__)


class App:
    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.args = args
        self.settings = settings
        self.target = None
        self.service = None
        self.simulator = None
        self.sim_thread = None
        self.pool = None
        self.api = None  # the read API beside the receiver (settings api.enabled)
        self.window = None
        self.errors: list[str] = []

    def start(self) -> None:
        from psycopg_pool import ConnectionPool

        from .db import connection, migrate
        from .monitor.live import LiveStore
        from .ui.bridge import IngestBridge
        from .ui.log_panel import QueueLogHandler
        from .ui.main_window import MainWindow
        from .ui.pages import build_pages
        from .ui.settings_dialog import SettingsDialog

        from PySide6.QtWidgets import QApplication

        from .paths import resource_path

        QApplication.instance().setStyleSheet(resource_path("app.qss").read_text(encoding="utf-8"))
        handler = QueueLogHandler()
        logging.getLogger().addHandler(handler)
        self.target = connection.resolve(self.settings, self.args.db)
        migrate.migrate(self.target.conninfo, self.settings.database.compress_after_days)
        status = migrate.status(self.target.conninfo)
        self.pool = ConnectionPool(self.target.conninfo, min_size=1, max_size=4, open=True,
                                   kwargs={"application_name": "perocube-gui"})
        store = LiveStore()
        port = self.args.port if self.args.port is not None else self.settings.receiver.port
        receiver_error = None
        try:
            self.service = self._start_ingest(port)
        except OSError as exc:
            receiver_error = str(exc)
            log.error("%s; the app runs without a receiver", exc)
            self.service = None
        if self.args.demo and self.service is not None:
            from .ingest.simulator import SimConfig, Simulator

            self.simulator = Simulator(SimConfig(port=self.service.receiver.port, boards=2, channels=8,
                                                 interval_s=1.0))
            self.sim_thread = threading.Thread(target=self.simulator.run, name="simulator", daemon=True)
            self.sim_thread.start()
            log.info("demo: simulator feeding %d boards x %d channels", 2, 8)
        api_error = self.set_api(self.settings.api)
        bridge = IngestBridge(self.service, store)
        from .db.probe import server_version
        from .registry.repository import RegistryRepository
        from .registry.wiring import WiringService

        registry = RegistryRepository(self.pool)
        self.window = MainWindow(
            self.settings, store, bridge, self.pool, self.target.description, status.timescaledb_active, handler,
            extra_pages=build_pages(self.settings, self.pool, self.target.conninfo, registry, WiringService(registry)),
            settings_dialog_factory=lambda parent: SettingsDialog(self.settings, self.service, parent,
                                                                  probe=server_version, api_control=self.set_api))
        if status.timescaledb_problem:
            self.window.show_error(status.timescaledb_problem)  # e.g. installed but not preloaded
        if receiver_error:
            self.window.show_error(receiver_error)
        if api_error:
            self.window.show_error(api_error)
        self.window.show()
        if self.args.page:
            self.window.show_page(self.args.page)

    def _start_ingest(self, port: int):
        from .ingest.service import IngestService

        service = IngestService(self.settings, self.target.conninfo, port=port)
        try:
            service.start()
        except OSError as exc:
            service.stop(0)
            if not self.args.demo or port == 0:
                raise
            # the demo must work for a newcomer even when LabVIEW (or anything) holds the port
            log.warning("%s; the demo uses a free port instead", exc)
            service = IngestService(self.settings, self.target.conninfo, port=0)
            service.start()
        return service

    def set_api(self, api) -> str | None:
        """Start, restart or stop the read API as ``api`` (ApiSettings) says; the error, if any."""
        if self.api is not None:
            self.api.stop()
            self.api = None
        if not api.enabled:
            return None
        from .api.server import ApiConfigError, ApiServer

        server = None
        try:
            server = ApiServer(self.target.conninfo, self.settings, api.host, api.port)
            server.start()
        except ApiConfigError as exc:
            if server is not None:
                server.stop()
            log.error("%s", exc)
            return str(exc)
        self.api = server
        return None

    def stop(self) -> None:
        """Reverse order: simulator, read API, receiver and writer (flush), pool, embedded database."""
        if self.simulator is not None:
            self.simulator.stop()
            self.sim_thread.join(5)
        if self.api is not None:
            self.api.stop()
        if self.service is not None:
            self.service.stop()
        if self.pool is not None:
            self.pool.close()
        if self.target is not None:
            self.target.stop()


def run_gui(args: argparse.Namespace, settings: Settings) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    if args.smoke_test is not None:  # errors also on stderr, not only in the log file (CI, bundle checks)
        stderr_handler = logging.StreamHandler()
        stderr_handler.setLevel(logging.ERROR)
        stderr_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(stderr_handler)
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("Perocube Desktop")
    app = App(args, settings)
    errors: list[str] = []

    def excepthook(exc_type, exc, tb):
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        errors.append(text)
        log.error("unhandled error:\n%s", text)
        if app.window is not None:
            app.window.show_error(f"{exc_type.__name__}: {exc}")

    sys.excepthook = excepthook
    try:
        app.start()
    except Exception as exc:
        log.exception("start-up failed")
        if args.smoke_test is None:
            QMessageBox.critical(None, "Perocube Desktop", f"Cannot start:\n{exc}")
        app.stop()
        return 1
    if args.smoke_test is not None:
        def finish():
            if args.screenshot:
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                app.window.grab().save(str(args.screenshot))
                log.info("screenshot saved to %s", args.screenshot)
            app.window.close()
            qt_app.quit()

        QTimer.singleShot(int(args.smoke_test * 1000), finish)
    qt_app.aboutToQuit.connect(app.stop)
    qt_app.exec()
    sys.excepthook = sys.__excepthook__
    code = 1 if errors else 0
    # Everything is stopped and flushed by now. PySide6 6.12 + pyqtgraph can crash in the
    # interpreter's final garbage collection ("bool_dealloc"), turning a clean exit into
    # SIGABRT; skip that finalisation (see docs/decisions.md).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if not getattr(args, "no_hard_exit", False):
        os._exit(code)
    return code
