"""Registry page: one searchable table per kind, forms generated from the declarations,
the quick new-device flow, the wiring history and the audit log."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from PySide6.QtCore import QDateTime, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QComboBox, QDateTimeEdit, QDialog, QDialogButtonBox, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox, QPushButton,
                               QSpinBox, QTableView, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ..registry.repository import ConflictError, ReferencedError, RegistryRepository, ValidationError
from ..registry.schema import ENTITIES, Entity
from ..registry.wiring import Event, WiringError, WiringService

log = logging.getLogger(__name__)


def _text(v) -> str:
    return "" if v is None else str(v)


class EntityForm(QWidget):
    """Fields of one entity with an error label next to each."""

    def __init__(self, entity: Entity, repo: RegistryRepository, row: dict | None = None, defaults: dict | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.entity = entity
        self.repo = repo
        self.edits: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        values = row or defaults or {}
        r = 0
        for f in entity.fields:
            if f.auto_uuid:
                continue
            label = QLabel(f.label + (" *" if f.required else ""))
            if f.type == "ref":
                w = QComboBox()
                w.addItem("", None)
                for key, text in repo.options(f.ref):
                    w.addItem(text, key)
                idx = w.findData(values.get(f.name))
                w.setCurrentIndex(max(idx, 0))
            else:
                w = QLineEdit(_text(values.get(f.name)))
                if f.type == "date":
                    w.setPlaceholderText("YYYY-MM-DD")
                elif f.type == "uuid":
                    w.setPlaceholderText("12345678-1234-5678-1234-567812345678")
            if row is not None and f.key:
                w.setEnabled(False)  # keys are fixed once created
            err = QLabel("")
            err.setStyleSheet("color: #b00020")
            grid.addWidget(label, r, 0)
            grid.addWidget(w, r, 1)
            grid.addWidget(err, r, 2)
            self.edits[f.name] = w
            self.errors[f.name] = err
            r += 1
        grid.setColumnStretch(1, 1)

    def values(self) -> dict:
        out = {}
        for name, w in self.edits.items():
            out[name] = w.currentData() if isinstance(w, QComboBox) else w.text()
        return out

    def show_errors(self, errors: dict[str, str]) -> None:
        for name, label in self.errors.items():
            label.setText(errors.get(name, ""))


class EntityDialog(QDialog):
    def __init__(self, entity: Entity, repo: RegistryRepository, row: dict | None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(("Edit " if row else "New ") + entity.title.lower().rstrip("s"))
        self.entity, self.repo, self.row = entity, repo, row
        self.form = EntityForm(entity, repo, row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00020")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.form)
        lay.addWidget(self.message)
        lay.addWidget(buttons)
        self.saved: dict | None = None

    def save(self) -> None:
        values = self.form.values()
        if self.row:
            values = {**{k: self.row[k] for k in self.entity.key_fields}, **values}
            for f in self.entity.fields:
                if f.auto_uuid:
                    values[f.name] = self.row[f.name]
        try:
            self.saved = self.repo.save(self.entity.name, values, self.row)
        except ValidationError as exc:
            self.form.show_errors(exc.errors)
            self.message.setText("Please correct the marked fields.")
            return
        except ConflictError as exc:
            self.message.setText(str(exc))
            return
        except Exception as exc:  # database errors: the form stays filled in
            log.exception("save failed")
            self.message.setText(f"Not saved: {exc}")
            return
        self.accept()


class EntityTab(QWidget):
    def __init__(self, entity: Entity, repo: RegistryRepository, parent=None) -> None:
        super().__init__(parent)
        self.entity, self.repo = entity, repo
        self.rows: list[dict] = []
        self.search = QLineEdit(placeholderText=f"Search {entity.title.lower()}…")
        self.search.textChanged.connect(lambda t: self.proxy.setFilterFixedString(t))
        self.model = QStandardItemModel()
        self.proxy = QSortFilterProxyModel()
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
        for text, slot in (("Add…", self.add), ("Edit…", self.edit), ("Delete", self.delete), ("Refresh", self.reload)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.view)
        lay.addWidget(self.message)
        lay.addLayout(buttons)
        self.reload()

    def reload(self) -> None:
        self.rows = self.repo.list(self.entity.name)
        fields = [f for f in self.entity.fields if not f.auto_uuid]
        refs = {f.name: dict(self.repo.options(f.ref)) for f in fields if f.type == "ref" and f.ref != "device"}
        self.model.clear()
        self.model.setHorizontalHeaderLabels([f.label for f in fields])
        for i, row in enumerate(self.rows):
            items = []
            for f in fields:
                v = row.get(f.name)
                item = QStandardItem(_text(refs[f.name].get(v, v) if f.name in refs else v))
                item.setData(i, Qt.ItemDataRole.UserRole)
                item.setEditable(False)
                items.append(item)
            self.model.appendRow(items)
        self.view.resizeColumnsToContents()

    def selected(self) -> dict | None:
        idx = self.view.selectionModel().selectedRows()
        if not idx:
            self.message.setText("Select a row first.")
            return None
        return self.rows[self.proxy.mapToSource(idx[0]).data(Qt.ItemDataRole.UserRole)]

    def add(self) -> None:
        if EntityDialog(self.entity, self.repo, None, self).exec():
            self.reload()

    def edit(self) -> None:
        row = self.selected()
        if row and EntityDialog(self.entity, self.repo, row, self).exec():
            self.reload()

    def delete(self) -> None:
        row = self.selected()
        if not row:
            return
        name = " / ".join(_text(row[k]) for k in self.entity.key_fields)
        if QMessageBox.question(self, "Delete", f"Delete {name}?") != QMessageBox.StandardButton.Yes:
            return
        try:
            self.repo.delete(self.entity.name, row)
            self.message.setText("")
        except (ReferencedError, ConflictError) as exc:
            self.message.setText(str(exc))
        self.reload()


class NewDeviceTab(QWidget):
    """Device and its pixels in one form; the last entry's values are offered again."""

    last_defaults: dict = {}

    def __init__(self, repo: RegistryRepository, on_saved, parent=None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.on_saved = on_saved
        self.lay = QVBoxLayout(self)
        self._build()

    def _build(self) -> None:
        while self.lay.count():
            item = self.lay.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        defaults = {k: v for k, v in NewDeviceTab.last_defaults.items() if k not in ("name", "nomad_id")}
        box = QGroupBox("Device")
        bl = QVBoxLayout(box)
        self.form = EntityForm(ENTITIES["device"], self.repo, None, defaults)
        bl.addWidget(self.form)
        self.lay.addWidget(box)
        pbox = QGroupBox("Pixels")
        pl = QFormLayout(pbox)
        self.pixels = QLineEdit(NewDeviceTab.last_defaults.get("_pixels", "A, B, C, D"))
        self.area = QLineEdit(NewDeviceTab.last_defaults.get("_area", ""))
        self.area.setPlaceholderText("cm², same for every pixel")
        pl.addRow("Pixel names (comma separated)", self.pixels)
        pl.addRow("Active area (cm²)", self.area)
        self.lay.addWidget(pbox)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        save = QPushButton("Save device and pixels")
        save.clicked.connect(self.save)
        self.lay.addWidget(self.message)
        self.lay.addWidget(save)
        self.lay.addStretch(1)

    def save(self) -> None:
        values = self.form.values()
        names = [p.strip() for p in self.pixels.text().split(",") if p.strip()]
        try:
            saved = self.repo.save_device_with_pixels(values, names, self.area.text())
        except ValidationError as exc:
            self.form.show_errors(exc.errors)
            self.message.setStyleSheet("color: #b00020")
            self.message.setText("Not saved: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
            return
        NewDeviceTab.last_defaults = {**values, "_pixels": self.pixels.text(), "_area": self.area.text()}
        self.message.setStyleSheet("color: #1b5e20")
        self.message.setText(f"Saved {saved['name']} with pixels {', '.join(names)}.")
        self.on_saved()


class WiringTab(QWidget):
    def __init__(self, repo: RegistryRepository, parent=None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.wiring = WiringService(repo)
        lay = QVBoxLayout(self)
        box = QGroupBox("Connect, disconnect or move a pixel")
        f = QGridLayout(box)
        self.device = QComboBox()
        self.device.currentIndexChanged.connect(self._pixels)
        self.pixel = QComboBox()
        self.board = QSpinBox(minimum=0, maximum=999, value=1)
        self.channel = QSpinBox(minimum=0, maximum=999, value=1)
        self.temp = QComboBox()
        self.irr = QComboBox()
        self.mode = QLineEdit("MPPT")
        self.polarity = QLineEdit("normal")
        self.when = QDateTimeEdit(QDateTime.currentDateTime())
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.when.setCalendarPopup(True)
        widgets = [("Device", self.device), ("Pixel", self.pixel), ("Board", self.board), ("Channel", self.channel),
                   ("Temperature sensor", self.temp), ("Irradiance sensor", self.irr), ("MPPT mode", self.mode),
                   ("Polarity", self.polarity), ("Time", self.when)]
        for i, (label, w) in enumerate(widgets):
            f.addWidget(QLabel(label), i // 3, (i % 3) * 2)
            f.addWidget(w, i // 3, (i % 3) * 2 + 1)
        row = QHBoxLayout()
        for text, slot in (("Connect", self.connect_pixel), ("Disconnect", self.disconnect_pixel),
                           ("Move here", self.move_pixel), ("Now", lambda: self.when.setDateTime(QDateTime.currentDateTime()))):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        row.addStretch(1)
        f.addLayout(row, 3, 0, 1, 6)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        f.addWidget(self.message, 4, 0, 1, 6)
        lay.addWidget(box)
        at_row = QHBoxLayout()
        at_row.addWidget(QLabel("Wiring at"))
        self.at = QDateTimeEdit(QDateTime.currentDateTime())
        self.at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.at.setCalendarPopup(True)
        show = QPushButton("Show")
        show.clicked.connect(self.show_wiring)
        at_row.addWidget(self.at)
        at_row.addWidget(show)
        tl = QPushButton("Timeline of selected pixel")
        tl.clicked.connect(self.show_timeline)
        at_row.addWidget(tl)
        self.move_event_button = QPushButton("Move selected event to 'Time'…")
        self.move_event_button.clicked.connect(lambda: self.correct_event(delete=False))
        self.delete_event_button = QPushButton("Delete selected event…")
        self.delete_event_button.clicked.connect(lambda: self.correct_event(delete=True))
        at_row.addWidget(self.move_event_button)
        at_row.addWidget(self.delete_event_button)
        at_row.addStretch(1)
        lay.addLayout(at_row)
        self.table = QTableWidget(0, 6)
        self._timeline: list[tuple] = []
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        self.reload()

    def reload(self) -> None:
        self.device.blockSignals(True)
        self.device.clear()
        for key, text in self.repo.options("device"):
            self.device.addItem(text, key)
        self.device.blockSignals(False)
        self._pixels()
        for combo, name in ((self.temp, "temperature_sensor"), (self.irr, "irradiance_sensor")):
            combo.clear()
            combo.addItem("", None)
            for key, text in self.repo.options(name):
                combo.addItem(text, str(key))
        self.show_wiring()

    def _pixels(self) -> None:
        self.pixel.clear()
        dev = self.device.currentData()
        for row in self.repo.list("pixel"):
            if row["solar_cell_id"] == dev:
                self.pixel.addItem(row["pixel"])

    def _when(self) -> datetime:
        return self.when.dateTime().toPython().astimezone(timezone.utc)

    def _event(self) -> Event:
        return Event(self.device.currentData(), self.pixel.currentText(), self.board.value(), self.channel.value(),
                     self._when(), "", self.temp.currentData(), self.irr.currentData(), self.mode.text() or None,
                     self.polarity.text() or None)

    def _run(self, action, ok_text: str) -> None:
        if not self.device.currentData() or not self.pixel.currentText():
            self.message.setText("Choose a device and a pixel.")
            return
        try:
            action()
        except WiringError as exc:
            self.message.setStyleSheet("color: #b00020")
            self.message.setText(str(exc))
            return
        self.message.setStyleSheet("color: #1b5e20")
        self.message.setText(ok_text)
        self.show_wiring()

    def connect_pixel(self) -> None:
        ev = self._event()
        self._run(lambda: self.wiring.connect(ev), f"{ev.cell} / {ev.pixel} connected to board {ev.board} channel {ev.channel}.")

    def disconnect_pixel(self) -> None:
        ev = self._event()
        self._run(lambda: self.wiring.disconnect(ev.cell, ev.pixel, ev.at), f"{ev.cell} / {ev.pixel} disconnected.")

    def move_pixel(self) -> None:
        ev = self._event()
        self._run(lambda: self.wiring.move(ev), f"{ev.cell} / {ev.pixel} moved to board {ev.board} channel {ev.channel}.")

    def show_wiring(self) -> None:
        self._timeline = []
        at = self.at.dateTime().toPython().astimezone(timezone.utc)
        rows = self.wiring.wiring_at(at)
        self._fill(["Board", "Channel", "Device", "Pixel", "State", "Since"],
                   [(b, c, cell, px, "connected" if act else "free", f"{t:%Y-%m-%d %H:%M}") for b, c, cell, px, act, t, _k in rows])

    def show_timeline(self) -> None:
        rows = self.wiring.timeline(self.device.currentData(), self.pixel.currentText() or None)
        self._timeline = rows
        self._fill(["Time", "Event", "Device", "Pixel", "Board", "Channel"],
                   [(f"{t:%Y-%m-%d %H:%M}", k, cell, px, b, c) for t, k, cell, px, b, c in rows])

    def correct_event(self, delete: bool, confirm=None) -> None:
        """Edit or delete a past event after a confirmation that says which measurements change owner.
        ``confirm`` (text -> bool) replaces the dialog in tests."""
        idx = self.table.currentRow()
        if not self._timeline or idx < 0 or idx >= len(self._timeline):
            self.message.setText("Show a pixel's timeline and select one of its events first.")
            return
        at, kind, cell, px, _b, _c = self._timeline[idx]
        new_at = None if delete else self._when()
        try:
            impact = self.wiring.impact(cell, px, at, kind, new_at)
        except WiringError as exc:
            self.message.setText(str(exc))
            return
        what = (f"Delete the {kind} event of {cell} / {px} at {at:%Y-%m-%d %H:%M}?" if delete else
                f"Move the {kind} event of {cell} / {px} from {at:%Y-%m-%d %H:%M} to {new_at:%Y-%m-%d %H:%M}?")
        text = f"{what}\n\n{impact}."
        ok = confirm(text) if confirm else (
            QMessageBox.question(self, "Correct the wiring history", text) == QMessageBox.StandardButton.Yes)
        if not ok:
            return
        try:
            if delete:
                self.wiring.delete_event(cell, px, at, kind)
            else:
                self.wiring.move_event(cell, px, at, kind, new_at)
        except WiringError as exc:
            self.message.setStyleSheet("color: #b00020")
            self.message.setText(str(exc))
            return
        self.message.setStyleSheet("color: #1b5e20")
        self.message.setText("Wiring history corrected. " + impact + ".")
        self.show_timeline()

    def _fill(self, headers: list[str], rows: list[tuple]) -> None:
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                self.table.setItem(i, j, QTableWidgetItem(_text(v)))


class AuditTab(QWidget):
    def __init__(self, repo: RegistryRepository, parent=None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels(["When", "Who", "Host", "Table", "Action", "Row", "Old → new"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.reload)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(refresh)
        self.reload()

    def reload(self) -> None:
        rows = self.repo.audit()
        self.table.setRowCount(len(rows))
        for i, (at, who, host, table, action, key, old, new) in enumerate(rows):
            for j, v in enumerate((f"{at:%Y-%m-%d %H:%M:%S}", who, host, table, action, key, f"{old or ''} → {new or ''}")):
                self.table.setItem(i, j, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()


class RegistryPage(QTabWidget):
    def __init__(self, pool, parent=None) -> None:
        super().__init__(parent)
        self.repo = RegistryRepository(pool)
        self.tabs: dict[str, EntityTab] = {}
        self.new_device = NewDeviceTab(self.repo, self._device_saved)
        self.addTab(self.new_device, "New device")
        for name in ("device", "pixel", "scientist", "project", "experiment", "channel", "temperature_sensor",
                     "irradiance_sensor"):
            tab = EntityTab(ENTITIES[name], self.repo)
            self.tabs[name] = tab
            self.addTab(tab, ENTITIES[name].title)
        self.wiring = WiringTab(self.repo)
        self.addTab(self.wiring, "Wiring")
        self.audit = AuditTab(self.repo)
        self.addTab(self.audit, "Audit log")
        self.currentChanged.connect(self._tab_changed)

    def _device_saved(self) -> None:
        for name in ("device", "pixel"):
            self.tabs[name].reload()
        self.wiring.reload()

    def _tab_changed(self, index: int) -> None:
        w = self.widget(index)
        if hasattr(w, "reload"):
            try:
                w.reload()
            except Exception as exc:  # a database hiccup must not break tab switching; it is shown
                log.error("registry reload failed: %s", exc)
