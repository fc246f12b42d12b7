"""A pixel's series, assembled from the channels it sat on, and the move detection. Pure numpy.

The database part (``stats.load``) returns one :class:`Segment` per connected period: the
1-minute rollup of the channel plus the irradiance and temperature aligned to it. This
module decides which of those samples belong to the pixel:

* A pixel moved from one channel to another is logged with a date only, so the logbook's
  DISCONNECTED and CONNECTED share one instant (00:00 of the day). The loader then hands
  over the old channel's data for the whole logged day; :func:`detect_move` finds when the
  power vanished from the old channel and appeared on the new one, and :func:`assemble`
  keeps the old channel up to the removal and the new one from the installation. When
  the light was off at either end, the data cannot tell the moment: the span between the
  last power on the old channel and the first on the new one is excluded and said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

MOVE_WINDOW_S = 86400.0  # a logbook date covers one day
ZERO_PCE_PCT = 0.1  # below this PCE (or ZERO_POWER_MW without an area) a lit pixel "delivers nothing"
ZERO_POWER_MW = 1e-3
MAX_GAP_S = 180.0  # 1-minute buckets: more than 3 min between two is a data gap


def hhmm(t: float | None) -> str:
    if t is None:
        return "?"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Segment:
    """One connected period of a pixel on one channel, as loaded: t = minute centres (epoch s)."""

    board: int
    channel: int
    t0: float  # period from the connection events
    t1: float
    t: np.ndarray
    n: np.ndarray  # raw samples in the minute
    power: np.ndarray  # mean mW
    power_min: np.ndarray
    power_max: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    irradiance: np.ndarray  # W/m², NaN where unknown
    temperature: np.ndarray  # °C
    move_in: bool = False  # starts with a same-instant move from the previous segment

    def take(self, mask: np.ndarray) -> Segment:
        cols = {k: getattr(self, k)[mask] for k in COLUMNS}
        return Segment(self.board, self.channel, self.t0, self.t1, move_in=self.move_in, **cols)


COLUMNS = ("t", "n", "power", "power_min", "power_max", "voltage", "current", "irradiance", "temperature")


@dataclass
class Move:
    logged_at: float
    source: tuple[int, int]
    target: tuple[int, int]
    removed_at: float | None  # end of the pixel's data on the old channel
    installed_at: float | None  # start of its data on the new channel
    removal_seen: bool  # power vanished while lit (else: ambiguous)
    installation_seen: bool
    text: str = ""

    def as_dict(self) -> dict:
        def iso(t: float | None) -> str | None:
            return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")

        return {"logged": iso(self.logged_at), "from": f"board {self.source[0]} channel {self.source[1]}",
                "to": f"board {self.target[0]} channel {self.target[1]}", "removed": iso(self.removed_at),
                "installed": iso(self.installed_at), "removal_from_data": self.removal_seen,
                "installation_from_data": self.installation_seen, "text": self.text}


@dataclass
class PixelSeries:
    """Everything the numeric analysis needs about one pixel (arrays in, no database)."""

    device: str
    pixel: str
    area_cm2: float | None
    segments: list[Segment]
    light_threshold_wm2: float = 500.0
    start: float | None = None  # selection limits (epoch s)
    end: float | None = None
    moves: list[Move] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def zero_level(irradiance: np.ndarray, area_cm2: float | None) -> np.ndarray:
    """Power (mW) below which a lit pixel counts as delivering nothing: PCE < 0.1 %."""
    if area_cm2 and area_cm2 > 0:
        return np.maximum(ZERO_PCE_PCT / 100 * np.nan_to_num(irradiance) * area_cm2 * 0.1, ZERO_POWER_MW)
    return np.full(irradiance.shape, ZERO_POWER_MW)


def producing(seg: Segment, area_cm2: float | None) -> np.ndarray:
    return np.isfinite(seg.power) & (seg.power > zero_level(seg.irradiance, area_cm2))


def _lit(seg: Segment, i: int, threshold: float) -> bool:
    return bool(np.isfinite(seg.irradiance[i]) and seg.irradiance[i] > threshold)


def detect_move(old: Segment, new: Segment, logged_at: float, area_cm2: float | None,
                threshold: float) -> Move:
    """When did the pixel leave ``old`` and arrive on ``new`` within the logged day?"""
    hi = logged_at + MOVE_WINDOW_S
    o_in = (old.t >= logged_at) & (old.t < hi)
    n_in = (new.t >= logged_at) & (new.t < hi)
    o_idx = np.flatnonzero(o_in & producing(old, area_cm2))
    n_idx = np.flatnonzero(n_in & producing(new, area_cm2))
    move = Move(logged_at, (old.board, old.channel), (new.board, new.channel), None, None, False, False)
    last_old = int(o_idx[-1]) if o_idx.size else None
    first_new = int(n_idx[0]) if n_idx.size else None
    if last_old is not None:
        move.removed_at = float(old.t[last_old]) + 30
        nxt = last_old + 1
        move.removal_seen = (nxt < old.t.size and old.t[nxt] - old.t[last_old] <= MAX_GAP_S
                             and _lit(old, nxt, threshold))
    else:
        move.removed_at = logged_at
    if first_new is not None:
        move.installed_at = float(new.t[first_new]) - 30
        prv = first_new - 1
        move.installation_seen = (prv >= 0 and new.t[first_new] - new.t[prv] <= MAX_GAP_S
                                  and _lit(new, prv, threshold))
    if move.installed_at is not None and move.installed_at < move.removed_at:
        # power on both channels at once: the data contradicts a move; keep the logbook's instant
        move.removed_at = move.installed_at = logged_at
        move.removal_seen = move.installation_seen = False
        move.text = (f"moved {_where(move)} on the day of {hhmm(logged_at)}: both channels delivered power "
                     f"during that day, so the logbook's time is used")
        return move
    move.text = _move_text(move, hi)
    return move


def _where(m: Move) -> str:
    return f"from B{m.source[0]} C{m.source[1]} to B{m.target[0]} C{m.target[1]}"


def _move_text(m: Move, hi: float) -> str:
    if m.installed_at is None:
        return (f"moved {_where(m)} (logbook: {hhmm(m.logged_at)[:10]}): no power on the new channel within "
                f"that day; its data is used from the logged date, the old channel's up to {hhmm(m.removed_at)}")
    if m.removal_seen and m.installation_seen:
        return (f"moved {_where(m)}: removed at {hhmm(m.removed_at)} (power vanished while lit), installed at "
                f"{hhmm(m.installed_at)} (power appeared while lit); the logbook gives only the date")
    return (f"moved {_where(m)} on {hhmm(m.logged_at)[:10]}: the data cannot tell the moment "
            f"(no light at the {'removal' if not m.removal_seen else 'installation'}); the span "
            f"{hhmm(m.removed_at)} – {hhmm(m.installed_at)} is excluded")


def assemble(series: PixelSeries) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Concatenate the pixel's samples (moves resolved, selection applied): columns and the
    segment index of each sample. Records the moves and their notes on ``series``."""
    segs = [s for s in series.segments]
    series.moves = []
    for k in range(1, len(segs)):
        if segs[k].move_in:
            mv = detect_move(segs[k - 1], segs[k], segs[k].t0, series.area_cm2, series.light_threshold_wm2)
            series.moves.append(mv)
            series.notes.append(mv.text)
            segs[k - 1] = segs[k - 1].take(segs[k - 1].t < mv.removed_at)
            start = mv.installed_at if mv.installed_at is not None else segs[k].t0
            segs[k] = segs[k].take(segs[k].t >= start)
    lo = -np.inf if series.start is None else series.start
    hi = np.inf if series.end is None else series.end
    parts = [s.take((s.t >= lo) & (s.t < hi)) for s in segs]
    if not parts:
        return {k: np.empty(0) for k in COLUMNS}, np.empty(0, dtype=np.int64)
    cols = {k: np.concatenate([getattr(p, k) for p in parts]) for k in COLUMNS}
    which = np.concatenate([np.full(p.t.size, i, dtype=np.int64) for i, p in enumerate(parts)])
    order = np.argsort(cols["t"], kind="stable")
    return {k: v[order] for k, v in cols.items()}, which[order]
