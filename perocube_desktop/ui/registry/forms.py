"""Entity forms generated from the declarations in ``registry.schema``, and the edit dialog.

Reference pickers are filled from options fetched in the background (``fetch_options``);
saving runs in the background too, so the GUI thread never waits on the database.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QGridLayout, QLabel, QLineEdit, QVBoxLayout,
                               QWidget)

from ...registry.repository import ConflictError, RegistryRepository, ValidationError
from ...registry.schema import Entity
from .. import worker

log = logging.getLogger(__name__)

Options = dict[str, list[tuple[Any, str]]]  # ref entity name -> (key, display text)


def text(v) -> str:
    return "" if v is None else str(v)


def ref_names(entity: Entity) -> list[str]:
    return sorted({f.ref for f in entity.fields if f.type == "ref" and f.ref and not f.auto_uuid})


def fetch_options(repo: RegistryRepository, names: list[str]) -> Options:
    """Runs in a worker: the choices of every reference picker named."""
    return {name: repo.options(name) for name in names}


class EntityForm(QWidget):
    """Fields of one entity with an error label next to each."""

    def __init__(self, entity: Entity, row: dict | None = None, defaults: dict | None = None,
                 options: Options | None = None, parent=None) -> None:
        super().__init__(parent)
        self.entity = entity
        self.edits: dict[str, QComboBox | QLineEdit] = {}  # a choice for references, text otherwise
        self.errors: dict[str, QLabel] = {}
        self._values = row or defaults or {}
        grid = QGridLayout(self)
        r = 0
        for f in entity.fields:
            if f.auto_uuid:
                continue
            label = QLabel(f.label + (" *" if f.required else ""))
            w: QComboBox | QLineEdit
            if f.type == "ref":
                w = QComboBox()
                w.addItem("", None)
            else:
                w = QLineEdit(text(self._values.get(f.name)))
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
        if options is not None:
            self.set_options(options)

    def set_options(self, options: Options) -> None:
        """Fill the reference pickers, keeping what is chosen (or the initial value)."""
        for f in self.entity.fields:
            w = self.edits.get(f.name)
            if not isinstance(w, QComboBox) or f.ref not in options:
                continue
            current = w.currentData() if w.count() > 1 else self._values.get(f.name)
            w.blockSignals(True)
            w.clear()
            w.addItem("", None)
            for key, label in options[f.ref]:
                w.addItem(label, key)
            w.setCurrentIndex(max(w.findData(current), 0))
            w.blockSignals(False)

    def values(self) -> dict:
        out = {}
        for name, w in self.edits.items():
            out[name] = w.currentData() if isinstance(w, QComboBox) else w.text()
        return out

    def show_errors(self, errors: dict[str, str]) -> None:
        for name, label in self.errors.items():
            label.setText(errors.get(name, ""))


class EntityDialog(QDialog):
    def __init__(self, entity: Entity, repo: RegistryRepository, row: dict | None, options: Options | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(("Edit " if row else "New ") + entity.title.lower().rstrip("s"))
        self.entity, self.repo, self.row = entity, repo, row
        self.form = EntityForm(entity, row, options=options)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00020")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.form)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self.saved: dict | None = None
        self.saving = False
        if options is None and ref_names(entity):
            worker.start(fetch_options, repo, ref_names(entity), on_done=self.form.set_options,
                         on_error=self._options_failed)

    def _options_failed(self, error: str) -> None:
        self.message.setText(f"Cannot read the choices: {error}")

    def save(self) -> None:
        if self.saving:
            return
        values = self.form.values()
        if self.row:
            values = {**{k: self.row[k] for k in self.entity.key_fields}, **values}
            for f in self.entity.fields:
                if f.auto_uuid:
                    values[f.name] = self.row[f.name]
        self.saving = True
        self.buttons.setEnabled(False)
        self.message.setStyleSheet("color: #555")
        self.message.setText("Saving…")
        worker.start(self.repo.save, self.entity.name, values, self.row, on_done=self._saved,
                     on_exception=self._save_failed, expected=(ValidationError, ConflictError))

    def _saved(self, row: dict) -> None:
        self.saving = False
        self.buttons.setEnabled(True)
        self.saved = row
        self.accept()

    def _save_failed(self, exc: Exception) -> None:
        self.saving = False
        self.buttons.setEnabled(True)
        self.message.setStyleSheet("color: #b00020")
        if isinstance(exc, ValidationError):
            self.form.show_errors(exc.errors)
            self.message.setText("Please correct the marked fields.")
        elif isinstance(exc, ConflictError):
            self.message.setText(str(exc))
        else:  # database errors: the form stays filled in
            self.message.setText(f"Not saved: {exc}")
