"""The ingest status snapshot: the contract between the ingest service (which fills it) and the
monitor and GUI layers (which read it). A base-layer module so that neither imports the other."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from .series_key import SeriesKey


@dataclass
class IngestStatus:
    address: str
    clients: int
    rows_per_s: float
    rows_accepted: int
    rows_rejected: int
    buffered_rows: int
    db_state: str
    db_error: str | None
    db_down_since: float | None
    rows_written: int
    rows_quarantined: int = 0  # rows the writer moved to the quarantine (unknown sensor_id)
    lines_refused: int = 0  # request lines answered with ERR
    peers_refused: int = 0
    buffer_error: str | None = None  # the last failed commit of the local disk buffer (its clients got no ACK)
    buffer_error_at: float | None = None  # unix time of that failure
    last_sample: dict[SeriesKey, float] = field(default_factory=dict)  # unix time of each series' newest sample
    db_server: str | None = None  # the server the writer (or viewer) is connected to, e.g. "standby h:p, lag 0.4 s"
    db_switched: str | None = None  # the last switch to another server of a multi-host URL (failover), said in words


class RateMeter:
    """Rows per second over the interval it names: the count now minus the count at the newest
    observation at least ``window_s`` old (or the first one), divided by the time between them.
    Called every 10 s with a 10-s window it is the rate since the last call; called four times a
    second with a 5-s window, the rate over the last 5 s."""

    def __init__(self, window_s: float, count: int = 0, now: float | None = None) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, int]] = deque([(time.monotonic() if now is None else now, count)])

    def update(self, count: int, now: float | None = None) -> tuple[float, float]:
        """(rows per second, seconds it was measured over)."""
        now = time.monotonic() if now is None else now
        points = self._points
        points.append((now, count))
        while len(points) > 2 and now - points[1][0] >= self.window_s:
            points.popleft()
        t0, n0 = points[0]
        span = now - t0
        return ((count - n0) / span if span > 0 else 0.0), span
