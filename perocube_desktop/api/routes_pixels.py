"""Registry and per-pixel routes: ``/devices``, ``/experiments`` (the lab's), ``/pixels``, a pixel's
series through its wiring history, its report figures, and ``/boards/status``."""

# no "from __future__ import annotations": FastAPI reads these annotations at run time

import io
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from ..db import queries
from ..db.queries import one
from . import query
from .common import (CSV_RESPONSE, Ctx, EndTime, FormatQ, StartTime, check_range, json_response,
                     stream_csv, utc, wants_csv)
from .models import BoardChannelStatus, Device, Experiment, PixelInfo, PixelSeries, Resolution

router = APIRouter()

DeviceP = Annotated[str, Path(max_length=255, description="device (solar cell) name")]
PixelP = Annotated[str, Path(max_length=255, description="pixel identifier")]


@router.get("/devices", response_model=list[Device], tags=["lab"])
def devices(ctx: Ctx, experiment_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None) -> Response:
    return json_response(ctx.db(lambda c: one(c,
        queries.get("api", "devices"), {"experiment_id": experiment_id, "owner_id": owner_id})[0]))


@router.get("/experiments", response_model=list[Experiment], tags=["lab"])
def experiments(ctx: Ctx, project_id: uuid.UUID | None = None, scientist_id: uuid.UUID | None = None) -> Response:
    return json_response(ctx.db(lambda c: one(c,
        queries.get("api", "experiments"), {"project_id": project_id, "scientist_id": scientist_id})[0]))


@router.get("/pixels", response_model=list[PixelInfo], tags=["pixels"])
def pixels(ctx: Ctx) -> Response:
    """Every pixel that was ever connected, with its current channel and activity range."""
    return json_response(ctx.db(lambda c: one(c, queries.get("api", "pixels"))[0]))


def known_pixel(conn: psycopg.Connection, device: str, pixel: str) -> tuple[list[int], list[int]]:
    """404 for an unknown device or pixel; else the boards and channels it was ever connected to."""
    device_ok, pixel_ok, boards, channels = one(conn,
        queries.get("api", "pixel_known"), {"device": device, "pixel": pixel})
    if not device_ok:
        raise HTTPException(404, detail=f"unknown device {device!r}")
    if not pixel_ok:
        raise HTTPException(404, detail=f"unknown pixel {pixel!r} of device {device!r}")
    return boards, channels


def _channels(conn: psycopg.Connection, params: dict) -> None:
    params["boards"], params["channels"] = known_pixel(conn, params["device"], params["pixel"])


def _series(conn: psycopg.Connection, params: dict, resolution: Resolution) -> str:
    _channels(conn, params)
    if resolution is Resolution.raw:
        return one(conn, queries.get("api", "pixel_raw"), params)[0]
    parts = []
    statement = query.compose("pixel_rollup", query.API_KINDS["mpp"], rollup=f"mpp_rollup_{resolution.value}")
    periods = conn.execute(queries.get("report", "pixel_periods"), (params["device"], params["pixel"])).fetchall()
    for b, c, p0, p1, *_sensors in periods:
        text = one(conn, statement, {**params, "board": b, "channel": c, "p0": p0, "p1": p1,
                                                  "period": p0})[0]
        if text != "[]":
            parts.append(text[1:-1])
    return "[" + ",".join(parts) + "]"


@router.get("/pixels/{device}/{pixel}/mpp", response_model=PixelSeries, responses=CSV_RESPONSE, tags=["pixels"])
def pixel_mpp(ctx: Ctx, request: Request, device: DeviceP, pixel: PixelP, start_time: StartTime = None,
              end_time: EndTime = None, resolution: Resolution = Resolution.raw, fmt: FormatQ = None) -> Response:
    """The pixel's MPP rows through its wiring history (``get_mpp_data_for_pixel``): only the
    channel it was connected to, only inside its connected periods. ``1m``/``1h``: the
    plots' rollups inside the same periods (bucket start as timestamp, mean values)."""
    t0, t1 = utc(start_time), utc(end_time, "end_time")
    check_range(t0, t1)
    params: dict[str, Any] = {"device": device, "pixel": pixel, "t0": t0, "t1": t1}
    if resolution is Resolution.raw and wants_csv(request, fmt):
        ctx.db(lambda conn: _channels(conn, params))
        return stream_csv(ctx, query.compose("pixel_raw_csv"), params, f"{device}_{pixel}.csv")
    data = ctx.db(lambda conn: _series(conn, params, resolution))
    if wants_csv(request, fmt):  # rollups are small: converted here
        import pandas as pd

        frame = pd.read_json(io.StringIO(data), orient="records", convert_dates=False)
        return Response(frame.to_csv(index=False), media_type="text/csv; charset=utf-8")
    head = f'{{"device":{json.dumps(device)},"pixel":{json.dumps(pixel)},"resolution":"{resolution.value}","data":'
    return json_response(head + data + "}")


@router.get("/pixels/{device}/{pixel}/figures", tags=["pixels"])
def pixel_figures(ctx: Ctx, device: DeviceP, pixel: PixelP, start_time: StartTime = None,
                  end_time: EndTime = None) -> dict:
    """The stability report of this one pixel: the same code and the same JSON as
    ``perocube-desktop report --device D --pixel P --out F.json`` (figures of merit under
    ``pixels[0]``, with the method, ISOS protocol and checklist)."""
    from ..stats import report

    t0, t1 = utc(start_time), utc(end_time, "end_time")
    check_range(t0, t1)
    sel = report.Selection(device=device, pixel=pixel, start=t0, end=t1)

    def run(conn: psycopg.Connection) -> dict:
        known_pixel(conn, device, pixel)
        return report.to_json(report.build(ctx.pool.conninfo, sel, ctx.report, conn=conn))

    return jsonable_encoder(ctx.db(run))


@router.get("/boards/status", response_model=list[BoardChannelStatus], tags=["pixels"])
def boards_status(ctx: Ctx, at: Annotated[datetime | None, Query(description="ISO 8601 (default now)")] = None
                  ) -> Response:
    """Per board/channel, the latest connection event at or before ``at`` (``get_board_connection_status``)."""
    at = utc(at, "at")
    return json_response(ctx.db(lambda c: one(c, queries.get("api", "board_status"),
                                                              {"at": at})[0]))

