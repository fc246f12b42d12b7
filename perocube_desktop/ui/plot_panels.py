"""The panels of the live plots: one pyqtgraph PlotItem per quantity, set up to be cheap to
draw and easy to read (titles with units instead of rotated axis labels that collide, equal
axis widths so the time axes line up, time labels only under the lowest panel), the series'
pens, and the series' curves (a line, and a dot for each sample without a finite neighbour)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ..series_key import SeriesKey

PANELS = [("power", "Power", "mW"), ("voltage", "Voltage", "V"), ("current", "Current", "mA"),
          ("temperature", "Temperature", "°C"), ("irradiance", "Irradiance", "W/m²")]
DEFAULT_PANELS = {"power", "temperature", "irradiance"}  # voltage and current: when ticked
MPP_FIELDS = ("power", "voltage", "current")
AXIS_WIDTH = 62  # the same for every panel, so that the time axes line up


def make_panel(title: str, unit: str) -> pg.PlotItem:
    p = pg.PlotItem(axisItems={"bottom": pg.DateAxisItem()})
    p.setTitle(f"{title} ({unit})", size="9pt", justify="left")
    left = p.getAxis("left")
    left.setWidth(AXIS_WIDTH)
    left.enableAutoSIPrefix(False)
    # minor horizontal grid lines cost ~35 ms per repaint of the five plots (benchmarks/ui.py)
    left.setStyle(maxTickLevel=0)
    p.showGrid(x=True, y=True, alpha=0.2)
    p.hideButtons()
    # the x range is the page's (presets, follow-live, the user's zoom); the y range is set with
    # the data (one repaint per update instead of a second one for pyqtgraph's deferred auto-range)
    p.enableAutoRange(x=False, y=False)
    line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
    p.addItem(line, ignoreBounds=True)
    p._crosshair = line
    return p


def make_panels(y_zoomed: Callable[[str], None]) -> dict[str, pg.PlotItem]:
    """One panel per quantity, in PANELS order, x linked to the first; ``y_zoomed(field)`` when a
    panel's y range changes."""
    plots: dict[str, pg.PlotItem] = {}
    first = None
    for field, title, unit in PANELS:
        p = make_panel(title, unit)
        p.sigYRangeChanged.connect(lambda *_a, f=field: y_zoomed(f))
        if first is None:
            first = p
        else:
            p.setXLink(first)
        plots[field] = p
    return plots


def series_pen(colour: str, key: SeriesKey, highlight: SeriesKey | None):
    """The line of series ``key``: faded while another series is highlighted, wider when it is."""
    c = QColor(colour)
    if highlight is None or key == highlight:
        # cosmetic 1-px lines: wider pens cost several times more to draw (only one is wide)
        return pg.mkPen(c, width=2 if key == highlight else 1)
    c.setAlpha(50)
    return pg.mkPen(c, width=1)


class SeriesCurve(pg.PlotCurveItem):
    """A series' line (NaN breaks at gaps, ``connect='finite'``) and, as a child item, a dot for
    each isolated sample, which the line cannot show: one sample between two outages. Being a
    child, the dots are hidden, removed, stacked (highlight) and clicked with the line."""

    def __init__(self, pen, clicked: Callable[[], None]) -> None:
        self.markers = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkPen(pen).color())
        super().__init__(pen=pen, skipFiniteCheck=True, connect="finite")
        self.markers.setParentItem(self)
        self.markers.hide()
        self._dots: tuple[np.ndarray, np.ndarray] | None = None  # what the markers hold
        self.setClickable(True, width=6)
        self.sigClicked.connect(lambda *_a: clicked())
        self.markers.sigClicked.connect(lambda *_a: clicked())

    def setPen(self, *args, **kwargs) -> None:
        super().setPen(*args, **kwargs)
        self.markers.setBrush(self.opts["pen"].color())  # faded or not, like the line

    def set_isolated(self, t: np.ndarray, y: np.ndarray) -> None:
        """Dots at the finite (t, y). With none (the usual case) the hidden item costs nothing, and
        dots as before are not set again (80 µs each, every second and series while live)."""
        keep = np.isfinite(y) if y.size else None
        if keep is None or not keep.any():
            if self._dots is not None:
                self._dots = None
                self.markers.setData([], [])
                self.markers.hide()
            return
        t, y = t[keep], y[keep]
        if self._dots is None or not (np.array_equal(t, self._dots[0]) and np.array_equal(y, self._dots[1])):
            self._dots = (t, y)
            self.markers.setData(t, y)
            self.markers.show()


def arrange(glw: pg.GraphicsLayoutWidget, plots: dict[str, pg.PlotItem], visible: list[str]) -> None:
    """Only the visible panels in the layout, in order; time labels under the lowest one."""
    ci = glw.ci
    for p in plots.values():
        if p in ci.items:
            ci.removeItem(p)
        p.setVisible(False)
    for row, field in enumerate(visible):
        p = plots[field]
        p.setVisible(True)
        ci.addItem(p, row=row, col=0)
        p.getAxis("bottom").setStyle(showValues=row == len(visible) - 1)
