"""What the live plots draw, computed with numpy (no widgets): history merged with the live
ring buffers, NaN breaks at gaps, the visible part peak-downsampled to the pixel width, and
the series' colours. ``fetch_history`` runs in a worker."""

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


def merged(h: history.Series | None, store: LiveStore, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """History followed by the live samples newer than its end."""
    live = store.series(key)
    if h is None and live is None:
        return None
    if h is None:
        return live
    if live is None or live[0].size == 0:
        return h.t, h.mean
    end = h.t[-1] if h.t.size else -np.inf
    mask = live[0] > end
    return np.concatenate([h.t, live[0][mask]]), np.concatenate([h.mean, live[1][mask].astype(float)])


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
