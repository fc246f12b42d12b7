"""Reports page: choose pixels and period, compute in the background, preview plots and the
metrics table, export PDF, CSV, XLSX or JSON. The analysis is ``stats.report``."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDateTimeEdit, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QProgressBar, QPushButton, QSpinBox, QSplitter, QStackedWidget, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt, Signal

from ..config import Settings
from ..db import queries
from ..stats.report import Report, Selection, build, export
from ..stats.runs import time_groups
from . import worker
from .elided_label import ElidedLabel
from .nomad_dialog import NomadExportDialog

log = logging.getLogger(__name__)

COLUMNS = ["device", "pixel", "board", "channel", "samples", "coverage_pct", "energy_mWh", "pce_initial_pct",
           "pce_final_pct", "T95_h", "T80_h", "Ts_h", "TS80_h", "eta1000_pct", "projected_T80_h", "projected_T80_lo_h",
           "projected_T80_hi_h", "cycles_complete", "cycles_partial", "lit_zero_minutes"]


def _cell(px, key: str, v) -> str:
    if v is not None:
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    if key in ("device", "pixel"):
        return ""
    if not px.has_data:
        return "no data"
    if key == "T80_h" and px.smooth_pce is not None and px.smooth_pce.size >= 3:
        return "not reached"
    if key == "projected_T80_h" and px.projection_note.startswith("not projected"):
        return "refused"
    return "—"


def with_breaks(t: np.ndarray, v: np.ndarray, max_gap_s: float = 180.0) -> tuple[np.ndarray, np.ndarray]:
    """NaN after every gap longer than ``max_gap_s`` so that lines do not bridge missing data."""
    if t.size < 2:
        return t, v
    idx = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    return np.insert(t.astype(float), idx, t[idx - 1] + 1), np.insert(v.astype(float), idx, np.nan)


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")


INTRO = ("<h3>No report computed yet</h3>"
         "<p>1. Choose the pixels above: a device (and one pixel or all of them), a board, an experiment, "
         "a project or all pixels.<br>2. Keep <i>each pixel's whole connected time</i>, or untick it and give a "
         "period.<br>3. Press <b>Compute</b>. It runs in the background; the progress bar counts the pixels.</p>"
         "<p>The report shows each pixel's normalised PCE, power, temperature and irradiance, and the ISOS "
         "figures of merit (T95, T80, Ts, TS80, energy, coverage) in the table below the plots. "
         "<b>Export</b> writes the same as PDF, CSV, XLSX or JSON; <b>Export for NOMAD…</b> writes the "
         "chosen devices as a NOMAD upload and can send it to the institute's Oasis.</p>")


def fetch_choices(pool) -> tuple[list, list[str], list[str]]:
    """Runs in a worker: (device, pixel) rows, experiment names, project names."""
    with pool.connection() as conn:
        return (conn.execute(queries.get("report", "pixels")).fetchall(),
                [r[0] for r in conn.execute(queries.get("report", "experiment_names"))],
                [r[0] for r in conn.execute(queries.get("report", "project_names"))])


class ReportsPage(QWidget):
    report_ready = Signal(object)
    choices_loaded = Signal()

    def __init__(self, settings: Settings, pool, conninfo: str, parent=None) -> None:
        super().__init__(parent)
        self.settings, self.pool, self.conninfo = settings, pool, conninfo
        self.report: Report | None = None
        self._groups: list[list] = []  # the report's pixels by period (stats.runs.time_groups)
        self._pixel_rows: list = []
        self._experiments: list[str] = []
        self._projects: list[str] = []
        rows = self._build_choice_row(), self._build_progress_row()
        self._build_results()
        lay = QVBoxLayout(self)
        for row in rows:
            lay.addLayout(row)
        lay.addWidget(self.results, 1)
        self.reload_choices()

    def _build_choice_row(self) -> QHBoxLayout:
        """Which pixels (device, board, experiment, project or all) over which period; Compute."""
        self.mode = QComboBox()
        self.mode.addItems(["Device", "Board", "Experiment", "Project", "All pixels"])
        self.mode.currentIndexChanged.connect(self._mode)
        self.device = QComboBox()
        self.device.currentIndexChanged.connect(self._pixels)
        self.pixel = QComboBox()
        self.board = QSpinBox(minimum=0, maximum=999, value=1)
        self.group = QComboBox()  # experiment or project name
        self.whole = QCheckBox("each pixel's whole connected time", checked=True)  # type: ignore[call-overload]  # PySide6 sets Qt properties from keyword arguments; its stubs list none
        self.start = QDateTimeEdit(QDateTime.currentDateTime().addDays(-30))
        self.end = QDateTimeEdit(QDateTime.currentDateTime())
        for w in (self.start, self.end):
            w.setDisplayFormat("yyyy-MM-dd HH:mm")
            w.setCalendarPopup(True)
            w.setEnabled(False)
        self.whole.toggled.connect(self._whole_toggled)
        self.runs = QComboBox()  # stats.runs: a gap longer than the data before it starts a new ageing run
        self.runs.addItem("latest run", "latest")
        self.runs.addItem("every run", "all")
        self.runs.setToolTip("A gap longer than the data before it (a reused channel, an old import next to new "
                             "data) splits a pixel's data into ageing runs; figures never span such a gap.")
        self.compute = QPushButton("Compute")
        self.compute.clicked.connect(self.run)
        row1 = QHBoxLayout()
        for widget in (QLabel("Pixels"), self.mode, self.device, self.pixel, self.board, self.group, self.whole,
                       QLabel("from"), self.start, QLabel("to"), self.end, self.compute):
            row1.addWidget(widget)
        row1.addStretch(1)
        return row1

    def _build_progress_row(self) -> QHBoxLayout:
        """The progress of a computation, its status, and the export buttons."""
        self.progress = QProgressBar()
        self.status = ElidedLabel("")  # a long status gives way; the buttons beside it stay whole
        # data years apart (ageing runs, stats.runs): the plots show one period at a time, never the gap
        self.period = QComboBox()
        self.period.setToolTip("The pixels' data lie in periods far apart: the plots show one of them")
        self.period.setVisible(False)
        self.period.currentIndexChanged.connect(self._period_changed)
        row2 = QHBoxLayout()
        row2.addWidget(self.runs)
        row2.addWidget(self.progress, 1)
        row2.addWidget(self.status, 2)
        row2.addWidget(self.period)
        for ext in ("PDF", "CSV", "XLSX", "JSON"):
            b = QPushButton(f"Export {ext}…")
            b.clicked.connect(lambda _=False, e=ext.lower(): self.export_as(e))
            row2.addWidget(b)
        self.nomad_button = QPushButton("Export for NOMAD…")
        self.nomad_button.setToolTip("A NOMAD upload of the chosen pixels' devices (MPP tracking, environment and "
                                     "perovskite-database entries, raw samples, the report), optionally uploaded")
        self.nomad_button.clicked.connect(self.export_nomad)
        row2.addWidget(self.nomad_button)
        return row2

    def _build_results(self) -> None:
        """The four plots over the metrics table, behind an introduction until the first report."""
        self.plots = pg.GraphicsLayoutWidget()
        self.pce_plot = self.plots.addPlot(row=0, col=0, title="Normalised PCE (hourly median while lit)")
        self.pce_plot.setLabel("bottom", "time since start", units="h")
        self.pce_plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.pce_plot.addLine(y=0.8, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
        self.power_plot = self.plots.addPlot(row=0, col=1, title="Power (mW)", axisItems={"bottom": pg.DateAxisItem()})
        self.temp_plot = self.plots.addPlot(row=1, col=0, title="Temperature (°C)", axisItems={"bottom": pg.DateAxisItem()})
        self.irr_plot = self.plots.addPlot(row=1, col=1, title="Irradiance (W/m²)", axisItems={"bottom": pg.DateAxisItem()})
        for p in (self.power_plot, self.temp_plot, self.irr_plot):
            p.setDownsampling(auto=True, mode="peak")
            p.setClipToView(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plots)
        split.addWidget(self.table)
        split.setSizes([500, 250])
        # before the first computation: what to do, instead of empty axes with meaningless ticks
        self.intro = QLabel(INTRO)
        self.intro.setWordWrap(True)
        self.intro.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.intro.setContentsMargins(24, 24, 24, 24)
        self.intro.setMaximumWidth(900)
        self.results = QStackedWidget()
        self.results.addWidget(self.intro)
        self.results.addWidget(split)

    def reload_choices(self) -> None:
        """The device, experiment and project lists, read in the background."""
        worker.start(fetch_choices, self.pool, on_done=self._choices, on_error=self._choices_failed)

    def _choices_failed(self, text: str) -> None:  # shown; the page stays usable
        self.status.setText(f"Cannot read the pixel list: {text}")
        self._choices(([], [], []))

    def _choices(self, result) -> None:
        self._pixel_rows, self._experiments, self._projects = result
        self._mode()
        current = self.device.currentText()
        self.device.blockSignals(True)
        self.device.clear()
        for d in sorted({r[0] for r in self._pixel_rows}):
            self.device.addItem(d)
        if current:
            self.device.setCurrentText(current)
        self.device.blockSignals(False)
        self._pixels()
        self.choices_loaded.emit()

    def _pixels(self) -> None:
        self.pixel.clear()
        self.pixel.addItem("all pixels", None)
        for d, p in self._pixel_rows:
            if d == self.device.currentText():
                self.pixel.addItem(p, p)

    def _mode(self) -> None:
        m = self.mode.currentIndex()
        self.device.setVisible(m == 0)
        self.pixel.setVisible(m == 0)
        self.board.setVisible(m == 1)
        self.group.setVisible(m in (2, 3))
        if m in (2, 3):
            current = self.group.currentText()
            self.group.clear()
            self.group.addItems(getattr(self, "_experiments" if m == 2 else "_projects", []))
            self.group.setCurrentText(current)

    def selection(self) -> Selection:
        sel = self._pixel_selection()
        sel.run = self.runs.currentData()
        return sel

    def _pixel_selection(self) -> Selection:
        m = self.mode.currentIndex()
        start = end = None
        if not self.whole.isChecked():
            start = self.start.dateTime().toPython().astimezone(timezone.utc)  # type: ignore[attr-defined]  # toPython() gives a datetime; PySide6's stubs say object
            end = self.end.dateTime().toPython().astimezone(timezone.utc)  # type: ignore[attr-defined]  # toPython() gives a datetime; PySide6's stubs say object
        if m == 0:
            return Selection(device=self.device.currentText() or None, pixel=self.pixel.currentData(), start=start, end=end)
        if m == 1:
            return Selection(board=self.board.value(), start=start, end=end)
        if m == 2:
            return Selection(experiment=self.group.currentText(), start=start, end=end)
        if m == 3:
            return Selection(project=self.group.currentText(), start=start, end=end)
        return Selection(all=True, start=start, end=end)

    def run(self) -> None:
        sel = self.selection()
        if self.mode.currentIndex() == 0 and not sel.device:
            self.status.setText("No device with connection events yet.")
            return
        self.compute.setEnabled(False)
        self.status.setText("Computing…")
        self.progress.setRange(0, 0)
        self.job = worker.start(build, self.conninfo, sel, self.settings.report, on_done=self._done,
                                on_error=self._failed, on_progress=self._progress)

    def _progress(self, value: tuple[int, int]) -> None:
        done, total = value
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"{done}/{total} pixels")

    def _done(self, report: Report) -> None:
        self.report = report
        self.compute.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.status.setText(f"{len(report.pixels)} pixels")
        self.results.setCurrentIndex(1)
        self.show_report(report)
        self.report_ready.emit(report)

    def _failed(self, text: str) -> None:
        self.compute.setEnabled(True)
        self.progress.setRange(0, 1)
        self.status.setText(f"Report failed: {text}")

    def _whole_toggled(self, on: bool) -> None:
        self.start.setEnabled(not on)
        self.end.setEnabled(not on)

    def _period_changed(self, _index: int) -> None:
        if self.report is not None:
            self._plot(self.report)

    def show_report(self, report: Report) -> None:
        self._groups = time_groups(report.pixels)
        self.period.blockSignals(True)
        self.period.clear()
        for group in self._groups:
            t0, t1 = min(p.start for p in group), max(p.end for p in group)
            self.period.addItem(f"plots: {_day(t0)} – {_day(t1)} ({len(group)} of {len(report.pixels)})")
        self.period.setCurrentIndex(len(self._groups) - 1)  # the latest data first
        self.period.setVisible(len(self._groups) > 1)
        self.period.blockSignals(False)
        self._plot(report)
        self._table(report)

    def _plot(self, report: Report) -> None:
        for p in (self.pce_plot, self.power_plot, self.temp_plot, self.irr_plot):
            for item in list(p.listDataItems()):
                p.removeItem(item)
        boards = set()
        shown = {id(p) for p in self._groups[self.period.currentIndex()]} if self._groups else set()
        for i, px in enumerate(report.pixels):
            if id(px) not in shown:
                continue
            pen = pg.mkPen(pg.intColor(i, hues=max(len(report.pixels), 8)), width=1.3)
            name = f"{px.device}/{px.label}"
            if px.smooth_pce is not None and px.smooth_t_h is not None and px.smooth_pce.size and px.pce_initial_pct:
                # hours, not seconds: break the line where smoothed points are more than 2.5 windows apart (nights)
                t_h, v = with_breaks(px.smooth_t_h * 3600, px.smooth_pce / px.pce_initial_pct, 2.5 * 3600)
                self.pce_plot.plot(t_h / 3600, v, pen=pen, name=name, connect="finite")
            if px.t is not None and px.power is not None:
                self.power_plot.plot(*with_breaks(px.t, px.power), pen=pen, connect="finite")
                if px.board not in boards and px.temperature is not None and px.irradiance is not None:
                    boards.add(px.board)
                    self.temp_plot.plot(*with_breaks(px.t, px.temperature), pen=pen, connect="finite")
                    self.irr_plot.plot(*with_breaks(px.t, px.irradiance), pen=pen, connect="finite")
        for p in (self.pce_plot, self.power_plot, self.temp_plot, self.irr_plot):
            p.enableAutoRange()

    def _table(self, report: Report) -> None:
        self.table.setRowCount(len(report.pixels))
        for i, px in enumerate(report.pixels):
            m = px.metrics()
            for j, k in enumerate(COLUMNS):
                item = QTableWidgetItem(px.label if k == "pixel" else _cell(px, k, m[k]))
                if k == "projected_T80_h" and px.projection_note:
                    item.setToolTip(px.projection_note)
                self.table.setItem(i, j, item)
        notes = [n for px in report.pixels for n in px.notes if "moved" in n or "lit but no power" in n]
        self.status.setText(f"{len(report.pixels)} pixels · {report.protocol.get('protocol', '')}"
                            + (f" · {len(notes)} data-quality notes (see the PDF)" if notes else ""))

    def export_nomad(self) -> NomadExportDialog | None:
        """The NOMAD export dialog for the chosen selection (it runs the export in a worker)."""
        sel = self.selection()
        if sel.board is not None or sel.all or (self.mode.currentIndex() == 0 and not sel.device):
            self.status.setText("NOMAD exports devices: choose a device, an experiment or a project.")
            return None
        sel.pixel = None  # a NOMAD upload describes whole devices
        dialog = NomadExportDialog(self.conninfo, sel, self.settings.report, self)
        dialog.show()
        return dialog

    def export_as(self, ext: str, path: str | None = None) -> None:
        if self.report is None:
            self.status.setText("Compute a report first.")
            return
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export report", f"perocube-report.{ext}", f"*.{ext}")
        if not path:
            return
        self.status.setText(f"Writing {path}…")
        worker.start(export, self.report, Path(path), on_done=lambda p: self.status.setText(f"Saved {p}"),
                     on_error=lambda e: self.status.setText(f"Export failed: {e}"))
