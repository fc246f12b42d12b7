"""Live lifetime projection for the overview: each connected pixel's current normalised PCE and
projected T80 with its interval, and the alarms that go with them. No Qt.

The series are the PCE of each fully lit hour (every minute above the light threshold, no minute
below a 0.1 % PCE) over the pixel's connected periods, computed by PostgreSQL from the 1-hour
rollups (``sql/queries/lifetime.sql``, light on years of data) and fetched incrementally. The numbers are the live view's:
the stability report (``stats``) is the reference analysis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from psycopg.rows import class_row

from ..db import queries
from ..fitting import project_crossing
from ..series_key import SeriesKey

log = logging.getLogger(__name__)

MIN_HOURS = 6  # lit hours before anything is projected
PROJECTION_LIMIT = 3.0  # never beyond this multiple of the observed ageing time (as the report)
RATE_WINDOW_H = 24.0  # recent decline rate for the sibling comparison
MIN_EXCESS_PCT_PER_H = 0.1  # a pixel must fall at least this much faster than its siblings


@dataclass
class Trend:
    key: SeriesKey  # the channel the pixel sits on now
    device: str
    pixel: str
    t: np.ndarray = field(default_factory=lambda: np.empty(0))  # hour start, epoch s
    pce: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass
class Estimate:
    key: SeriesKey
    device: str
    pixel: str
    normalised: float | None  # latest hourly PCE / reference
    t80_h: float | None  # projected from the ageing start (first lit hour)
    lo_h: float | None
    hi_h: float | None
    observed_h: float
    rate_pct_per_h: float | None  # recent change of the normalised PCE, % of the reference per hour
    note: str = ""
    reached: bool = False

    def tile_text(self) -> str:
        """Two short lines for an overview tile ('' before any lit hour): the PCE as a fraction of
        the initial one, and the projected T80 with its 95 % interval."""
        if self.normalised is None:
            return ""
        head = f"PCE {self.normalised:.2f} · T80"
        if self.reached:
            return head + "\nreached"
        if self.t80_h is None:
            return head + ("\nnot projected" if self.note else "")
        hi = f"{self.hi_h:.0f}" if self.hi_h is not None else "…"
        return f"{head}\n{self.t80_h:.0f} h [{self.lo_h:.0f}–{hi}]"


def estimate(tr: Trend) -> Estimate:
    """Normalised PCE now and the projected T80 (linear fit over the second half of the series,
    95 % interval, refused beyond 3 × the observed time). Pure."""
    est = Estimate(tr.key, tr.device, tr.pixel, None, None, None, None, 0.0, None)
    ok = np.isfinite(tr.pce)
    t, v = tr.t[ok], tr.pce[ok]
    if v.size == 0:
        return est
    hours = (t - t[0]) / 3600 + 0.5
    ref = float(np.max(v[: max(1, min(3, v.size))]))  # first lit hours (a rising start counts)
    est.observed_h = float(hours[-1])
    est.normalised = float(v[-1] / ref) if ref > 0 else None
    recent = hours >= hours[-1] - RATE_WINDOW_H
    if recent.sum() >= 8 and ref > 0:
        est.rate_pct_per_h = float(np.polyfit(hours[recent], 100 * v[recent] / ref, 1)[0])
    if v.size < MIN_HOURS:
        est.note = f"fewer than {MIN_HOURS} lit hours"
        return est
    if np.any(v < 0.8 * ref):
        est.reached = True
        return est
    half = hours >= hours[0] + (hours[-1] - hours[0]) / 2
    pr = project_crossing(hours[half], v[half], 0.8 * ref)
    limit = PROJECTION_LIMIT * est.observed_h
    if pr is None or pr.t_h is None or pr.slope >= 0:
        est.note = "no decline to project"
    elif pr.lo_h is None or pr.hi_h is None:
        est.note = "interval unbounded"
    elif pr.t_h > limit:
        est.note = f"beyond {PROJECTION_LIMIT:g} × observed"
    else:
        est.t80_h, est.lo_h, est.hi_h = pr.t_h, pr.lo_h, (pr.hi_h if pr.hi_h <= limit else None)
    return est


def sibling_outliers(estimates: list[Estimate], factor: float) -> dict[SeriesKey, str]:
    """Pixels whose PCE falls ``factor`` times faster than the median of their siblings on the
    same device (at least two siblings with a known rate). Pure."""
    out: dict[SeriesKey, str] = {}
    if factor <= 0:
        return out
    by_device: dict[str, list[Estimate]] = {}
    for e in estimates:
        if e.rate_pct_per_h is not None:
            by_device.setdefault(e.device, []).append(e)
    for device, group in by_device.items():
        for e in group:
            others = [o.rate_pct_per_h for o in group if o is not e and o.rate_pct_per_h is not None]
            if len(others) < 2 or e.rate_pct_per_h is None:
                continue
            typical = float(np.median(others))
            falling = -e.rate_pct_per_h
            # and at least 0.1 %/h (2.4 % a day) more than the siblings: below that, day-to-day noise
            if falling - max(-typical, 0.0) >= MIN_EXCESS_PCT_PER_H and falling > factor * max(-typical, 0.0):
                out[e.key] = (f"{device} / {e.pixel}: PCE falls {falling:.2f} %/h over the last {RATE_WINDOW_H:.0f} h, "
                              f"its siblings {max(-typical, 0.0):.2f} %/h")
    return out


class HourlyPce(NamedTuple):
    """One fully lit hour of a connected pixel (a row of ``hourly_pce``, whose columns it names)."""

    board: int  # where the pixel is now
    channel: int
    device: str
    pixel: str
    hour: float  # epoch s
    pce: float  # percent


class LifetimeMonitor:
    """Hourly PCE trends of the connected pixels, refreshed incrementally from the database."""

    def __init__(self, light_threshold_wm2: float = 500.0) -> None:
        self.light_threshold_wm2 = light_threshold_wm2
        self.trends: dict[tuple[str, str], Trend] = {}
        self.estimates: dict[SeriesKey, Estimate] = {}
        self._since: float | None = None

    def fetch(self, conn) -> list[HourlyPce]:
        """Database part (run it in a worker): hourly rows since the last complete hour."""
        since = 0.0 if self._since is None else self._since
        with conn.cursor(row_factory=class_row(HourlyPce)) as cur:
            return cur.execute(queries.get("lifetime", "hourly_pce"),
                               {"since": since, "threshold": self.light_threshold_wm2}).fetchall()

    def apply(self, rows: list[HourlyPce]) -> None:
        """Merge fetched rows and re-estimate. Pure."""
        fresh: dict[tuple[str, str], tuple[SeriesKey, list[float], list[float]]] = {}
        for r in rows:
            _key, ts, vs = fresh.setdefault((r.device, r.pixel), (SeriesKey.mpp(r.board, r.channel), [], []))
            ts.append(float(r.hour))
            vs.append(float(r.pce))
        for ident, (key, ts, vs) in fresh.items():
            tr = self.trends.setdefault(ident, Trend(key, *ident))
            tr.key = key
            keep = tr.t < min(ts)
            tr.t = np.r_[tr.t[keep], ts]
            tr.pce = np.r_[tr.pce[keep], vs]
        if rows:
            self._since = max(float(r.hour) for r in rows)  # re-read the newest (maybe incomplete) hour
        self.estimates = {tr.key: estimate(tr) for tr in self.trends.values()}

    def refresh(self, conn) -> None:
        self.apply(self.fetch(conn))

    def tile_text(self, key: SeriesKey) -> str:
        est = self.estimates.get(key)
        return est.tile_text() if est else ""

    def alarm_texts(self, t80_min_h: float, sibling_factor: float) -> dict[tuple[SeriesKey | str, str], str]:
        firing: dict[tuple[SeriesKey | str, str], str] = {}
        for e in self.estimates.values():
            if t80_min_h > 0 and e.t80_h is not None and e.t80_h < t80_min_h:
                firing[(e.key, "projected_t80")] = (f"{e.device} / {e.pixel}: projected T80 {e.t80_h:.0f} h "
                                                    f"[{e.lo_h:.0f}–{'…' if e.hi_h is None else f'{e.hi_h:.0f}'}] "
                                                    f"below {t80_min_h:.0f} h")
        for key, text in sibling_outliers(list(self.estimates.values()), sibling_factor).items():
            firing[(key, "faster_than_siblings")] = text
        return firing
