"""The read API's query layer (no web framework here): named SQL from ``sql/queries/api.sql``,
the lab's functions, the plots' rollups and the report's code.

Paging deep into a large table: ``OFFSET 1000000`` makes PostgreSQL read and throw away a
million rows, and ``count(*)`` for ``total`` reads them all. Instead the pager counts rows from
the rollups the plots use (``*_rollup_1h`` / ``_1m``: ``n`` rows per bucket), exactly:

* whole hours inside the range come from the hourly rollup, the partial hours at the edges from
  the minute rollup, the partial minutes at the edges from the raw table;
* ranges whose rollups are not refreshed yet (``rollup_dirty`` on plain PostgreSQL, pending
  invalidations of the continuous aggregate with TimescaleDB) are counted from the raw table.

That gives ``total`` and, for any offset, the minute in which the page starts and ends; the
page is then read from the raw table inside that window with a residual offset below one
minute of rows. When the unrefreshed ranges are too large to count quickly (a big import
whose rollups are still being refreshed, a continuous aggregate never refreshed), ``total`` is the exact count up to ``COUNT_CAP``
or else the planner's estimate (``total_exact`` false) and the page uses a plain OFFSET.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import sql

from ..db import queries
from ..db.queries import one
from ..db.tables import KINDS as SERIES_KINDS
from ..db.tables import SeriesKind

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
USEC = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
COUNT_CAP = 10_000
MAX_RAW_COUNT_SPAN = timedelta(hours=6)  # unrefreshed time counted from raw rows, at most
MAX_INTERVALS = 200
MAX_REALTIME_LAG_S = 86400.0  # TimescaleDB: more unmaterialised data than this makes counting costly
FAR_PAST = datetime(2, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Kind:
    """A series kind (``db.tables``, the one kind -> table declaration) as the read API serves it."""

    series: SeriesKind
    cols: tuple[str, ...]  # the API's column order (docs/api.md: the lab's scripts read them by position)

    @property
    def name(self) -> str:  # mpp | temperature | irradiance
        return self.series.name

    @property
    def table(self) -> str:
        return self.series.table

    @property
    def key_cols(self) -> tuple[str, ...]:  # tie-breakers after "timestamp"
        return self.series.id_columns

    @property
    def filter(self) -> sql.SQL:
        return sql.SQL(queries.get("api", f"filter_{self.name}"))

    def rollup(self, level: str) -> str:
        return self.series.rollup(level)


_API_COLUMNS = {
    "mpp": ("timestamp", "current", "voltage", "power", "tracking_channel_board", "tracking_channel_channel"),
    "temperature": ("timestamp", "temperature", "temperature_sensor_id"),
    "irradiance": ("timestamp", "raw_reading", "irradiance", "irradiance_sensor_id"),
}
API_KINDS = {name: Kind(SERIES_KINDS[name], cols) for name, cols in _API_COLUMNS.items()}


def compose(name: str, kind: Kind | None = None, order: str = "ASC", rollup: str | None = None) -> sql.Composed:
    """A named api.sql template with its identifiers filled in."""
    if order not in ("ASC", "DESC"):
        raise ValueError(order)
    parts: dict[str, sql.Composable] = {}
    if kind is not None:
        direction = sql.SQL(order)
        parts.update(
            table=sql.Identifier(kind.table),
            cols=sql.SQL(", ").join(map(sql.Identifier, kind.cols)),
            filter=kind.filter,
            order=sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), direction)
                                     for c in ("timestamp", *kind.key_cols)),
            rollup=sql.Identifier(rollup or kind.rollup("1h")))
    template = queries.get("api", name)
    used = {k: v for k, v in parts.items() if "{" + k + "}" in template}
    return sql.SQL(template).format(**used)  # type: ignore[arg-type,unused-ignore]


# --- time arithmetic ------------------------------------------------------------

def floor(t: datetime, step: timedelta) -> datetime:
    return EPOCH + ((t - EPOCH) // step) * step


def ceil(t: datetime, step: timedelta) -> datetime:
    f = floor(t, step)
    return f if f == t else f + step


Interval = tuple[datetime, datetime]  # [lo, hi)


def merge(ivs: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(i for i in ivs if i[0] < i[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def subtract(ivs: list[Interval], cuts: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    cuts = merge(cuts)
    for lo, hi in merge(ivs):
        pos = lo
        for clo, chi in cuts:
            if chi <= pos or clo >= hi:
                continue
            if clo > pos:
                out.append((pos, clo))
            pos = max(pos, chi)
        if pos < hi:
            out.append((pos, hi))
    return out


def clip(ivs: list[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    return merge([(max(a, lo), min(b, hi)) for a, b in ivs])


def expand(ivs: list[Interval], step: timedelta) -> list[Interval]:
    return merge([(floor(a, step), ceil(b, step)) for a, b in ivs])


# --- counting from the rollups ------------------------------------------------------

@dataclass
class Seg:
    lo: datetime
    hi: datetime
    n: int
    level: str  # 1h | 1m | raw


def unrefreshed(conn: psycopg.Connection, kind: Kind, timescaledb: bool) -> list[Interval] | None:
    """Ranges whose rollups may be stale; None when that cannot be told (or counting through the
    rollups would cost as much as counting the rows)."""
    rows = conn.execute(compose("dirty_ranges"), {"kind": kind.name}).fetchall()
    ivs = [(a, b + USEC) for a, b in rows]
    if timescaledb:
        for level in ("1h", "1m"):
            try:
                with conn.transaction():
                    lag = conn.execute(compose("timescale_realtime_lag", kind),
                                       {"rollup": kind.rollup(level)}).fetchone()
                    if lag is None or (lag[0] is not None and lag[0] > MAX_REALTIME_LAG_S):
                        log.debug("%s: %s s of data not materialised", kind.rollup(level), lag and lag[0])
                        return None
                    rows = conn.execute(compose("timescale_invalid_ranges"), {"rollup": kind.rollup(level)}).fetchall()
            except psycopg.DatabaseError as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise
                log.debug("TimescaleDB invalidation catalog not readable: %s", exc)
                return None
            ivs += [(a, b) for a, b in rows]
    return merge(ivs)


def planner_rows(explain: list) -> int:
    """The planner's row estimate from ``EXPLAIN (FORMAT JSON)``: a list of one plan whose top node
    says ``"Plan Rows"``."""
    (plan,) = explain
    return int(plan["Plan"]["Plan Rows"])


def _counts(conn: psycopg.Connection, kind: Kind, params: dict, level: str, iv: Interval) -> list[Seg]:
    if level == "raw":
        rows = conn.execute(compose("raw_counts", kind), {**params, "w0": iv[0], "w1": iv[1]}).fetchall()
        return [Seg(max(b, iv[0]), min(b + MINUTE, iv[1]), int(n), "raw") for b, n in rows]
    step = HOUR if level == "1h" else MINUTE
    rows = conn.execute(compose("rollup_counts", kind, rollup=kind.rollup(level)),
                        {**params, "w0": iv[0], "w1": iv[1]}).fetchall()
    return [Seg(b, b + step, int(n), level) for b, n in rows]


def segments(conn: psycopg.Connection, kind: Kind, params: dict, t0: datetime | None, t1: datetime | None,
             timescaledb: bool) -> list[Seg] | None:
    """Exact row counts of the selection in [t0, t1] as time-ordered segments, or None when the
    unrefreshed part is too large to count quickly."""
    dirty = unrefreshed(conn, kind, timescaledb)
    if dirty is None or len(dirty) > MAX_INTERVALS:
        return None
    first, last = one(conn, compose("extent", kind), params)
    bounds: list[Interval] = [(first, last)] if first is not None else []
    bounds += [d for d in dirty if d[0] > FAR_PAST and d[1] < FAR_FUTURE]
    if not bounds:
        return []
    if t0 is None or t0 <= FAR_PAST:
        lo, open0 = floor(min(b[0] for b in bounds), HOUR), True
    else:
        lo, open0 = t0, False
    if t1 is None or t1 >= FAR_FUTURE:
        hi, open1 = ceil(max(b[1] for b in bounds), HOUR), True
    else:
        hi, open1 = t1 + USEC, False
    if open0 and any(d[0] < lo for d in dirty) or open1 and any(d[1] > hi for d in dirty):
        return None  # unrefreshed range without an end (TimescaleDB: never materialised)
    if hi <= lo:
        return []
    lo_m, hi_m, lo_h, hi_h = ceil(lo, MINUTE), floor(hi, MINUTE), ceil(lo, HOUR), floor(hi, HOUR)
    minutes: list[Interval] = []
    hours: list[Interval] = []
    if lo_m >= hi_m:
        raw = [(lo, hi)]
    else:
        d_min = clip(expand(dirty, MINUTE), lo_m, hi_m)
        raw = merge([(lo, lo_m), (hi_m, hi), *d_min])
        if lo_h >= hi_h:
            minutes = subtract([(lo_m, hi_m)], raw)
        else:
            d_hour = clip(expand(dirty, HOUR), lo_h, hi_h)
            minutes = subtract([(lo_m, lo_h), (hi_h, hi_m), *d_hour], raw)
            hours = subtract([(lo_h, hi_h)], d_hour)
    raw = clip(raw, lo, hi)
    if sum((b - a for a, b in raw), timedelta()) > MAX_RAW_COUNT_SPAN + 2 * MINUTE \
            or len(raw) + len(minutes) + len(hours) > MAX_INTERVALS:
        return None
    params = {**params, "t0": t0, "t1": t1}
    segs: list[Seg] = []
    for level, ivs in (("1h", hours), ("1m", minutes), ("raw", raw)):
        for iv in ivs:
            segs += _counts(conn, kind, params, level, iv)
    segs.sort(key=lambda s: s.lo)
    return [s for s in segs if s.n > 0]


def _locate(conn: psycopg.Connection, rows: Rows, segs: list[Seg], index: int, desc: bool,
            memo: dict) -> tuple[Seg, int]:
    """The segment (at minute resolution) holding row ``index`` of ``segs`` (in their order), and
    the number of rows before it."""
    before = 0
    for s in segs:
        if before + s.n > index:
            if s.level != "1h":
                return s, before
            if s.lo not in memo:  # the first and the last row of a page are often in the same hour
                fine = _counts(conn, rows.kind, rows.params, "1m", (s.lo, s.hi))
                if sum(f.n for f in fine) != s.n:  # the two rollups disagree: count the hour from raw rows
                    fine = _counts(conn, rows.kind, rows.params, "raw", (s.lo, s.hi))
                memo[s.lo] = fine[::-1] if desc else fine
            fine = memo[s.lo]
            for f in fine:
                if before + f.n > index:
                    return f, before
                before += f.n
            return s, before - s.n  # not reached when the counts agree
        before += s.n
    raise IndexError(index)


class _TTLCache:
    """Counts reused for a few seconds: a client paging through a selection pays for the counting
    once, not on every page (rows written meanwhile show up in ``total`` at most ``ttl_s`` later)."""

    def __init__(self, ttl_s: float = 10.0, size: int = 256) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._data: OrderedDict[tuple, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> object | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None or time.monotonic() - hit[0] > self.ttl_s:
                return None
            return hit[1]

    def put(self, key: tuple, value: object) -> None:
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


COUNTS = _TTLCache()


@dataclass
class Page:
    data_json: str
    total: int
    total_exact: bool


@dataclass(frozen=True)
class Rows:
    """The rows a request selects: ``kind``'s rows matching ``filters`` (board/channel or sensor, None
    matches any) from ``t0`` to ``t1`` (None: open)."""

    kind: Kind
    filters: dict
    t0: datetime | None = None
    t1: datetime | None = None

    @property
    def params(self) -> dict:
        """The named queries' parameters."""
        return {**self.filters, "t0": self.t0, "t1": self.t1}


