"""The wiring history: connect, disconnect or move a pixel; the wiring at a time; a pixel's
timeline; corrections of past events after a confirmation that says what changes owner."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from PySide6.QtCore import QDateTime, Signal
from PySide6.QtWidgets import (QComboBox, QDateTimeEdit, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ...registry.repository import RegistryRepository
from ...registry.wiring import Event, WiringError, WiringService
from .. import worker
from .forms import text

log = logging.getLogger(__name__)


def fetch_choices(repo: RegistryRepository, wiring: WiringService, at: datetime) -> dict:
    """Runs in a worker: devices, pixels, sensors (with names people know) and the wiring at ``at``."""
    irr = repo.list("irradiance_sensor")
    return {"devices": repo.options("device"),
            "pixels": [(r["solar_cell_id"], r["pixel"]) for r in repo.list("pixel")],
            "temperature": [(str(k), label) for k, label in repo.options("temperature_sensor")],
            "irradiance": [(str(r["irradiance_sensor_id"]), f"{r['sensor_identifier']} ch {r['channel']}")
                           for r in irr],
            "wiring": wiring.wiring_at(at)}


class WiringTab(QWidget):
    done = Signal(str)  # the message after an action or a load finished
    error = Signal(str)

    def __init__(self, repo: RegistryRepository, wiring: WiringService, parent=None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.wiring = wiring
        self.pixel_rows: list[tuple[str, str]] = []
        self.busy = False
        lay = QVBoxLayout(self)
        lay.addWidget(self._build_action_box())
        lay.addLayout(self._build_history_row())
        self.table = QTableWidget(0, 6)
        self._timeline: list = []  # the timeline's events as shown (WiringService.timeline's named rows)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)

    def _build_action_box(self) -> QGroupBox:
        """The pixel, its channel and sensors, the time, and the connect/disconnect/move buttons."""
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
        widgets = [("Device", self.device), ("Pixel", self.pixel), ("Time", self.when), ("Board", self.board),
                   ("Channel", self.channel), ("MPPT mode", self.mode), ("Temperature sensor", self.temp),
                   ("Irradiance sensor", self.irr), ("Polarity", self.polarity)]
        for i, (label, w) in enumerate(widgets):
            f.addWidget(QLabel(label), i // 3, (i % 3) * 2)
            f.addWidget(w, i // 3, (i % 3) * 2 + 1)
        for col in (1, 3, 5):
            f.setColumnStretch(col, 1)
        row = QHBoxLayout()
        self.action_buttons = []
        for label, slot in (("Connect", self.connect_pixel), ("Disconnect", self.disconnect_pixel),
                            ("Move here", self.move_pixel),
                            ("Now", lambda: self.when.setDateTime(QDateTime.currentDateTime()))):
            b = QPushButton(label)
            b.clicked.connect(slot)
            row.addWidget(b)
            self.action_buttons.append(b)
        row.addStretch(1)
        f.addLayout(row, 3, 0, 1, 6)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        f.addWidget(self.message, 4, 0, 1, 6)
        return box

    def _build_history_row(self) -> QHBoxLayout:
        """The wiring at a time, a pixel's timeline, and the corrections of a timeline event."""
        at_row = QHBoxLayout()
        at_row.addWidget(QLabel("Wiring at"))
        self.at = QDateTimeEdit(QDateTime.currentDateTime())
        self.at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.at.setCalendarPopup(True)
        show = QPushButton("Show")
        show.clicked.connect(self.show_wiring)
        at_row.addWidget(self.at)
        at_row.addWidget(show)
        timeline_button = QPushButton("Timeline of the pixel")
        timeline_button.setToolTip("Every connect and disconnect of the device and pixel chosen above")
        timeline_button.clicked.connect(self.show_timeline)
        at_row.addWidget(timeline_button)
        at_row.addStretch(1)
        self.move_event_button = QPushButton("Move event to “Time”…")
        self.move_event_button.setToolTip("Move the event selected in the timeline to the time chosen above")
        self.move_event_button.clicked.connect(lambda: self.correct_event(delete=False))
        self.delete_event_button = QPushButton("Delete event…")
        self.delete_event_button.setToolTip("Delete the event selected in the timeline")
        self.delete_event_button.clicked.connect(lambda: self.correct_event(delete=True))
        at_row.addWidget(self.move_event_button)
        at_row.addWidget(self.delete_event_button)
        return at_row

    # loading ------------------------------------------------------------------
    def reload(self) -> None:
        self._say("Loading…", "#555")
        at = self.at.dateTime().toPython().astimezone(timezone.utc)  # type: ignore[attr-defined]  # toPython() gives a datetime; PySide6's stubs say object
        worker.start(fetch_choices, self.repo, self.wiring, at, on_done=self._choices, on_error=self._failed)

    def _choices(self, c: dict) -> None:
        device = self.device.currentData()
        self.device.blockSignals(True)
        self.device.clear()
        for key, label in c["devices"]:
            self.device.addItem(label, key)
        if device is not None:
            self.device.setCurrentIndex(max(self.device.findData(device), 0))
        self.device.blockSignals(False)
        self.pixel_rows = c["pixels"]
        self._pixels()
        for combo, name in ((self.temp, "temperature"), (self.irr, "irradiance")):
            current = combo.currentData()
            combo.clear()
            combo.addItem("", None)
            for key, label in c[name]:
                combo.addItem(label, key)
            combo.setCurrentIndex(max(combo.findData(current), 0))
        self._show_wiring_rows(c["wiring"])
        if self.message.text() == "Loading…":  # an action's outcome stays readable
            self._say("" if c["devices"] else "No devices yet: create one in “New device” first.", "#555")
        self.done.emit(self.message.text())

    def _failed(self, error: str) -> None:
        self.busy = False
        self._say(f"Cannot read the wiring: {error}", "#b00020")
        self.error.emit(f"registry: {error}")
        self.done.emit(self.message.text())

    def _pixels(self) -> None:
        self.pixel.clear()
        dev = self.device.currentData()
        for cell, px in self.pixel_rows:
            if cell == dev:
                self.pixel.addItem(px)

    def _say(self, message: str, colour: str) -> None:
        self.message.setStyleSheet(f"color: {colour}")
        self.message.setText(message)

    # actions ------------------------------------------------------------------
    def _when(self) -> datetime:
        return self.when.dateTime().toPython().astimezone(timezone.utc)  # type: ignore[attr-defined]  # toPython() gives a datetime; PySide6's stubs say object

    def _event(self) -> Event:
        return Event(self.device.currentData(), self.pixel.currentText(), self.board.value(), self.channel.value(),
                     self._when(), "", self.temp.currentData(), self.irr.currentData(), self.mode.text() or None,
                     self.polarity.text() or None)

    def _run(self, action, ok_text: str, then=None) -> None:
        if self.busy:
            return
        self.busy = True
        self._say("Saving…", "#555")
        worker.start(action, on_done=lambda _r: self._ran(ok_text, then), on_exception=self._refused,
                     expected=(WiringError,))

    def _ran(self, ok_text: str, then) -> None:
        self.busy = False
        self._say(ok_text, "#1b5e20")
        (then or self.show_wiring)()

    def _refused(self, exc: Exception) -> None:
        self.busy = False
        self._say(str(exc), "#b00020")
        self.done.emit(self.message.text())

    def _chosen(self) -> bool:
        if not self.device.currentData() or not self.pixel.currentText():
            self._say("Choose a device and a pixel.", "#b00020")
            self.done.emit(self.message.text())
            return False
        return True

    def connect_pixel(self) -> None:
        if self._chosen():
            ev = self._event()
            self._run(lambda: self.wiring.connect(ev),
                      f"{ev.cell} / {ev.pixel} connected to board {ev.board} channel {ev.channel}.")

    def disconnect_pixel(self) -> None:
        if self._chosen():
            ev = self._event()
            self._run(lambda: self.wiring.disconnect(ev.cell, ev.pixel, ev.at), f"{ev.cell} / {ev.pixel} disconnected.")

    def move_pixel(self) -> None:
        if self._chosen():
            ev = self._event()
            self._run(lambda: self.wiring.move(ev),
                      f"{ev.cell} / {ev.pixel} moved to board {ev.board} channel {ev.channel}.")

    # tables ------------------------------------------------------------------
    def show_wiring(self) -> None:
        at = self.at.dateTime().toPython().astimezone(timezone.utc)  # type: ignore[attr-defined]  # toPython() gives a datetime; PySide6's stubs say object
        worker.start(self.wiring.wiring_at, at, on_done=self._wiring_arrived, on_error=self._failed)

    def _wiring_arrived(self, rows: list) -> None:
        self._show_wiring_rows(rows)
        self.done.emit(self.message.text())

    def _show_wiring_rows(self, rows: list) -> None:
        """``WiringService.wiring_at``'s named rows."""
        self._timeline = []
        self._fill(["Board", "Channel", "Device", "Pixel", "State", "Since"],
                   [(r.board_number, r.channel_number, r.solar_cell_name, r.pixel_identifier,
                     "connected" if r.is_active else "free",
                     f"{r.last_event_time:%Y-%m-%d %H:%M}" if r.last_event_time else "") for r in rows])

    def show_timeline(self) -> None:
        worker.start(self.wiring.timeline, self.device.currentData(), self.pixel.currentText() or None,
                     on_done=self._timeline_arrived, on_error=self._failed)

    def _timeline_arrived(self, rows: list) -> None:
        """``WiringService.timeline``'s named rows."""
        self._timeline = rows
        self._fill(["Time", "Event", "Device", "Pixel", "Board", "Channel"],
                   [(f"{e.connection_datetime:%Y-%m-%d %H:%M}", e.event_type, e.solar_cell_id, e.pixel,
                     e.tracking_channel_board, e.tracking_channel_channel) for e in rows])
        self.done.emit(self.message.text())

    def correct_event(self, delete: bool, confirm=None) -> None:
        """Edit or delete a past event after a confirmation that says which measurements change owner.
        ``confirm`` (text -> bool) replaces the dialog in tests."""
        idx = self.table.currentRow()
        if not self._timeline or idx < 0 or idx >= len(self._timeline):
            self._say("Show a pixel's timeline and select one of its events first.", "#b00020")
            self.done.emit(self.message.text())
            return
        event = self._timeline[idx]
        new_at = None if delete else self._when()
        worker.start(self.wiring.impact, event.solar_cell_id, event.pixel, event.connection_datetime,
                     event.event_type, new_at, expected=(WiringError,),
                     on_done=lambda impact: self._confirm(impact, delete, confirm, event, new_at),
                     on_exception=self._refused)

    def _confirm(self, impact: str, delete: bool, confirm, event, new_at) -> None:
        """``event``: the timeline's row to move to ``new_at`` or delete."""
        at, kind, cell, px = event.connection_datetime, event.event_type, event.solar_cell_id, event.pixel
        what = (f"Delete the {kind} event of {cell} / {px} at {at:%Y-%m-%d %H:%M}?" if delete else
                f"Move the {kind} event of {cell} / {px} from {at:%Y-%m-%d %H:%M} to {new_at:%Y-%m-%d %H:%M}?")
        question = f"{what}\n\n{impact}."
        ok = confirm(question) if confirm else (
            QMessageBox.question(self, "Correct the wiring history", question) == QMessageBox.StandardButton.Yes)
        if not ok:
            self.done.emit(self.message.text())
            return
        if delete:
            self._run(lambda: self.wiring.delete_event(cell, px, at, kind),
                      "Wiring history corrected. " + impact + ".", then=self.show_timeline)
        else:
            self._run(lambda: self.wiring.move_event(cell, px, at, kind, new_at),
                      "Wiring history corrected. " + impact + ".", then=self.show_timeline)

    def _fill(self, headers: list[str], rows: list[tuple]) -> None:
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                self.table.setItem(i, j, QTableWidgetItem(text(v)))
