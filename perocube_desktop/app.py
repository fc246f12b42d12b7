"""Composition of the GUI application, in one place: config -> database -> services ->
window, and the shutdown order in reverse. Windows never create their own workers or
connections.

Life cycle (docs/operator.md):
- one instance per PC, user and data folder: a second start raises the running window and exits;
- no database at start (a lab PC booting before the network): receiving goes on into the local
  buffer, the pages that need the database say so and open when it answers;
- no receiver here (``receiver.enabled: false``, or the port held by a ``receive`` service):
  viewer mode, the screens follow the database;
- ``--demo``: a database and buffer of its own, labelled DEMO;
- SIGINT/SIGTERM and the Windows console close/logoff events close the window like the user does.

The process around it (one instance, start, Qt's loop, exit): ``ui.process.run_gui``; around the window
(errors, stop requests, the smoke test): ``ui.session``; one instance: ``ui.single_instance``.
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from .config import ApiSettings, Settings
from .errors import first_line

if TYPE_CHECKING:  # the parts App composes; imported where they are made, so a start stays quick
    from psycopg_pool import ConnectionPool
    from .api.server import ApiServer
    from .db.connection import DatabaseTarget
    from .db.migrate import SchemaStatus
    from .ingest.service import IngestService
    from .ingest.simulator import Simulator
    from .monitor.live import DatabasePoller
    from .ui.bridge import IngestBridge
    from .ui.main_window import MainWindow

log = logging.getLogger(__name__)

DB_PAGES = ("registry", "import", "reports")


class Notifier(QObject):
    """Carries a call from a plain thread to the GUI thread."""

    database_ready = Signal()
    raise_window = Signal(str)  # the page a second start asked for ("" for none)


class App:
    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.args = args
        self.settings = settings
        self.target: DatabaseTarget | None = None  # these made by start(), None before (and after a failed start)
        self.service: IngestService | None = None  # the receiver here, or
        self.poller: DatabasePoller | None = None  # following the database (viewer mode)
        self.simulator: Simulator | None = None  # --demo
        self.sim_thread: threading.Thread | None = None
        self.pool: ConnectionPool | None = None
        self.api: ApiServer | None = None  # the read API beside the receiver (settings api.enabled)
        self.window: MainWindow | None = None
        self.bridge: IngestBridge | None = None
        self.viewer = False
        self.read_conninfo: str | None = None  # viewer mode, the read API and reports (a read replica)
        self.database_ok = False
        self.database_error: str | None = None
        self.db_status: SchemaStatus | None = None
        self.errors: list[str] = []
        self._stopped = False
        self._db_stop = threading.Event()
        self.notifier = Notifier()  # run_gui connects a second start to the window through it
        self.notifier.database_ready.connect(self._database_ready)

    @property
    def conninfo(self) -> str:  # the database target's ("" before start() has resolved it)
        return self.target.conninfo if self.target is not None else ""

    @property
    def db_description(self) -> str:
        return self.target.description if self.target is not None else ""

    # start ---------------------------------------------------------------------------------
    def start(self) -> None:
        from psycopg_pool import ConnectionPool
        from PySide6.QtWidgets import QApplication

        from .db import connection
        from .db import session as db_session
        from .monitor.live import LiveStore
        from .paths import resource_path
        from .ui.bridge import IngestBridge
        from .ui.log_panel import QueueLogHandler

        if isinstance(qt_app := QApplication.instance(), QApplication):  # made by ui.process.run_gui (or a test) first
            qt_app.setStyleSheet(resource_path("app.qss").read_text(encoding="utf-8"))
        handler = QueueLogHandler()
        logging.getLogger().addHandler(handler)
        self.settings.demo = bool(getattr(self.args, "demo", False))
        if self.settings.demo:
            if self.args.db:
                log.warning("demo: simulated data goes into the database given by --db")
            else:
                log.info("demo: own database and buffer in %s", self.settings.demo_dir())
        self.target = connection.resolve(self.settings, self.args.db)
        # viewer mode, the read API and reports read here (a read replica, when configured)
        self.read_conninfo = connection.read_conninfo(self.settings, self.target.conninfo)
        timescaledb = self._try_database()
        self.pool = ConnectionPool(self.conninfo, min_size=1, max_size=4, open=True, timeout=10,
                                   kwargs={"application_name": "perocube-gui", **db_session.POOL_KWARGS})
        store = LiveStore()
        receiver_note = self._start_receiving()
        self._start_simulator()
        api_error = self.set_api(self.settings.api)
        self.bridge = bridge = IngestBridge(self.service if self.service is not None else self.poller, store)
        self._open_window(store, bridge, timescaledb, handler, [api_error, receiver_note])

    def _start_receiving(self) -> str | None:
        """The receiver, or (disabled, or its port taken) a poller following the database; why not, if not."""
        receiver_note = None
        if self.settings.receiver.enabled or self.settings.demo:
            port = self.args.port if self.args.port is not None else self.settings.receiver.port
            try:
                self.service = self._start_ingest(port)
            except OSError as exc:
                receiver_note = (f"{exc}: another receiver (a 'receive' service?) has the port; this window "
                                 "follows the database instead")
                log.warning("%s", receiver_note)
        else:
            log.info("receiver.enabled is false: this window follows the database (viewer mode)")
        if self.service is None:
            from .monitor.live import DatabasePoller

            self.viewer = True
            self.poller = DatabasePoller(self.read_conninfo or self.conninfo, self.settings.receiver.viewer_poll_s,
                                         description="read replica" if self.read_conninfo != self.conninfo
                                         else self.db_description)
            self.poller.start()
        return receiver_note

    def _start_simulator(self) -> None:
        if self.settings.demo and self.service is not None:
            from .ingest.simulator import SimConfig, Simulator

            self.simulator = Simulator(SimConfig(port=self.service.receiver.port, boards=2, channels=8,
                                                 interval_s=1.0))
            self.sim_thread = threading.Thread(target=self.simulator.run, name="simulator", daemon=True)
            self.sim_thread.start()
            log.info("demo: simulator feeding %d boards x %d channels", 2, 8)

    def _open_window(self, store, bridge: IngestBridge, timescaledb: bool, handler, notes: list[str | None]) -> None:
        """The main window with the database pages (or their stand-ins) and the start's problems shown."""
        from .db import connection
        from .db.probe import server_version
        from .ui.main_window import MainWindow
        from .ui.pages import label_window, pending_page
        from .ui.settings_dialog import SettingsDialog

        if self.database_ok:
            pages = self._build_pages()
        else:
            pages = {name: pending_page(name, self.database_error or "") for name in DB_PAGES}
        self.window = MainWindow(
            self.settings, store, bridge, self.pool, self.db_description, timescaledb, handler,
            extra_pages=pages,
            settings_dialog_factory=lambda parent: SettingsDialog(self.settings, self.service, parent,
                                                                  probe=server_version, api_control=self.set_api))
        label_window(self.window, bridge, self.db_description, self.settings.demo,  # DEMO, viewer
                     self.settings.receiver.viewer_poll_s if self.viewer else None)
        problem = getattr(self.db_status, "timescaledb_problem", None)
        for note in [problem, *notes]:  # e.g. TimescaleDB installed but not preloaded; the API; the port
            if note:
                self.window.show_error(note)
        if not self.database_ok:
            self.window.lbl_backend.setText("database not reachable yet")
            self.window.show_error(f"database not reachable, receiving into the local buffer: {self.database_error}")
            connection.migrate_when_reachable(self.conninfo, self.settings.database.compress_after_days,
                                              self._db_stop, self.notifier.database_ready.emit)
        self.window.show()
        if self.args.page:
            self.window.show_page(self.args.page)
        log.info("window open: %s; %s", self.window.windowTitle(),
                 f"receiver on {self.service.receiver.address}" if self.service is not None else "viewer mode")

    def _try_database(self) -> bool:
        """Migrate and read the server's state; False (and go on without it) if it does not answer."""
        import psycopg

        from .db import migrate

        try:
            migrate.migrate(self.conninfo, self.settings.database.compress_after_days)
            status = migrate.status(self.conninfo)
            self.db_status = status
        except psycopg.OperationalError as exc:
            self.database_error = first_line(exc)
            log.error("database not reachable at start (%s); receiving into the local buffer and retrying",
                      self.database_error)
            return False
        self.database_ok = True
        return status.timescaledb_active

    def _build_pages(self):
        from .registry.repository import RegistryRepository
        from .registry.wiring import WiringService
        from .ui.pages import build_pages

        registry = RegistryRepository(self.pool)
        return build_pages(self.settings, self.pool, self.conninfo, registry, WiringService(registry),
                           read_conninfo=self.read_conninfo)

    def _database_ready(self) -> None:
        """The database answered after a start without it: the waiting pages open."""
        from PySide6.QtWidgets import QStackedWidget
        from .db import migrate
        from .ui import worker

        window = self.window
        if window is None or self._stopped:
            return
        self.database_ok = True
        self.database_error = None
        real = self._build_pages()
        for name, page in real.items():
            pending = window.pages.get(name)
            if isinstance(pending, QStackedWidget) and pending.objectName() == f"pending-{name}":
                pending.addWidget(page)
                pending.setCurrentWidget(page)
        window.show_error("database reachable again")
        window.refresh_metadata()
        worker.start(migrate.status, self.conninfo,
                     on_done=lambda st: window.lbl_backend.setText(
                         "TimescaleDB" if st.timescaledb_active else "plain PostgreSQL"),
                     on_error=lambda e: log.warning("database state: %s", e))

    def _start_ingest(self, port: int):
        from .ingest.service import IngestService

        service = IngestService(self.settings, self.conninfo, port=port)
        try:
            service.start()
        except OSError as exc:
            service.stop(0)
            if not self.settings.demo or port == 0:
                raise
            # the demo must work for a newcomer even when LabVIEW (or anything) holds the port
            log.warning("%s; the demo uses a free port instead", exc)
            service = IngestService(self.settings, self.conninfo, port=0)
            service.start()
        return service

    def set_api(self, api: ApiSettings) -> str | None:
        """Start, restart or stop the read API as ``api`` (ApiSettings) says; the error, if any."""
        if self.api is not None:
            self.api.stop()
            self.api = None
        if not api.enabled:
            return None
        from .api.server import ApiConfigError, ApiServer

        server = None
        try:
            server = ApiServer(self.read_conninfo or self.conninfo, self.settings, api.host, api.port)
            server.start()
        except ApiConfigError as exc:  # e.g. a busy port, naming what holds it
            if server is not None:
                server.stop()
            log.error("%s", exc)
            if self.window is not None:  # the settings dialog's switch: the status bar says it too
                self.window.show_error(str(exc))
            return str(exc)
        self.api = server
        return None

    # stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Reverse order: simulator, read API, receiver and writer (flush), viewer, pool, embedded database."""
        if self._stopped:
            return
        self._stopped = True
        log.info("shutdown: stopping services")
        self._db_stop.set()
        if self.bridge is not None:
            self.bridge.timer.stop()
        if self.window is not None:
            # no new periodic work, and the running background queries finish while the pool is still open
            from PySide6.QtCore import QThreadPool, QTimer

            for timer in self.window.findChildren(QTimer):
                timer.stop()
            if self.pool is not None:
                # running queries finish; tasks waiting for a connection fail now, not after the pool's 10 s
                self.pool.close()
            if not QThreadPool.globalInstance().waitForDone(10_000):
                log.warning("shutdown: background tasks still running after 10 s")
            from PySide6.QtWidgets import QApplication

            QApplication.processEvents()  # their results reach the window while it still exists
        if self.simulator is not None:
            self.simulator.stop()
            if self.sim_thread is not None:
                self.sim_thread.join(5)
        if self.api is not None:
            self.api.stop()
        if self.service is not None:
            self.service.stop()
        if self.poller is not None:
            self.poller.stop()
        if self.pool is not None:
            self.pool.close()
        if self.target is not None:
            self.target.stop()
        log.info("shutdown complete")
