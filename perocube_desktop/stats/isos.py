"""Figures of merit for perovskite stability (ISOS, Khenkin et al., Nature Energy 2020). Pure numpy.

Times are in hours from the start of the period unless said otherwise. Every function
returns None where a figure cannot be computed from the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHOD = {
    "pce": "PCE[%] = P[mW] / (G[W/m²] · A[cm²] · 0.1) · 100, only while G is above the light threshold",
    "smoothing": "figures of merit use the median PCE of each smoothing window (report.smoothing, default 1 h, "
                 "counted from the ageing start) that has at least 10 lit minutes",
    "time": "ageing time counts from the pixel's first lit sample with power (the first light period), not from a "
            "first sample in the dark; each pixel states which",
    "reference": "the initial smoothed PCE, extrapolated to the ageing start from the first three smoothed points only "
                 "when they lie in the first light period (else the first smoothed point), or the running maximum "
                 "when the PCE first rises (ISOS)",
    "T95/T80": "time from the ageing start until the smoothed PCE first falls below 95 % / 80 % of the reference "
               "(linear interpolation between smoothed points)",
    "energy": "trapezoidal time integral of the 1-minute mean power; intervals longer than 3 min are gaps and are "
              "not bridged",
    "burn-in": "a line is fitted to the second half of the smoothed PCE (the slow, post-burn-in regime); Ts is the "
               "first time after which the smoothed PCE stays within max(0.5 % of the fit, 3 residual standard "
               "deviations) of that line; Es is the fitted PCE at Ts; TS80 (TS95) the time after Ts until the smoothed "
               "PCE falls below 80 % (95 %) of Es",
    "projected T80": "where T80 is not reached: the time a least-squares line through the smoothed PCE after Ts "
                     "reaches 80 % of the reference, with a 95 % confidence interval (Fieller; parameter covariance "
                     "inflated for the residuals' lag-1 autocorrelation). Not projected when the interval is "
                     "unbounded or the estimate lies beyond 3 × the observed ageing time (stated per pixel)",
    "eta1000": "smoothed PCE at 1000 h as a percentage of the reference, where 1000 h are covered",
    "cycles": "light periods are runs of irradiance above the light threshold (dark stretches under 5 min ignored). "
              "A cycle is complete only with a dark sample right before and after it and no data gap or excluded "
              "span inside; partial cycles (cut by a gap, the start or end of the data) are listed but never used "
              "for per-cycle figures. Cycle T80: start of the first complete cycle whose energy falls below 80 % of "
              "the running maximum of complete cycles",
    "lit but no power": "a sample under light whose power is below that of a 0.1 % PCE (1 µW without an area) is "
                        "a contact or wiring problem, not a PCE: such spans are listed per pixel and left out of "
                        "the figures of merit",
    "moves": "the logbook dates a pixel's move from one channel to another without a time (DISCONNECTED and "
             "CONNECTED at one instant). Within that day the removal is where the power vanished from the old "
             "channel and the installation where it appeared on the new one; when the light was off at that "
             "moment, the span between the last power on the old and the first on the new channel is excluded",
    "statistics": "count, minimum, maximum and mean of the raw samples are exact from the 1-minute rollups; the "
                  "standard deviation is that of the 1-minute means",
}


def gap_limit(t_s: np.ndarray) -> float:
    d = np.diff(t_s)
    d = d[d > 0]
    return 3 * float(np.median(d)) if d.size else 0.0


def energy_mwh(t_s: np.ndarray, p_mw: np.ndarray, max_gap_s: float | None = None) -> float:
    """∫P dt in mWh; intervals longer than ``max_gap_s`` (default 3 median intervals) are skipped."""
    if t_s.size < 2:
        return 0.0
    max_gap_s = gap_limit(t_s) if max_gap_s is None else max_gap_s
    dt = np.diff(t_s)
    p = np.nan_to_num(p_mw, nan=0.0)
    seg = 0.5 * (p[1:] + p[:-1]) * dt
    ok = (dt > 0) & (dt <= max_gap_s) & np.isfinite(p_mw[1:]) & np.isfinite(p_mw[:-1])
    return float(seg[ok].sum() / 3600.0)


def coverage(t_s: np.ndarray, start_s: float, end_s: float, max_gap_s: float | None = None) -> float:
    """Share of [start, end] covered by data (intervals not longer than the gap limit)."""
    if t_s.size < 2 or end_s <= start_s:
        return 0.0
    max_gap_s = gap_limit(t_s) if max_gap_s is None else max_gap_s
    dt = np.diff(t_s)
    return float(np.clip(dt[(dt > 0) & (dt <= max_gap_s)].sum() / (end_s - start_s), 0, 1))


def gaps(t_s: np.ndarray, max_gap_s: float | None = None) -> list[tuple[float, float]]:
    if t_s.size < 2:
        return []
    max_gap_s = gap_limit(t_s) if max_gap_s is None else max_gap_s
    dt = np.diff(t_s)
    idx = np.nonzero(dt > max_gap_s)[0]
    return [(float(t_s[i]), float(t_s[i + 1])) for i in idx]


def pce_pct(p_mw: np.ndarray, g_wm2: np.ndarray, area_cm2: float | None, threshold: float) -> np.ndarray:
    out = np.full(p_mw.shape, np.nan)
    if not area_cm2 or area_cm2 <= 0:
        return out
    lit = np.isfinite(g_wm2) & (g_wm2 > threshold)
    out[lit] = p_mw[lit] / (g_wm2[lit] * area_cm2 * 0.1) * 100.0
    return out


def hourly_median(t_h: np.ndarray, pce: np.ndarray, min_points: int = 10,
                  width_h: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Median PCE per window of ``width_h`` hours (default one hour) that has at least ``min_points``
    lit samples; time = mean time of those samples."""
    ok = np.isfinite(pce)
    t, v = t_h[ok], pce[ok]
    if t.size == 0:
        return np.empty(0), np.empty(0)
    hours = np.floor(t / width_h).astype(np.int64)
    order = np.lexsort((v, hours))  # by window, then value: medians are the middle elements
    hours, t, v = hours[order], t[order], v[order]
    starts = np.flatnonzero(np.r_[True, hours[1:] != hours[:-1]])
    counts = np.diff(np.r_[starts, hours.size])
    keep = counts >= min_points
    starts, counts = starts[keep], counts[keep]
    if starts.size == 0:
        return np.empty(0), np.empty(0)
    med = 0.5 * (v[starts + (counts - 1) // 2] + v[starts + counts // 2])
    csum = np.r_[0.0, np.cumsum(t)]
    mean_t = (csum[starts + counts] - csum[starts]) / counts
    return mean_t, med


def crossing(t_h: np.ndarray, v: np.ndarray, frac: float, t_start: float | None = 0.0,
             reference: float | None = None) -> tuple[float | None, float | None]:
    """(time, reference): first time v falls below frac × running maximum (linear interpolation).

    The first smoothed point sits half an hour after the start; with ``t_start`` the
    initial value is extrapolated back to it from the first three points.
    """
    if t_start is not None and v.size >= 3 and t_h[0] > t_start:
        m, c = np.polyfit(t_h[:3], v[:3], 1)
        t_h = np.r_[t_start, t_h]
        v = np.r_[m * t_start + c, v]
    if v.size < 2:
        return None, (float(v[0]) if v.size else None)
    ref = v[0] if reference is None else reference
    for i in range(1, v.size):
        if v[i] < frac * ref:
            level = frac * ref
            t0, t1, v0, v1 = t_h[i - 1], t_h[i], v[i - 1], v[i]
            t = t0 + (v0 - level) / (v0 - v1) * (t1 - t0) if v0 != v1 else t1
            return float(t), float(ref)
        if reference is None:
            ref = max(ref, v[i])
    return None, float(ref)


@dataclass
class BurnIn:
    ts_h: float
    es_pct: float
    slope_pct_per_h: float
    intercept_pct: float


def burn_in(t_h: np.ndarray, v: np.ndarray) -> BurnIn | None:
    if v.size < 8:
        return None
    half = t_h >= t_h[0] + (t_h[-1] - t_h[0]) / 2
    if half.sum() < 4:
        return None
    m, c = np.polyfit(t_h[half], v[half], 1)
    resid = v - (m * t_h + c)
    tol = max(0.005 * abs(c), 3 * float(np.std(resid[half])))
    outside = np.flatnonzero(np.abs(resid) > tol)
    if outside.size == 0:
        ts = float(t_h[0])
    else:
        last = outside[-1]
        if last + 1 >= v.size:
            return None
        ts = float(t_h[last + 1])
    return BurnIn(ts, float(m * ts + c), float(m), float(c))


def interp_at(t_h: np.ndarray, v: np.ndarray, at: float) -> float | None:
    if v.size == 0 or at < t_h[0] or at > t_h[-1]:
        return None
    return float(np.interp(at, t_h, v))


@dataclass
class Cycle:
    start_s: float
    end_s: float
    energy_mwh: float
    mean_pce_pct: float | None
    partial: str = ""  # why the cycle is partial ("" = complete)


def light_cycles(t_s: np.ndarray, irradiance: np.ndarray, threshold: float, min_dark_s: float = 300.0) -> list[tuple[float, float]]:
    """Runs of irradiance above the threshold; dark or missing stretches under ``min_dark_s`` do not split a run."""
    return [(float(t_s[a]), float(t_s[b])) for a, b in _lit_runs(t_s, irradiance, threshold, min_dark_s)]


def _lit_runs(t_s: np.ndarray, irradiance: np.ndarray, threshold: float, min_dark_s: float) -> list[tuple[int, int]]:
    idx = np.flatnonzero(np.isfinite(irradiance) & (irradiance > threshold))
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(t_s[idx]) > min_dark_s)
    starts = np.r_[idx[0], idx[cut + 1]]
    ends = np.r_[idx[cut], idx[-1]]
    return list(zip(starts.tolist(), ends.tolist()))


def light_cycles_checked(t_s: np.ndarray, irradiance: np.ndarray, threshold: float, max_gap_s: float,
                         excluded: np.ndarray | None = None, min_dark_s: float = 300.0) -> list[tuple[int, int, str]]:
    """Light runs as sample index ranges with the reason each is partial ('' = complete).

    A cycle is complete when a dark sample is seen right before it starts and right after it
    ends (no data gap in between), and nothing inside it is missing or excluded. A cycle cut by
    the start or end of the data, by a data gap, or holding excluded samples is partial.
    """
    out = []
    dark = np.isfinite(irradiance) & (irradiance <= threshold)
    dt = np.diff(t_s)
    for a, b in _lit_runs(t_s, irradiance, threshold, min_dark_s):
        why = []
        if a == 0:
            why.append("cut by the start of the data")
        elif dt[a - 1] > max_gap_s:
            why.append(f"cut by a data gap of {dt[a - 1] / 60:.0f} min at its start")
        elif not dark[a - 1]:
            why.append("no irradiance right before it")
        if b == t_s.size - 1:
            why.append("cut by the end of the data")
        elif dt[b] > max_gap_s:
            why.append(f"cut by a data gap of {dt[b] / 60:.0f} min at its end")
        elif not dark[b + 1]:
            why.append("no irradiance right after it")
        inner = dt[a:b]
        if inner.size and inner.max() > max_gap_s:
            why.append(f"data gap of {inner.max() / 60:.0f} min inside")
        if excluded is not None and excluded[a:b + 1].any():
            why.append(f"{int(excluded[a:b + 1].sum())} min excluded (lit but no power, or a move)")
        out.append((a, b, "; ".join(why)))
    return out


def cycle_stats(t_s: np.ndarray, p: np.ndarray, pce: np.ndarray, runs: list[tuple[float, float]]) -> list[Cycle]:
    out = []
    for a, b in runs:
        m = (t_s >= a) & (t_s <= b)
        vals = pce[m]
        vals = vals[np.isfinite(vals)]
        out.append(Cycle(a, b, energy_mwh(t_s[m], p[m]), float(vals.mean()) if vals.size else None))
    return out


def cycle_t80(cycles: list[Cycle], start_s: float) -> float | None:
    """Start of the first complete cycle whose energy falls below 80 % of the running maximum of
    complete cycles (partial cycles are never used)."""
    ref = None
    for c in cycles:
        if c.partial:
            continue
        if ref is not None and c.energy_mwh < 0.8 * ref:
            return (c.start_s - start_s) / 3600.0
        ref = c.energy_mwh if ref is None else max(ref, c.energy_mwh)
    return None


# projection: shared with the live monitor, so it lives in the base layer
from ..fitting import Projection, project_crossing, t_quantile  # noqa: E402

__all__ = ["Projection", "project_crossing", "t_quantile"]
