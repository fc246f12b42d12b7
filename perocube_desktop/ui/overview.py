"""Board overview: every channel and sensor as a painted tile (one widget, fast for 256+ tiles)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QWidget

from ..monitor.overview import ALARM, IDLE, LIVE, STALE, Tile
from ..series_key import SeriesKey
from .boxes import box

COLOURS = {LIVE: QColor("#d8f0d2"), STALE: QColor("#ffe7a8"), IDLE: QColor("#e4e6ea"), ALARM: QColor("#f7b6b2")}
EDGES = {LIVE: QColor("#3b8f2e"), STALE: QColor("#c98a00"), IDLE: QColor("#9aa0a8"), ALARM: QColor("#c62828")}
TILE_H, GAP, HEADER = 92, 6, 24
MIN_TILE_W, MAX_TILE_W = 140, 200
SHORT = {"Temperature": "Temp.", "Irradiance": "Irrad."}


class TileGridWidget(QWidget):
    channel_clicked = Signal(object, bool)  # SeriesKey, add to selection (Ctrl)
    group_clicked = Signal(list)  # keys of a whole board

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.tiles: list[Tile] = []
        self.selected: set[SeriesKey] = set()
        self._rects: list[tuple[QRectF, SeriesKey]] = []
        self._headers: list[tuple[QRectF, list[SeriesKey]]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)

    def set_tiles(self, tiles: list[Tile]) -> None:
        self.tiles = tiles
        self._layout()
        self.update()

    def _columns(self) -> tuple[int, float]:
        """Columns and tile width: as many as fit, balanced so that a board's row does not end
        with one lonely tile (8 channels at 1366 px: one row of 8, not 7 + 1)."""
        width = self.width() - GAP
        cols = max(1, width // (MIN_TILE_W + GAP))
        sizes: dict[str, int] = {}
        for t in self.tiles:
            sizes[t.group] = sizes.get(t.group, 0) + 1
        largest = max(sizes.values(), default=1)
        if largest <= cols:
            cols = largest  # one row per board
        else:
            rows = -(-largest // cols)
            cols = -(-largest // rows)
        tile_w = min(MAX_TILE_W, (width - cols * GAP) / cols)
        return cols, tile_w

    def _layout(self) -> None:
        cols, tile_w = self._columns()
        self._rects, self._headers = [], []
        y = GAP
        group = None
        col = 0
        keys: list[SeriesKey] = []
        for t in self.tiles:
            if t.group != group:
                if group is not None:
                    y += TILE_H + GAP
                group = t.group
                keys = []
                self._headers.append((QRectF(GAP, y, self.width() - 2 * GAP, HEADER - 4), keys))
                y += HEADER
                col = 0
            elif col >= cols:
                col = 0
                y += TILE_H + GAP
            keys.append(t.key)
            self._rects.append((QRectF(GAP + col * (tile_w + GAP), y, tile_w, TILE_H), t.key))
            col += 1
        height = y + TILE_H + GAP if self.tiles else 100
        self.setMinimumHeight(int(height))

    def resizeEvent(self, event) -> None:
        self._layout()
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(800, 600)

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        add = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        for rect, key in self._rects:
            if rect.contains(pos):
                self.channel_clicked.emit(key, add)
                return
        for rect, keys in self._headers:
            if rect.contains(pos):
                self.group_clicked.emit([k for k in keys if k.is_mpp] or list(keys))
                return

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        exposed = QRectF(event.rect())  # in the scroll area only the visible tiles are painted
        p.fillRect(event.rect(), QColor("#f7f8fa"))
        bold = QFont(self.font())
        bold.setBold(True)
        small = QFont(self.font())
        small.setPointSizeF(max(self.font().pointSizeF() - 1.5, 6))
        group_names: dict[str, Tile] = {}
        for t in self.tiles:
            group_names.setdefault(t.group, t)
        for (rect, _keys), name in zip(self._headers, group_names):
            if not rect.intersects(exposed):
                continue
            p.setFont(bold)
            p.setPen(QColor("#30363d"))
            p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{name}  (click to plot all)")
        for (rect, key), t in zip(self._rects, self.tiles):
            if not rect.intersects(exposed):
                continue
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(QPen(QColor("#1f6feb") if key in self.selected else EDGES[t.state], 3 if key in self.selected else 1.2))
            p.setBrush(COLOURS[t.state])
            p.drawRoundedRect(rect, 6, 6)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            inner = rect.adjusted(7, 4, -7, -4)
            p.setPen(QColor("#111"))
            p.setFont(bold)
            value_w = p.fontMetrics().horizontalAdvance(t.value) + 8
            title = t.title
            if p.fontMetrics().horizontalAdvance(title) > inner.width() - value_w:
                title = SHORT.get(title, title)  # 'Temperature' -> 'Temp.' on narrow tiles
            title = p.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, int(inner.width() - value_w))
            p.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, title)
            p.drawText(inner, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, t.value)
            p.setFont(small)
            p.setPen(QColor("#333"))
            # sensor identifiers differ at the end (m7004_ID_94C6…4801 / …4802): keep both ends
            mode = Qt.TextElideMode.ElideRight if key.is_mpp else Qt.TextElideMode.ElideMiddle
            label = p.fontMetrics().elidedText(t.label, mode, int(inner.width()))
            p.drawText(QRectF(inner.left(), inner.top() + 18, inner.width(), 16), Qt.AlignmentFlag.AlignLeft, label)
            # bottom row: state and age on the left, the trend on the right
            state = p.fontMetrics().elidedText(t.status, Qt.TextElideMode.ElideRight, int(inner.width() * 0.5))
            p.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, state)
            self._sparkline(p, QRectF(inner.left() + inner.width() * 0.52, inner.bottom() - 18, inner.width() * 0.48, 16),
                            t.trend)
            p.setPen(QColor("#333"))
            for k, line in enumerate(t.lifetime.splitlines()[:2]):  # live lifetime projection (monitor/lifetime.py)
                p.drawText(QRectF(inner.left(), inner.top() + 33 + 12 * k, inner.width(), 13),
                           Qt.AlignmentFlag.AlignLeft,
                           p.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, int(inner.width())))
        p.end()

    @staticmethod
    def _sparkline(p: QPainter, rect: QRectF, values: np.ndarray) -> None:
        v = values[np.isfinite(values)] if values.size else values
        if v.size < 2:
            return
        lo, hi = float(v.min()), float(v.max())
        span = hi - lo or 1.0
        xs = np.linspace(rect.left(), rect.right(), v.size)
        ys = rect.bottom() - (v - lo) / span * rect.height()
        p.setPen(QPen(QColor("#1f4e99"), 1.2))
        p.drawPolyline(QPolygonF([QPointF(float(x), float(y)) for x, y in zip(xs, ys)]))


class OverviewPage(QScrollArea):
    """The tiles; while there are none (a first start), what to do instead of an empty page."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.grid = TileGridWidget()
        self.hint = QLabel()
        self.hint.setObjectName("first-start-hint")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.hint.setContentsMargins(24, 16, 24, 16)
        self.hint.setMaximumWidth(900)
        self.setWidget(box(self.hint, self.grid))
        self.setWidgetResizable(True)
        self.set_tiles([])

    def set_hint(self, text: str) -> None:
        self.hint.setText(text)

    def set_tiles(self, tiles: list[Tile]) -> None:
        self.hint.setVisible(not tiles)
        self.grid.setVisible(bool(tiles))
        self.grid.set_tiles(tiles)
