"""The lab's measurement and statistics routes: ``/measurements/*`` (paged JSON or CSV) and
``/statistics/*``."""

# no "from __future__ import annotations": FastAPI reads these annotations at run time

import uuid
from datetime import datetime
from typing import Any

import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from ..db.queries import one
from . import query
from .common import (CSV_RESPONSE, ApiContext, Board, Channel, Ctx, EndTime, FormatQ, Limit, Offset, StartTime, check_range,
                     json_response, stream_csv, utc, wants_csv)
from .models import (IrradiancePage, IrradianceStatistics, MppPage, MppStatistics, Order, Sort, TemperaturePage,
                     TemperatureStatistics)

router = APIRouter()


def _check(conn: psycopg.Connection, exists: str | None, filters: dict, what: str) -> None:
    if exists and conn.execute(query.compose(exists), filters).fetchone() is None:
        raise HTTPException(404, detail=f"unknown {what}")


def measurements(ctx: ApiContext, request: Request, kind: query.Kind, filters: dict, exists: str | None, what: str,
                 t0: datetime | None, t1: datetime | None, limit: int, offset: int, order: Order,
                 fmt: Any) -> Response:
    t0, t1 = utc(t0), utc(t1, "end_time")
    check_range(t0, t1)
    direction = "ASC" if order is Order.asc else "DESC"
    if wants_csv(request, fmt):
        ctx.db(lambda conn: _check(conn, exists, filters, what))
        return stream_csv(ctx, query.compose("csv", kind, direction), {**filters, "t0": t0, "t1": t1},
                          f"{kind.name}.csv")

    def run(conn: psycopg.Connection) -> bytes:
        _check(conn, exists, filters, what)
        p = query.page(conn, kind, filters, t0, t1, limit, offset, direction, ctx.timescaledb(conn))
        return (f'{{"data":{p.data_json},"total":{p.total},"total_exact":{str(p.total_exact).lower()},'
                f'"page":{offset // limit + 1},"page_size":{limit}}}').encode()

    return json_response(ctx.db(run))


@router.get("/measurements/mpp", response_model=MppPage, responses=CSV_RESPONSE, tags=["lab"])
def measurements_mpp(ctx: Ctx, request: Request, board: Board = None, channel: Channel = None,
                     start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                     offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                     fmt: FormatQ = None) -> Response:
    """MPP rows of all channels, or of a board and/or channel, newest first by default."""
    return measurements(ctx, request, query.API_KINDS["mpp"], {"board": board, "channel": channel},
                        "channel_exists" if board is not None or channel is not None else None, "board/channel", start_time, end_time, limit, offset, order, fmt)


@router.get("/measurements/temperature", response_model=TemperaturePage, responses=CSV_RESPONSE, tags=["lab"])
def measurements_temperature(ctx: Ctx, request: Request, sensor_id: uuid.UUID | None = None,
                             start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                             offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                             fmt: FormatQ = None) -> Response:
    return measurements(ctx, request, query.API_KINDS["temperature"], {"sensor": sensor_id},
                        "temperature_sensor_exists" if sensor_id else None, "temperature sensor",
                        start_time, end_time, limit, offset, order, fmt)


@router.get("/measurements/irradiance", response_model=IrradiancePage, responses=CSV_RESPONSE, tags=["lab"])
def measurements_irradiance(ctx: Ctx, request: Request, sensor_id: uuid.UUID | None = None,
                            start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                            offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                            fmt: FormatQ = None) -> Response:
    return measurements(ctx, request, query.API_KINDS["irradiance"], {"sensor": sensor_id},
                        "irradiance_sensor_exists" if sensor_id else None, "irradiance sensor",
                        start_time, end_time, limit, offset, order, fmt)


def statistics(ctx: ApiContext, kind: str, filters: dict, exists: str | None, what: str, t0: datetime | None,
               t1: datetime | None, fields: tuple[str, ...]) -> dict:
    """Count, means and extremes over the raw rows; start_time/end_time echo the request."""
    t0, t1 = utc(t0), utc(t1, "end_time")
    check_range(t0, t1)

    def run(conn: psycopg.Connection) -> tuple:
        _check(conn, exists, filters, what)
        return one(conn, query.compose(f"{kind}_statistics", query.API_KINDS[kind]),
                                      {**filters, "t0": t0, "t1": t1})

    row = ctx.db(run)
    out: dict[str, Any] = {"count": int(row[0])}
    out.update({f: None if v is None else float(v) for f, v in zip(fields, row[1:-2])})
    out.update(start_time=t0, end_time=t1, first_timestamp=row[-2], last_timestamp=row[-1])
    return out


@router.get("/statistics/mpp", response_model=MppStatistics, tags=["lab"])
def statistics_mpp(ctx: Ctx, start_time: StartTime = None, end_time: EndTime = None, board: Board = None,
                   channel: Channel = None) -> dict:
    """Count, means and extremes over the raw rows (start_time/end_time echo the request)."""
    return statistics(ctx, "mpp", {"board": board, "channel": channel},
                      "channel_exists" if board is not None or channel is not None else None, "board/channel",
                      start_time, end_time, ("avg_current", "avg_voltage", "avg_power", "max_power", "min_power"))


@router.get("/statistics/temperature", response_model=TemperatureStatistics, tags=["lab"])
def statistics_temperature(ctx: Ctx, start_time: StartTime = None, end_time: EndTime = None,
                           sensor_id: uuid.UUID | None = None) -> dict:
    return statistics(ctx, "temperature", {"sensor": sensor_id}, "temperature_sensor_exists" if sensor_id else None,
                      "temperature sensor", start_time, end_time,
                      ("avg_temperature", "max_temperature", "min_temperature"))


@router.get("/statistics/irradiance", response_model=IrradianceStatistics, tags=["lab"])
def statistics_irradiance(ctx: Ctx, start_time: StartTime = None, end_time: EndTime = None,
                          sensor_id: uuid.UUID | None = None) -> dict:
    return statistics(ctx, "irradiance", {"sensor": sensor_id}, "irradiance_sensor_exists" if sensor_id else None,
                      "irradiance sensor", start_time, end_time, ("avg_irradiance", "max_irradiance", "min_irradiance"))
