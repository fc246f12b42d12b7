"""The database part of a report: which pixels, their connected periods, and their series
(1-minute rollups read in one pass as raw big-endian columns, straight into numpy). No figures are computed here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from psycopg.rows import dict_row

from ..config import ReportSettings
from ..db import queries
from .series import MOVE_WINDOW_S, PixelSeries, Segment

log = logging.getLogger(__name__)


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


def _timestamps(values: list[float]) -> list[datetime]:
    return [datetime.fromtimestamp(v, timezone.utc) for v in values]


def fetch_series(conn, query: str, args: tuple, requests: int) -> list[list[np.ndarray]]:
    """Run a series query whose columns are byteas of big-endian values (``string_agg(int4send(k))``
    for the 1-based request index k, then ``string_agg(float8send(...))``, the time first); returns
    the float columns of each request, sorted by time."""
    with conn.cursor(binary=True) as cur:
        row = cur.execute(query, args).fetchone()
    if not row or not row[0]:
        return [[np.empty(0) for _ in range(max(len(row or ()) - 1, 2))] for _ in range(requests)]
    k = np.frombuffer(row[0], dtype=">i4").astype(np.int32)
    cols = [np.frombuffer(x, dtype=">f8").astype(np.float64) for x in row[1:]]
    if any(c.size != k.size for c in cols):
        raise ValueError("series columns of different lengths: the query must send NULL as NaN")
    order = np.argsort(k, kind="stable")  # radix sort on integers; rows keep their physical (time-like) order
    bounds = np.searchsorted(k[order], np.arange(1, requests + 2))
    out = []
    for i in range(requests):
        idx = order[bounds[i]:bounds[i + 1]]
        t = cols[0][idx]
        if t.size > 1 and not (np.diff(t) > 0).all():
            idx = idx[np.argsort(t, kind="stable")]
        out.append([c[idx] for c in cols])
    return out


def aligned(t: np.ndarray, series: list[np.ndarray] | None) -> np.ndarray:
    """Values of a (time, value) series at the times ``t`` (same minute buckets), NaN where missing."""
    out = np.full(t.shape, np.nan)
    if series is None or series[0].size == 0 or t.size == 0:
        return out
    ts, vs = series[0], series[1]
    idx = np.clip(np.searchsorted(ts, t), 0, ts.size - 1)
    hit = np.abs(ts[idx] - t) < 1.0
    out[hit] = vs[idx[hit]]
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
    pending = {k for (k,) in conn.execute(q["pending_kinds"])}
    sensor_cache = _load_sensors(conn, out.periods.values(), lo, hi, pending)
    wanted = [(ps, per, max(per.t0, lo), min(per.load_to, hi)) for ps in out.series
              for per in out.periods[(ps.device, ps.pixel)]]
    wanted = [w for w in wanted if w[3] > w[2]]
    arrays = fetch_series(conn, _series("mpp", pending), ([w[1].board for w in wanted], [w[1].channel for w in wanted],
                                                  _timestamps([w[2] for w in wanted]),
                                                  _timestamps([w[3] for w in wanted]),
                                                  *_timestamps([min((w[2] for w in wanted), default=0.0),
                                                                max((w[3] for w in wanted), default=0.0)])),
                          len(wanted))
    for (ps, per, _a, _z), m in zip(wanted, arrays):
        t = m[0]
        irradiance = aligned(t, sensor_cache.get(per.irr_id or ""))
        temp = aligned(t, sensor_cache.get(per.temp_id or ""))
        n, power, power_min, power_max, voltage, current = m[1:7]
        ps.segments.append(Segment(per.board, per.channel, per.t0, per.t1, t, n, power, power_min, power_max, voltage,
                                   current, irradiance, temp, move_in=per.move_in))
    _registry(conn, out)
    return out


def _series(kind: str, pending: set[str]) -> str:
    """The rollup query for a kind: straight from the 1-minute rollup, or, while the rollups have not
    caught up on rows of that kind (written by any client since the last refresh), through the
    raw-fallback functions of migration 0008."""
    return queries.get("report", f"{kind}_series_fallback" if kind in pending else f"{kind}_series")


def _load_sensors(conn, all_periods, lo: float, hi: float, pending: set[str]) -> dict[str, list[np.ndarray]]:
    """Each sensor once, over the union of the periods that use it."""
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
    out: dict[str, list[np.ndarray]] = {}
    for kind in ("irradiance", "temperature"):
        items = [(sid, a, z) for (k, sid), (a, z) in ranges.items() if k == kind]
        if items:
            arrays = _sensor_arrays(conn, kind, items, pending)
            out.update({sid: arr for (sid, _a, _z), arr in zip(items, arrays)})
    return out


def _sensor_arrays(conn, kind: str, items: list[tuple[str, float, float]], pending: set[str]) -> list[list[np.ndarray]]:
    return fetch_series(conn, _series(kind, pending), ([i[0] for i in items], _timestamps([i[1] for i in items]),
                                                      _timestamps([i[2] for i in items])), len(items))


def sensor_series(conn, kind: str, items: list[tuple[str, float, float]]) -> list[list[np.ndarray]]:
    """1-minute (time, value) arrays of sensors (``kind`` irradiance or temperature), one per
    (sensor id, from, to) in epoch seconds: the same reads as the report's."""
    pending = {k for (k,) in conn.execute(queries.get("report", "pending_kinds"))}
    return _sensor_arrays(conn, kind, items, pending) if items else []


def _registry(conn, out: Loaded) -> None:
    q = queries.named("report")
    names = sorted({ps.device for ps in out.series})
    with conn.cursor(row_factory=dict_row) as cur:  # the SQL names the columns the report shows
        out.devices.update({row["name"]: row for row in cur.execute(q["device_info"], (names,))})
    irr = sorted({p.irr_id for ps in out.periods.values() for p in ps if p.irr_id})
    temp = sorted({p.temp_id for ps in out.periods.values() for p in ps if p.temp_id})
    for s in queries.named_rows(conn, q["sensor_info"], (irr, temp)):
        out.sensors[s.sensor_id] = {"kind": s.kind, "label": s.label, "location": s.location, "angle": s.angle}
