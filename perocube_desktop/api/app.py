"""The FastAPI application: the lab's read routes (``docs/api.md``) on real data.

Handlers are plain functions run on the server's thread pool (``routes_measurements``,
``routes_pixels``); every database access goes through ``ReadOnlyPool`` (read-only transactions)
and the query layer (``api.query``: named SQL in ``sql/queries/api.sql``, the lab's functions,
the report's code). JSON arrays are built by PostgreSQL (``json_agg``), CSV by ``COPY ... TO
STDOUT``. Errors: 422 naming the parameter, 404 for unknown things, 503 when the database is
unavailable, never a traceback.
"""

# no "from __future__ import annotations": FastAPI reads these annotations at run time

import hmac
import logging
from datetime import datetime, timezone
from typing import Annotated

import psycopg
import swagger_ui_bundle
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..db import queries, replica
from ..db.queries import one
from . import routes_measurements, routes_pixels
from ..errors import first_line
from .common import ERRORS, ApiContext, Ctx, json_response
from .models import Health
from .pool import PoolBusy

log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, description="required when the server listens on a non-loopback address")


def authorise(ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    if ctx.token is None:
        return
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), ctx.token.encode()):
        raise HTTPException(401, detail="a valid bearer token is required (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})


health_router = APIRouter()


@health_router.get("/health", response_model=Health, tags=["lab"])
def health(ctx: Ctx) -> Response:
    """Whether the server and its database answer (no token needed)."""
    now = datetime.now(timezone.utc)
    try:
        (_, ts), server = ctx.db(lambda c: (one(c, queries.get("api", "health")), replica.state(c)))
    except (psycopg.Error, PoolBusy) as exc:
        body = Health(status="degraded", timestamp=now, database="unreachable", timescaledb=None,
                      version=__version__, database_error=first_line(exc))
        return json_response(body.model_dump_json())
    return json_response(Health(status="ok", timestamp=now, database="reachable", timescaledb=bool(ts),
                                version=__version__, database_server=server.address, standby=server.standby,
                                replica_lag_s=server.lag_s).model_dump_json())


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors(), custom_encoder={BaseException: str})
    names = [".".join(str(p) for p in e.get("loc", ())[1:]) or str(e.get("loc")) for e in errors]
    message = "; ".join(f"{n}: {e.get('msg')}" for n, e in zip(names, errors))
    return JSONResponse({"detail": errors, "message": f"invalid parameter {message}"}, status_code=422)


async def _db_down(request: Request, exc: Exception) -> JSONResponse:
    ctx: ApiContext = request.app.state.ctx
    if isinstance(exc, psycopg.errors.QueryCanceled):
        reason = f"the query took longer than {ctx.pool.statement_timeout_s:g} s: narrow the time range or use CSV"
    else:
        reason = f"database unavailable: {first_line(exc)}"
    log.warning("%s %s: %s", request.method, request.url.path, reason)
    return JSONResponse({"detail": reason}, status_code=503)


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"database busy: {exc}"}, status_code=503, headers={"Retry-After": "5"})


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)


DOCS_ASSETS = "/docs-assets"


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` with the Swagger UI files served from the installed swagger-ui-bundle package: the
    lab PC's browser often has no internet, and FastAPI's default page loads them from a CDN."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - docs",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(title="Perocube Desktop read API", version=__version__, docs_url=None, redoc_url=None,
                  description="Read-only HTTP access to the PeroCube lab's data: the lab's routes "
                              "(`/measurements/*`, `/statistics/*`, `/devices`, `/experiments`, `/health`) "
                              "on real data, plus per-pixel series through the wiring history, the report's "
                              "figures of merit, board status and CSV streaming. See docs/api.md.")
    app.state.ctx = ctx
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(psycopg.OperationalError, _db_down)
    app.add_exception_handler(PoolBusy, _busy)
    app.add_exception_handler(Exception, _internal)
    _offline_docs(app)
    app.include_router(health_router)
    for module in (routes_measurements, routes_pixels):
        app.include_router(module.router, dependencies=[Depends(authorise)], responses=ERRORS)
    return app
