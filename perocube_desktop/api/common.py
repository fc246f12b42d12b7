"""What the read API's routes share: the context (pool, settings, token), parameter types,
time handling, JSON and CSV responses."""

# no "from __future__ import annotations": FastAPI reads these annotations at run time

import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

import anyio
import psycopg
from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse

from ..config import ReportSettings
from ..db import queries
from ..db.queries import one
from . import query
from ..errors import first_line
from .models import Format
from .pool import ReadOnlyPool

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
            self._timescaledb = bool(one(conn, queries.get("api", "health"))[1])
        return self._timescaledb

    def db(self, fn: Callable[[psycopg.Connection], T]) -> T:
        return self.pool.run(fn)


def get_ctx(request: Request) -> ApiContext:
    return request.app.state.ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]


def utc(t: datetime | None, name: str = "start_time") -> datetime | None:
    """Naive = UTC; any offset converted to UTC (PostgreSQL takes offsets up to 15:59 only)."""
    if t is None:
        return None
    try:
        return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    except OverflowError:
        raise invalid(name, "time out of range") from None


def invalid(name: str, msg: str) -> RequestValidationError:
    """A 422 for a query parameter, answered like FastAPI's own (``detail`` list plus the one-line
    ``message``, app._invalid), so a client reads every 422 the same way."""
    return RequestValidationError([{"loc": ("query", name), "msg": msg, "type": "value_error"}])


def check_range(t0: datetime | None, t1: datetime | None) -> None:
    if t0 is not None and t1 is not None and t1 < t0:
        raise invalid("end_time", "end_time is before start_time")


def wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt is Format.csv
    return "text/csv" in request.headers.get("accept", "")


def json_response(text: str | bytes) -> Response:
    return Response(content=text, media_type="application/json")


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


def stream_csv(ctx: ApiContext, statement, params: dict, filename: str) -> Response:
    """``COPY ... TO STDOUT`` streamed as it is read (constant memory). The COPY starts before the
    response does, so a database error is still an HTTP error; a client going away cancels it."""
    cm = ctx.pool.connection()
    conn = cm.__enter__()
    gen = query.copy_csv(conn, statement, params)
    try:
        first = next(gen, b"")
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
            log.error("CSV stream %s interrupted: %s", filename, first_line(exc))
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(finish)

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
