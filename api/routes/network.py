"""The SNMP collector's health per switch, for operators: `GET /api/v1/network/switches`.

The API learns it from what the ingest stored, not from the collector process (which may run
on another host, near the switches): the collector's `_collector` report of every poll
(reachable, latency, error) and the last counters sample of the switch's ports.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.collector_store import switch_health
from api.deps import CurrentPrincipal, InfluxDep, RegistryDep
from domain.timestamps import format_rfc3339

router = APIRouter(prefix="/api/v1", tags=["network"])


class SpeedMismatch(BaseModel):
    port: str
    if_high_speed_mbps: int = Field(description="The speed the switch reports (ifHighSpeed)")
    capacity_mbps: float | None = Field(
        description="The registry's capacity of the port (null: no longer in the registry)"
    )


class SwitchStatus(BaseModel):
    switch: str
    address: str
    interval_s: int
    ports: int = Field(description="Registry ports on this switch")
    reachable: bool | None = Field(description="As of the last report; null: none yet")
    last_report: str | None = Field(description="When the collector last reported on it")
    last_poll: str | None = Field(description="When it last answered a poll")
    latency_s: float | None = Field(description="How long that poll took")
    error: str | None = Field(description="Why the last poll failed, if it did")
    last_counters: str | None = Field(description="The newest counters sample of its ports")
    speed_mismatches: list[SpeedMismatch] = Field(
        description="Ports whose ifHighSpeed differs from the registry's capacity_mbps, as of "
        "the last good poll: the glitch rule (SPEC) judges deltas against that capacity"
    )


def _time(ns: int | None) -> str | None:
    return format_rfc3339(ns) if ns is not None else None


@router.get("/network/switches", response_model=list[SwitchStatus])
async def switches(
    principal: CurrentPrincipal, registry: RegistryDep, influx: InfluxDep
) -> list[SwitchStatus]:
    """Every switch of the registry with its collector health (operator only)."""
    if not principal.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "operator only")
    health = {h.switch: h for h in await switch_health(influx, [s.id for s in registry.switches])}
    out = []
    for s in registry.switches:
        h = health[s.id]
        capacity = {p.port: p.capacity_mbps for p in registry.ports_of_switch(s.id)}
        out.append(
            SwitchStatus(
                switch=s.id,
                address=s.address,
                interval_s=s.interval_s,
                ports=len(registry.ports_of_switch(s.id)),
                reachable=h.reachable,
                last_report=_time(h.last_report_ns),
                last_poll=_time(h.last_reachable_ns),
                latency_s=h.latency_s,
                error=h.error,
                last_counters=_time(h.last_counters_ns),
                speed_mismatches=[
                    SpeedMismatch(
                        port=port, if_high_speed_mbps=mbps, capacity_mbps=capacity.get(port)
                    )
                    for port, mbps in h.speed_mismatch
                ],
            )
        )
    return out
