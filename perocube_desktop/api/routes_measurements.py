"""The lab's measurement and statistics routes: ``/measurements/*`` (paged JSON or CSV) and
``/statistics/*``."""

# no "from __future__ import annotations": FastAPI reads these annotations at run time

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from ..db.queries import one
from . import query
from .common import (CSV_RESPONSE, ApiContext, Board, Channel, Ctx, EndTime, FormatQ, Limit, Offset, StartTime, check_range,
                     json_response, stream_csv, utc, wants_csv)
from .models import (IrradiancePage, IrradianceStatistics, MppPage, MppStatistics, Order, Sort, TemperaturePage,
                     TemperatureStatistics)

router = APIRouter()


@dataclass(frozen=True)
class Subject:
    """What a request asks about: one kind's rows, those of a board/channel or a sensor when it names
    one (``filters``, None = any), which must then exist (``exists``: the query that finds it, None
    when nothing is named; ``what``: its name in the 404)."""

    kind: query.Kind
    filters: dict
    exists: sql.Composed | None
    what: str

    def check(self, conn: psycopg.Connection) -> None:
        if self.exists is not None and conn.execute(self.exists, self.filters).fetchone() is None:
            raise HTTPException(404, detail=f"unknown {self.what}")


def _channel(board: int | None, channel: int | None) -> Subject:
    named = board is not None or channel is not None
    return Subject(query.API_KINDS["mpp"], {"board": board, "channel": channel},
                   query.compose("channel_exists") if named else None, "board/channel")


def _sensor(kind: str, sensor_id: uuid.UUID | None) -> Subject:
    return Subject(query.API_KINDS[kind], {"sensor": sensor_id},
                   query.compose(f"{kind}_sensor_exists") if sensor_id else None, f"{kind} sensor")


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int
    order: Order


def measurements(ctx: ApiContext, subject: Subject, t0: datetime | None, t1: datetime | None, paging: Paging,
                 csv: bool) -> Response:
    """The subject's rows from t0 to t1: a page of JSON with its total, or (``csv``) all of them streamed."""
    rows = query.Rows(subject.kind, subject.filters, utc(t0), utc(t1, "end_time"))
    check_range(rows.t0, rows.t1)
    direction = "ASC" if paging.order is Order.asc else "DESC"
    if csv:
        ctx.db(subject.check)
        return stream_csv(ctx, query.compose("csv", rows.kind, direction), rows.params, f"{rows.kind.name}.csv")

    def run(conn: psycopg.Connection) -> bytes:
        subject.check(conn)
        p = query.page(conn, rows, paging.limit, paging.offset, direction, ctx.timescaledb(conn))
        return (f'{{"data":{p.data_json},"total":{p.total},"total_exact":{str(p.total_exact).lower()},'
                f'"page":{paging.offset // paging.limit + 1},"page_size":{paging.limit}}}').encode()

    return json_response(ctx.db(run))


@router.get("/measurements/mpp", response_model=MppPage, responses=CSV_RESPONSE, tags=["lab"])
def measurements_mpp(ctx: Ctx, request: Request, board: Board = None, channel: Channel = None,
                     start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                     offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                     fmt: FormatQ = None) -> Response:
    """MPP rows of all channels, or of a board and/or channel, newest first by default."""
    return measurements(ctx, _channel(board, channel), start_time, end_time, Paging(limit, offset, order),
                        wants_csv(request, fmt))


@router.get("/measurements/temperature", response_model=TemperaturePage, responses=CSV_RESPONSE, tags=["lab"])
def measurements_temperature(ctx: Ctx, request: Request, sensor_id: uuid.UUID | None = None,
                             start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                             offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                             fmt: FormatQ = None) -> Response:
    return measurements(ctx, _sensor("temperature", sensor_id), start_time, end_time, Paging(limit, offset, order),
                        wants_csv(request, fmt))


@router.get("/measurements/irradiance", response_model=IrradiancePage, responses=CSV_RESPONSE, tags=["lab"])
def measurements_irradiance(ctx: Ctx, request: Request, sensor_id: uuid.UUID | None = None,
                            start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                            offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                            fmt: FormatQ = None) -> Response:
    return measurements(ctx, _sensor("irradiance", sensor_id), start_time, end_time, Paging(limit, offset, order),
                        wants_csv(request, fmt))


def statistics(ctx: ApiContext, subject: Subject, t0: datetime | None, t1: datetime | None,
               fields: tuple[str, ...]) -> dict:
    """Count, means and extremes over the raw rows; start_time/end_time echo the request."""
    rows = query.Rows(subject.kind, subject.filters, utc(t0), utc(t1, "end_time"))
    check_range(rows.t0, rows.t1)

    def run(conn: psycopg.Connection) -> tuple:
        subject.check(conn)
        return one(conn, query.compose(f"{rows.kind.name}_statistics", rows.kind), rows.params)

    row = ctx.db(run)
    out: dict[str, Any] = {"count": int(row[0])}
    out.update({f: None if v is None else float(v) for f, v in zip(fields, row[1:-2])})
    out.update(start_time=rows.t0, end_time=rows.t1, first_timestamp=row[-2], last_timestamp=row[-1])
    return out


@router.get("/statistics/mpp", response_model=MppStatistics, tags=["lab"])
def statistics_mpp(ctx: Ctx, start_time: StartTime = None, end_time: EndTime = None, board: Board = None,
                   channel: Channel = None) -> dict:
    """Count, means and extremes over the raw rows (start_time/end_time echo the request)."""
    return statistics(ctx, _channel(board, channel), start_time, end_time,
                      ("avg_current", "avg_voltage", "avg_power", "max_power", "min_power"))


@router.get("/statistics/temperature", response_model=TemperatureStatistics, tags=["lab"])
def statistics_temperature(ctx: Ctx, start_time: StartTime = None, end_time: EndTime = None,
                           sensor_id: uuid.UUID | None = None) -> dict:
    return statistics(ctx, _sensor("temperature", sensor_id), start_time, end_time,
                      ("avg_temperature", "max_temperature", "min_temperature"))


@router.get("/statistics/irradiance", response_model=IrradianceStatistics, tags=["lab"])
def statistics_irradiance(ctx: Ctx, start_time: StartTime = None, end_time: EndTime = None,
                          sensor_id: uuid.UUID | None = None) -> dict:
    return statistics(ctx, _sensor("irradiance", sensor_id), start_time, end_time,
                      ("avg_irradiance", "max_irradiance", "min_irradiance"))
