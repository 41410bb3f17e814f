"""The platform's health checks, each with its own short timeout, shared by `/readyz` and the
dashboard's platform health.

A check that hangs (influxd stopped, a disk on a stuck mount) answers "failed" when its timeout
runs out, so `/readyz` answers within ~2 s whatever hangs; a load balancer never waits out the
InfluxDB client's 10 s.

Does InfluxDB accept writes? The API logs in read-only, so it cannot try a write itself. It
asks the one that writes: the local ingest's `mainport_ingest_store_up` gauge where its metrics
port is reachable (immediate), else the newest `ingest_heartbeat` point (the ingest writes one
every 15 s through its writer): one in the last 45 s means writes land; heartbeats in the last
hour but none in 45 s means writes stopped landing (InfluxDB refusing them, or the ingest gone);
none in an hour: unknown, no ingest runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
from prometheus_client import Gauge

from core.files import free_bytes
from core.ingest_probe import store_up
from core.settings import Settings
from timeseries.client import AsyncInfluxClient, StoreError

T = TypeVar("T")

PING_TIMEOUT_S = 1.5
WRITES_TIMEOUT_S = 1.5
BROKER_TIMEOUT_S = 1.0
DISK_TIMEOUT_S = 1.0
HEARTBEAT_FRESH_S = 45

_HEARTBEATS = (
    'SELECT last("connected") FROM "ingest_heartbeat" WHERE time > now() - 45s; '
    'SELECT last("connected") FROM "ingest_heartbeat" WHERE time > now() - 1h'
)

DISK_FREE = Gauge(
    "mainport_disk_free_bytes", "Free space on the spool's and InfluxDB's disks", ["disk"]
)
DISK_LOW = Gauge(
    "mainport_disk_low",
    "1 while a disk has less free space than MAINPORT_DISK_MIN_FREE_BYTES",
    ["disk"],
)
INFLUX_WRITES = Gauge(
    "mainport_influxdb_accepts_writes", "1 while InfluxDB takes writes, 0 while it refuses them"
)


@dataclass
class Health:
    """Each field: True healthy, False failing, None unknown (not checked from here)."""

    influxdb: bool
    broker: bool
    influxdb_writes: bool | None
    disks: dict[str, bool | None] = field(default_factory=dict)
    free_bytes: dict[str, int | None] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        checks = {
            "influxdb": self.influxdb,
            "broker": self.broker,
            "influxdb_writes": self.influxdb_writes,
            **{f"disk_{name}": ok for name, ok in self.disks.items()},
        }
        return [name for name, ok in checks.items() if ok is False]


async def bounded(check: Awaitable[T], timeout_s: float, when_late: T) -> T:
    """`check`'s answer, or `when_late` once `timeout_s` has passed."""
    try:
        return await asyncio.wait_for(check, timeout_s)
    except TimeoutError:
        return when_late


async def check_all(influx: AsyncInfluxClient, settings: Settings) -> Health:
    ping, broker, writes, disks = await asyncio.gather(
        bounded(influx.ping(), PING_TIMEOUT_S, False),
        bounded(broker_answers(settings.mqtt_host, settings.mqtt_port), BROKER_TIMEOUT_S, False),
        bounded(influx_accepts_writes(influx, settings), WRITES_TIMEOUT_S, False),
        bounded(asyncio.to_thread(disk_space, settings), DISK_TIMEOUT_S, None),
    )
    if not ping:
        writes = False
    INFLUX_WRITES.set(1 if writes is not False else 0)
    health = Health(influxdb=ping, broker=broker, influxdb_writes=writes)
    for name in ("spool", "influxdb"):
        free = disks.get(name) if disks is not None else None
        health.free_bytes[name] = free
        low = None if free is None else free < settings.disk_min_free_bytes
        # A disk that did not answer in time counts as failing: a stuck mount is no better.
        health.disks[name] = False if disks is None else (None if low is None else not low)
    return health


async def broker_answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


async def influx_accepts_writes(influx: AsyncInfluxClient, settings: Settings) -> bool | None:
    if settings.ingest_metrics_port:
        up = await _ingest_store_up(settings.ingest_metrics_port)
        if up is not None:
            return up
    try:
        fresh, recent = await influx.query(_HEARTBEATS)
    except (StoreError, ValueError):
        return False
    if fresh and fresh[0].values:
        return True
    return False if recent and recent[0].values else None


async def _ingest_store_up(metrics_port: int) -> bool | None:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            resp = await client.get(f"http://127.0.0.1:{metrics_port}/")
        resp.raise_for_status()
    except httpx.HTTPError:
        return None
    return store_up(resp.text)


def disk_space(settings: Settings) -> dict[str, int | None]:
    """Free bytes on the spool's and InfluxDB's disks (None: the directory is not here, e.g.
    InfluxDB in another container); sets the Prometheus gauges as it goes."""
    out: dict[str, int | None] = {}
    for name, path in (("spool", settings.spool_dir), ("influxdb", settings.influx_dir)):
        free = free_bytes(path)
        out[name] = free
        if free is not None and settings.disk_min_free_bytes:
            DISK_FREE.labels(name).set(free)
            DISK_LOW.labels(name).set(int(free < settings.disk_min_free_bytes))
    return out
