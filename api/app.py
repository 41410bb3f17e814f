"""The FastAPI application: clients on `app.state` through the lifespan, routes per resource."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from access.grants import GrantLog, GrantLogError
from access.tokens import TokenStore
from api.access_log import AccessLog, read_entry
from api.guards import AttemptLimiter, SecurityHeaders
from api.routes import (
    analytics,
    data,
    gateways,
    grants,
    health,
    network,
    partners,
    platform,
    registry_network,
    selfservice,
    telemetry,
)
from api.routes import registry as registry_routes
from api.routes.data import log_time
from controlplane.db import open_database
from core.settings import Settings
from domain.registry import Registry, load_registry
from timeseries.client import AsyncInfluxClient, StoreError, StoreUnavailable

STATIC = Path(__file__).parent / "static"


class _MainportAPI(FastAPI):
    """FastAPI with the security headers outermost: on every answer, the framework's own
    413 (body limit) and 500 included, not only on those the routes make."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def _log_read(request: Request, route_path: str, status_code: int) -> None:
    """Append the access-log entry of a read of partner data (api/access_log.py): after the
    response is prepared, one small local append, nothing sent to InfluxDB."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # refused before the token was known: no reader to name
        return
    tokens: TokenStore = request.app.state.tokens
    record = next((r for r in tokens.records() if r.id == principal.token_id), None)
    entry = read_entry(
        at=log_time(time.time_ns()),
        route_path=route_path,
        url_path=request.url.path,
        path_params=dict(request.path_params),
        query=dict(request.query_params),
        principal=principal,
        label=record.label if record else "",
        status=status_code,
    )
    if entry is not None:
        log: AccessLog = request.app.state.access_log
        log.append(entry)


def create_app(settings: Settings, registry: Registry | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.registry = registry or load_registry(settings.partners_file)
        app.state.tokens = TokenStore(settings.tokens_file)
        app.state.grants = GrantLog(settings.grants_file)
        app.state.access_log = AccessLog(
            settings.access_log_file, max_bytes=settings.access_log_max_bytes
        )
        app.state.influx = AsyncInfluxClient(
            settings.influx_url, settings.influx_db, **settings.influx_login("reader")
        )
        # The control-plane database (registry writes, audit): one engine per process, made
        # here unless a caller (a test, another start-up path) set one already.
        own_engine = getattr(app.state, "control_engine", None) is None
        if own_engine:
            app.state.control_engine = open_database(settings.database)
        yield
        await app.state.influx.aclose()
        if own_engine:
            app.state.control_engine.dispose()

    # No Swagger UI or ReDoc page: FastAPI serves them with an inline script and files from a
    # CDN, which the CSP (api/guards.py) forbids on the dashboard's origin. The OpenAPI
    # document stays at /openapi.json for clients and for any viewer run elsewhere.
    app = _MainportAPI(
        title="Mainport",
        version="0.1.0",
        summary="Uptime and usage per partner of an open fibre network.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Before authentication and before any route reads a byte (api/guards.py says why).
        max_body_size=settings.api_max_body_bytes,
    )
    app.state.auth_failures = AttemptLimiter(
        settings.api_auth_failures_max, settings.api_auth_failures_window_s
    )
    app.state.grant_changes = AttemptLimiter(settings.api_grant_changes_per_minute, 60.0)
    app.include_router(health.router)
    app.include_router(partners.router)
    app.include_router(telemetry.router)
    app.include_router(grants.router)
    app.include_router(analytics.router)
    app.include_router(platform.router)
    app.include_router(network.router)
    app.include_router(data.router)
    app.include_router(registry_routes.router)
    app.include_router(registry_network.router)
    app.include_router(selfservice.router)
    app.include_router(gateways.router)

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        code = 503 if isinstance(exc, StoreUnavailable) else 502
        return JSONResponse({"detail": f"time series store: {exc}"}, status_code=code)

    @app.exception_handler(GrantLogError)
    async def grant_log_error(_request: Request, exc: GrantLogError) -> JSONResponse:
        return JSONResponse({"detail": f"grant log unreadable: {exc}"}, status_code=503)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        health.API_REQUESTS.labels(path, request.method, str(response.status_code)).inc()
        if request.method == "GET" and settings.access_log:
            _log_read(request, path, response.status_code)
        return response

    # The dashboard: index.html at `/`, its modules, styles and vendored chart library under
    # /static/. No caching headers beyond Starlette's ETag/Last-Modified: files change on upgrade.
    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    return app
