"""The Reports page's "Export for NOMAD…": where to write the zip, whether to upload it, and the
progress of the job (``export.nomad_job.export_and_upload`` in the worker). A thin widget."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QVBoxLayout)

from ..config import ReportSettings, UserError
from ..export.nomad_job import NomadJobResult, export_and_upload
from ..export.nomad_upload import TOKEN_ENV, UploadError
from ..export.nomad_zip import ExportCancelled
from ..stats.report import Selection
from . import worker

DOCS_HINT = ("The zip holds an MPP-tracking entry per pixel, an environment entry per board and a "
             "perovskite-database entry per device, with the report's figures, the raw samples and the report "
             "(docs/nomad.md). Uploading processes it in NOMAD; it is never published from here.")


class NomadExportDialog(QDialog):
    finished_job = Signal(object)  # NomadJobResult, or None after an error or a cancel

    last_url = ""  # kept for the session: the next export offers the same server

    def __init__(self, conninfo: str, selection: Selection, settings: ReportSettings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export for NOMAD")
        self.conninfo, self.selection, self.settings = conninfo, selection, settings
        self.job: worker.Worker | None = None
        name = (selection.device or selection.experiment or selection.project or "perocube").replace(" ", "_")
        self.out = QLineEdit(str(Path.home() / f"{name}-nomad.zip"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.upload = QCheckBox("Upload to NOMAD and process it (not published)")
        self.url = QLineEdit(NomadExportDialog.last_url)
        self.url.setPlaceholderText("https://nomad-lab.eu/prod/v1/test/api/v1")
        self.url.setEnabled(False)
        self.upload.toggled.connect(self.url.setEnabled)
        token_note = QLabel(f"Token: {TOKEN_ENV} or the OS keyring (perocube-desktop config set-nomad-token)")
        token_note.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel(f"Selection: {selection.describe()}")
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(600)
        self.start_button = QPushButton("Export")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self._layout(browse, token_note)

    def _layout(self, browse: QPushButton, token_note: QLabel) -> None:
        where = QHBoxLayout()
        where.addWidget(self.out, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("Zip file", where)
        form.addRow("", self.upload)
        form.addRow("NOMAD API", self.url)
        form.addRow("", token_note)
        hint = QLabel(DOCS_HINT)
        hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.addWidget(hint)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.resize(640, 0)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "NOMAD upload zip", self.out.text(), "*.zip")
        if path:
            self.out.setText(path if path.lower().endswith(".zip") else path + ".zip")

    def start(self) -> None:
        out = Path(os.path.expanduser(self.out.text().strip()))
        if out.suffix.lower() != ".zip":
            self.status.setText("The file must end in .zip.")
            return
        url = self.url.text().strip() if self.upload.isChecked() else None
        if self.upload.isChecked() and not url:
            self.status.setText("Enter the NOMAD API URL (…/api/v1), or untick the upload.")
            return
        if url:
            NomadExportDialog.last_url = url
        self.start_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.status.setText("Computing the report…")
        self.job = worker.start(export_and_upload, self.conninfo, self.selection, self.settings, out, url,
                                on_done=self._done, on_exception=self._failed, on_progress=self._progress,
                                expected=(UploadError, UserError, ExportCancelled))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def _progress(self, value) -> None:
        done, total, text = value
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(int(done))
        self.status.setText(text)

    def _done(self, result: NomadJobResult) -> None:
        self.job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        ex = result.export
        text = f"Wrote {ex.path}: {len(ex.entries)} entries for {ex.devices} devices ({ex.pixels} pixels)."
        if ex.left_out:
            text += f" Left out: {len(ex.left_out)} (README.md in the zip says what and why)."
        if result.upload is not None:
            up = result.upload
            text += f"\nUploaded and processed, not published: {up.url} ({up.entries} entries)"
            if up.failed:
                text += f"\n{len(up.failed)} entries failed to process: " + "; ".join(up.failed[:3])
        self.status.setText(text)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._finish(result)

    def _failed(self, exc: BaseException) -> None:
        self.job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        known = isinstance(exc, (UploadError, UserError, ExportCancelled))
        self.status.setText(str(exc) if known else f"Export failed: {type(exc).__name__}: {exc}")
        self._finish(None)

    def _finish(self, result) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setText("Close")
        self.cancel_button.clicked.disconnect()
        self.cancel_button.clicked.connect(self.accept)
        self.adjustSize()  # the result takes several lines
        self.finished_job.emit(result)
