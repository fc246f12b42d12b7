"""Live data for the screen: fixed-size ring buffers per channel/sensor (numpy), no Qt.

This is the lossy path: it keeps the newest ``capacity`` samples of each series and
forgets older ones (the database has them all). Fed by the receiver's live tap, or in
viewer mode (no receiver on this PC) by ``DatabasePoller`` from the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..errors import first_line
from ..protocol import MPP, Sample
from ..series_key import SeriesKey
from ..status import IngestStatus, RateMeter
from ..db import replica
from ..db import session as db_session

log = logging.getLogger(__name__)


class Ring:
    """Time plus up to three float32 value columns; appends are O(1), reads return copies in order."""

    __slots__ = ("t", "v", "n", "pos", "capacity")

    def __init__(self, capacity: int, columns: int) -> None:
        self.capacity = capacity
        self.t = np.full(capacity, np.nan)
        self.v = np.full((capacity, columns), np.nan, dtype=np.float32)
        self.n = 0
        self.pos = 0

    def append(self, t: float, values: tuple) -> None:
        self.t[self.pos] = t
        self.v[self.pos] = values
        self.pos = (self.pos + 1) % self.capacity
        self.n = min(self.n + 1, self.capacity)

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < self.capacity:
            return self.t[: self.n].copy(), self.v[: self.n].copy()
        return np.roll(self.t, -self.pos), np.roll(self.v, -self.pos, axis=0)

    def last(self, k: int) -> np.ndarray:
        """The newest k rows of values (oldest first)."""
        k = min(k, self.n)
        idx = (self.pos - k + np.arange(k)) % self.capacity
        return self.v[idx]


@dataclass
class Latest:
    t: float
    values: tuple


class LiveStore:
    """Ring buffers per series (``SeriesKey``, as the ``IngestService`` status)."""

    def __init__(self, capacity: int = 7200) -> None:
        self.capacity = capacity
        self.rings: dict[SeriesKey, Ring] = {}
        self.latest: dict[SeriesKey, Latest] = {}
        self._lock = threading.Lock()

    def add(self, samples: list[Sample]) -> set[SeriesKey]:
        touched = set()
        with self._lock:
            for s in samples:
                key = SeriesKey.of(s)
                ring = self.rings.get(key)
                if ring is None:
                    ring = self.rings[key] = Ring(self.capacity, 3 if s.kind == MPP else 1)
                t = s.ts_us / 1e6
                raw = (s.a, s.c, s.b) if s.kind == MPP else (s.a,)  # mpp: power, voltage, current
                values = tuple(np.nan if x is None else x for x in raw)
                ring.append(t, values)
                prev = self.latest.get(key)
                if prev is None or t >= prev.t:
                    self.latest[key] = Latest(t, values)
                touched.add(key)
        return touched

    def series(self, key: SeriesKey) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            ring = self.rings.get(key)
            return ring.data() if ring is not None else None

    def recent(self, key: SeriesKey, k: int) -> np.ndarray:
        with self._lock:
            ring = self.rings.get(key)
            return ring.last(k) if ring is not None else np.empty((0, 1), dtype=np.float32)

    def keys(self) -> list[SeriesKey]:
        with self._lock:
            return list(self.rings)


class DatabasePoller:
    """Viewer mode: follows the database instead of a receiver, for the same screens.

    A thread fetches, every ``interval_s``, the rows newer than those it has seen (per series,
    through the series' time key) and puts them into ``tap``. It has the two things the GUI
    bridge reads from an ``IngestService`` -- ``tap`` and ``status()`` -- so the overview,
    plots, alarms and status bar work unchanged. Rows that arrive late with older timestamps
    than the newest shown are not drawn (the live view is lossy; the database has them).
    """

    #: on start, show this much history; afterwards ask again for this much before the newest
    #: row seen, so rows committed late (buffer drains, several writers) still appear
    INITIAL_S = 3600.0
    OVERLAP_S = 120.0

    def __init__(self, conninfo: str, interval_s: float = 2.0, limit_per_series: int = 7200,
                 description: str = "database") -> None:
        self.conninfo = conninfo
        self.interval_s = interval_s
        self.limit = limit_per_series
        self.description = description
        self.tap: deque[Sample] = deque(maxlen=500_000)
        self._seen: dict[SeriesKey, float] = {}  # newest timestamp put into the tap, per series
        self._newest = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._rate = RateMeter(10.0)  # rows/s over the last 10 s (polls every few seconds)
        self.rows_seen = 0
        self.polls = 0
        self.state = "starting"
        self.last_error: str | None = None
        self.down_since: float | None = None
        self.server: str | None = None  # "standby h:p, lag 0.4 s" (db/replica.py)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="db-viewer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        import psycopg

        conn = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = db_session.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                           application_name="perocube-viewer")
                self.poll_once(conn)
                where = replica.state(conn)
                # worth showing: a standby (its lag), or which of several servers answered
                self.server = where.text() if where.standby or replica.multi_host(self.conninfo) else None
                self.state, self.last_error, self.down_since = "connected", None, None
            except psycopg.Error as exc:
                text = first_line(exc)
                if text != self.last_error:
                    log.error("viewer: cannot read the database, retrying: %s", text)
                self.state, self.last_error = "reconnecting", text
                if self.down_since is None:
                    self.down_since = time.time()
                if conn is not None:
                    conn.close()
                    conn = None
            self._stop.wait(self.interval_s)
        if conn is not None:
            conn.close()

    def poll_once(self, conn) -> int:
        """One round trip per kind; returns the number of new samples put into the tap."""
        from datetime import datetime, timezone

        from ..db import queries
        from ..protocol import IRRADIANCE, TEMPERATURE

        q = queries.named("viewer")
        # never from the future: one board an hour ahead of this PC (a source_timezone mistake, the
        # clock alarm) must not hide every other board's new rows; per series, ``keep`` skips what was shown
        since_s = (min(self._newest, time.time()) - self.OVERLAP_S) if self._newest else time.time() - self.INITIAL_S
        params = {"since": datetime.fromtimestamp(since_s, timezone.utc), "limit": self.limit}
        fresh: list[Sample] = []

        def keep(key: SeriesKey, t: float) -> bool:  # newer than what this series already showed
            return t > self._seen.get(key, 0.0)

        for r in sorted(queries.named_rows(conn, q["new_mpp"], params), key=lambda r: r.t):
            key = SeriesKey.mpp(r.board, r.channel)
            if keep(key, r.t):
                fresh.append(Sample(MPP, int(round(r.t * 1e6)), r.power, r.current, r.voltage, board=r.board,
                                    channel=r.channel))
                self._seen[key] = r.t
        for kind, query in ((TEMPERATURE, q["new_temperature"]), (IRRADIANCE, q["new_irradiance"])):
            for sensor, t, value in sorted(conn.execute(query, params).fetchall(), key=lambda r: r[1]):
                key = SeriesKey.of_sensor(kind, sensor)
                if keep(key, t):
                    fresh.append(Sample(kind, int(round(t * 1e6)), value, sensor=sensor))
                    self._seen[key] = t
        if fresh:
            self.tap.extend(fresh)
            self._newest = max(self._newest, max(s.ts_us for s in fresh) / 1e6)
        with self._lock:
            self.rows_seen += len(fresh)
            self.polls += 1
        return len(fresh)

    def status(self) -> IngestStatus:
        now = time.monotonic()
        with self._lock:
            seen = self.rows_seen
            last = dict(self._seen)
        rate, _over = self._rate.update(seen, now)
        return IngestStatus(
            address=f"viewer of {self.description}", clients=0,
            rows_per_s=rate, rows_accepted=seen, rows_rejected=0,
            buffered_rows=0, db_state=self.state, db_error=self.last_error, db_down_since=self.down_since,
            rows_written=0, last_sample=last, db_server=self.server,
        )
