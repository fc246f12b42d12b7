"""History for the plots, downsampled on the server. No Qt.

The window is cut into at most ``max_points`` buckets with ``date_bin`` (plain
PostgreSQL and TimescaleDB alike); each bucket gives mean, min and max. The source is
picked by bucket width: raw rows below one minute, the 1-minute rollup below one hour,
the 1-hour rollup above. Short windows of raw data come back unbinned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from ..db.tables import KINDS
from ..series_key import SeriesKey

FIELDS = {k: v.fields for k, v in KINDS.items()}
RAW = {k: v.table for k, v in KINDS.items()}
ID_COLS = {k: v.id_columns for k, v in KINDS.items()}


@dataclass
class Series:
    t: np.ndarray  # unix seconds
    mean: np.ndarray  # (n, fields)
    lo: np.ndarray
    hi: np.ndarray
    source: str  # raw | binned raw | 1m | 1h


def choose_source(window_s: float, max_points: int) -> tuple[str, float]:
    stride = window_s / max_points
    if stride < 60:
        return "raw", stride
    if stride < 3600:
        return "1m", stride
    return "1h", stride


def _id_filter(kind: str, keys: list[SeriesKey]) -> tuple[sql.Composable, list]:
    if kind == "mpp":
        boards, chans = _channels(keys)
        return (sql.SQL("(tracking_channel_board, tracking_channel_channel) IN "
                        "(SELECT * FROM unnest(%s::int[], %s::int[]))"), [boards, chans])
    return sql.SQL("{} = ANY(%s::uuid[])").format(sql.Identifier(ID_COLS[kind][0])), [[k.sensor for k in keys]]


def _channels(keys: list[SeriesKey]) -> tuple[list[int | None], list[int | None]]:
    """Boards and channels of MPP keys, as two arrays for ``unnest``."""
    return [k.board for k in keys], [k.channel for k in keys]


def load(conn: psycopg.Connection, kind: str, keys: list[SeriesKey], t0: float, t1: float,
         max_points: int = 2000, raw_limit_s: float = 5.0) -> dict[SeriesKey, Series]:
    """History of the series ``keys`` (all of ``kind``) in [t0, t1) unix seconds."""
    if not keys:
        return {}
    source, stride = choose_source(t1 - t0, max_points)
    where, params = _id_filter(kind, keys)
    id_cols = sql.SQL(", ").join(map(sql.Identifier, ID_COLS[kind]))
    fields = FIELDS[kind]
    if source == "raw" and stride <= raw_limit_s:
        cols: sql.Composable = sql.SQL(", ").join(sql.SQL("{f}, {f}, {f}").format(f=sql.Identifier(f)) for f in fields)
        query = sql.SQL(
            "SELECT {ids}, extract(epoch FROM \"timestamp\")::float8, {cols} FROM {tbl} "
            "WHERE {where} AND \"timestamp\" >= to_timestamp(%s) AND \"timestamp\" < to_timestamp(%s) "
            "ORDER BY {ids}, \"timestamp\"").format(ids=id_cols, cols=cols, tbl=sql.Identifier(RAW[kind]), where=where)
        label = "raw"
    elif source == "raw":
        cols = sql.SQL(", ").join(sql.SQL("avg({f}), min({f}), max({f})").format(f=sql.Identifier(f)) for f in fields)
        query = sql.SQL(
            "SELECT {ids}, extract(epoch FROM date_bin(make_interval(secs => %s), \"timestamp\", 'epoch'))::float8 AS b, "
            "{cols} FROM {tbl} WHERE {where} AND \"timestamp\" >= to_timestamp(%s) AND \"timestamp\" < to_timestamp(%s) "
            "GROUP BY {ids}, b ORDER BY {ids}, b").format(ids=id_cols, cols=cols, tbl=sql.Identifier(RAW[kind]),
                                                         where=where)
        params = [stride, *params]
        label = "binned raw"
    else:
        # the rollups through the fallback functions (migration 0008): buckets of a range that was
        # written but not yet rolled up come from the raw rows, so fresh history never shows a gap
        width = "1 minute" if source == "1m" else "1 hour"
        if kind == "mpp":
            boards, chans = _channels(keys)
            src = sql.SQL("perocube_mpp_rollup(%s::interval, %s::int[], %s::int[], to_timestamp(%s), to_timestamp(%s))")
            src_params: list = [width, boards, chans]
            cols = sql.SQL(", ").join(
                sql.SQL("sum({m} * n) / nullif(sum(n), 0), min({lo}), max({hi})").format(
                    m=sql.Identifier(f + "_mean"), lo=sql.Identifier(f + "_min"), hi=sql.Identifier(f + "_max"))
                for f in fields)
            out_ids: sql.Composable = id_cols
        else:
            src = sql.SQL("perocube_sensor_rollup(%s, %s::interval, %s::uuid[], to_timestamp(%s), to_timestamp(%s))")
            src_params = [kind, width, [k.sensor for k in keys]]
            cols = sql.SQL("sum(value_mean * n) / nullif(sum(n), 0), min(value_min), max(value_max)")
            out_ids = sql.SQL("sensor_id")
        query = sql.SQL(
            "SELECT {ids}, extract(epoch FROM date_bin(make_interval(secs => %s), bucket, 'epoch'))::float8 AS b, "
            "{cols} FROM {src} GROUP BY {ids}, b ORDER BY {ids}, b").format(ids=out_ids, cols=cols, src=src)
        params = [max(stride, 60.0 if source == "1m" else 3600.0), *src_params]
        label = source
    params = [*params, t0, t1]
    with conn.cursor(binary=True) as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    return _split(kind, rows, len(fields), label)


def _split(kind: str, rows: list[tuple], nfields: int, label: str) -> dict[SeriesKey, Series]:
    nid = len(ID_COLS[kind])
    out: dict[SeriesKey, Series] = {}
    if not rows:
        return out
    keys = [SeriesKey.mpp(r[0], r[1]) if kind == "mpp" else SeriesKey.of_sensor(kind, str(r[0])) for r in rows]
    arr = np.array([r[nid:] for r in rows], dtype=float)
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or keys[i] != keys[start]:
            block = arr[start:i]
            vals = block[:, 1:].reshape(len(block), nfields, 3)
            out[keys[start]] = Series(block[:, 0], vals[:, :, 0], vals[:, :, 1], vals[:, :, 2], label)
            start = i
    return out


def extent(conn: psycopg.Connection, keys: list[SeriesKey]) -> tuple[float | None, float | None]:
    """First and last MPP timestamp of the channels ``keys``."""
    from ..db import queries

    boards, chans = _channels(keys)
    row = conn.execute(queries.get("monitor", "data_extent"), (boards, chans)).fetchone()
    return (row[0], row[1]) if row else (None, None)
