"""One searchable table per registry kind, with add, edit and delete."""

from __future__ import annotations

import logging

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QTableView, QVBoxLayout, QWidget

from ...registry.repository import ConflictError, ReferencedError, RegistryRepository
from ...registry.schema import Entity
from .. import worker
from .forms import EntityDialog, Options, fetch_options, ref_names, text

log = logging.getLogger(__name__)


def fetch_rows(repo: RegistryRepository, entity: Entity) -> tuple[list[dict], Options]:
    """Runs in a worker: the rows of one kind and the names its references point to."""
    return repo.list(entity.name), fetch_options(repo, ref_names(entity))


class EntityTab(QWidget):
    loaded = Signal()
    error = Signal(str)

    def __init__(self, entity: Entity, repo: RegistryRepository, parent=None) -> None:
        super().__init__(parent)
        self.entity, self.repo = entity, repo
        self.rows: list[dict] = []
        self.options: Options | None = None
        self.loading = False
        self._notice = ""  # a refusal to show again once the reload after it is done
        self.search = QLineEdit(placeholderText=f"Search {entity.title.lower()}…")
        self.model = QStandardItemModel()
        self.proxy = QSortFilterProxyModel()
        self.search.textChanged.connect(lambda t: self.proxy.setFilterFixedString(t))
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().hide()
        self.view.doubleClicked.connect(lambda _i: self.edit())
        self.message = QLabel("")
        self.message.setStyleSheet("color: #b00020")
        buttons = QHBoxLayout()
        for label, slot in (("Add…", self.add), ("Edit…", self.edit), ("Delete", self.delete), ("Refresh", self.reload)):
            b = QPushButton(label)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.view)
        lay.addWidget(self.message)
        lay.addLayout(buttons)

    def reload(self) -> None:
        if self.loading:
            return
        self.loading = True
        self.message.setStyleSheet("color: #555")
        self.message.setText("Loading…")
        worker.start(fetch_rows, self.repo, self.entity, on_done=self._fill, on_error=self._failed)

    def _failed(self, error: str) -> None:
        self.loading = False
        self.message.setStyleSheet("color: #b00020")
        self.message.setText(f"Cannot read {self.entity.title.lower()}: {error}")
        self.error.emit(f"registry: {error}")

    def _fill(self, result: tuple[list[dict], Options]) -> None:
        self.loading = False
        self.rows, self.options = result
        fields = [f for f in self.entity.fields if not f.auto_uuid]
        refs = {f.name: dict(self.options.get(f.ref, [])) for f in fields
                if f.type == "ref" and f.ref is not None and f.ref != "device"}
        self.model.clear()
        self.model.setHorizontalHeaderLabels([f.label for f in fields])
        for i, row in enumerate(self.rows):
            items = []
            for f in fields:
                v = row.get(f.name)
                item = QStandardItem(text(refs[f.name].get(v, v) if f.name in refs else v))
                item.setData(i, Qt.ItemDataRole.UserRole)
                item.setEditable(False)
                items.append(item)
            self.model.appendRow(items)
        self.view.resizeColumnsToContents()
        if self._notice:
            self.message.setStyleSheet("color: #b00020")
            self.message.setText(self._notice)
            self._notice = ""
        else:
            self.message.setStyleSheet("color: #555")
            self.message.setText("" if self.rows else f"No {self.entity.title.lower()} yet: “Add…” creates one.")
        self.loaded.emit()

    def selected(self) -> dict | None:
        idx = self.view.selectionModel().selectedRows()
        if not idx:
            self.message.setText("Select a row first.")
            return None
        return self.rows[self.proxy.mapToSource(idx[0]).data(Qt.ItemDataRole.UserRole)]

    def dialog(self, row: dict | None) -> EntityDialog:
        return EntityDialog(self.entity, self.repo, row, self.options, self)

    def add(self) -> None:
        if self.dialog(None).exec():
            self.reload()

    def edit(self) -> None:
        row = self.selected()
        if row and self.dialog(row).exec():
            self.reload()

    def delete(self, confirm=None) -> None:
        """``confirm`` (text -> bool) replaces the question box in tests."""
        row = self.selected()
        if not row:
            return
        name = " / ".join(text(row[k]) for k in self.entity.key_fields)
        question = f"Delete {name}?"
        ok = confirm(question) if confirm else (
            QMessageBox.question(self, "Delete", question) == QMessageBox.StandardButton.Yes)
        if not ok:
            return
        worker.start(self.repo.delete, self.entity.name, row, on_done=lambda _r: self.reload(),
                     on_exception=self._delete_failed, expected=(ReferencedError, ConflictError))

    def _delete_failed(self, exc: Exception) -> None:
        self._notice = str(exc)
        self.reload()