def page(conn: psycopg.Connection, rows: Rows, limit: int, offset: int, order: str, timescaledb: bool,
         cache: _TTLCache | None = COUNTS) -> Page:
    """``limit`` of ``rows`` from ``offset`` on, in time ``order`` (ASC | DESC), with their total."""
    kind, filters, t0, t1 = rows.kind, rows.filters, rows.t0, rows.t1
    params = rows.params
    key = (conn.info.dsn, kind.name, tuple(sorted(filters.items())), t0, t1)
    segs = cache.get(key) if cache is not None else None
    if segs is None:
        segs = segments(conn, kind, filters, t0, t1, timescaledb)
        if cache is not None and segs is not None:
            cache.put(key, segs)
    query = compose("page", kind, order)
    if segs is None:
        n = one(conn, compose("capped_count", kind), {**params, "cap": COUNT_CAP + 1})[0]
        exact = n <= COUNT_CAP
        if not exact:
            n = max(planner_rows(one(conn, compose("estimate", kind), params)[0]), COUNT_CAP + 1)
        data = one(conn, query, {**params, "w0": None, "w1": None, "limit": limit, "offset": offset})[0]
        return Page(data, int(n), exact)
    assert isinstance(segs, list)
    total = sum(s.n for s in segs)
    if offset >= total or limit == 0:
        return Page("[]", total, True)
    ordered = segs if order == "ASC" else segs[::-1]
    last = min(offset + limit, total) - 1
    memo: dict = {}
    seg_a, before_a = _locate(conn, rows, ordered, offset, order == "DESC", memo)
    seg_b, _ = _locate(conn, rows, ordered, last, order == "DESC", memo)
    w0, w1 = (seg_a.lo, seg_b.hi) if order == "ASC" else (seg_b.lo, seg_a.hi)
    data = one(conn, query, {**params, "w0": w0, "w1": w1, "limit": limit,
                                    "offset": offset - before_a})[0]
    return Page(data, total, True)


def copy_csv(conn: psycopg.Connection, statement: sql.Composed, params: dict, chunk_bytes: int = 1 << 20) -> Generator[bytes, None, None]:
    """COPY ... TO STDOUT as CSV blocks of about ``chunk_bytes`` (constant memory)."""
    buf: list[bytes] = []
    size = 0
    with conn.cursor() as cur, cur.copy(statement, params) as copy:
        for block in copy:
            buf.append(bytes(block))
            size += len(block)
            if size >= chunk_bytes:
                yield b"".join(buf)
                buf, size = [], 0
    if buf:
        yield b"".join(buf)
