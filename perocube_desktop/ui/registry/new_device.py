"""The quick new-device flow: a device and its pixels in one form."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ...registry.repository import RegistryRepository, ValidationError
from ...registry.schema import ENTITIES
from .. import worker
from .forms import EntityForm, fetch_options, ref_names


class NewDeviceTab(QWidget):
    """Device and its pixels in one form; the last entry's values are offered again."""

    saved = Signal(dict)
    error = Signal(str)
    last_defaults: dict = {}

    def __init__(self, repo: RegistryRepository, parent=None) -> None:
        super().__init__(parent)
        self.repo = repo
        self.options: dict | None = None
        self.saving = False
        self.lay = QVBoxLayout(self)
        self._build()

    def _build(self) -> None:
        while self.lay.count():
            item = self.lay.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        defaults = {k: v for k, v in NewDeviceTab.last_defaults.items() if k not in ("name", "nomad_id")}
        box = QGroupBox("Device")
        box_layout = QVBoxLayout(box)
        self.form = EntityForm(ENTITIES["device"], None, defaults, self.options)
        box_layout.addWidget(self.form)
        self.lay.addWidget(box)
        pbox = QGroupBox("Pixels")
        pixel_form = QFormLayout(pbox)
        self.pixels = QLineEdit(NewDeviceTab.last_defaults.get("_pixels", "A, B, C, D"))
        self.area = QLineEdit(NewDeviceTab.last_defaults.get("_area", ""))
        self.area.setPlaceholderText("cm², same for every pixel")
        pixel_form.addRow("Pixel names (comma separated)", self.pixels)
        pixel_form.addRow("Active area (cm²)", self.area)
        self.lay.addWidget(pbox)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.save_button = QPushButton("Save device and pixels")
        self.save_button.clicked.connect(self.save)
        self.lay.addWidget(self.message)
        self.lay.addWidget(self.save_button)
        self.lay.addStretch(1)

    def reload(self) -> None:
        """Fetch the experiment and scientist choices in the background."""
        worker.start(fetch_options, self.repo, ref_names(ENTITIES["device"]), on_done=self._options,
                     on_error=self._failed)

    def _options(self, options: dict) -> None:
        self.options = options
        self.form.set_options(options)

    def _failed(self, error: str) -> None:
        self.message.setStyleSheet("color: #b00020")
        self.message.setText(f"Cannot read the registry: {error}")
        self.error.emit(f"registry: {error}")

    def save(self) -> None:
        if self.saving:
            return
        values = self.form.values()
        names = [p.strip() for p in self.pixels.text().split(",") if p.strip()]
        self.saving = True
        self.save_button.setEnabled(False)
        self.message.setStyleSheet("color: #555")
        self.message.setText("Saving…")
        worker.start(self.repo.save_device_with_pixels, values, names, self.area.text(),
                     on_done=lambda row: self._saved(row, values, names), on_exception=self._save_failed,
                     expected=(ValidationError,))

    def _saved(self, row: dict, values: dict, names: list[str]) -> None:
        self.saving = False
        self.save_button.setEnabled(True)
        NewDeviceTab.last_defaults = {**values, "_pixels": self.pixels.text(), "_area": self.area.text()}
        self.form.show_errors({})
        self.message.setStyleSheet("color: #1b5e20")
        self.message.setText(f"Saved {row['name']} with pixels {', '.join(names)}.")
        self.saved.emit(row)

    def _save_failed(self, exc: Exception) -> None:
        self.saving = False
        self.save_button.setEnabled(True)
        self.message.setStyleSheet("color: #b00020")
        if isinstance(exc, ValidationError):
            self.form.show_errors(exc.errors)
            self.message.setText("Not saved: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        else:
            self.message.setText(f"Not saved: {exc}")
