"""Live data for the screen: fixed-size ring buffers per channel/sensor (numpy), no Qt.

This is the lossy path: it keeps the newest ``capacity`` samples of each series and
forgets older ones (the database has them all).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..protocol import MPP, Sample, sample_key


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
    """Ring buffers keyed like ``IngestService`` status: 'mpp:1/3', 'temperature:<uuid>'."""

    def __init__(self, capacity: int = 7200) -> None:
        self.capacity = capacity
        self.rings: dict[str, Ring] = {}
        self.latest: dict[str, Latest] = {}
        self._lock = threading.Lock()

    def add(self, samples: list[Sample]) -> set[str]:
        touched = set()
        with self._lock:
            for s in samples:
                key = sample_key(s)
                ring = self.rings.get(key)
                if ring is None:
                    ring = self.rings[key] = Ring(self.capacity, 3 if s.kind == MPP else 1)
                t = s.ts_us / 1e6
                values = (s.a, s.c, s.b) if s.kind == MPP else (s.a,)  # mpp: power, voltage, current
                values = tuple(np.nan if x is None else x for x in values)
                ring.append(t, values)
                prev = self.latest.get(key)
                if prev is None or t >= prev.t:
                    self.latest[key] = Latest(t, values)
                touched.add(key)
        return touched

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            ring = self.rings.get(key)
            return ring.data() if ring is not None else None

    def recent(self, key: str, k: int) -> np.ndarray:
        with self._lock:
            ring = self.rings.get(key)
            return ring.last(k) if ring is not None else np.empty((0, 1), dtype=np.float32)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self.rings)
