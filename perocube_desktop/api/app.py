"""The FastAPI application: the lab's read routes (``../shared/spec/read-api.md``) on real data.

Handlers are plain functions run on the server's thread pool; every database access goes
through ``ReadOnlyPool`` (read-only transactions) and the query layer (``api.query``, named SQL
in ``sql/queries/api.sql``, the lab's functions, the report's code). JSON arrays are built by
PostgreSQL (``json_agg``), CSV by ``COPY ... TO STDOUT``.
"""

# no "from __future__ import annotations": FastAPI reads the closures' annotations at run time

import hmac
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from typing import Annotated, Any, TypeVar

import anyio
import psycopg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from .. import __version__
from ..config import ReportSettings
from ..db import queries
from . import query
from .pool import PoolBusy, ReadOnlyPool

log = logging.getLogger(__name__)

T = TypeVar("T")
INT4 = 2**31 - 1


@dataclass
class ApiContext:
    """What the routes need: the pool, the report settings (figures) and the token (None: no auth)."""

    pool: ReadOnlyPool
    report: ReportSettings = field(default_factory=ReportSettings)
    token: str | None = None
    _timescaledb: bool | None = None

    def timescaledb(self, conn: psycopg.Connection) -> bool:
        if self._timescaledb is None:
            self._timescaledb = bool(conn.execute(queries.get("api", "health")).fetchone()[1])
        return self._timescaledb


# --- response models (documentation; the JSON itself comes from PostgreSQL) -----------

class MppRow(BaseModel):
    timestamp: datetime
    current: float | None
    voltage: float | None
    power: float | None
    tracking_channel_board: int
    tracking_channel_channel: int


class TemperatureRow(BaseModel):
    timestamp: datetime
    temperature: float | None
    temperature_sensor_id: uuid.UUID


class IrradianceRow(BaseModel):
    timestamp: datetime
    raw_reading: int | None
    irradiance: float | None
    irradiance_sensor_id: uuid.UUID


class _Page(BaseModel):
    total: int
    total_exact: bool
    page: int
    page_size: int


class MppPage(_Page):
    data: list[MppRow]


class TemperaturePage(_Page):
    data: list[TemperatureRow]


class IrradiancePage(_Page):
    data: list[IrradianceRow]


class Health(BaseModel):
    status: str
    timestamp: datetime
    database: str
    timescaledb: bool | None
    version: str
    database_error: str | None = None


class Device(BaseModel):
    name: str
    nomad_id: uuid.UUID | None
    technology: str | None
    form_factor: str | None
    experiment_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    producer_id: uuid.UUID | None
    date_produced: date | None
    date_encapsulated: date | None
    encapsulation: str | None
    area: float | None
    initial_pce: float | None


class Scientist(BaseModel):
    scientist_id: uuid.UUID
    name: str


class Experiment(BaseModel):
    experiment_id: uuid.UUID
    name: str
    start_date: date | None
    end_date: date | None
    scientists: list[Scientist]


class MppStatistics(BaseModel):
    count: int
    avg_current: float | None
    avg_voltage: float | None
    avg_power: float | None
    max_power: float | None
    min_power: float | None
    start_time: datetime | None
    end_time: datetime | None
    first_timestamp: datetime | None
    last_timestamp: datetime | None


class TemperatureStatistics(BaseModel):
    count: int
    avg_temperature: float | None
    max_temperature: float | None
    min_temperature: float | None
    start_time: datetime | None
    end_time: datetime | None
    first_timestamp: datetime | None
    last_timestamp: datetime | None


class IrradianceStatistics(BaseModel):
    count: int
    avg_irradiance: float | None
    max_irradiance: float | None
    min_irradiance: float | None
    start_time: datetime | None
    end_time: datetime | None
    first_timestamp: datetime | None
    last_timestamp: datetime | None


class PixelInfo(BaseModel):
    device: str
    pixel: str
    active_area: float | None
    device_area: float | None
    board: int | None
    channel: int | None
    connected: bool | None
    activity_start: datetime | None
    activity_end: datetime | None
    first_connection_event_time: datetime | None
    last_event_time: datetime | None
    last_event_type_recorded: str | None


