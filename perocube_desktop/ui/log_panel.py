"""Log lines and quarantined input, for the operator."""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QSize, QTimer
from PySide6.QtWidgets import (QHeaderView, QPlainTextEdit, QPushButton, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from ..db import queries


class QueueLogHandler(logging.Handler):
    """Collects formatted records from any thread; the panel drains them on a timer."""

    def __init__(self, maxlen: int = 2000) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=maxlen)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class LogPanel(QTabWidget):
    def __init__(self, handler: QueueLogHandler, pool, parent=None) -> None:
        super().__init__(parent)
        self.handler = handler
        self.pool = pool
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setMaximumBlockCount(2000)
        self.addTab(self.text, "Log")
        qwidget = QWidget()
        lay = QVBoxLayout(qwidget)
        lay.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Received", "Source", "From / file:line", "Reason", "Raw"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        refresh = QPushButton("Refresh quarantine")
        refresh.clicked.connect(self.refresh_quarantine)
        lay.addWidget(self.table)
        lay.addWidget(refresh)
        self.addTab(qwidget, "Quarantine")
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.drain)
        self.timer.start(500)
        self.quarantine_timer = QTimer(self)
        self.quarantine_timer.timeout.connect(self._auto_refresh)
        self.quarantine_timer.start(30000)
        self.currentChanged.connect(lambda i: self.refresh_quarantine() if i == 1 else None)

    def sizeHint(self) -> QSize:  # a short dock by default: the pages need the height at 1366×768
        return QSize(600, 110)

    def _auto_refresh(self) -> None:
        if self.isVisible() and self.currentIndex() == 1:
            self.refresh_quarantine()

    def drain(self) -> None:
        lines = self.handler.lines
        while lines:
            self.text.appendPlainText(lines.popleft())

    def refresh_quarantine(self) -> None:
        from . import worker

        def fetch():
            with self.pool.connection() as conn:
                return conn.execute(queries.get("monitor", "recent_quarantine"), (500,)).fetchall()

        worker.start(fetch, on_done=self._show, on_error=lambda e: logging.getLogger(__name__).error(e))

    def _show(self, rows) -> None:
        self.table.setRowCount(len(rows))
        for i, (at, source, origin, line, reason, raw) in enumerate(rows):
            where = f"{origin}:{line}" if line else origin
            for j, v in enumerate((at.strftime("%Y-%m-%d %H:%M:%S"), source, where, reason, raw)):
                self.table.setItem(i, j, QTableWidgetItem(str(v)))
        self.table.resizeColumnsToContents()
