"""Stability reports: load each pixel's data (``load``: 1-minute rollups inside its connected
periods), compute its figures of merit (``analysis.analyse``: pure numpy), check the ISOS
reporting items (``checklist``), and export JSON, CSV, XLSX or PDF (``export``). No Qt."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import psycopg

from ..config import ReportSettings
from ..units import duration_hours as smoothing_hours
from . import isos
from .analysis import PixelResult, analyse_runs
from .load import Period, load, select_pixels
from .runs import RunChoice
from ..db import session as db_session

__all__ = ["Selection", "Report", "PixelResult", "build", "export", "to_json", "smoothing_hours", "select_pixels"]

SOURCE = "1-minute rollups (mean power, voltage, current, irradiance, temperature per minute)"


@dataclass
class Selection:
    device: str | None = None
    pixel: str | None = None
    board: int | None = None
    all: bool = False
    start: datetime | None = None
    end: datetime | None = None
    experiment: str | None = None
    project: str | None = None
    run: RunChoice = "latest"  # which ageing run of each pixel (stats.runs): "latest", "all" or a number

    def describe(self) -> str:
        if self.device:
            return f"device {self.device}" + (f" pixel {self.pixel}" if self.pixel else "")
        if self.board is not None:
            return f"board {self.board}"
        if self.experiment:
            return f"experiment {self.experiment}"
        if self.project:
            return f"project {self.project}"
        return "all pixels"


@dataclass
class Report:
    selection: Selection
    settings: dict
    pixels: list[PixelResult]
    created: str
    timings: dict[str, float] = field(default_factory=dict)
    devices: dict[str, dict] = field(default_factory=dict)
    sensors: dict[str, dict] = field(default_factory=dict)
    periods: dict[tuple[str, str], list[Period]] = field(default_factory=dict)
    checklist: list[dict] = field(default_factory=list)
    protocol: dict = field(default_factory=dict)

    def method(self) -> dict:
        return {**self.settings, "data": SOURCE, "definitions": isos.METHOD}


def natural_key(text: str) -> list:
    """'P2' before 'P10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def build(conninfo: str, sel: Selection, settings: ReportSettings,
          progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None,
          conn: psycopg.Connection | None = None) -> Report:
    """Load every selected pixel's series, analyse each, and check the ISOS items (on ``conn``
    when given: the read API's read-only session)."""
    from .checklist import fill_checklist

    timings: dict[str, float] = {}
    t = time.perf_counter()
    if conn is not None:
        loaded = load(conn, select_pixels(conn, sel), sel, settings)
    else:
        with db_session.connect(conninfo, connect_timeout=10, application_name="perocube-report") as own:
            loaded = load(own, select_pixels(own, sel), sel, settings)
    timings["load"] = time.perf_counter() - t
    t = time.perf_counter()
    width = smoothing_hours(settings.smoothing)
    results = []
    for i, series in enumerate(loaded.series):
        if cancel is not None and cancel.is_set():
            break
        results.extend(analyse_runs(series, width, sel.run))
        if progress:
            progress(i + 1, len(loaded.series))
    timings["analysis"] = time.perf_counter() - t
    results.sort(key=lambda r: (r.device, natural_key(r.pixel), r.run or 0))
    report = Report(sel, asdict(settings), results, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    timings, loaded.devices, loaded.sensors, loaded.periods)
    fill_checklist(report)
    return report


def to_json(report: Report) -> dict:
    from .export import to_json as _to_json

    return _to_json(report)


def export(report: Report, path):
    from .export import export as _export

    return _export(report, path)
