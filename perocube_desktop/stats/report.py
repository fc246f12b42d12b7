"""Stability reports: gather each pixel's data (1-minute rollups inside its connected periods),
compute the figures of merit (``isos``), and export JSON, CSV, XLSX or PDF. No Qt."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from ..config import ReportSettings
from ..db import queries
from ..units import duration_hours as smoothing_hours
from . import isos

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


@dataclass
class PixelResult:
    device: str
    pixel: str
    board: int | None
    channel: int | None
    start: float | None
    end: float | None
    samples: int = 0
    coverage_pct: float | None = None
    energy_mWh: float | None = None
    mean_power_mW: float | None = None
    max_power_mW: float | None = None
    pce_initial_pct: float | None = None
    pce_final_pct: float | None = None
    T95_h: float | None = None
    T80_h: float | None = None
    Ts_h: float | None = None
    Es_pct: float | None = None
    TS80_h: float | None = None
    eta1000_pct: float | None = None
    projected_T80_h: float | None = None
    cycle_T80_h: float | None = None
    irradiance_dose_kWh_m2: float | None = None
    temperature_lit_mean_C: float | None = None
    area_cm2: float | None = None
    notes: list[str] = field(default_factory=list)
    daily_energy: dict[str, float] = field(default_factory=dict)
    cycles: list[dict] = field(default_factory=list)
    gaps: list[tuple[str, str]] = field(default_factory=list)
    # series for plots (not exported to JSON)
    t: np.ndarray | None = None
    power: np.ndarray | None = None
    irradiance: np.ndarray | None = None
    temperature: np.ndarray | None = None
    smooth_t_h: np.ndarray | None = None
    smooth_pce: np.ndarray | None = None

    def metrics(self) -> dict:
        keys = ("device", "pixel", "board", "channel", "samples", "coverage_pct", "energy_mWh", "mean_power_mW",
                "max_power_mW", "pce_initial_pct", "pce_final_pct", "T95_h", "T80_h", "Ts_h", "Es_pct", "TS80_h",
                "eta1000_pct", "projected_T80_h", "cycle_T80_h", "irradiance_dose_kWh_m2", "temperature_lit_mean_C",
                "area_cm2")
        out = {k: _round(getattr(self, k)) for k in keys}
        out["from"] = _iso(self.start)
        out["to"] = _iso(self.end)
        return out


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def _round(v):
    if isinstance(v, float):
        return None if not np.isfinite(v) else round(v, 6)
    return v


@dataclass
class Report:
    selection: Selection
    settings: dict
    pixels: list[PixelResult]
    channel_stats: list[dict]
    sensor_stats: list[dict]
    created: str
    timings: dict[str, float] = field(default_factory=dict)

    def method(self) -> dict:
        return {**self.settings, "data": SOURCE, "definitions": isos.METHOD}


def select_pixels(conn, sel: Selection) -> list[tuple[str, str]]:
    q = queries.named("report")
    if sel.device:
        rows = [r for r in conn.execute(q["pixels"]).fetchall() if r[0] == sel.device]
        if sel.pixel:
            rows = [r for r in rows if r[1] == sel.pixel]
        return rows
    if sel.board is not None:
        return conn.execute(q["pixels_on_board"], (sel.board,)).fetchall()
    if sel.experiment:
        return conn.execute(q["pixels_in_experiment"], (sel.experiment,)).fetchall()
    if sel.project:
        return conn.execute(q["pixels_in_project"], (sel.project,)).fetchall()
    return conn.execute(q["pixels"]).fetchall()


def _series(conn, name: str, *args, cache: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A time series query as arrays; sensor series are shared by many pixels, hence the cache."""
    key = (name, *args)
    if cache is not None and key in cache:
        return cache[key]
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(queries.get("report", name), args).fetchall()
    if cache is not None:
        cache[key] = _arrays(rows)
        return cache[key]
    return _arrays(rows)


def _arrays(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        return np.empty(0), np.empty((0, 1))
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1:]


def _sensor_ids(conn, settings: ReportSettings, board: int, temp: str | None, irr: str | None) -> tuple[str | None, str | None, list[str]]:
    q = queries.named("report")
    notes = []
    if irr is None:
        name = settings.default_irradiance_sensor.get(board)
        if name and "/" in name:
            ident, ch = name.rsplit("/", 1)
            row = conn.execute(q["irradiance_sensor_by_name"], (ident, int(ch))).fetchone()
            irr = row[0] if row else None
        if irr is None:
            row = conn.execute(q["irradiance_sensor_for_board"], (board,)).fetchone()
            if row:
                irr = row[0]
                notes.append(f"board {board}: no irradiance sensor in the connection event or the config; "
                             f"used the sensor on channel {board}")
    if temp is None:
        name = settings.default_temperature_sensor.get(board)
        if name:
            row = conn.execute(q["temperature_sensor_by_name"], (name,)).fetchone()
            temp = row[0] if row else None
    return temp, irr, notes


