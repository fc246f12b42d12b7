"""What the live plots draw, computed with numpy (no widgets): history merged with the live
ring buffers, NaN breaks at gaps, the visible part peak-downsampled to the pixel width (columns
of time), the drawn points no segment shows (dots), the series' colours, the readout under the mouse.
``fetch_history`` runs in a worker."""

from __future__ import annotations

import time

import numpy as np

from ..monitor import history
from ..monitor.live import LiveStore
from ..series_key import SeriesKey

# 16 colours that stay apart on white (tab10 + darker/lighter companions), then they repeat
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22", "#08306b", "#67000d", "#00441b", "#a63603", "#3f007d", "#fdae6b"]


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def with_gaps(t: np.ndarray, v: np.ndarray, min_gap_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """A NaN after every gap much longer than the usual spacing (app not running, nights without
    data), so that ``connect='finite'`` leaves a gap instead of drawing a straight line."""
    if t.size < 3:
        return t, v
    dt = np.diff(t)
    limit = max(min_gap_s, 5 * float(np.median(dt)))
    idx = np.flatnonzero(dt > limit) + 1
    if not idx.size:
        return t, v
    return np.insert(t, idx, t[idx - 1] + limit / 2), np.insert(v, idx, np.nan, axis=0)


def visible_peaks(t: np.ndarray, v: np.ndarray, x0: float, x1: float, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """The samples in [x0, x1] (plus one either side), reduced per pixel column of time when there
    are more than four per pixel: what a line plot of all of them would show (``peak_columns``)."""
    i0 = max(int(np.searchsorted(t, x0)) - 1, 0)
    i1 = min(int(np.searchsorted(t, x1, side="right")) + 1, t.size)
    t, v = t[i0:i1], v[i0:i1]
    if t.size <= 4 * max(pixels, 1) or x1 <= x0:
        return t, v
    column = np.floor((t - x0) * (pixels / (x1 - x0)))
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    return peak_columns(t, v, starts)


def peak_columns(t: np.ndarray, v: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Four points per column (the samples from each ``starts`` index to the next), per series, at
    the column's first time: its min and max, preceded (followed) by a NaN when the column holds a
    gap before its first value (after its last one). The line breaks at gaps, a short run of samples
    beside a gap stays, and every value is drawn within a pixel of its own time (a column is a slice
    of time, not a number of samples). A column without values is all NaN."""
    finite = np.isfinite(v)
    index = np.arange(t.size)[:, None]
    big = t.size
    first_value = np.minimum.reduceat(np.where(finite, index, big), starts, axis=0)
    last_value = np.maximum.reduceat(np.where(finite, index, -1), starts, axis=0)
    first_gap = np.minimum.reduceat(np.where(finite, big, index), starts, axis=0)
    last_gap = np.maximum.reduceat(np.where(finite, -1, index), starts, axis=0)
    lo = np.fmin.reduceat(v, starts, axis=0)  # fmin/fmax skip NaN; a column of NaN gives NaN
    hi = np.fmax.reduceat(v, starts, axis=0)
    out = np.empty((4 * starts.size, v.shape[1]))
    out[0::4] = np.where(first_gap < first_value, np.nan, lo)
    out[1::4] = lo
    out[2::4] = hi
    out[3::4] = np.where(last_gap > last_value, np.nan, hi)
    return np.repeat(t[starts], 4), out


def stranded_points(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The drawn points no line segment shows: per column, the first and last point of every run of
    finite values (between NaNs or the ends) that lies at a single x, such as one sample between
    two outages or a pixel column of samples with a gap on both sides (``peak_columns``). The rows
    of (t, v) holding one, the other columns' values NaN. ``connect='finite'`` draws these as
    nothing; the plots draw them as dots."""
    finite = np.isfinite(v)
    if t.size > 1 and finite.all():  # the usual case: one run per column, spanning time
        return t[:0], v[:0]
    edge = np.zeros((1, v.shape[1]), dtype=bool)
    starts = finite & ~np.vstack([edge, finite[:-1]])
    ends = finite & ~np.vstack([finite[1:], edge])
    mark = np.zeros_like(finite)
    for col in range(v.shape[1]):
        s, e = np.flatnonzero(starts[:, col]), np.flatnonzero(ends[:, col])
        alone = t[s] == t[e]
        mark[s[alone], col] = True
        mark[e[alone & (v[e, col] != v[s, col])], col] = True  # a column's max, when it differs from its min
    if not mark.any():
        return t[:0], v[:0]
    rows = np.flatnonzero(mark.any(axis=1))
    return t[rows], np.where(mark[rows], v[rows], np.nan)


def widen(bounds: dict[str, tuple[float, float]], field: str, y: np.ndarray) -> None:
    """Widen ``bounds[field]``, (low, high), to take in the finite values of ``y``."""
    if y.size:
        with np.errstate(all="ignore"):
            a, b = float(np.nanmin(y)), float(np.nanmax(y))
        if np.isfinite(a):
            lo, hi = bounds.get(field, (a, b))
            bounds[field] = (min(lo, a), max(hi, b))


def _spacing_limit(t: np.ndarray, min_gap_s: float) -> float:
    return max(min_gap_s, 5 * float(np.median(np.diff(t)))) if t.size >= 3 else min_gap_s


def merged(h: history.Series | None, store: LiveStore, key: SeriesKey,
           min_gap_s: float = 60.0) -> tuple[np.ndarray, np.ndarray] | None:
    """History followed by the live samples newer than its end, with NaN breaks at gaps. Each
    part is judged by its own spacing (hour buckets of history next to 1-s live samples), so
    a sparse history is not cut into invisible single points by the live data's spacing."""
    parts = []
    if h is not None and h.t.size:
        parts.append(with_gaps(h.t, h.mean.astype(float, copy=False), min_gap_s))
    live = store.series(key)
    if live is not None and live[0].size:
        t, v = live
        if parts:
            newer = t > parts[0][0][-1]
            t, v = t[newer], v[newer]
        if t.size:
            parts.append(with_gaps(t, v.astype(float), min_gap_s))
    if not parts:
        return None
    if len(parts) == 1 or h is None:  # two parts: the first is the history
        return parts[0]
    (t1, v1), (t2, v2) = parts
    if t2[0] - t1[-1] > max(_spacing_limit(h.t, min_gap_s), _spacing_limit(t2, min_gap_s)):
        # the app was not running between the history's end and the live data
        t1 = np.append(t1, t1[-1] + 1.0)
        v1 = np.vstack([v1, np.full((1, v1.shape[1]), np.nan)])
    return np.concatenate([t1, t2]), np.concatenate([v1, v2])


def whole_run_span(first: float, last: float, now: float) -> tuple[float, float]:
    """The time axis of "Whole run": up to now while the run goes on (its last sample recent:
    within an hour, or within 5 % of the run's length), else up to its last sample: a run that ended
    years ago fills the plot instead of a sliver at the left of years without data."""
    if now - last <= max(3600.0, 0.05 * (last - first)):
        return first, max(last, now)
    return first, last + 0.02 * max(last - first, 60.0)


def fetch_history(pool, keys: list[SeriesKey], t0: float, t1: float, whole: bool):
    """Runs in a worker: downsampled history of ``keys`` in [t0, t1] (``whole``: from the first
    sample of the channels). Returns (series by key, t0, t1)."""
    by_kind: dict[str, list[SeriesKey]] = {}
    for k in keys:
        by_kind.setdefault(k.kind, []).append(k)
    out = {}
    with pool.connection() as conn:
        if whole and "mpp" in by_kind:
            first, last = history.extent(conn, by_kind["mpp"])
            if first is not None and last is not None:
                t0, t1 = whole_run_span(first, last, time.time())
        for kind, of_kind in by_kind.items():
            out.update(history.load(conn, kind, of_kind, t0, t1))
    return out, t0, t1


def readout_text(x: float, keys: list[SeriesKey], data: dict[SeriesKey, tuple[np.ndarray, np.ndarray]],
                 labels: dict[SeriesKey, str]) -> str:
    """The time under the mouse and the value there (the nearest sample) of the first six series that
    have one."""
    parts = [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(x))]
    for key in keys[:6]:
        series = data.get(key)
        if series is None or series[0].size == 0:
            continue
        t, v = series
        i = int(np.searchsorted(t, x))
        # the nearer of the samples either side that has a value: a lone sample between gaps too
        near = [j for j in (i - 1, i) if 0 <= j < t.size and np.isfinite(v[j, 0])]
        if not near:
            continue
        j = min(near, key=lambda j: abs(t[j] - x))
        unit = "mW" if key.is_mpp else ("°C" if key.kind == "temperature" else "W/m²")
        parts.append(f"{labels.get(key, str(key))}: {v[j, 0]:.4g} {unit}")
    return "   ".join(parts)
