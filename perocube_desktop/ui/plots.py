"""Live plots: power, voltage, current, temperature, irradiance on linked time axes.

History comes from the database, downsampled on the server (``monitor.history``),
and is merged with the live ring buffers. Plot items are created once per series and
updated with ``setData``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QSplitter, QVBoxLayout, QWidget)

from ..monitor import history
from ..monitor.live import LiveStore
from . import worker

log = logging.getLogger(__name__)

PRESETS = [("10 min", 600), ("1 h", 3600), ("6 h", 6 * 3600), ("24 h", 86400), ("7 d", 7 * 86400), ("Whole run", None)]
PANELS = [("power", "Power", "mW"), ("voltage", "Voltage", "V"), ("current", "Current", "mA"),
          ("temperature", "Temperature", "°C"), ("irradiance", "Irradiance", "W/m²")]

pg.setConfigOptions(antialias=False, background="w", foreground="#222")


class PlotsPage(QWidget):
    history_loaded = Signal()
    error = Signal(str)

    def __init__(self, store: LiveStore, pool, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.pool = pool
        self.labels: dict[str, str] = {}
        self.selected: list[str] = []
        self.history: dict[str, history.Series] = {}
        self.window_s: float | None = 3600
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._loading = False
        self._reload_pending = False
        self._setting_range = False
        self._items: dict[str, QListWidgetItem] = {}

        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._list_selection)
        self.list.setMinimumWidth(180)

        bar = QHBoxLayout()
        self.preset_group = QButtonGroup(self)
        for i, (name, seconds) in enumerate(PRESETS):
            b = QPushButton(name, checkable=True)
            b.setChecked(seconds == 3600)
            self.preset_group.addButton(b, i)
            bar.addWidget(b)
        self.preset_group.idClicked.connect(lambda i: self.set_window(PRESETS[i][1]))
        self.device_pick = QComboBox()
        self.device_pick.addItem("Plot a device…", None)
        self.device_pick.activated.connect(self._device_picked)
        bar.addWidget(self.device_pick)
        self.connections: dict[str, str] = {}
        self.follow = QCheckBox("Follow live", checked=True)
        self.follow.toggled.connect(self._follow_toggled)
        bar.addWidget(self.follow)
        bar.addStretch(1)
        self.readout = QLabel("")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addWidget(self.readout)

        self.glw = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        first = None
        for row, (field, title, unit) in enumerate(PANELS):
            p = self.glw.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem()})
            p.setLabel("left", title, units=unit)
            p.showGrid(x=True, y=True, alpha=0.2)
            # minor horizontal grid lines cost ~35 ms per repaint of the five plots (benchmarks/ui.py)
            p.getAxis("left").setStyle(maxTickLevel=0)
            p.setDownsampling(auto=True, mode="peak")
            p.setClipToView(True)
            if field in ("power", "temperature", "irradiance"):
                legend = p.addLegend(offset=(5, 5), labelTextSize="8pt")
                legend.setColumnCount(4)
            if first is None:
                first = p
            else:
                p.setXLink(first)
            if row < len(PANELS) - 1:
                p.getAxis("bottom").setStyle(showValues=False)
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
            p.addItem(line, ignoreBounds=True)
            p._crosshair = line
            self.plots[field] = p
        self.main_plot = first
        self._mouse_proxy = pg.SignalProxy(self.glw.scene().sigMouseMoved, rateLimit=30, slot=self._mouse_moved)
        first.enableAutoRange(x=False)  # the x range is ours: presets, follow-live, or the user's zoom
        first.sigXRangeChanged.connect(self._range_changed)
        self._reload_timer = QTimer(self, singleShot=True, interval=300)
        self._reload_timer.timeout.connect(self._reload_for_view)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(bar)
        rl.addWidget(self.glw)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        self.splitter = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

    # series list ------------------------------------------------------------
    def set_known(self, keys: list[str], labels: dict[str, str]) -> None:
        self.labels = labels
        if any(k not in self._items for k in keys) and self._items:
            # a new series: rebuild the list in the given order, keeping the selection
            self.list.blockSignals(True)
            self.list.clear()
            self._items.clear()
            self.list.blockSignals(False)
        for key in keys:
            text = labels.get(key, key)
            item = self._items.get(key)
            if item is None:
                item = QListWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, key)
                self.list.addItem(item)
                self._items[key] = item
                if key in self.selected:
                    self.list.blockSignals(True)
                    item.setSelected(True)
                    self.list.blockSignals(False)
            elif item.text() != text:
                item.setText(text)

    def set_connections(self, connections: dict[str, str]) -> None:
        """'mpp:b/c' -> 'DEVICE / pixel' now; offers each device's pixels as one selection."""
        self.connections = connections
        devices = sorted({v.split(" / ")[0] for v in connections.values()})
        have = [self.device_pick.itemText(i) for i in range(1, self.device_pick.count())]
        if devices != have:
            self.device_pick.blockSignals(True)
            while self.device_pick.count() > 1:
                self.device_pick.removeItem(1)
            for d in devices:
                self.device_pick.addItem(d, d)
            self.device_pick.blockSignals(False)

    def _device_picked(self, index: int) -> None:
        device = self.device_pick.itemData(index)
        if device:
            self.select(sorted(k for k, v in self.connections.items() if v.split(" / ")[0] == device))
        self.device_pick.setCurrentIndex(0)

    def _list_selection(self) -> None:
        keys = [it.data(Qt.ItemDataRole.UserRole) for it in self.list.selectedItems()]
        if keys != self.selected:
            self.select(keys, sync_list=False)

    def select(self, keys: list[str], add: bool = False, sync_list: bool = True) -> None:
        keys = list(dict.fromkeys((self.selected + keys) if add else keys))
        self.selected = keys
        if sync_list:
            self.list.blockSignals(True)
            wanted = set(keys)
            for key, it in self._items.items():
                it.setSelected(key in wanted)
            self.list.blockSignals(False)
        for (key, field), curve in list(self.curves.items()):
            if key not in keys:
                self.plots[field].removeItem(curve)
                legend = self.plots[field].legend
                if legend is not None:
                    legend.removeItem(curve)
                del self.curves[(key, field)]
        for i, key in enumerate(keys):
            self._ensure_curves(key, i)
        self.load_history()

    def _ensure_curves(self, key: str, index: int) -> None:
        kind = key.split(":")[0]
        fields = ("power", "voltage", "current") if kind == "mpp" else (kind,)
        pen = pg.mkPen(pg.intColor(index, hues=12, values=2), width=1.5)
        for field in fields:
            if (key, field) not in self.curves:
                name = self.labels.get(key, key) if field in ("power", "temperature", "irradiance") else None
                curve = pg.PlotDataItem(pen=pen, name=name, skipFiniteCheck=True, connect="finite")
                self.plots[field].addItem(curve)
                self.curves[(key, field)] = curve

    # time window ------------------------------------------------------------
    def set_window(self, seconds: float | None) -> None:
        self.window_s = seconds
        for i, (_name, preset) in enumerate(PRESETS):
            self.preset_group.button(i).setChecked(preset == seconds)
        self.follow.setChecked(seconds is not None)
        self.load_history()

    def _follow_toggled(self, on: bool) -> None:
        if on and self.window_s is None:
            self.window_s = 3600
        self.refresh()

    def _range_changed(self, *_):
        if self._setting_range or self.follow.isChecked():
            return
        self._reload_timer.start()

    def _reload_for_view(self) -> None:
        (x0, x1), _ = self.main_plot.viewRange()
        self.load_history(x0, x1)

    def view_window(self) -> tuple[float, float]:
        now = time.time()
        return now - (self.window_s or 3600), now

    def load_history(self, t0: float | None = None, t1: float | None = None) -> None:
        """Fetch downsampled history for the selection in a worker; the plot updates when it arrives."""
        if not self.selected or self.pool is None:
            self.refresh()
            return
        if self._loading:
            self._reload_pending = (t0, t1)
            return
        self._loading = True
        keys = list(self.selected)
        whole = t0 is None and self.window_s is None
        if t0 is None:
            t0, t1 = self.view_window()
        worker.start(self._fetch, keys, t0, t1, whole, on_done=self._history_arrived, on_error=self._history_failed)

    def _fetch(self, keys: list[str], t0: float, t1: float, whole: bool):
        by_kind: dict[str, list[str]] = {}
        for k in keys:
            kind, ident = k.split(":", 1)
            by_kind.setdefault(kind, []).append(ident)
        out = {}
        with self.pool.connection() as conn:
            if whole and "mpp" in by_kind:
                first, last = history.extent(conn, by_kind["mpp"])
                if first is not None:
                    t0, t1 = first, max(last, time.time())
            for kind, ids in by_kind.items():
                for ident, series in history.load(conn, kind, ids, t0, t1).items():
                    out[f"{kind}:{ident}"] = series
        return out, t0, t1

    def _history_arrived(self, result) -> None:
        data, t0, t1 = result
        self._loading = False
        if self._reload_pending:  # superseded while in flight: fetch what is wanted now
            wanted, self._reload_pending = self._reload_pending, False
            self.load_history(*wanted)
            return
        self.history = data
        if not self.follow.isChecked():
            self._setting_range = True
            self.main_plot.setXRange(t0, t1, padding=0)
            self._setting_range = False
        elif self.window_s is None:
            self._setting_range = True
            self.main_plot.setXRange(t0, t1, padding=0)
            self._setting_range = False
        self.refresh()
        self.history_loaded.emit()

    def _history_failed(self, text: str) -> None:
        self._loading = False
        self.error.emit(f"history: {text}")

    # drawing ------------------------------------------------------------
    def merged(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """History followed by live samples newer than its end."""
        h = self.history.get(key)
        live = self.store.series(key)
        if h is None and live is None:
            return None
        if h is None:
            return live
        if live is None or live[0].size == 0:
            return h.t, h.mean
        end = h.t[-1] if h.t.size else -np.inf
        mask = live[0] > end
        return np.concatenate([h.t, live[0][mask]]), np.concatenate([h.mean, live[1][mask].astype(float)])

    def refresh(self) -> None:
        for (key, field), curve in self.curves.items():
            data = self.merged(key)
            if data is None:
                curve.setData([], [])
                continue
            t, v = data
            col = ("power", "voltage", "current").index(field) if key.startswith("mpp:") else 0
            curve.setData(t, v[:, col])
        if self.follow.isChecked() and self.window_s is not None:
            t0, t1 = self.view_window()
            self._setting_range = True
            self.main_plot.setXRange(t0, t1, padding=0.01)
            self._setting_range = False

    def _mouse_moved(self, evt) -> None:
        pos = evt[0]
        if not self.main_plot.sceneBoundingRect().contains(pos) and not any(
                p.sceneBoundingRect().contains(pos) for p in self.plots.values()):
            return
        x = self.main_plot.vb.mapSceneToView(pos).x()
        for p in self.plots.values():
            p._crosshair.setPos(x)
        parts = [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(x))]
        for key in self.selected[:4]:
            data = self.merged(key)
            if data is None or data[0].size == 0:
                continue
            i = int(np.clip(np.searchsorted(data[0], x), 0, data[0].size - 1))
            unit = "mW" if key.startswith("mpp:") else ("°C" if key.startswith("temperature:") else "W/m²")
            parts.append(f"{self.labels.get(key, key)}: {data[1][i, 0]:.4g} {unit}")
        self.readout.setText("   ".join(parts))
