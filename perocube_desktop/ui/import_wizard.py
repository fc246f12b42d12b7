"""Import wizard: folder -> background scan with preview -> options -> import with progress and
Cancel -> summary (exportable as CSV). All work is the Qt-free engine in ``importer``."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget, QWizard, QWizardPage)

from ..config import Settings
from ..importer import engine
from ..importer.history import PastImports, past_imports
from ..importer.scan import ImportFolderError, check_folder, no_lab_files, scan
from . import worker

ZONES = ["UTC", "Europe/Berlin", "Europe/Zurich", "Europe/London", "Europe/Madrid", "Europe/Rome", "America/New_York",
         "Asia/Shanghai"]


MAX_COLUMN_PX = 240  # a long problem text or sensor name is shortened (in full in its tooltip); the file keeps room


def _table(headers: list[str], stretch: int | None = None) -> QTableWidget:
    """``stretch``: the column (a file path) that takes the room the others leave, shortened in the
    middle; the others are as wide as their header and every value, so none is cut."""
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().hide()
    t.setSortingEnabled(True)
    h = t.horizontalHeader()
    if stretch is None:
        h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        h.setStretchLastSection(True)
    else:
        h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
        h.setResizeContentsPrecision(-1)  # every row, not only the visible ones
        h.setMaximumSectionSize(MAX_COLUMN_PX)
        t.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        t.setWordWrap(False)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    return t


def _fill(table: QTableWidget, rows: list[tuple]) -> None:
    table.setSortingEnabled(False)
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            item = QTableWidgetItem()
            item.setData(Qt.ItemDataRole.DisplayRole, v if isinstance(v, (int, float)) else str(v))
            if isinstance(v, str) and len(v) > 24:
                item.setToolTip(v)  # the whole text where the column shortens it
            table.setItem(i, j, item)
    table.setSortingEnabled(True)
    if table.horizontalHeader().sectionResizeMode(0) == QHeaderView.ResizeMode.Interactive:
        table.resizeColumnsToContents()


class FolderPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Choose the lab folder")
        self.setSubTitle("The folder that holds the data* folders (and the logbook workbook).")
        self.path = QLineEdit()
        self.path.textChanged.connect(self.completeChanged)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.problem = QLabel("")  # why the text is not a folder to import (importer.scan.check_folder)
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020")
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.problem)
        lay.addStretch(1)
        self.registerField("folder*", self.path)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Lab folder")
        if d:
            self.path.setText(d)

    def isComplete(self) -> bool:
        try:
            check_folder(self.path.text())  # empty or relative text is never a folder (Path("") is the cwd)
        except ImportFolderError as exc:
            self.problem.setText(str(exc) if self.path.text().strip() else "")
            return False
        self.problem.setText("")
        return True


class ScanPage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Preview")
        self.setSubTitle("What is in the folder and what an import would add.")
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.kind = QComboBox()
        self.kind.addItems(["all kinds", "mpp", "temperature", "irradiance", "logbook", "skipped"])
        self.kind.currentTextChanged.connect(self._filter)
        self.only_new = QCheckBox("only files with new rows or problems")
        self.only_new.toggled.connect(self._filter)
        self.table = _table(["File", "Kind", "Board/channel or sensor", "Lines", "First", "Last", "Status",
                             "New rows", "Problems"], stretch=0)
        top = QHBoxLayout()
        top.addWidget(self.kind)
        top.addWidget(self.only_new)
        top.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        self.rows: list[engine.PreviewRow] = []
        self.done = False

    def initializePage(self) -> None:
        self.done = False
        self.rows = []
        self.table.setRowCount(0)
        folder = check_folder(self.field("folder"))
        self.status.setText("Scanning…")
        self.progress.setRange(0, 0)

        def job(progress, cancel):
            result = scan(folder)
            if no_lab_files(result) is not None:  # only skipped files: no database needed to list them
                return result, engine.preview(None, result)
            return result, engine.preview(self.wiz.conninfo, result, progress, cancel)

        self.job = worker.start(job, on_done=self._done, on_error=self._failed, on_progress=self._progress)

    def _progress(self, p: engine.Progress) -> None:
        self.progress.setRange(0, max(p.bytes_total, 1))
        self.progress.setValue(p.bytes_done)
        self.status.setText(f"Reading {p.files_done}/{p.files_total} files")

    def _done(self, result) -> None:
        self.wiz.scan_result, self.rows = scanned, _rows = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        if (problem := no_lab_files(scanned)) is not None:  # nothing to import: say so, no Next
            self.status.setText(problem)
            self.status.setStyleSheet("color: #b00020")
            self._filter()
            return
        self.status.setStyleSheet("")
        files = [r for r in self.rows if r.status != "skipped"]
        self.status.setText(f"{len(files)} files, {sum(r.new_rows for r in files):,} new rows expected, "
                            f"{len(self.rows) - len(files)} skipped")
        self.done = True
        self._filter()
        self.completeChanged.emit()

    def _failed(self, text: str) -> None:
        self.status.setText(f"Scan failed: {text}")
        self.progress.setRange(0, 1)

    def _filter(self) -> None:
        kind = self.kind.currentText()
        rows = [r for r in self.rows if (kind == "all kinds" or r.kind == kind)
                and (not self.only_new.isChecked() or r.new_rows or r.problems)]
        _fill(self.table, [(r.file, r.kind, r.target, r.lines, r.first, r.last, r.status, r.new_rows, r.problems)
                           for r in rows])

    def isComplete(self) -> bool:
        return self.done


class OptionsPage(QWizardPage):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.setTitle("Options")
        self.tz = QComboBox()
        self.tz.setEditable(True)
        self.tz.addItems(ZONES)
        self.tz.setCurrentText(settings.receiver.source_timezone)
        self.logbook = QCheckBox("import the logbook (devices, pixels, channels, sensors, connection events)", checked=True)  # type: ignore[call-overload]  # PySide6 sets Qt properties from keyword arguments; its stubs list none
        self.dry_run = QCheckBox("dry run: count everything, write nothing")
        form = QFormLayout(self)
        form.addRow("Time zone of timestamps without one", self.tz)
        form.addRow("", self.logbook)
        form.addRow("", self.dry_run)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020")
        form.addRow("", self.error)

    def validatePage(self) -> bool:
        from ..config import ConfigError, check_timezone

        try:
            check_timezone(self.tz.currentText(), "time zone")
        except ConfigError as exc:
            self.error.setText(str(exc))
            return False
        return True


class RunPage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Importing")
        self.bar = QProgressBar()
        self.line = QLabel("")
        self.cancel_button = QPushButton("Cancel import")
        self.cancel_button.clicked.connect(self.cancel)
        lay = QVBoxLayout(self)
        lay.addWidget(self.bar)
        lay.addWidget(self.line)
        lay.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addStretch(1)
        self.finished = False
        self.job: worker.Worker | None = None

    def initializePage(self) -> None:
        self.finished = False
        opts = self.wiz.options_page
        options = engine.ImportOptions(timezone=opts.tz.currentText(), dry_run=opts.dry_run.isChecked(),
                                       include_logbook=opts.logbook.isChecked())
        self.t0 = time.perf_counter()
        self.bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.job = worker.start(engine.run_import, self.wiz.conninfo, check_folder(self.field("folder")), options,
                                scanned=self.wiz.scan_result, on_done=self._done, on_error=self._failed,
                                on_progress=self._progress)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self.line.setText(self.line.text() + " — cancelling after the current chunk…")

    def _progress(self, p: engine.Progress) -> None:
        frac = p.bytes_done / p.bytes_total if p.bytes_total else 1
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(frac * 1000))
        elapsed = time.perf_counter() - self.t0
        rate = p.rows_done / elapsed if elapsed > 0 else 0
        left = elapsed * (1 - frac) / frac if frac > 0 else 0
        self.line.setText(f"files {p.files_done}/{p.files_total} · rows {p.rows_done:,} · {rate:,.0f} rows/s · "
                          f"about {left:,.0f} s left · {p.current}")

    def _done(self, summary: engine.ImportSummary) -> None:
        self.wiz.summary = summary
        self.finished = True
        self.cancel_button.setEnabled(False)
        self.bar.setValue(1000 if not summary.cancelled else self.bar.value())
        self.line.setText("Cancelled: run the import again to continue where it stopped." if summary.cancelled
                          else f"Done in {summary.seconds:.1f} s.")
        self.completeChanged.emit()
        self.wiz.next()

    def _failed(self, text: str) -> None:
        self.line.setText(f"Import failed: {text}")
        self.cancel_button.setEnabled(False)

    def isComplete(self) -> bool:
        return self.finished


class SummaryPage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Summary")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.table = _table(["File", "Line", "Reason"])
        export = QPushButton("Export as CSV…")
        export.clicked.connect(self.export_csv)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(self.table, 1)
        lay.addWidget(export, 0, Qt.AlignmentFlag.AlignLeft)

    def initializePage(self) -> None:
        s = self.wiz.summary
        if s is None:
            return
        inserted = ", ".join(f"{k} {v:,}" for k, v in s.inserted.items())
        duplicates = ", ".join(f"{k} {v:,}" for k, v in s.duplicates.items())
        self.text.setText(
            f"<b>{'Dry run — nothing written. ' if s.dry_run else ''}{'Cancelled. ' if s.cancelled else ''}</b>"
            f"Inserted: {inserted}.<br>Duplicates skipped: {duplicates}.<br>Bad lines (refused, listed below): {s.bad_lines:,}; "
            f"blank lines: {s.blank_lines:,}. "
            f"Files: {s.files['imported']} imported, {s.files['unchanged']} unchanged, {s.files['skipped']} skipped.<br>"
            f"Logbook: {s.logbook_text()}.")
        rows = [(p.file, p.line or "", p.reason) for p in s.problems]
        rows += [(k["file"], "", f"skipped: {k['reason']}") for k in s.skipped_files]
        _fill(self.table, rows)

    def export_csv(self, path: str | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export summary", "import-summary.csv", "CSV (*.csv)")
        if path and self.wiz.summary is not None:
            engine.summary_csv(self.wiz.summary, Path(path))


class ImportWizard(QWizard):
    def __init__(self, settings: Settings, conninfo: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import historical data")
        self.conninfo = conninfo
        self.scan_result = None
        self.summary: engine.ImportSummary | None = None
        self.folder_page = FolderPage()
        self.scan_page = ScanPage(self)
        self.options_page = OptionsPage(settings)
        self.run_page = RunPage(self)
        self.summary_page = SummaryPage(self)
        for p in (self.folder_page, self.scan_page, self.options_page, self.run_page, self.summary_page):
            self.addPage(p)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.resize(1100, 700)


class ImportPage(QWidget):
    """The Import entry in the main window: starts the wizard, shows the last summary and the
    files imported before (read in the background when the page is shown)."""

    history_loaded = Signal()
    error = Signal(str)

    def __init__(self, settings: Settings, conninfo: str, pool=None, parent=None) -> None:
        super().__init__(parent)
        self.settings, self.conninfo, self.pool = settings, conninfo, pool
        lay = QVBoxLayout(self)
        title = QLabel("<h2>Import historical data</h2><p>Reads LabVIEW data folders (MPP, temperature, irradiance "
                       "files) and the Excel logbook. Files already imported are skipped, grown files add only their "
                       "new rows, and every line not imported is listed with file, line and reason.</p>"
                       "<p>The same engine runs on the command line: <code>perocube-desktop import DIR --json</code>.</p>")
        title.setWordWrap(True)
        start = QPushButton("Start the import wizard…")
        start.clicked.connect(self.open_wizard)
        self.last = QLabel("")
        self.last.setWordWrap(True)
        self.past_title = QLabel("<b>Imported before</b>")
        self.past_summary = QLabel("")
        self.past_summary.setWordWrap(True)
        self.past = _table(["Imported", "File", "Kind", "Lines", "Rows inserted", "Duplicates", "Bad lines"], stretch=1)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.reload)
        head = QHBoxLayout()
        head.addWidget(self.past_title)
        head.addWidget(self.past_summary, 1)
        head.addWidget(refresh)
        lay.addWidget(title)
        lay.addWidget(start, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.last)
        lay.addSpacing(8)
        lay.addLayout(head)
        lay.addWidget(self.past, 1)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.reload()

    def reload(self) -> None:
        if self.pool is None:
            return
        self.past_summary.setText("Loading…")
        worker.start(past_imports, self.pool, on_done=self._past, on_error=self._past_failed)

    def _past_failed(self, text: str) -> None:
        self.past_summary.setText(f"Cannot read the import history: {text}")
        self.error.emit(f"import history: {text}")

    def _past(self, h: PastImports) -> None:
        if not h.files:
            self.past_summary.setText("Nothing imported yet: start the wizard and choose the lab folder.")
        else:
            shown = f" (the newest {len(h.recent)} below)" if len(h.recent) < h.files else ""
            self.past_summary.setText(f"{h.files:,} files, {h.rows:,} rows, {h.bad_lines:,} bad lines; "
                                      f"last import {h.last:%Y-%m-%d %H:%M}{shown}.")
        _fill(self.past, [(f"{r.imported_at.astimezone():%Y-%m-%d %H:%M}", r.path, r.kind, r.lines, r.rows_inserted,
                           r.duplicates, r.bad_lines) for r in h.recent])
        self.past.setColumnWidth(1, max(300, self.past.width() // 2))
        self.history_loaded.emit()

    def open_wizard(self) -> ImportWizard:
        wiz = ImportWizard(self.settings, self.conninfo, self)
        wiz.finished.connect(lambda _r: (self._show(wiz.summary), self.reload()))  # type: ignore[func-returns-value]  # both calls in one slot, in order
        wiz.show()
        return wiz

    def _show(self, s: engine.ImportSummary | None) -> None:
        if s is not None:
            self.last.setText(f"Last import: {sum(s.inserted.values()):,} rows inserted, "
                              f"{sum(s.duplicates.values()):,} duplicates skipped, {s.bad_lines:,} bad lines.")
