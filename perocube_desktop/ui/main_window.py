"""The main window: page navigation, status bar, alarm and log docks. Owns no services."""

from __future__ import annotations

import logging
import time

import numpy as np
import shiboken6
from psycopg.rows import namedtuple_row
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QDockWidget, QLabel, QListWidget, QMainWindow, QStackedWidget, QWidget)

from ..config import Settings
from ..db import queries
from ..status import IngestStatus
from ..monitor.alarms import AlarmEngine
from ..monitor.lifetime import LifetimeMonitor
from ..monitor.live import LiveStore
from ..monitor.overview import Known, Occupant, build_tiles, first_start_hint, this_pc_address
from ..series_key import SeriesKey
from . import worker
from .alarms_widget import AlarmsWidget
from .boxes import box
from .bridge import IngestBridge
from .elided_label import ElidedLabel
from .log_panel import LogPanel, QueueLogHandler
from .overview import OverviewPage
from .plots import PlotsPage

log = logging.getLogger(__name__)

PAGES = ["overview", "plots", "registry", "import", "reports"]
TITLES = {"overview": "Overview", "plots": "Plots", "registry": "Registry", "import": "Import", "reports": "Reports"}


def _qsettings() -> QSettings:
    from ..paths import config_dir

    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    status_message = Signal(str)

    def __init__(self, settings: Settings, store: LiveStore, bridge: IngestBridge, pool, db_description: str,
                 timescaledb: bool, log_handler: QueueLogHandler, extra_pages: dict[str, QWidget] | None = None,
                 settings_dialog_factory=None) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.bridge = bridge
        self.pool = pool
        self.settings_dialog_factory = settings_dialog_factory
        self.setWindowTitle(f"Perocube Desktop — {db_description}")
        self.resize(1500, 950)
        self.alarms = AlarmEngine(settings.alarms, settings.receiver.source_timezone)
        self.lifetime = LifetimeMonitor(settings.alarms.light_threshold_wm2)
        self.known = Known()  # channels, pixels, sensor names, newest stored samples: refresh_metadata
        self.labels: dict[SeriesKey, str] = {}
        self.last_error: str | None = None

        self._pc_address = this_pc_address()
        self._build_pages(store, pool, extra_pages)
        self._build_docks(log_handler, pool)
        self._build_status_bar(timescaledb)
        self._build_menus()
        self._connect_signals(bridge)
        self._start_timers()
        self._dirty_plot = False
        self._last_meta = 0.0
        self._restored_selection = False
        self.refresh_metadata()
        self.nav.setCurrentRow(0)
        self.restore_layout()

    # construction ----------------------------------------------------------
    def _build_pages(self, store: LiveStore, pool, extra_pages: dict[str, QWidget] | None) -> None:
        """Navigation list and page stack: overview, plots and the pages the app composition passed in."""
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(130)
        self.stack = QStackedWidget()
        self.overview = OverviewPage()
        self.overview.set_hint(first_start_hint(f"{self.settings.receiver.host}:{self.settings.receiver.port}",
                                                self.settings.receiver.host, self._pc_address, False))
        self.plots = PlotsPage(store, pool)
        self.pages: dict[str, QWidget] = {"overview": self.overview, "plots": self.plots, **(extra_pages or {})}
        for name in PAGES:
            if name in self.pages:
                self.nav.addItem(TITLES[name])
                self.stack.addWidget(self.pages[name])
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.currentRowChanged.connect(lambda _i: self.refresh_overview()
                                           if self.stack.currentWidget() is self.overview else None)
        self.setCentralWidget(box(self.nav, self.stack, horizontal=True))

    def _build_docks(self, log_handler: QueueLogHandler, pool) -> None:
        """Alarms and log/quarantine docks, tabbed at the bottom."""
        self.alarm_widget = AlarmsWidget(self.alarms, label=lambda key: self.labels.get(key, str(key)))
        self.alarm_dock = QDockWidget("Alarms", self)
        self.alarm_dock.setObjectName("alarms")
        self.alarm_dock.setWidget(self.alarm_widget)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.alarm_dock)
        self.log_panel = LogPanel(log_handler, pool)
        self.log_dock = QDockWidget("Log and quarantine", self)
        self.log_dock.setObjectName("log")
        self.log_dock.setWidget(self.log_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.tabifyDockWidget(self.alarm_dock, self.log_dock)
        self.alarm_dock.raise_()
        self._docks_sized = False  # True once sized on the first show, or restored from the saved layout

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._docks_sized:
            # after the first layout, which would override an earlier resizeDocks with the pages' hints
            QTimer.singleShot(0, self, lambda: None if self._docks_sized else self.size_alarm_dock())

    def size_alarm_dock(self) -> None:
        """The Alarms dock's first-start height: ALARM_ROWS alarms without scrolling, but at most a
        third of the window, so that the pages keep the height they need on a 1366×768 laptop."""
        self._docks_sized = True
        want = min(self.alarm_widget.sizeHint().height(), self.height() // 3)
        # resizeDocks sets the dock area's height: the dock's title bar and the tab bar of the
        # tabified log dock come on top of the table and its button
        area = self.statusBar().geometry().top() - self.alarm_dock.geometry().top()
        self.resizeDocks([self.alarm_dock], [area + want - self.alarm_widget.height()], Qt.Orientation.Vertical)

    def _build_status_bar(self, timescaledb: bool) -> None:
        """Receiver, rate, buffer, database and backend labels; errors on the left."""
        self.lbl_receiver = QLabel()
        self.lbl_rate = QLabel()
        self.lbl_buffer = QLabel()
        self.lbl_db = QLabel()
        self.lbl_backend = QLabel("TimescaleDB" if timescaledb else "plain PostgreSQL")
        self.lbl_error = ElidedLabel()  # gives way: the permanent labels on the right are never cut
        self.lbl_error.setStyleSheet("color: #b00020")
        status_bar = self.statusBar()
        for w in (self.lbl_receiver, self.lbl_rate, self.lbl_buffer, self.lbl_db, self.lbl_backend):
            status_bar.addPermanentWidget(w)
        status_bar.addWidget(self.lbl_error, 1)
        self.status_message.connect(self.show_error)

    def _build_menus(self) -> None:
        """File (settings, quit) and View (docks) menus."""
        menu = self.menuBar().addMenu("&File")
        act = QAction("&Settings…", self)
        act.triggered.connect(self.open_settings)
        menu.addAction(act)
        quit_act = QAction("&Quit", self)
        quit_act.triggered.connect(self.close)
        menu.addAction(quit_act)
        view = self.menuBar().addMenu("&View")
        view.addAction(self.alarm_dock.toggleViewAction())
        view.addAction(self.log_dock.toggleViewAction())

    def _connect_signals(self, bridge: IngestBridge) -> None:
        """Tile clicks, page errors and the ingest bridge."""
        self.overview.grid.channel_clicked.connect(self.plot_channel)
        self.overview.grid.group_clicked.connect(lambda keys: self.plot_keys(keys))
        for page in self.pages.values():
            if hasattr(page, "error"):  # background failures of any page reach the status bar
                page.error.connect(self.show_error)
        bridge.status_changed.connect(self.show_status)
        bridge.samples_received.connect(self._samples)

    def _start_timers(self) -> None:
        """Overview 1 s, metadata 10 s, lifetime projection 5 min, live plots 1 s."""
        self._overview_timer = QTimer(self)
        self._overview_timer.timeout.connect(self.refresh_overview)
        self._overview_timer.start(1000)
        self._meta_timer = QTimer(self)
        self._meta_timer.timeout.connect(self.refresh_metadata)
        self._meta_timer.start(10000)
        self._lifetime_timer = QTimer(self)  # live lifetime projection: hourly trends from the database
        self._lifetime_timer.timeout.connect(self.refresh_lifetime)
        self._lifetime_timer.start(300_000)
        QTimer.singleShot(3000, self, self.refresh_lifetime)  # context: never after the window is gone
        self._plot_timer = QTimer(self)
        self._plot_timer.timeout.connect(self._live_plot_tick)
        self._plot_timer.start(1000)

    # pages ---------------------------------------------------------------
    def show_page(self, name: str) -> None:
        if name in self.pages:
            self.nav.setCurrentRow(self.stack.indexOf(self.pages[name]))

    def plot_channel(self, key: SeriesKey, add: bool) -> None:
        self.plot_keys([key], add)

    def plot_keys(self, keys: list[SeriesKey], add: bool = False) -> None:
        self.plots.select(keys, add=add)
        self.overview.grid.selected = set(self.plots.selected)
        self.show_page("plots")

    # status ---------------------------------------------------------------
    def show_error(self, text: str) -> None:
        if not shiboken6.isValid(self.lbl_error):  # a background task that failed after the window closed
            log.info("after the window closed: %s", text)
            return
        self.last_error = text
        self.lbl_error.setText(f"⚠ {text}")
        self.lbl_error.setToolTip(text)

    def show_status(self, status: IngestStatus) -> None:
        self.lbl_receiver.setText(f"Receiver {status.address} · {status.clients} client{'s' if status.clients != 1 else ''}")
        self.lbl_rate.setText(f"{status.rows_per_s:,.0f} rows/s")
        self.lbl_rate.setToolTip(f"{status.rows_accepted:,} rows accepted, {status.rows_written:,} written, "
                                 f"{status.rows_rejected + status.rows_quarantined:,} rows and {status.lines_refused:,} lines "
                                 f"quarantined, {status.peers_refused:,} connections refused")
        failed = status.buffer_error is not None and time.time() - (status.buffer_error_at or 0) < 600  # the last 10 min
        at = time.strftime("%H:%M:%S", time.localtime(status.buffer_error_at or 0))
        self.lbl_buffer.setText(f"{status.buffered_rows:,} buffered" + (f" · ⚠ buffer commit failed at {at}" if failed else ""))
        self.lbl_buffer.setToolTip(f"local disk buffer, commit failed at {at}: {status.buffer_error}" if failed else "")
        self.lbl_buffer.setStyleSheet("color: #b00020" if failed else "")
        self._first_start_hint(status)
        if status.db_state == "connected":
            where = f" · {status.db_server}" if status.db_server else ""
            # "from a:5432 to b:5432 at 12:03:04": the time in the bar, the whole of it in the tooltip
            switched = f" · failed over at {status.db_switched.rsplit(' at ', 1)[-1]}" if status.db_switched else ""
            self.lbl_db.setText(f"Database connected{where}{switched}")
            self.lbl_db.setToolTip("the database failed over " + status.db_switched if status.db_switched else "")
            self.lbl_db.setStyleSheet("color: #8a5a00" if status.db_switched else "color: #1b5e20")
        else:  # the state here, the error's text in the tooltip and the message on the left
            self.lbl_db.setText(f"Database {status.db_state}")
            self.lbl_db.setToolTip(status.db_error or "")
            self.lbl_db.setStyleSheet("color: #b00020")
            if status.db_error:
                self.show_error(f"database writer: {status.db_error}")

    def _first_start_hint(self, status: IngestStatus) -> None:
        viewer = status.address.startswith("viewer of")
        text = first_start_hint(None if viewer else status.address, self.settings.receiver.host, self._pc_address, viewer)
        if text != self.overview.hint.text():
            self.overview.set_hint(text)

    def _samples(self, keys: set) -> None:
        self._dirty_plot = self._dirty_plot or bool(keys & set(self.plots.selected))
        if not keys <= set(self.labels):
            self._update_labels()
            now = time.monotonic()
            if now - self._last_meta > 2.0:  # new channel or sensor: fetch its names soon
                self._last_meta = now
                QTimer.singleShot(1500, self, self.refresh_metadata)

    def _live_plot_tick(self) -> None:
        if self._dirty_plot and self.stack.currentWidget() is self.plots:
            self._dirty_plot = False
            self.plots.refresh()

    def refresh_overview(self) -> None:
        raised = self.alarms.evaluate(self.store, self.bridge.last_status, labels=self.labels,
                                      connected=set(self.known.connections), lifetime=self.lifetime)
        for a in raised:
            log.warning("ALARM %s", a.text)
        if self.stack.currentWidget() is self.overview:  # tiles only while they are on screen
            tiles = build_tiles(self.known, self.store, self.alarms, self.settings.alarms.stale_after_s, time.time(),
                                lifetime=self.lifetime)
            self.overview.set_tiles(tiles)
        self.alarm_widget.refresh()
        n = sum(1 for a in self.alarms.alarms.values() if a.active and not a.acknowledged)
        self.alarm_dock.setWindowTitle(f"Alarms ({n})" if n else "Alarms")

    def refresh_lifetime(self) -> None:
        def fetch():
            with self.pool.connection() as conn:
                return self.lifetime.fetch(conn)

        worker.start(fetch, on_done=self.lifetime.apply, on_error=lambda e: self.show_error(f"lifetime projection: {e}"))

    def refresh_metadata(self) -> None:
        def fetch():
            q = queries.named("monitor")
            with self.pool.connection() as conn, conn.cursor(row_factory=namedtuple_row) as cur:
                def rows(query: str) -> list:  # rows with the query's column names as attributes
                    return cur.execute(query).fetchall()

                return (rows(q["channels"]), rows(q["connections_now"]), rows(q["temperature_sensors"]),
                        rows(q["irradiance_sensors"]), rows(q["latest_mpp"]), rows(q["latest_sensors"]))

        worker.start(fetch, on_done=self._metadata, on_error=lambda e: self.show_error(f"metadata: {e}"))

    def _metadata(self, result) -> None:
        channels, conns, temps, irrs, newest_mpp, newest_sensors = result
        # each series' newest stored sample: a tile tells its age before live data arrives (data written
        # by a `receive` service, an import, an earlier session), never "no data" beside PCE and T80
        stored = {SeriesKey.mpp(r.board, r.channel): (r.t, np.nan if r.value is None else r.value)
                  for r in newest_mpp}
        stored.update({SeriesKey.of_sensor(r.kind, r.sensor): (r.t, np.nan if r.value is None else r.value)
                       for r in newest_sensors})
        connections = {SeriesKey.mpp(r.board_number, r.channel_number): Occupant(r.solar_cell_name, r.pixel_identifier)
                       for r in conns if r.is_active}
        # the sensor's identifier as written on it, and where it sits when the registry says so
        sensors = {SeriesKey.of_sensor("temperature", r.temperature_sensor_id):
                   r.sensor_identifier + (f" · {r.location}" if r.location else "") for r in temps}
        sensors.update({SeriesKey.of_sensor("irradiance", r.irradiance_sensor_id):
                        f"{r.sensor_identifier} ch {r.channel}" + (f" · {r.location}" if r.location else "")
                        for r in irrs})
        self.known = Known([(r.board, r.channel) for r in channels], connections, sensors, stored)
        self.plots.set_connections(connections)
        self._update_labels()

    def _update_labels(self) -> None:
        labels = {}
        known = self.known
        keys = {SeriesKey.mpp(b, c) for b, c in known.channels} | set(known.sensors) | set(self.store.keys())
        for key in keys:
            if key.is_mpp:
                conn = known.connections.get(key)
                labels[key] = f"B{key.board} C{key.channel}" + (f" · {conn}" if conn else "")
            else:
                labels[key] = known.sensors.get(key, str(key))
        self.labels = labels

        def order(k: SeriesKey):
            if k.is_mpp:
                return (0, k.board, k.channel, "")
            return (1 if k.kind == "temperature" else 2, 0, 0, labels[k])

        ordered = sorted(keys, key=order)
        self.plots.set_known(ordered, labels)
        if not self.plots.selected and not self._restored_selection and self.store.latest:
            # a sensible first view: the first board's channels and one sensor of each kind, those
            # with live data first (an idle sensor would show an empty panel)
            live = set(self.store.latest)
            ordered_live = sorted(ordered, key=lambda k: k not in live)
            first = [k for k in ordered if k.is_mpp][:8]
            first += [k for k in ordered_live if k.kind == "temperature"][:1]
            first += [k for k in ordered_live if k.kind == "irradiance"][:1]
            if first:
                self._restored_selection = True
                self.plots.select(first)

    # settings and layout ------------------------------------------------------
    def open_settings(self) -> None:
        if self.settings_dialog_factory is not None:
            self.settings_dialog_factory(self).exec()

    def restore_layout(self) -> None:
        window_ini = _qsettings()
        geometry = window_ini.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = window_ini.value("state")
        if isinstance(state, QByteArray) and self.restoreState(state):
            self._docks_sized = True  # the dock height the user left, not the first-start default
        split = window_ini.value("plots_splitter")
        if isinstance(split, QByteArray):
            self.plots.splitter.restoreState(split)
        saved = window_ini.value("selected") or []
        selected = [k for k in map(SeriesKey.try_parse, [saved] if isinstance(saved, str) else saved) if k]
        if selected:
            self._restored_selection = True
            QTimer.singleShot(0, lambda: self.plots.select(list(selected)))

    def save_layout(self) -> None:
        window_ini = _qsettings()
        window_ini.setValue("geometry", self.saveGeometry())
        window_ini.setValue("state", self.saveState())
        window_ini.setValue("plots_splitter", self.plots.splitter.saveState())
        window_ini.setValue("selected", [str(k) for k in self.plots.selected])

    def closeEvent(self, event) -> None:
        self.save_layout()
        super().closeEvent(event)
