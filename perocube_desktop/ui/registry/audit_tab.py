"""Who changed what in the registry."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ...registry.repository import RegistryRepository
from .. import worker


class AuditTab(QWidget):
    loaded = Signal()
    error = Signal(str)

    def __init__(self, repo: RegistryRepository, parent=None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels(["When", "Who", "Host", "Table", "Action", "Row", "Old → new"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.message = QLabel("")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.reload)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(self.message)
        lay.addWidget(refresh)

    def reload(self) -> None:
        self.message.setText("Loading…")
        worker.start(self.repo.audit, on_done=self._fill, on_error=self._failed)

    def _failed(self, error: str) -> None:
        self.message.setText(f"Cannot read the audit log: {error}")
        self.error.emit(f"registry: {error}")

    def _fill(self, rows: list[tuple]) -> None:
        self.table.setRowCount(len(rows))
        for i, (at, who, host, table, action, key, old, new) in enumerate(rows):
            for j, v in enumerate((f"{at:%Y-%m-%d %H:%M:%S}", who, host, table, action, key,
                                   f"{old or ''} → {new or ''}")):
                self.table.setItem(i, j, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()
        self.message.setText("" if rows else "No changes recorded yet.")
        self.loaded.emit()
