"""What the dashboard polls: platform health for its header, and device states for live tiles.

Neither endpoint takes a parameter: the token decides the scope. `/live` answers with an ETag
and 304 for an unchanged `If-None-Match`, so a dashboard may poll it every couple of seconds
(and see a device go offline within seconds) without re-sending the same body. Browsers'
EventSource cannot send an Authorization header, and the token must not go into a URL, so the
dashboard polls rather than using server-sent events.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import httpx
from fastapi import APIRouter, Request, Response
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

from access.grants import GrantLog, GrantLogError
from access.tokens import Principal
from api.checks import Health, check_all
from api.deps import (
    CurrentPrincipal,
    GrantLogDep,
    InfluxDep,
    RegistryDep,
    SettingsDep,
)
from api.devices import DeviceView, partner_devices
from core.settings import Settings
from domain.grants import valid_now
from domain.registry import Registry
from domain.timestamps import format_rfc3339
from timeseries.client import AsyncInfluxClient, StoreError
from timeseries.derived import CURSOR, PROGRESS
from timeseries.markers import EVENTS
from timeseries.markers import MEASUREMENT as MARKERS
from timeseries.schema import DERIVED_RP, MARKERS_RP

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["dashboard"])

# The ingest writes an `ingest_heartbeat` every 15 s: three missed ones mean it is gone.
INGEST_HEARTBEAT_STALE_S = 45
RATE_WINDOW_S = 60
# Heartbeats within INGEST_HEARTBEAT_STALE_S; messages within RATE_WINDOW_S.
_FIGURES = (
    'SELECT last("connected") FROM "ingest_heartbeat" WHERE time > now() - 45s GROUP BY "client"; '
    'SELECT count("bytes") FROM "messages" WHERE time > now() - 60s{where}; '
    'SELECT count("bytes") FROM "rejected" WHERE time > now() - 24h{where}'
)


# Built from constants only, no value from a request in it.
_DERIVE_PROGRESS = (
    f'SELECT last("{EVENTS}") FROM "{MARKERS_RP}"."{MARKERS}" WHERE time > now() - 1h; '  # noqa: S608
    f'SELECT "{CURSOR}" FROM "{DERIVED_RP}"."{PROGRESS}"'
)


class Viewer(BaseModel):
    role: str = Field(description="operator or partner")
    partner: str | None


class IngestCounters(BaseModel):
    """The local ingest's own counters (only where the API can reach its metrics port)."""

    received_total: int
    accepted_total: int
    rejected_total: int
    broker_connected: bool | None
    store_up: bool | None
    spool_full: bool | None


class PlatformHealth(BaseModel):
    time: str
    viewer: Viewer
    broker: bool
    influxdb: bool
    ingest_connected: bool | None = Field(
        description="An ingest heartbeat with a broker connection in the last 45 s (null: unknown)"
    )
    messages_per_s: float | None = Field(
        description="Messages stored per second over the last minute, in the caller's scope"
    )
    rejected_24h: int | None = Field(description="Rejected messages in the last 24 h, in scope")
    spool_bytes: int | None = Field(description="Ingest spool waiting for InfluxDB (operator)")
    derive_lag_s: float | None = Field(
        None,
        description="How far the derived records (uptime, usage) trail the newest stored batch; "
        "0 when caught up, null when unknown",
    )
    ingest: IngestCounters | None = Field(description="Local ingest counters (operator)")
    influxdb_writes: bool | None = Field(
        None, description="InfluxDB takes the ingest's writes (null: no ingest to ask)"
    )
    disk_free_bytes: dict[str, int | None] | None = Field(
        None, description="Free space on the spool's and InfluxDB's disks (operator)"
    )
    broker_restarts_24h: int | None = Field(
        None,
        description="Broker restarts the ingest saw in the last 24 h: after a crash, messages "
        "acknowledged since the broker's last save are lost (docs/failures.md)",
    )
    broker_sessions_lost_24h: int | None = Field(
        None, description="Reconnects on which the broker had lost the ingest's queued session"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="Health flags raised now, for the dashboard and alerts: influxdb_down, "
        "influxdb_refusing_writes, broker_down, disk_low_spool, disk_low_influxdb, "
        "broker_restarted, broker_session_lost",
    )


class LiveDevice(BaseModel):
    id: str
    kind: str
    status: str
    last_seen: str | None


class LivePartner(BaseModel):
    id: str
    name: str
    ports: int
    devices_online: int
    devices: list[LiveDevice]


class SharedDevice(LiveDevice):
    partner: str = Field(description="The owner who shared this device")


class Live(BaseModel):
    partners: list[LivePartner]
    shared: list[SharedDevice] = Field(description="Devices other partners shared with the caller")


