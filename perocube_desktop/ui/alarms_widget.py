"""The Alarms dock's table: raised time, series, text and state; acknowledge."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ..monitor.alarms import AlarmEngine
from ..series_key import SeriesKey

ALARM_ROWS = 6  # the alarm dock's first height, within a third of the window (MainWindow.size_alarm_dock)


class AlarmsWidget(QWidget):
    def __init__(self, engine: AlarmEngine, label=None, parent=None) -> None:
        """``label(key)``: the name people know for a series key ('B1 C3 · DEV / A', a sensor's identifier)."""
        super().__init__(parent)
        self.label = label or (lambda key: key)
        self.engine = engine
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Raised", "Series", "Alarm", "State"])
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.ack = QPushButton("Acknowledge selected")
        self.ack.clicked.connect(self.acknowledge_selected)
        lay = self._layout = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.table)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.ack)
        lay.addLayout(row)
        self._idents: list[tuple[SeriesKey | str, str]] = []

    def rows_height(self, rows: int) -> int:
        """The height that shows the header, ``rows`` alarms and the button without scrolling."""
        t, lay = self.table, self._layout
        m = lay.contentsMargins()
        return (t.horizontalHeader().sizeHint().height() + rows * t.verticalHeader().defaultSectionSize()
                + 2 * t.frameWidth() + lay.spacing() + self.ack.sizeHint().height() + m.top() + m.bottom())

    def sizeHint(self) -> QSize:
        return QSize(600, self.rows_height(ALARM_ROWS))

    def refresh(self) -> None:
        alarms = sorted(self.engine.alarms.values(), key=lambda a: -a.raised_at)
        self._idents = [a.ident for a in alarms]
        self.table.setRowCount(len(alarms))
        for i, a in enumerate(alarms):
            state = ("active" if a.active else "cleared") + (", acknowledged" if a.acknowledged else "")
            values = (time.strftime("%H:%M:%S", time.localtime(a.raised_at)), self.label(a.key), a.text, state)
            for j, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setToolTip(v)  # a long alarm text in full
                if a.active and not a.acknowledged:
                    item.setBackground(QColor("#f7b6b2"))
                self.table.setItem(i, j, item)

    def acknowledge_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()} or set(range(len(self._idents)))
        for r in rows:
            self.engine.acknowledge(self._idents[r])
        self.refresh()
