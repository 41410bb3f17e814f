"""Unauthenticated probes: liveness, readiness (InfluxDB and broker), Prometheus metrics."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from api.deps import InfluxDep, SettingsDep
from api.models import Health, Readiness

router = APIRouter(tags=["health"])

API_REQUESTS = Counter(
    "mainport_api_requests", "API requests answered", ["route", "method", "status"]
)


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(influx: InfluxDep, settings: SettingsDep) -> JSONResponse:
    influx_ok, broker_ok = await asyncio.gather(
        influx.ping(), _broker_answers(settings.mqtt_host, settings.mqtt_port)
    )
    failed = [name for name, ok in (("influxdb", influx_ok), ("broker", broker_ok)) if not ok]
    body = Readiness(
        status="unavailable" if failed else "ready",
        influxdb=influx_ok,
        broker=broker_ok,
        failed=failed,
    )
    return JSONResponse(body.model_dump(), status_code=503 if failed else 200)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(settings: SettingsDep) -> Response:
    """The API's own counters, followed by the local ingest's when it exposes them."""
    text = generate_latest()
    if settings.ingest_metrics_port:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                resp = await client.get(f"http://127.0.0.1:{settings.ingest_metrics_port}/")
            text += resp.content
        except httpx.HTTPError:
            text += b"# ingest metrics unavailable\n"
    return Response(text, media_type=CONTENT_TYPE_LATEST)


async def _broker_answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
