"""Live plots: power, voltage, current, temperature, irradiance on linked time axes.

History comes from the database, downsampled on the server, merged with the live ring
buffers; each update clips every series to the visible range and peak-downsamples it to the
pixel width once (``plot_data``) into plain ``PlotCurveItem``s (1-px pens, no antialiasing, NaN
gap breaks, a dot for a sample alone between gaps). The series list is the legend; only the
panels asked for and holding data are laid out (``plot_panels``). Figures: ``benchmarks/ui.py``, choices: ``docs/decisions.md``.
"""

from __future__ import annotations

import functools
import logging
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from ..monitor import history
from ..monitor.live import LiveStore
from ..monitor.overview import Occupant
from ..series_key import SeriesKey
from . import worker
from .boxes import box
from .plot_data import (colour, fetch_history, merged, readout_text, stranded_points, visible_peaks, widen,
                        with_gaps)
from .plot_panels import DEFAULT_PANELS, MPP_FIELDS, PANELS, SeriesCurve, arrange, make_panels, series_pen
from .series_list import SeriesListWidget

__all__ = ["PlotsPage", "visible_peaks", "with_gaps"]

log = logging.getLogger(__name__)

PRESETS = [("10 min", 600), ("1 h", 3600), ("6 h", 6 * 3600), ("24 h", 86400), ("7 d", 7 * 86400), ("Whole run", None)]
MIN_SPAN_S = 30  # the shortest window the 'follow live' view shrinks to when there is little data yet

pg.setConfigOptions(antialias=False, background="w", foreground="#222")


