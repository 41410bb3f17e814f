"""The FastAPI application: clients on `app.state` through the lifespan, routes per resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from access.broker import sync_broker
from access.expiry import ConsentExpiry
from access.grants import GrantLog, GrantLogError
from access.store import control_plane
from access.tokens import TokenStore
from api.access_log import grantee_entries, read_entry
from api.closed_months import close_months_loop
from api.export import ExportSlots
from api.guards import AttemptLimiter, SecurityHeaders
from api.routes import alerts as alert_routes
from api.routes import (
    analytics,
    data,
    erasure,
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
from controlplane.access_log import AccessLogWriter
from controlplane.live import LiveRegistry, StaticSource, open_registry
from core.settings import Settings
from domain.registry import Registry
from domain.registry_history import RegistryHistory
from timeseries.client import AsyncInfluxClient, StoreError, StoreUnavailable

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


class _MainportAPI(FastAPI):
    """FastAPI with the security headers outermost: on every answer, the framework's own
    413 (body limit) and 500 included, not only on those the routes make."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def _log_read(request: Request, route_path: str, status_code: int) -> None:
    """Queue the access-log entry of a read of partner data (api/access_log.py): after the
    response is prepared, an append to a list in memory; the database write is batched
    (controlplane/access_log.py), nothing sent to InfluxDB."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # refused before the token was known: no reader to name
        return
    entry = read_entry(
        at=datetime.now(UTC),
        route_path=route_path,
        url_path=request.url.path,
        path_params=dict(request.path_params),
        query=dict(request.query_params),
        principal=principal,
        label=principal.label,
        status=status_code,
    )
    if entry is None:
        return
    log: AccessLogWriter = request.app.state.access_log
    log.add(entry)
    if route_path == "/api/v1/live" and principal.partner and status_code < 400:
        # /live answers with the devices shared with the caller too: each owner sees that read.
        grants: GrantLog = request.app.state.grants
        try:
            owners = {g.owner for g in grants.active() if g.grantee == principal.partner}
        except GrantLogError:
            owners = set()
        for shared in grantee_entries(entry, owners):
            log.add(shared)


def _registry_and_history(app: FastAPI) -> tuple[Registry, RegistryHistory]:
    snapshot = app.state.registry_source.current()
    return snapshot.registry, snapshot.history


def _sync_expired(app: FastAPI) -> None:
    """Take expired grants' topics away on the broker (access/expiry.py)."""
    settings: Settings = app.state.settings
    if not sync_broker(
        settings, app.state.registry_source.current().registry, app.state.control_db
    ):
        log.warning("grants expired; no local broker reloaded: it applies them at its next reload")


def create_app(settings: Settings, registry: Registry | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        # The control-plane database: registry, tokens, grants, audit (the data dir's former
        # files are imported on first start: access/store.py). One engine per process.
        app.state.control_db = control_plane(settings)
        # Read per request (api/deps.py): a committed change is in force within
        # `registry_poll_s`, no restart. A registry given here (tests) never changes.
        source: LiveRegistry
        if registry is not None:
            source = StaticSource(registry)
        else:
            _engine, source = open_registry(settings, engine=app.state.control_db)
        app.state.registry_source = source
        app.state.tokens = TokenStore(app.state.control_db)
        app.state.grants = GrantLog(app.state.control_db)
        expiry = ConsentExpiry(app.state.grants, lambda _expired: _sync_expired(app))
        expiry.start()
        app.state.influx = AsyncInfluxClient(
            settings.influx_url, settings.influx_db, **settings.influx_login("reader")
        )
        # Issue 17: the access log in the control-plane database, written off the request path.
        app.state.access_log = AccessLogWriter(app.state.control_db)
        app.state.access_log.start()
        app.state.exports = ExportSlots(settings.api_exports_per_partner)
        closing = asyncio.create_task(
            close_months_loop(
                app.state.influx,
                lambda: _registry_and_history(app),
                settings.grace_factor,
                app.state.control_db,
            )
        )
        yield
        expiry.stop()
        closing.cancel()
        await app.state.influx.aclose()
        app.state.access_log.close()  # writes what is queued: a clean stop loses no entry
        source.stop()

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
    app.include_router(erasure.router)  # issue 17
    app.include_router(alert_routes.router)
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
