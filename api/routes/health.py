"""Probes: liveness, readiness (InfluxDB and broker), Prometheus metrics (platform totals for
anyone, per partner for the operator)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from api.checks import DISK_TIMEOUT_S, bounded, check_all, disk_space
from api.deps import CurrentPrincipal, InfluxDep, SettingsDep
from api.models import Health, Readiness
from core.settings import Settings

router = APIRouter(tags=["health"])

API_REQUESTS = Counter(
    "mainport_api_requests", "API requests answered", ["route", "method", "status"]
)


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(influx: InfluxDep, settings: SettingsDep) -> JSONResponse:
    """Ready: InfluxDB answers and takes writes, the broker answers, the spool's and
    InfluxDB's disks have room. Each check has its own timeout (api/checks.py): the answer
    comes within ~2 s whatever hangs."""
    health = await check_all(influx, settings)
    failed = health.failed
    body = Readiness(
        status="unavailable" if failed else "ready",
        influxdb=health.influxdb,
        broker=health.broker,
        influxdb_writes=health.influxdb_writes,
        disk_spool=health.disks.get("spool"),
        disk_influxdb=health.disks.get("influxdb"),
        failed=failed,
    )
    return JSONResponse(body.model_dump(), status_code=503 if failed else 200)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(settings: SettingsDep) -> Response:
    """Platform totals for anyone (SPEC: no auth): the API's and the ingest's counters with
    the `partner` label summed away, so nobody learns another partner's traffic from them.
    Per-partner figures: `GET /api/v1/metrics` with an operator token."""
    text = without_partner_labels((await _all_metrics(settings)).decode())
    return Response(text, media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/metrics", response_class=PlainTextResponse, tags=["operator"])
async def operator_metrics(principal: CurrentPrincipal, settings: SettingsDep) -> Response:
    """Every counter with its labels, per partner included: operator tokens only (Prometheus
    sends one with `authorization: {credentials: ...}` in its scrape config)."""
    if not principal.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "per-partner metrics are for the operator")
    return Response(await _all_metrics(settings), media_type=CONTENT_TYPE_LATEST)


async def _all_metrics(settings: Settings) -> bytes:
    """The API's own counters, followed by the local ingest's when it exposes them."""
    # The disk gauges, fresh for this scrape (bounded: a stuck mount must not hang it).
    await bounded(asyncio.to_thread(disk_space, settings), DISK_TIMEOUT_S, None)
    text = generate_latest()
    if settings.ingest_metrics_port:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                resp = await client.get(f"http://127.0.0.1:{settings.ingest_metrics_port}/")
            text += resp.content
        except httpx.HTTPError:
            text += b"# ingest metrics unavailable\n"
    return text


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def without_partner_labels(text: str) -> bytes:
    """Prometheus text with every `partner` label summed away (`*_created` stamps: the
    earliest), other labels kept; families without the label pass unchanged."""
    families: list[Metric] = []
    for family in text_string_to_metric_families(text):
        merged: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "partner"))
            key = (sample.name, labels)
            if key not in merged:
                merged[key] = sample.value
            elif sample.name.endswith("_created"):
                merged[key] = min(merged[key], sample.value)
            else:
                merged[key] += sample.value
        out = Metric(family.name, family.documentation, family.type)
        for (name, labels), value in merged.items():
            out.add_sample(name, dict(labels), value)
        families.append(out)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


async def _broker_answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