class PixelRow(BaseModel):
    timestamp: datetime
    current: float | None
    voltage: float | None
    power: float | None
    tracking_channel_board: int
    tracking_channel_channel: int
    connection_event_time: datetime
    n: int | None = None
    power_min: float | None = None
    power_max: float | None = None


class PixelSeries(BaseModel):
    device: str
    pixel: str
    resolution: str
    data: list[PixelRow]


class BoardChannelStatus(BaseModel):
    board_number: int
    channel_number: int
    solar_cell_name: str | None
    pixel_identifier: str | None
    is_active: int
    last_event_time: datetime | None
    last_event_type: str | None


class Order(str, Enum):
    asc = "asc"
    desc = "desc"


class Sort(str, Enum):
    timestamp = "timestamp"


class Format(str, Enum):
    json = "json"
    csv = "csv"


class Resolution(str, Enum):
    raw = "raw"
    m1 = "1m"
    h1 = "1h"


# --- helpers ----------------------------------------------------------------------

def _utc(t: datetime | None, name: str = "start_time") -> datetime | None:
    """Naive = UTC; any offset converted to UTC (PostgreSQL takes offsets up to 15:59 only)."""
    if t is None:
        return None
    try:
        return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    except OverflowError:
        raise HTTPException(422, detail=[{"loc": ["query", name], "msg": "time out of range",
                                          "type": "value_error"}]) from None


def _check_range(t0: datetime | None, t1: datetime | None) -> None:
    if t0 is not None and t1 is not None and t1 < t0:
        raise HTTPException(422, detail=[{"loc": ["query", "end_time"], "msg": "end_time is before start_time",
                                          "type": "value_error"}])


def _wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt is Format.csv
    return "text/csv" in request.headers.get("accept", "")


def _json(text: str | bytes) -> Response:
    return Response(content=text, media_type="application/json")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


StartTime = Annotated[datetime | None, Query(description="ISO 8601; naive = UTC; inclusive")]
EndTime = Annotated[datetime | None, Query(description="ISO 8601; naive = UTC; inclusive")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page (JSON); CSV has no page limit")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="rows to skip (JSON)")]
Board = Annotated[int | None, Query(ge=0, le=INT4)]
Channel = Annotated[int | None, Query(ge=0, le=INT4)]
FormatQ = Annotated[Format | None, Query(alias="format", description="csv streams every matching row; "
                                                                     "also chosen by Accept: text/csv")]

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON page, or CSV (all rows)"}}
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown device, pixel, channel or sensor"},
    503: {"description": "database unavailable (the reason in `detail`)"}}


