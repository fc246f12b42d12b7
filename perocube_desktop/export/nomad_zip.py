"""The NOMAD upload zip: the report (``stats.report.build``) turned into archive entries
(``nomad_archives``), the raw samples streamed from PostgreSQL with COPY, the report PDF and JSON,
and a README. Written to ``<out>.part`` and renamed at the end: a failed or cancelled export leaves
no zip behind. No Qt."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import ReportSettings, UserError
from ..db import queries
from ..db import session as db_session
from ..stats.checklist import cycle_lengths
from ..stats.load import Period, sensor_series
from ..stats.report import Report, Selection, build, export
from . import nomad_archives as na
from .nomad_readme import readme

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class ExportCancelled(Exception):
    """The user cancelled: nothing was written."""


@dataclass
class ExportResult:
    path: Path
    entries: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    devices: int = 0
    pixels: int = 0
    seconds: float = 0.0


class _Steps:
    """One progress bar over the phases: analysis (pixels), pixels, boards, report files."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None, pixels: int) -> None:
        self.progress, self.cancel = progress, cancel
        self.total = 2 * pixels + 2
        self.done = 0

    def set_total(self, total: int) -> None:
        self.total = max(total, self.done + 1)

    def analysis(self, i: int, _n: int) -> None:
        self._emit(i)

    def step(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ExportCancelled("export cancelled")
        self.done += 1
        self._emit(self.done)

    def _emit(self, done: int) -> None:
        if self.progress:
            self.progress(min(done, self.total), self.total)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def _bounds(sel: Selection) -> tuple[float, float]:
    lo = sel.start.timestamp() if sel.start else -np.inf
    hi = min(sel.end.timestamp() if sel.end else np.inf, time.time())
    return lo, hi


def pixel_intervals(periods: list[Period], moves, lo: float, hi: float) -> list[tuple[int, int, float, float]]:
    """(board, channel, from, to) of a pixel's samples, as the report assembled them: a move logged as
    one instant ends on the old channel at the removal and starts on the new one at the installation
    that the report found in the data."""
    by_target = {(m.target, m.logged_at): m for m in moves}
    out = []
    for k, per in enumerate(periods):
        a, z = per.t0, per.t1
        mv = by_target.get(((per.board, per.channel), per.t0)) if per.move_in else None
        if mv is not None and mv.installed_at is not None:
            a = mv.installed_at
        nxt = periods[k + 1] if k + 1 < len(periods) else None
        if nxt is not None and nxt.move_in:
            out_mv = by_target.get(((nxt.board, nxt.channel), nxt.t0))
            if out_mv is not None and out_mv.removed_at is not None:
                z = out_mv.removed_at
        a, z = max(a, lo), min(z, hi)
        if z > a:
            out.append((per.board, per.channel, a, z))
    return out


def _copy_csv(conn, name: str, runs: list[tuple], fh) -> None:
    """Stream the COPY output of ``nomad.<name>`` for each parameter tuple; the header only once."""
    for i, params in enumerate(runs):
        with conn.cursor().copy(queries.get("nomad", name), (*params, i == 0)) as copy:
            for chunk in copy:
                fh.write(chunk)


class _Writer:
    def __init__(self, zf: zipfile.ZipFile, result: ExportResult) -> None:
        self.zf, self.result = zf, result

    def entry(self, name: str, archive: dict) -> None:
        self.zf.writestr(name, json.dumps(archive, ensure_ascii=False, separators=(",", ":")))
        self.result.entries.append(name)

    def text(self, name: str, text: str) -> None:
        self.zf.writestr(name, text)
        self.result.files.append(name)

    def csv(self, conn, name: str, query: str, runs: list[tuple]) -> None:
        if not runs:
            return
        info = zipfile.ZipInfo(name, datetime.now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info._compresslevel = self.zf.compresslevel  # type: ignore[attr-defined]  # as ZipFile.open(name) sets it
        with self.zf.open(info, "w", force_zip64=True) as fh:
            _copy_csv(conn, query, runs, fh)
        self.result.files.append(name)


def _conditions(report: Report, raw_link: str) -> dict:
    """The stability conditions of the report's checklist, in the perovskite database's vocabulary."""
    lit_h, dark_h = cycle_lengths(report)
    bias = next((c["value"] for c in report.checklist if c["item"] == "bias"), "")
    return {"protocol": report.protocol.get("protocol"),
            "light_load": "Cycled" if dark_h else "Constant",
            "cycling": f"{np.median(dark_h):.3g}; {np.median(lit_h):.3g}" if dark_h and lit_h else None,
            "bias": "MPPT" if "maximum power point" in bias else None,
            "raw_link": raw_link}


def _description(report: Report, what: str) -> str:
    return (f"{what}. Exported by Perocube Desktop {__version__} from the PeroCube ageing lab database "
            f"({report.selection.describe()}); figures of merit from the stability report of {report.created} "
            "(README.md of this upload has the method).")


def _device(conn, w: _Writer, report: Report, device: str, lo: float, hi: float, steps: _Steps) -> None:
    pixels = [p for p in report.pixels if p.device == device]
    safe = na.safe_name(device)
    initial = []
    for p in pixels:
        row = conn.execute(queries.get("report", "pixel_info"), (device, p.pixel)).fetchone()
        initial.append(row[1] if row else None)
        px = na.safe_name(p.pixel) + (f"_run{p.run}" if p.runs > 1 and p.run else "")
        entry = na.mpp_entry(p, _description(report, f"MPP tracking of {device} pixel {p.pixel}, channels "
                                             + ", ".join(f"board {b} channel {c}" for b, c in p.channels)))
        if entry is not None:
            w.entry(f"{safe}/{safe}_{px}_mpp_tracking.archive.json", entry)
        elif p.has_data:
            w.result.left_out.append(f"{device} pixel {p.pixel}: no MPP entry (fewer than {na.MIN_MPP_POINTS} lit "
                                     "minutes with power, or no active area): its samples are in the CSV")
        else:
            w.result.left_out.append(f"{device} pixel {p.pixel}: no data in the selection")
        if p.has_data:
            a0, z0 = p.run_spans[p.run - 1] if p.run and p.run_spans else (lo, hi)  # the ageing run reported
            runs = [(b, c, _dt(a), _dt(z)) for b, c, a, z in
                    pixel_intervals(report.periods.get((device, p.pixel), []), p.moves, max(lo, a0), min(hi, z0))]
            w.csv(conn, f"raw/{safe}/{safe}_{px}_mpp_samples.csv", "mpp_raw_csv", runs)
        steps.step()
    info = report.devices.get(device, {})
    if not any(p.has_data for p in pixels):
        w.result.left_out.append(f"{device}: no solar-cell entry (no pixel has data in the selection)")
        return
    if not info.get("structure"):
        w.result.left_out.append(f"{device}: the registry has no layer stack; NOMAD's normalizer needs "
                                 "cell.stack_sequence: add it in NOMAD (or in the registry and export again)")
    w.entry(f"{safe}/{safe}_solar_cell.archive.json",
            na.solar_cell_entry(device, info, pixels, initial, _conditions(report, f"raw/{safe}/")))
    w.result.devices += 1


def _board(conn, w: _Writer, report: Report, board: int, lo: float, hi: float) -> None:
    periods = [per for plist in report.periods.values() for per in plist if per.board == board]
    a = max(min(per.t0 for per in periods), lo)
    z = min(max(per.t1 for per in periods), hi)
    if z <= a:
        return
    temps = Counter(per.temp_id for per in periods if per.temp_id)
    irrs = sorted({per.irr_id for per in periods if per.irr_id})
    w.csv(conn, f"raw/board_{board}_temperature_samples.csv", "temperature_raw_csv",
          [(sid, _dt(a), _dt(z)) for sid in sorted(temps)])
    w.csv(conn, f"raw/board_{board}_irradiance_samples.csv", "irradiance_raw_csv",
          [(sid, _dt(a), _dt(z)) for sid in irrs])
    if not temps:
        w.result.left_out.append(f"board {board}: no environment entry (no temperature sensor in the connection "
                                 "events or report.default_temperature_sensor)")
        return
    sid = temps.most_common(1)[0][0]
    t, v = sensor_series(conn, "temperature", [(sid, a, z)])[0][:2]
    label = report.sensors.get(sid, {}).get("label")
    note = (f"Temperature of board {board} (sensor {label or sid}), 1-minute means; the irradiance of the board is in "
            f"raw/board_{board}_irradiance_samples.csv (this schema has no irradiance quantity)")
    entry = na.environment_entry(board, t, v, label, _description(report, note))
    if entry is None:
        w.result.left_out.append(f"board {board}: no temperature data in the selection: no environment entry")
        return
    w.entry(f"boards/board_{board}_environment.archive.json", entry)
    if len(temps) > 1:
        w.result.left_out.append(f"board {board}: the environment entry has sensor {label or sid}; the other "
                                 "temperature sensors' samples are in the CSV only")


def _report_files(w: _Writer, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="perocube-nomad-") as tmp:
        for name in ("report.pdf", "report.json"):
            path = export(report, Path(tmp) / name)
            w.zf.write(path, f"report/{name}")
            w.result.files.append(f"report/{name}")


def export_nomad(conninfo: str, sel: Selection, settings: ReportSettings, out: Path,
                 progress: Progress | None = None, cancel: threading.Event | None = None,
                 report: Report | None = None) -> ExportResult:
    """Write the NOMAD upload zip for the selection (``report``: an already built one of that selection)."""
    t0 = time.perf_counter()
    out = Path(out)
    steps = _Steps(progress, cancel, 0)
    if report is None:
        report = build(conninfo, sel, settings, progress=steps.analysis, cancel=cancel)
    if cancel is not None and cancel.is_set():
        raise ExportCancelled("export cancelled")
    if not report.pixels:
        raise UserError(f"no pixel matches the selection ({sel.describe()}): check the name on the registry "
                        f"page; {out} was not written")
    devices = sorted({p.device for p in report.pixels})
    boards = sorted({per.board for plist in report.periods.values() for per in plist})
    steps.done = len(report.pixels)
    steps.set_total(2 * len(report.pixels) + len(boards) + 1)
    result = ExportResult(out, pixels=len(report.pixels))
    lo, hi = _bounds(sel)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        # deflate level 1: 4x less CPU than the default 6 on the raw CSVs (150 vs 36 MB/s), 13 % larger
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=1) as zf, \
                db_session.connect(conninfo, connect_timeout=10, application_name="perocube-nomad") as conn:
            w = _Writer(zf, result)
            for device in devices:
                _device(conn, w, report, device, lo, hi, steps)
            for board in boards:
                _board(conn, w, report, board, lo, hi)
                steps.step()
            _report_files(w, report)
            w.text("README.md", readme(report, __version__, result.entries, result.left_out))
            steps.step()
        part.replace(out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    result.seconds = time.perf_counter() - t0
    log.info("NOMAD upload %s: %d entries, %d devices, %.1f s", out, len(result.entries), result.devices, result.seconds)
    return result