@router.get("/platform", response_model=PlatformHealth)
async def platform(
    principal: CurrentPrincipal, influx: InfluxDep, settings: SettingsDep
) -> PlatformHealth:
    """Broker and InfluxDB reachability, ingest liveness and rates; spool and the ingest's
    counters for the operator only. A partner's rates and rejections are its own."""
    scope = None if principal.is_operator else principal.partner
    health, counters = await asyncio.gather(
        check_all(influx, settings),
        _ingest_counters(settings.ingest_metrics_port) if scope is None else _none(),
    )
    influx_ok, broker_ok = health.influxdb, health.broker
    stored = await _stored_figures(influx, scope) if influx_ok else (None, None, None)
    lag = await _derive_lag(influx) if influx_ok else None
    heartbeat, rate, rejected = stored
    if scope is None and influx_ok:
        arrivals = await _arrival_rate(influx)
        rate = rate if arrivals is None else arrivals
    restarts, lost = await broker_events(influx) if influx_ok else (None, None)
    spool: int | None = None
    if scope is None:
        spool = counters[1] if counters else await asyncio.to_thread(_spool_on_disk, settings)
    return PlatformHealth(
        time=format_rfc3339(time.time_ns()),
        viewer=Viewer(role=principal.role, partner=principal.partner),
        broker=broker_ok,
        influxdb=influx_ok,
        ingest_connected=heartbeat,
        messages_per_s=rate,
        rejected_24h=rejected,
        spool_bytes=spool,
        derive_lag_s=lag,
        ingest=counters[0] if counters else None,
        influxdb_writes=health.influxdb_writes,
        disk_free_bytes=health.free_bytes if scope is None else None,
        broker_restarts_24h=restarts,
        broker_sessions_lost_24h=lost,
        warnings=health_warnings(health, restarts, lost),
    )


def health_warnings(health: Health, restarts: int | None, lost: int | None) -> list[str]:
    """The flags an alert can hang on (issue 15): each names a failing check or an event."""
    flags = [
        ("influxdb_down", not health.influxdb),
        ("influxdb_refusing_writes", health.influxdb and health.influxdb_writes is False),
        ("broker_down", not health.broker),
        ("disk_low_spool", health.disks.get("spool") is False),
        ("disk_low_influxdb", health.disks.get("influxdb") is False),
        ("broker_restarted", bool(restarts)),
        ("broker_session_lost", bool(lost)),
    ]
    return [name for name, raised in flags if raised]


_BROKER_EVENTS = (
    'SELECT count("n") FROM "ingest_broker_events" WHERE time > now() - 24h GROUP BY "kind"'
)
_ARRIVALS = (
    'SELECT "accepted" FROM "ingest_heartbeat" WHERE time > now() - 75s AND "accepted" >= 0 '
    'GROUP BY "client"'
)


async def broker_events(influx: AsyncInfluxClient) -> tuple[int | None, int | None]:
    """Broker restarts and lost sessions the ingest recorded in the last 24 h."""
    try:
        (series,) = await influx.query(_BROKER_EVENTS)
    except (StoreError, ValueError) as exc:
        log.warning("broker events unavailable: %s", exc)
        return None, None
    counts = {s.tags.get("kind", ""): int(s.values[0][1]) for s in series if s.values}
    return counts.get("restart", 0), counts.get("session_lost", 0)


async def _arrival_rate(influx: AsyncInfluxClient) -> float | None:
    """Messages accepted per second by arrival, from the heartbeats' running totals: device
    timestamps say nothing of when a message came (a replay, a lagging clock, a backlog)."""
    try:
        (series,) = await influx.query(_ARRIVALS)
    except (StoreError, ValueError) as exc:
        log.warning("ingest arrivals unavailable: %s", exc)
        return None
    total: float | None = None
    for s in series:
        rows = [(int(t), int(n)) for t, n in s.values if n is not None]
        if len(rows) < 2 or rows[-1][1] < rows[0][1]:  # one beat, or the ingest restarted
            continue
        span_s = (rows[-1][0] - rows[0][0]) / 1e9
        if span_s > 0:
            total = (total or 0.0) + (rows[-1][1] - rows[0][1]) / span_s
    return None if total is None else round(total, 2)