def _aligned(t: np.ndarray, ts: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """Values of (ts, vs) at the times t (same minute buckets), NaN where missing."""
    out = np.full(t.shape, np.nan)
    if ts.size == 0 or t.size == 0:
        return out
    idx = np.searchsorted(ts, t)
    idx = np.clip(idx, 0, ts.size - 1)
    hit = np.abs(ts[idx] - t) < 1.0
    out[hit] = vs[idx[hit], 0]
    return out


def analyse_pixel(conn, device: str, pixel: str, sel: Selection, settings: ReportSettings,
                  cache: dict | None = None) -> PixelResult:
    q = queries.named("report")
    info = conn.execute(q["pixel_info"], (device, pixel)).fetchone()
    area = info[0] if info else None
    periods = conn.execute(q["pixel_periods"], (device, pixel)).fetchall()
    lo = sel.start.timestamp() if sel.start else -np.inf
    hi = sel.end.timestamp() if sel.end else np.inf
    res = PixelResult(device, pixel, None, None, None, None, area_cm2=area)
    ts, ps, gs, temps = [], [], [], []
    for b, c, t0, t1, temp_id, irr_id in periods:
        a, z = max(t0, lo), min(t1, hi)
        if z <= a:
            continue
        temp_id, irr_id, notes = _sensor_ids(conn, settings, b, temp_id, irr_id)
        res.notes += [n for n in notes if n not in res.notes]
        res.board, res.channel = b, c
        t, v = _series(conn, "mpp_series", b, c, a, z)
        if t.size == 0:
            continue
        ts.append(t)
        ps.append(v[:, 0])
        if irr_id:
            gt, gv = _series(conn, "irradiance_series", irr_id, a, z, cache=cache)
            gs.append(_aligned(t, gt, gv))
        else:
            gs.append(np.full(t.shape, np.nan))
        if temp_id:
            tt, tv = _series(conn, "temperature_series", temp_id, a, z, cache=cache)
            temps.append(_aligned(t, tt, tv))
        else:
            temps.append(np.full(t.shape, np.nan))
        res.start = a if res.start is None else min(res.start, a)
        res.end = z if res.end is None else max(res.end, z)
    if not ts:
        res.notes.append("no data in the period")
        return res
    t = np.concatenate(ts)
    p = np.concatenate(ps)
    g = np.concatenate(gs)
    temp = np.concatenate(temps)
    start = res.start if np.isfinite(res.start) else float(t[0])
    end = min(res.end, float(t[-1]) + 60) if res.end is not None else float(t[-1])
    res.start, res.end = start, end
    res.t, res.power, res.irradiance, res.temperature = t, p, g, temp
    res.samples = int(t.size)
    res.coverage_pct = 100 * isos.coverage(t, start, end, 180)
    res.energy_mWh = isos.energy_mwh(t, p, 180)
    res.mean_power_mW = float(np.nanmean(p))
    res.max_power_mW = float(np.nanmax(p))
    res.gaps = [(_iso(a), _iso(b)) for a, b in isos.gaps(t, 180)][:200]
    day_no = np.floor(t / 86400).astype(np.int64)  # UTC days
    for d in np.unique(day_no):
        m = day_no == d
        day = datetime.fromtimestamp(int(d) * 86400, timezone.utc).date().isoformat()
        res.daily_energy[day] = round(isos.energy_mwh(t[m], p[m], 180), 6)
    lit = np.isfinite(g) & (g > settings.light_threshold_wm2)
    if np.isfinite(g).any():
        res.irradiance_dose_kWh_m2 = isos.energy_mwh(t, np.where(np.isfinite(g), g, np.nan), 180) / 1000
        if lit.any() and np.isfinite(temp[lit]).any():
            res.temperature_lit_mean_C = float(np.nanmean(temp[lit]))
    else:
        res.notes.append("no irradiance data: PCE and its figures of merit cannot be computed")
    if not area:
        res.notes.append("no active area for the pixel or the device: PCE cannot be computed")
    pce = isos.pce_pct(p, g, area, settings.light_threshold_wm2)
    # ageing time counts from the first sample (the logbook's installation time may be a date only)
    t_h = (t - t[0]) / 3600
    st, sv = isos.hourly_median(t_h, pce, width_h=smoothing_hours(settings.smoothing))
    res.smooth_t_h, res.smooth_pce = st, sv
    if sv.size >= 3:
        res.T95_h, ref = isos.crossing(st, sv, 0.95)
        res.T80_h, ref = isos.crossing(st, sv, 0.80)
        m, c = np.polyfit(st[:3], sv[:3], 1)
        res.pce_initial_pct = float(c) if st[0] > 0 else float(sv[0])
        res.pce_final_pct = float(sv[-1])
        if st[-1] >= 1000:
            at = isos.interp_at(st, sv, 1000.0)
            res.eta1000_pct = 100 * at / ref if at is not None and ref else None
        bi = isos.burn_in(st, sv)
        if bi is not None:
            res.Ts_h, res.Es_pct = bi.ts_h, bi.es_pct
            after = st >= bi.ts_h
            res.TS80_h, _ = isos.crossing(st[after] - bi.ts_h, sv[after], 0.8, t_start=None, reference=bi.es_pct)
            if res.T80_h is None and bi.slope_pct_per_h < 0 and ref:
                res.projected_T80_h = (0.8 * ref - bi.intercept_pct) / bi.slope_pct_per_h
    elif sv.size:
        res.pce_initial_pct, res.pce_final_pct = float(sv[0]), float(sv[-1])
        res.notes.append("less than 3 hours of light: no figures of merit")
    runs = isos.light_cycles(t, g, settings.light_threshold_wm2)
    cycles = isos.cycle_stats(t, p, pce, runs)
    res.cycles = [{"start": _iso(cy.start_s), "end": _iso(cy.end_s), "energy_mWh": round(cy.energy_mwh, 6),
                   "mean_pce_pct": None if cy.mean_pce_pct is None else round(cy.mean_pce_pct, 4)} for cy in cycles]
    res.cycle_T80_h = isos.cycle_t80(cycles, float(t[0]))
    return res


def build(conninfo: str, sel: Selection, settings: ReportSettings,
          progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None) -> Report:
    timings: dict[str, float] = {}
    with psycopg.connect(conninfo, connect_timeout=10, application_name="perocube-report") as conn:
        pixels = select_pixels(conn, sel)
        results = []
        cache: dict = {}
        timings["pixels"] = time.perf_counter()
        for i, (device, pixel) in enumerate(pixels):
            if cancel is not None and cancel.is_set():
                break
            results.append(analyse_pixel(conn, device, pixel, sel, settings, cache))
            if progress:
                progress(i + 1, len(pixels))
        timings["pixels"] = time.perf_counter() - timings["pixels"]
        t_stats = time.perf_counter()
        chans = sorted({(r.board, r.channel) for r in results if r.board is not None})
        t0 = min((r.start for r in results if r.start), default=0.0)
        t1 = max((r.end for r in results if r.end), default=0.0)
        q = queries.named("report")
        channel_stats = []
        if chans:
            for row in conn.execute(q["channel_stats"], ([b for b, _ in chans], [c for _, c in chans], t0, t1)):
                b, c, n, *vals = row
                d = {"series": f"board {b} channel {c}", "count": n}
                for j, name in enumerate(("power_mW", "voltage_V", "current_mA")):
                    for k, stat in enumerate(("min", "max", "mean", "std")):
                        d[f"{name}_{stat}"] = _round(None if vals[4 * j + k] is None else float(vals[4 * j + k]))
                channel_stats.append(d)
        sensor_stats = []
        irr_ids = [r[0] for r in conn.execute("SELECT irradiance_sensor_id::text FROM irradiance_sensor")]
        temp_ids = [r[0] for r in conn.execute("SELECT temperature_sensor_id::text FROM temperature_sensor")]
        for name, ids, unit in (("irradiance_stats", irr_ids, "W/m²"), ("temperature_stats", temp_ids, "°C")):
            for label, n, mn, mx, mean, sd in conn.execute(q[name], (ids, t0, t1)):
                sensor_stats.append({"series": f"{label} ({unit})", "count": n, "min": _round(mn), "max": _round(mx),
                                     "mean": _round(float(mean)), "std": _round(None if sd is None else float(sd))})
        timings["statistics"] = time.perf_counter() - t_stats
    return Report(sel, asdict(settings), results, channel_stats, sensor_stats,
                  datetime.now(timezone.utc).isoformat(timespec="seconds"), timings)


# exports ------------------------------------------------------------------------

def to_json(report: Report) -> list[dict]:
    method = report.method()
    return [{**p.metrics(), "daily_energy_mWh": p.daily_energy, "cycles": p.cycles, "notes": p.notes,
             "gaps": p.gaps, "method": method} for p in report.pixels]


def export(report: Report, path: Path) -> Path:
    path = Path(path)
    ext = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".json":
        path.write_text(json.dumps(to_json(report), indent=1), encoding="utf-8")
    elif ext == ".csv":
        pd.DataFrame([p.metrics() for p in report.pixels]).to_csv(path, index=False)
    elif ext == ".xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            pd.DataFrame([p.metrics() for p in report.pixels]).to_excel(xw, sheet_name="metrics", index=False)
            pd.DataFrame([{"device": p.device, "pixel": p.pixel, "day": d, "energy_mWh": e}
                          for p in report.pixels for d, e in p.daily_energy.items()]).to_excel(xw, sheet_name="daily energy", index=False)
            pd.DataFrame([{"device": p.device, "pixel": p.pixel, **c} for p in report.pixels
                          for c in p.cycles]).to_excel(xw, sheet_name="light cycles", index=False)
            pd.DataFrame(report.channel_stats + report.sensor_stats).to_excel(xw, sheet_name="series statistics", index=False)
            pd.DataFrame([{"item": k, "value": json.dumps(v) if isinstance(v, dict) else v}
                          for k, v in report.method().items()]).to_excel(xw, sheet_name="method", index=False)
    elif ext == ".pdf":
        from .pdf import write_pdf

        write_pdf(report, path)
    else:
        raise ValueError(f"unknown report format {ext!r}: use .pdf, .csv, .xlsx or .json")
    return path
