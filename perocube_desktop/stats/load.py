"""The database part of a report: which pixels, their connected periods, and their series
(1-minute rollups read with binary COPY straight into numpy). No figures are computed here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..config import ReportSettings
from ..db import queries
from .series import MOVE_WINDOW_S, PixelSeries, Segment

log = logging.getLogger(__name__)
_HEADER = 19  # PGCOPY signature, flags, header extension length
_TRAILER = 2


@dataclass
class Period:
    board: int
    channel: int
    t0: float
    t1: float
    temp_id: str | None
    irr_id: str | None
    mppt_mode: str | None
    mppt_polarity: str | None
    move_in: bool = False
    load_to: float = 0.0  # the old channel of a same-instant move is read for the whole logged day


@dataclass
class Loaded:
    """What the report needs from the database besides the numerics' input."""

    series: list[PixelSeries]
    periods: dict[tuple[str, str], list[Period]] = field(default_factory=dict)
    devices: dict[str, dict] = field(default_factory=dict)
    sensors: dict[str, dict] = field(default_factory=dict)


def select_pixels(conn, sel) -> list[tuple[str, str]]:
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


def copy_floats(conn, query: str, args: tuple, columns: int) -> np.ndarray:
    """Run a ``COPY (...) TO STDOUT (FORMAT BINARY)`` of ``columns`` non-null float8 columns into an
    (n, columns) array without a Python object per value."""
    with conn.cursor() as cur, cur.copy(query, args) as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    body = memoryview(data)[_HEADER:len(data) - _TRAILER]
    fields = [("count", ">i2")]
    for k in range(columns):
        fields += [(f"len{k}", ">i4"), (f"v{k}", ">f8")]
    dtype = np.dtype(fields)
    if len(body) % dtype.itemsize:
        raise ValueError(f"unexpected binary COPY layout ({len(body)} bytes, rows of {dtype.itemsize})")
    rows = np.frombuffer(body, dtype=dtype)
    return np.stack([rows[f"v{k}"].astype(np.float64) for k in range(columns)], axis=1) if rows.size else \
        np.empty((0, columns))


def aligned(t: np.ndarray, series: np.ndarray) -> np.ndarray:
    """Values of a (time, value) array at the times ``t`` (same minute buckets), NaN where missing."""
    out = np.full(t.shape, np.nan)
    if series.shape[0] == 0 or t.size == 0:
        return out
    ts = series[:, 0]
    idx = np.clip(np.searchsorted(ts, t), 0, ts.size - 1)
    hit = np.abs(ts[idx] - t) < 1.0
    out[hit] = series[idx[hit], 1]
    return out


def _sensor_ids(conn, settings: ReportSettings, board: int, temp: str | None, irr: str | None,
                notes: list[str]) -> tuple[str | None, str | None]:
    q = queries.named("report")
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
                note = (f"board {board}: no irradiance sensor in the connection event or the config; "
                        f"used the sensor on channel {board}")
                if note not in notes:
                    notes.append(note)
    if temp is None:
        name = settings.default_temperature_sensor.get(board)
        if name:
            row = conn.execute(q["temperature_sensor_by_name"], (name,)).fetchone()
            temp = row[0] if row else None
    return temp, irr


def _periods(conn, device: str, pixel: str, settings: ReportSettings, notes: list[str]) -> list[Period]:
    rows = conn.execute(queries.get("report", "pixel_periods"), (device, pixel)).fetchall()
    out = []
    for b, c, t0, t1, temp_id, irr_id, mode, polarity in rows:
        temp_id, irr_id = _sensor_ids(conn, settings, b, temp_id, irr_id, notes)
        out.append(Period(b, c, t0, t1, temp_id, irr_id, mode, polarity, load_to=t1))
    for prev, cur in zip(out, out[1:]):
        if cur.t0 == prev.t1 and (cur.board, cur.channel) != (prev.board, prev.channel):
            cur.move_in = True  # logged as one instant (a date): find the moment in the data
            prev.load_to = min(prev.t1 + MOVE_WINDOW_S, cur.t1)
    return out


def load(conn, pixels: list[tuple[str, str]], sel, settings: ReportSettings) -> Loaded:
    """Every selected pixel's segments (mpp + aligned sensors) and the registry facts around them."""
    q = queries.named("report")
    lo = sel.start.timestamp() if sel.start else -np.inf
    hi = sel.end.timestamp() if sel.end else np.inf
    out = Loaded([])
    for device, pixel in pixels:
        info = conn.execute(q["pixel_info"], (device, pixel)).fetchone()
        ps = PixelSeries(device, pixel, info[0] if info else None, [], settings.light_threshold_wm2,
                         None if sel.start is None else lo, None if sel.end is None else hi)
        out.periods[(device, pixel)] = _periods(conn, device, pixel, settings, ps.notes)
        out.series.append(ps)
    sensor_cache = _load_sensors(conn, out.periods.values(), lo, hi)
    for ps in out.series:
        for per in out.periods[(ps.device, ps.pixel)]:
            a, z = max(per.t0, lo), min(per.load_to, hi)
            if z <= a:
                continue
            m = copy_floats(conn, q["mpp_series"], (per.board, per.channel, a, z), 7)
            t = m[:, 0]
            g = aligned(t, sensor_cache.get(per.irr_id or "", np.empty((0, 2))))
            temp = aligned(t, sensor_cache.get(per.temp_id or "", np.empty((0, 2))))
            ps.segments.append(Segment(per.board, per.channel, per.t0, per.t1, t, m[:, 1], m[:, 2], m[:, 3], m[:, 4],
                                       m[:, 5], m[:, 6], g, temp, move_in=per.move_in))
    _registry(conn, out)
    return out


def _load_sensors(conn, all_periods, lo: float, hi: float) -> dict[str, np.ndarray]:
    """Each sensor once, over the union of the periods that use it."""
    q = queries.named("report")
    ranges: dict[tuple[str, str], list[float]] = {}
    for periods in all_periods:
        for per in periods:
            a, z = max(per.t0, lo), min(per.load_to, hi)
            if z <= a:
                continue
            for kind, sid in (("irradiance", per.irr_id), ("temperature", per.temp_id)):
                if sid:
                    r = ranges.setdefault((kind, sid), [a, z])
                    r[0], r[1] = min(r[0], a), max(r[1], z)
    return {sid: copy_floats(conn, q[f"{kind}_series"], (sid, a, z), 2) for (kind, sid), (a, z) in ranges.items()}


def _registry(conn, out: Loaded) -> None:
    q = queries.named("report")
    names = sorted({ps.device for ps in out.series})
    cols = ("name", "technology", "form_factor", "encapsulation", "date_produced", "date_encapsulated", "area",
            "initial_pce", "experiment", "owner", "producer")
    for row in conn.execute(q["device_info"], (names,)):
        out.devices[row[0]] = dict(zip(cols, row))
    irr = sorted({p.irr_id for ps in out.periods.values() for p in ps if p.irr_id})
    temp = sorted({p.temp_id for ps in out.periods.values() for p in ps if p.temp_id})
    for kind, sid, label, location, angle in conn.execute(q["sensor_info"], (irr, temp)):
        out.sensors[sid] = {"kind": kind, "label": label, "location": location, "angle": angle}