@router.get("/live", response_model=Live, responses={304: {"description": "Not modified"}})
async def live(
    request: Request,
    principal: CurrentPrincipal,
    influx: InfluxDep,
    registry: RegistryDep,
    grants: GrantLogDep,
    settings: SettingsDep,
) -> Response:
    """Every visible partner's devices with their state and last seen, and the devices shared
    with the caller. ETag / If-None-Match: 304 while nothing changed."""
    scope = None if principal.is_operator else principal.partner
    views = await partner_devices(influx, registry, scope, settings.grace_factor)
    partners = [
        LivePartner(
            id=p.id,
            name=p.name,
            ports=len(p.ports),
            devices_online=sum(v.state == "online" for v in views[p.id]),
            devices=[_device(v) for v in views[p.id]],
        )
        for p in registry.partners
        if p.id in views
    ]
    shared = await _shared_devices(principal, influx, registry, grants, settings.grace_factor)
    body = Live(partners=partners, shared=shared).model_dump_json().encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _device(view: DeviceView) -> LiveDevice:
    return LiveDevice(id=view.id, kind=view.kind, status=view.state, last_seen=view.last_seen)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


async def _shared_devices(
    principal: Principal,
    influx: AsyncInfluxClient,
    registry: Registry,
    grants: GrantLog,
    grace_factor: float,
) -> list[SharedDevice]:
    if principal.partner is None:
        return []
    try:
        received = [
            g for g in grants.active() if g.grantee == principal.partner and valid_now(g, registry)
        ]
    except GrantLogError as exc:
        # Fail closed, as deps.ReadableDevice does: an unreadable log could hide a revocation.
        log.error("grant log unreadable, showing no shared devices: %s", exc)
        return []
    shared: list[SharedDevice] = []
    for owner in sorted({g.owner for g in received}):
        views = (await partner_devices(influx, registry, owner, grace_factor))[owner]
        devices = {g.device for g in received if g.owner == owner}
        shared += [
            SharedDevice(partner=owner, **_device(v).model_dump()) for v in views if v.id in devices
        ]
    return shared


async def _none() -> None:
    return None


async def _stored_figures(
    influx: AsyncInfluxClient, partner: str | None
) -> tuple[bool | None, float | None, int | None]:
    """Ingest heartbeat, stored messages per second over the last minute, and rejections in
    the last 24 h, from InfluxDB: true for every ingest replica, also when the API runs in
    another container than the ingest."""
    params = {"partner": partner} if partner else {}
    query = _FIGURES.format(where=' AND "partner" = $partner' if partner else "")
    try:
        heartbeats, messages, rejected = await influx.query(query, params)
    except (StoreError, ValueError) as exc:
        log.warning("platform figures unavailable: %s", exc)
        return None, None, None
    connected = any(bool(s.values[0][1]) for s in heartbeats if s.values)
    count = int(messages[0].values[0][1]) if messages and messages[0].values else 0
    bad = int(rejected[0].values[0][1]) if rejected and rejected[0].values else 0
    return connected, round(count / RATE_WINDOW_S, 2), bad


async def _derive_lag(influx: AsyncInfluxClient) -> float | None:
    """Seconds between the newest batch marker and the deriver's position in the markers."""
    try:
        newest, cursor = await influx.query(_DERIVE_PROGRESS)
    except (StoreError, ValueError) as exc:
        log.warning("derive progress unavailable: %s", exc)
        return None
    if not newest or not newest[0].values:
        return 0.0  # nothing written yet: nothing to derive
    if not cursor or not cursor[0].values:
        return None
    behind = int(newest[0].values[0][0]) - int(cursor[0].values[-1][1])
    return round(max(0, behind) / 1e9, 1)


async def _ingest_counters(metrics_port: int | None) -> tuple[IngestCounters, int] | None:
    """The local ingest's counters and spool bytes, parsed from its Prometheus text."""
    if not metrics_port:
        return None
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            resp = await client.get(f"http://127.0.0.1:{metrics_port}/")
        resp.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse_ingest_metrics(resp.text)


def parse_ingest_metrics(text: str) -> tuple[IngestCounters, int]:
    """Sum the per-partner counters; gauges are taken as they are (absent: unknown)."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value

    def flag(name: str) -> bool | None:
        return bool(sums[name]) if name in sums else None

    counters = IngestCounters(
        received_total=int(sums.get("mainport_ingest_received_total", 0)),
        accepted_total=int(sums.get("mainport_ingest_accepted_total", 0)),
        rejected_total=int(sums.get("mainport_ingest_rejected_total", 0)),
        broker_connected=flag("mainport_ingest_broker_connected"),
        store_up=flag("mainport_ingest_store_up"),
        spool_full=flag("mainport_ingest_spool_full"),
    )
    return counters, int(sums.get("mainport_ingest_spool_bytes", 0))


def _spool_on_disk(settings: Settings) -> int:
    """Segment bytes under the spool directory: an upper bound (the drained part of the oldest
    segment still counts), for when the ingest's metrics are out of reach."""
    total = 0
    for path in settings.spool_dir.glob("*/*.seg"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # drained and removed meanwhile
            continue
    return total