def create_app(ctx: ApiContext) -> FastAPI:
    bearer = HTTPBearer(auto_error=False, description="required when the server listens on a non-loopback address")

    def authorise(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if ctx.token is None:
            return
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), ctx.token.encode()):
            raise HTTPException(401, detail="a valid bearer token is required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(title="Perocube Desktop read API", version=__version__,
                  description="Read-only HTTP access to the PeroCube lab's data: the lab's routes "
                              "(`/measurements/*`, `/statistics/*`, `/devices`, `/experiments`, `/health`) "
                              "on real data, plus per-pixel series through the wiring history, the report's "
                              "figures of merit, board status and CSV streaming. See docs/api.md.")
    router = APIRouter(dependencies=[Depends(authorise)], responses=ERRORS)

    def db(fn: Callable[[psycopg.Connection], T]) -> T:
        return ctx.pool.run(fn)

    # --- errors: 422 naming the parameter, 503 for the database, never a traceback ----
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={BaseException: str})
        names = [".".join(str(p) for p in e.get("loc", ())[1:]) or str(e.get("loc")) for e in errors]
        message = "; ".join(f"{n}: {e.get('msg')}" for n, e in zip(names, errors))
        return JSONResponse({"detail": errors, "message": f"invalid parameter {message}"}, status_code=422)

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        if isinstance(exc, psycopg.errors.QueryCanceled):
            reason = f"the query took longer than {ctx.pool.statement_timeout_s:g} s: narrow the time range or use CSV"
        else:
            reason = f"database unavailable: {_first_line(exc)}"
        log.warning("%s %s: %s", request.method, request.url.path, reason)
        return JSONResponse({"detail": reason}, status_code=503)

    @app.exception_handler(PoolBusy)
    async def _busy(request: Request, exc: PoolBusy) -> JSONResponse:
        return JSONResponse({"detail": f"database busy: {exc}"}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)

    # --- health (no token: tells only whether the database answers) -------------------
    @app.get("/health", response_model=Health, tags=["lab"])
    def health() -> Response:
        now = datetime.now(timezone.utc)
        try:
            _, ts = db(lambda c: query.one(c.execute(queries.get("api", "health")).fetchone()))
        except (psycopg.Error, PoolBusy) as exc:
            body = Health(status="degraded", timestamp=now, database="unreachable", timescaledb=None,
                          version=__version__, database_error=_first_line(exc))
            return _json(body.model_dump_json())
        return _json(Health(status="ok", timestamp=now, database="reachable", timescaledb=bool(ts),
                            version=__version__).model_dump_json())

    # --- measurements --------------------------------------------------------------
    def measurements(request: Request, kind: query.Kind, filters: dict, exists: str | None,
                     what: str, t0: datetime | None, t1: datetime | None, limit: int, offset: int,
                     order: Order, fmt: Format | None) -> Response:
        t0, t1 = _utc(t0), _utc(t1, "end_time")
        _check_range(t0, t1)

        def check(conn: psycopg.Connection) -> None:
            if exists and conn.execute(query.compose(exists), filters).fetchone() is None:
                raise HTTPException(404, detail=f"unknown {what}")

        direction = "ASC" if order is Order.asc else "DESC"
        if _wants_csv(request, fmt):
            db(check)
            return stream_csv(query.compose("csv", kind, direction), {**filters, "t0": t0, "t1": t1},
                              f"{kind.name}.csv")

        def run(conn: psycopg.Connection) -> bytes:
            check(conn)
            p = query.page(conn, kind, filters, t0, t1, limit, offset, direction, ctx.timescaledb(conn))
            return (f'{{"data":{p.data_json},"total":{p.total},"total_exact":{str(p.total_exact).lower()},'
                    f'"page":{offset // limit + 1},"page_size":{limit}}}').encode()

        return _json(db(run))

    def stream_csv(statement, params: dict, filename: str) -> Response:
        cm = ctx.pool.connection()
        conn = cm.__enter__()
        gen = query.copy_csv(conn, statement, params)
        try:
            first = next(gen, b"")  # starts the COPY: a database error is still an HTTP error here
        except BaseException:
            cm.__exit__(*sys.exc_info())
            raise

        def finish() -> None:
            try:
                gen.close()
            finally:
                cm.__exit__(None, None, None)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield first
                while True:
                    chunk = await anyio.to_thread.run_sync(next, gen, None)
                    if chunk is None:
                        break
                    yield chunk
            except psycopg.Error as exc:  # headers are sent: all we can do is log and cut the stream
                log.error("CSV stream %s interrupted: %s", filename, _first_line(exc))
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(finish)

        return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @router.get("/measurements/mpp", response_model=MppPage, responses=CSV_RESPONSE, tags=["lab"])
    def measurements_mpp(request: Request, board: Board = None, channel: Channel = None,
                         start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                         offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                         fmt: FormatQ = None) -> Response:
        """MPP rows of all channels, or of a board and/or channel, newest first by default."""
        filters = {"board": board, "channel": channel}
        exists = "channel_exists" if board is not None or channel is not None else None
        return measurements(request, query.KINDS["mpp"], filters, exists, "board/channel", start_time, end_time,
                            limit, offset, order, fmt)

    @router.get("/measurements/temperature", response_model=TemperaturePage, responses=CSV_RESPONSE, tags=["lab"])
    def measurements_temperature(request: Request, sensor_id: uuid.UUID | None = None,
                                 start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                                 offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                                 fmt: FormatQ = None) -> Response:
        filters = {"sensor": sensor_id}
        return measurements(request, query.KINDS["temperature"], filters,
                            "temperature_sensor_exists" if sensor_id else None, "temperature sensor",
                            start_time, end_time, limit, offset, order, fmt)

    @router.get("/measurements/irradiance", response_model=IrradiancePage, responses=CSV_RESPONSE, tags=["lab"])
    def measurements_irradiance(request: Request, sensor_id: uuid.UUID | None = None,
                                start_time: StartTime = None, end_time: EndTime = None, limit: Limit = 100,
                                offset: Offset = 0, sort: Sort = Sort.timestamp, order: Order = Order.desc,
                                fmt: FormatQ = None) -> Response:
        filters = {"sensor": sensor_id}
        return measurements(request, query.KINDS["irradiance"], filters,
                            "irradiance_sensor_exists" if sensor_id else None, "irradiance sensor",
                            start_time, end_time, limit, offset, order, fmt)

    # --- registry ------------------------------------------------------------------
    @router.get("/devices", response_model=list[Device], tags=["lab"])
    def devices(experiment_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None) -> Response:
        return _json(db(lambda c: c.execute(queries.get("api", "devices"),
                                            {"experiment_id": experiment_id, "owner_id": owner_id}).fetchone()[0]))

    @router.get("/experiments", response_model=list[Experiment], tags=["lab"])
    def experiments(project_id: uuid.UUID | None = None, scientist_id: uuid.UUID | None = None) -> Response:
        return _json(db(lambda c: c.execute(queries.get("api", "experiments"),
                                            {"project_id": project_id, "scientist_id": scientist_id}).fetchone()[0]))

    # --- statistics ----------------------------------------------------------------
    def statistics(kind: str, filters: dict, exists: str | None, what: str, t0: datetime | None,
                   t1: datetime | None, fields: tuple[str, ...]) -> dict:
        t0, t1 = _utc(t0), _utc(t1, "end_time")
        _check_range(t0, t1)

        def run(conn: psycopg.Connection) -> tuple:
            if exists and conn.execute(query.compose(exists), filters).fetchone() is None:
                raise HTTPException(404, detail=f"unknown {what}")
            return query.one(conn.execute(query.compose(f"{kind}_statistics", query.KINDS[kind]),
                                          {**filters, "t0": t0, "t1": t1}).fetchone())

        row = db(run)
        out: dict[str, Any] = {"count": int(row[0])}
        out.update({f: None if v is None else float(v) for f, v in zip(fields, row[1:-2])})
        out.update(start_time=t0, end_time=t1, first_timestamp=row[-2], last_timestamp=row[-1])
        return out

    @router.get("/statistics/mpp", response_model=MppStatistics, tags=["lab"])
    def statistics_mpp(start_time: StartTime = None, end_time: EndTime = None, board: Board = None,
                       channel: Channel = None) -> dict:
        """Count, means and extremes over the raw rows (start_time/end_time echo the request)."""
        filters = {"board": board, "channel": channel}
        return statistics("mpp", filters, "channel_exists" if board is not None or channel is not None else None,
                          "board/channel", start_time, end_time,
                          ("avg_current", "avg_voltage", "avg_power", "max_power", "min_power"))

    @router.get("/statistics/temperature", response_model=TemperatureStatistics, tags=["lab"])
    def statistics_temperature(start_time: StartTime = None, end_time: EndTime = None,
                               sensor_id: uuid.UUID | None = None) -> dict:
        return statistics("temperature", {"sensor": sensor_id}, "temperature_sensor_exists" if sensor_id else None,
                          "temperature sensor", start_time, end_time,
                          ("avg_temperature", "max_temperature", "min_temperature"))

    @router.get("/statistics/irradiance", response_model=IrradianceStatistics, tags=["lab"])
    def statistics_irradiance(start_time: StartTime = None, end_time: EndTime = None,
                              sensor_id: uuid.UUID | None = None) -> dict:
        return statistics("irradiance", {"sensor": sensor_id}, "irradiance_sensor_exists" if sensor_id else None,
                          "irradiance sensor", start_time, end_time,
                          ("avg_irradiance", "max_irradiance", "min_irradiance"))

    # --- pixels and boards ---------------------------------------------------------
    @router.get("/pixels", response_model=list[PixelInfo], tags=["pixels"])
    def pixels() -> Response:
        """Every pixel that was ever connected, with its current channel and activity range."""
        return _json(db(lambda c: c.execute(queries.get("api", "pixels")).fetchone()[0]))

    def known_pixel(conn: psycopg.Connection, device: str, pixel: str) -> None:
        device_ok, pixel_ok = query.one(conn.execute(queries.get("api", "pixel_known"),
                                                     {"device": device, "pixel": pixel}).fetchone())
        if not device_ok:
            raise HTTPException(404, detail=f"unknown device {device!r}")
        if not pixel_ok:
            raise HTTPException(404, detail=f"unknown pixel {pixel!r} of device {device!r}")

    DeviceP = Annotated[str, Path(max_length=255, description="device (solar cell) name")]
    PixelP = Annotated[str, Path(max_length=255, description="pixel identifier")]

    @router.get("/pixels/{device}/{pixel}/mpp", response_model=PixelSeries, responses=CSV_RESPONSE,
                tags=["pixels"])
    def pixel_mpp(request: Request, device: DeviceP, pixel: PixelP, start_time: StartTime = None,
                  end_time: EndTime = None, resolution: Resolution = Resolution.raw,
                  fmt: FormatQ = None) -> Response:
        """The pixel's MPP rows through its wiring history (``get_mpp_data_for_pixel``): only the
        channel it was connected to, only inside its connected periods. ``1m``/``1h``: the
        plots' rollups inside the same periods (bucket start as timestamp, mean values)."""
        t0, t1 = _utc(start_time), _utc(end_time, "end_time")
        _check_range(t0, t1)
        params: dict[str, Any] = {"device": device, "pixel": pixel, "t0": t0, "t1": t1}

        def periods(conn: psycopg.Connection) -> list[tuple]:
            known_pixel(conn, device, pixel)
            rows = conn.execute(queries.get("report", "pixel_periods"), (device, pixel)).fetchall()
            params.update(boards=sorted({r[0] for r in rows}), channels=sorted({r[1] for r in rows}))
            return rows

        if resolution is Resolution.raw and _wants_csv(request, fmt):
            db(periods)
            return stream_csv(query.compose("pixel_raw_csv"), params, f"{device}_{pixel}.csv")

        def run(conn: psycopg.Connection) -> str:
            rows = periods(conn)
            if resolution is Resolution.raw:
                return query.one(conn.execute(queries.get("api", "pixel_raw"), params).fetchone())[0]
            parts = []
            statement = query.compose("pixel_rollup", query.KINDS["mpp"], rollup=f"mpp_rollup_{resolution.value}")
            for b, c, p0, p1, *_sensors in rows:
                text = query.one(conn.execute(statement, {**params, "board": b, "channel": c, "p0": p0, "p1": p1,
                                                          "period": p0}).fetchone())[0]
                if text != "[]":
                    parts.append(text[1:-1])
            return "[" + ",".join(parts) + "]"

        data = db(run)
        if _wants_csv(request, fmt):  # rollups are small: converted here
            import io

            import pandas as pd

            frame = pd.read_json(io.StringIO(data), orient="records", convert_dates=False)
            return Response(frame.to_csv(index=False), media_type="text/csv; charset=utf-8")
        head = f'{{"device":{_js(device)},"pixel":{_js(pixel)},"resolution":"{resolution.value}","data":'
        return _json(head + data + "}")

    @router.get("/pixels/{device}/{pixel}/figures", tags=["pixels"])
    def pixel_figures(device: DeviceP, pixel: PixelP, start_time: StartTime = None,
                      end_time: EndTime = None) -> dict:
        """The stability report of this one pixel: the same code and the same JSON as
        ``perocube-desktop report --device D --pixel P --out F.json`` (figures of merit under
        ``pixels[0]``, with the method, ISOS protocol and checklist)."""
        from ..stats import report

        t0, t1 = _utc(start_time), _utc(end_time, "end_time")
        _check_range(t0, t1)
        sel = report.Selection(device=device, pixel=pixel, start=t0, end=t1)

        def run(conn: psycopg.Connection) -> dict:
            known_pixel(conn, device, pixel)
            return report.to_json(report.build(ctx.pool.conninfo, sel, ctx.report, conn=conn))

        return jsonable_encoder(db(run))

    @router.get("/boards/status", response_model=list[BoardChannelStatus], tags=["pixels"])
    def boards_status(at: Annotated[datetime | None, Query(description="ISO 8601 (default now)")] = None) -> Response:
        """Per board/channel, the latest connection event at or before ``at``
        (``get_board_connection_status``)."""
        return _json(db(lambda c: c.execute(queries.get("api", "board_status"), {"at": _utc(at, "at")}).fetchone()[0]))

    app.include_router(router)
    return app


def _js(text: str) -> str:
    import json

    return json.dumps(text)
