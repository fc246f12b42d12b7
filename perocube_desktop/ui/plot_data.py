"""What the live plots draw, computed with numpy (no widgets): history merged with the live
ring buffers, NaN breaks at gaps, the samples alone between gaps (drawn as dots), the visible
part peak-downsampled to the pixel width, the series' colours, the readout under the mouse.
``fetch_history`` runs in a worker."""

from __future__ import annotations

import time

import numpy as np

from ..monitor import history
from ..monitor.live import LiveStore

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
    """The samples in [x0, x1] (plus one either side), reduced to a min and a max per pixel
    column when there are more than two per pixel: what a line plot of all of them would show."""
    i0 = max(int(np.searchsorted(t, x0)) - 1, 0)
    i1 = min(int(np.searchsorted(t, x1, side="right")) + 1, t.size)
    t, v = t[i0:i1], v[i0:i1]
    step = t.size // max(pixels, 1)
    if step < 2:
        return t, v
    n = (t.size // step) * step
    blocks = v[:n].reshape(n // step, step, v.shape[1])
    peaks = np.empty((2 * (n // step), v.shape[1]))
    peaks[0::2] = blocks.min(axis=1)  # a NaN (a gap) in a block keeps the gap visible
    peaks[1::2] = blocks.max(axis=1)
    tt = np.repeat(t[:n:step], 2)
    return np.concatenate([tt, t[n:]]), np.concatenate([peaks, v[n:]])


def isolated_mask(v: np.ndarray) -> np.ndarray:
    """True where a value is finite and neither neighbour is (before the first and after the last
    sample counts as not finite): the samples ``connect='finite'`` draws no segment for, such as
    one sample between two outages. Per column for 2-D ``v``."""
    finite = np.isfinite(v)
    alone = finite.copy()
    alone[1:] &= ~finite[:-1]
    alone[:-1] &= ~finite[1:]
    return alone


def isolated_points(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of (t, v) with an isolated value in some column, the other columns' values NaN."""
    alone = isolated_mask(v)
    if not alone.any():  # the usual case, and 20 times cheaper than alone.any(axis=1) (once per refresh)
        return t[:0], v[:0]
    rows = np.unique(np.flatnonzero(alone) // v.shape[1])
    return t[rows], np.where(alone[rows], v[rows], np.nan)


def in_view(t: np.ndarray, v: np.ndarray, x0: float, x1: float) -> tuple[np.ndarray, np.ndarray]:
    """The samples with x0 <= t <= x1."""
    if not t.size:
        return t, v
    i0, i1 = np.searchsorted(t, (x0, x1))
    return t[i0:i1], v[i0:i1]


def widen(bounds: dict[str, tuple[float, float]], field: str, *ys: np.ndarray) -> None:
    """Widen ``bounds[field]``, (low, high), to take in the finite values of ``ys``."""
    for y in ys:
        if y.size:
            with np.errstate(all="ignore"):
                a, b = float(np.nanmin(y)), float(np.nanmax(y))
            if np.isfinite(a):
                lo, hi = bounds.get(field, (a, b))
                bounds[field] = (min(lo, a), max(hi, b))


def _spacing_limit(t: np.ndarray, min_gap_s: float) -> float:
    return max(min_gap_s, 5 * float(np.median(np.diff(t)))) if t.size >= 3 else min_gap_s


def merged(h: history.Series | None, store: LiveStore, key: str,
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
    if len(parts) == 1:
        return parts[0]
    (t1, v1), (t2, v2) = parts
    if t2[0] - t1[-1] > max(_spacing_limit(h.t, min_gap_s), _spacing_limit(t2, min_gap_s)):
        # the app was not running between the history's end and the live data
        t1 = np.append(t1, t1[-1] + 1.0)
        v1 = np.vstack([v1, np.full((1, v1.shape[1]), np.nan)])
    return np.concatenate([t1, t2]), np.concatenate([v1, v2])


def fetch_history(pool, keys: list[str], t0: float, t1: float, whole: bool):
    """Runs in a worker: downsampled history of ``keys`` in [t0, t1] (``whole``: from the first
    sample of the channels). Returns (series by key, t0, t1)."""
    by_kind: dict[str, list[str]] = {}
    for k in keys:
        kind, ident = k.split(":", 1)
        by_kind.setdefault(kind, []).append(ident)
    out = {}
    with pool.connection() as conn:
        if whole and "mpp" in by_kind:
            first, last = history.extent(conn, by_kind["mpp"])
            if first is not None:
                t0, t1 = first, max(last, time.time())
        for kind, ids in by_kind.items():
            for ident, series in history.load(conn, kind, ids, t0, t1).items():
                out[f"{kind}:{ident}"] = series
    return out, t0, t1


def readout_text(x: float, keys: list[str], data: dict[str, tuple[np.ndarray, np.ndarray]], labels: dict[str, str]) -> str:
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
        unit = "mW" if key.startswith("mpp:") else ("°C" if key.startswith("temperature:") else "W/m²")
        parts.append(f"{labels.get(key, key)}: {v[j, 0]:.4g} {unit}")
    return "   ".join(parts)