class PlotsPage(QWidget):
    history_loaded = Signal()
    error = Signal(str)

    def __init__(self, store: LiveStore, pool, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.pool = pool
        self.labels: dict[SeriesKey, str] = {}
        self.selected: list[SeriesKey] = []
        self.history: dict[SeriesKey, history.Series] = {}
        self.window_s: float | None = 3600
        self.curves: dict[tuple[SeriesKey, str], SeriesCurve] = {}  # (series, panel)
        self.shown_panels: set[str] = set(DEFAULT_PANELS)
        self._loading = False
        self._reload_pending: tuple[float | None, float | None] | None = None  # the window asked for meanwhile
        self._setting_range = False
        self._data: dict[SeriesKey, tuple[np.ndarray, np.ndarray]] = {}  # merged, with gap breaks, per refresh
        self._drawn_range: list[float] = []
        self._auto_y: dict[str, bool] = {f: True for f, _t, _u in PANELS}

        self.list = SeriesListWidget()
        self.list.selection_changed.connect(self._list_selection)
        # the series under the mouse in the list, or the line clicked last, is drawn on top, the others faded
        self.highlight: SeriesKey | None = None
        self._pinned: SeriesKey | None = None
        self.list.hovered.connect(self._hovered)
        bars = self._build_window_bar(), self._build_panel_bar()
        self._build_panels()
        self._build_layout(*bars)
        self._update_empty()

    def _build_window_bar(self) -> QHBoxLayout:
        """First row: the time-window presets, a device to plot, follow live."""
        bar = QHBoxLayout()
        self.preset_group = QButtonGroup(self)
        for i, (name, seconds) in enumerate(PRESETS):
            b = QPushButton(name, checkable=True)  # type: ignore[call-overload]  # PySide6 sets Qt properties from keyword arguments; its stubs list none
            b.setChecked(seconds == 3600)
            b.setToolTip("Whole run: from the first sample of the plotted channels" if seconds is None else
                         f"The last {name}; with little data yet, the view shows what there is")
            self.preset_group.addButton(b, i)
            bar.addWidget(b)
        self.preset_group.idClicked.connect(lambda i: self.set_window(PRESETS[i][1]))
        self.device_pick = QComboBox()
        self.device_pick.addItem("Plot a device…", None)
        self.device_pick.activated.connect(self._device_picked)
        bar.addWidget(self.device_pick)
        self.connections: dict[SeriesKey, Occupant] = {}
        self.follow = QCheckBox("Follow live", checked=True)  # type: ignore[call-overload]  # PySide6 sets Qt properties from keyword arguments; its stubs list none
        self.follow.toggled.connect(self._follow_toggled)
        bar.addWidget(self.follow)
        bar.addStretch(1)
        return bar

    def _build_panel_bar(self) -> QHBoxLayout:
        """Second row: which panels are drawn, and the values under the mouse."""
        bar2 = QHBoxLayout()
        bar2.addWidget(QLabel("Panels:"))
        self.panel_boxes: dict[str, QCheckBox] = {}
        for field, title, _unit in PANELS:
            box = QCheckBox(title, checked=field in self.shown_panels)  # type: ignore[call-overload]  # PySide6 sets Qt properties from keyword arguments; its stubs list none
            box.toggled.connect(lambda on, f=field: self.show_panel(f, on))
            self.panel_boxes[field] = box
            bar2.addWidget(box)
        bar2.addSpacing(16)
        self.readout = QLabel("")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setMinimumWidth(10)  # long readouts are cut, they never widen the window
        bar2.addWidget(self.readout, 1)
        return bar2

    def _build_panels(self) -> None:
        """The linked panels (or, with nothing chosen, what to do) and the timers that redraw them."""
        self.empty = QLabel("Choose channels or sensors in the list on the left (Ctrl or Shift for several), "
                            "click a tile in the overview, or pick a device above.")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #555; padding: 24px")
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.setSpacing(4)
        # zooming y by hand keeps that range until a preset is chosen
        self.plots: dict[str, pg.PlotItem] = make_panels(self._y_zoomed)
        self.main_plot = self.plots[PANELS[0][0]]
        self._layout_panels()
        self._mouse_proxy = pg.SignalProxy(self.glw.scene().sigMouseMoved, rateLimit=30, slot=self._mouse_moved)
        for p in self.plots.values():
            p.sigXRangeChanged.connect(self._range_changed)
        self._redraw_timer = QTimer(self, singleShot=True, interval=40)  # while panning or zooming
        self._redraw_timer.timeout.connect(self._draw)
        self._reload_timer = QTimer(self, singleShot=True, interval=300)
        self._reload_timer.timeout.connect(self._reload_for_view)

    def _build_layout(self, bar: QHBoxLayout, bar2: QHBoxLayout) -> None:
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(box(bar, bar2, self.empty, self.glw))
        split.setStretchFactor(1, 1)
        split.setSizes([230, 1200])
        self.splitter = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

    # panels ------------------------------------------------------------------
    def _kinds_selected(self) -> set[str]:
        return {k.kind for k in self.selected}

    def visible_panels(self) -> list[str]:
        """Panels asked for that have a selected series of their kind with data, in the fixed order
        (an idle sensor does not leave an empty panel with meaningless ticks)."""
        kinds = {k.kind for k in self._data} or self._kinds_selected()
        return [f for f, _t, _u in PANELS
                if f in self.shown_panels and (("mpp" in kinds) if f in MPP_FIELDS else (f in kinds))]

    def _layout_panels(self) -> None:
        self._visible = self.visible_panels()
        arrange(self.glw, self.plots, self._visible)

    def show_panel(self, field: str, on: bool) -> None:
        if on:
            self.shown_panels.add(field)
        else:
            self.shown_panels.discard(field)
        if self.panel_boxes[field].isChecked() != on:
            self.panel_boxes[field].setChecked(on)
        self._layout_panels()
        self.refresh()

    def _update_empty(self) -> None:
        self.empty.setVisible(not self.selected)
        self.glw.setVisible(bool(self.selected))

    # series list ------------------------------------------------------------
    def set_known(self, keys: list[SeriesKey], labels: dict[SeriesKey, str]) -> None:
        self.labels = labels
        self.list.set_known(keys, labels, self.selected)

    def set_connections(self, connections: dict[SeriesKey, Occupant]) -> None:
        """The pixel on each channel now; offers each device's pixels as one selection."""
        self.connections = connections
        devices = sorted({o.device for o in connections.values()})
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
            self.select(sorted((k for k, o in self.connections.items() if o.device == device), key=str))
        self.device_pick.setCurrentIndex(0)

    def _list_selection(self, keys: list[SeriesKey]) -> None:
        if keys != self.selected:
            self.select(keys, sync_list=False)

    def select(self, keys: list[SeriesKey], add: bool = False, sync_list: bool = True) -> None:
        keys = list(dict.fromkeys((self.selected + keys) if add else keys))
        self.selected = keys
        if self.highlight not in keys:
            self.highlight = None
        if self._pinned not in keys:
            self._pinned = None
        if sync_list:
            self.list.show_selection(keys)
        for (key, field), curve in list(self.curves.items()):
            if key not in keys:
                self.plots[field].removeItem(curve)
                del self.curves[(key, field)]
        for i, key in enumerate(keys):
            self._ensure_curves(key, i)
        self._data = {k: v for k, v in self._data.items() if k in keys}
        self.list.show_colours(keys)
        self._update_empty()
        self._layout_panels()
        self.load_history()

    def _hovered(self, key: SeriesKey | None) -> None:
        self.set_highlight(key if key is not None and key in self.selected else self._pinned)

    def _curve_clicked(self, key: SeriesKey) -> None:
        self._pinned = None if self._pinned == key else key
        self.set_highlight(self._pinned)

    def set_highlight(self, key: SeriesKey | None) -> None:
        """With many traces (16 voltages overlap), the series clicked in the list stands out."""
        if key == self.highlight:
            return
        self.highlight = key
        for i, k in enumerate(self.selected):
            self._ensure_curves(k, i)

    def _ensure_curves(self, key: SeriesKey, index: int) -> None:
        fields = MPP_FIELDS if key.is_mpp else (key.kind,)
        pen = series_pen(colour(index), key, self.highlight)
        for field in fields:
            curve = self.curves.get((key, field))
            if curve is None:
                curve = SeriesCurve(pen, clicked=functools.partial(self._curve_clicked, key))
                self.plots[field].addItem(curve)
                self.curves[(key, field)] = curve
            else:
                curve.setPen(pen)  # selection order or highlight changed: list and line colours stay the same
            curve.setZValue(1 if key == self.highlight else 0)

    # time window ------------------------------------------------------------
    def _y_zoomed(self, field: str) -> None:
        if not self._setting_range:
            self._auto_y[field] = False

    def set_window(self, seconds: float | None) -> None:
        self.window_s = seconds
        self._auto_y = dict.fromkeys(self._auto_y, True)
        for i, (_name, preset) in enumerate(PRESETS):
            self.preset_group.button(i).setChecked(preset == seconds)
        self.follow.setChecked(seconds is not None)
        self.load_history()

    def _follow_toggled(self, on: bool) -> None:
        if on and self.window_s is None:
            self.window_s = 3600
        self.refresh()

    def _range_changed(self, *_):
        if self._setting_range or self._x_plot().viewRange()[0] == self._drawn_range:
            return
        self._redraw_timer.start()  # new clip and peaks for the new range, once the range settles
        if not self.follow.isChecked():
            self._reload_timer.start()

    def _x_plot(self) -> pg.PlotItem:
        """The panel whose range and width count: the first one on screen."""
        return self.plots[self._visible[0]] if self._visible else self.main_plot

    def _set_x_range(self, t0: float, t1: float, padding: float = 0.0) -> None:
        self._setting_range = True
        for field in self._visible or ["power"]:
            self.plots[field].setXRange(t0, t1, padding=padding)
        self._setting_range = False

    def _reload_for_view(self) -> None:
        (x0, x1), _ = self._x_plot().viewRange()
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
        worker.start(fetch_history, self.pool, keys, t0, t1, whole, on_done=self._history_arrived, on_error=self._history_failed)

    def _history_arrived(self, result) -> None:
        data, t0, t1 = result
        self._loading = False
        if self._reload_pending:  # superseded while in flight: fetch what is wanted now
            wanted, self._reload_pending = self._reload_pending, None
            self.load_history(*wanted)
            return
        self.history = data
        if not self.follow.isChecked() or self.window_s is None:
            self._set_x_range(t0, t1)
        self.refresh()
        self.history_loaded.emit()

    def _history_failed(self, text: str) -> None:
        self._loading = False
        self.error.emit(f"history: {text}")

    # drawing ------------------------------------------------------------
    def merged(self, key: SeriesKey) -> tuple[np.ndarray, np.ndarray] | None:
        """History followed by live samples newer than its end, NaN breaks at gaps."""
        return merged(self.history.get(key), self.store, key)

    def refresh(self) -> None:
        """New data into the curves of the panels on screen (once per second while live)."""
        self._data = {}
        for key in self.selected:
            data = self.merged(key)
            if data is not None and data[0].size:
                self._data[key] = data
        if self.visible_panels() != self._visible:
            self._layout_panels()
        if self.follow.isChecked() and self.window_s is not None:
            t0, t1 = self.view_window()
            # right after start there is little data: show it, not a sliver at the right edge
            firsts = [d[0][0] for d in self._data.values() if d[0].size and d[0][-1] >= t0]
            if firsts:
                first = min(min(firsts), t1 - MIN_SPAN_S)
                t0 = max(t0, first - 0.03 * (t1 - first))
            self._set_x_range(t0, t1, padding=0.01)
        self._draw()

    def _draw(self) -> None:
        """The visible part of each series, peak-downsampled to the pixel width, into the curves."""
        self._redraw_timer.stop()
        visible = set(self._visible)
        plot = self._x_plot()
        (x0, x1), _ = plot.viewRange()
        self._drawn_range = [x0, x1]
        pixels = max(int(plot.vb.width()), 200)
        bounds: dict[str, tuple[float, float]] = {}
        for key in self.selected:
            fields = [f for f in (MPP_FIELDS if key.is_mpp else (key.kind,)) if f in visible]
            if not fields:
                continue
            data = self._data.get(key)
            t, v = visible_peaks(*data, x0, x1, pixels) if data is not None else (np.empty(0), np.empty((0, 3)))
            ti, vi = stranded_points(t, v)  # drawn as dots: no line segment shows them
            for field in fields:
                curve = self.curves.get((key, field))
                if curve is not None:
                    col = MPP_FIELDS.index(field) if key.is_mpp else 0
                    curve.setData(t, v[:, col], skipFiniteCheck=True, connect="finite")
                    curve.set_isolated(ti, vi[:, col])
                    if self._auto_y[field]:
                        widen(bounds, field, v[:, col])  # the dots are points of v too
        self._setting_range = True
        for field, (lo, hi) in bounds.items():
            span = hi - lo or max(abs(hi) * 0.01, 1e-3)
            self.plots[field].setYRange(lo - 0.05 * span, hi + 0.05 * span, padding=0)
        self._setting_range = False

    def _mouse_moved(self, evt) -> None:
        pos = evt[0]
        if not any(p.isVisible() and p.sceneBoundingRect().contains(pos) for p in self.plots.values()):
            return
        x = self.main_plot.vb.mapSceneToView(pos).x()
        for p in self.plots.values():
            p._crosshair.setPos(x)
        self.readout.setText(readout_text(x, self.selected, self._data, self.labels))
