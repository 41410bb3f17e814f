"""Uptime, usage and the monthly report of a partner: derived records in, SPEC figures out.

The records come from `api/analytics_store.py`; all arithmetic is `domain.uptime`,
`domain.usage` and `domain.spans`. This module decides which subject gets which timeout,
unknown time and port, and shapes the answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from api.analytics_store import uptime_records
from api.collector_store import unreachable_by_switch
from api.usage_store import PortUsage, usage_records
from domain.intervals import Interval, clip_intervals, merge_intervals
from domain.registry import DEFAULT_INTERVAL_S, Device, Partner, Registry
from domain.registry_history import RegistryHistory, partner_over
from domain.spans import Timeout, platform_gaps
from domain.uptime import (
    Availability,
    Incident,
    availability_from_spans,
    datetime_ns,
    incidents,
    partner_uptime_pct,
    timeout_ns,
)
from domain.usage import P95, p95, p95_from_largest
from timeseries.client import AsyncInfluxClient

UnknownReason = Literal["maintenance", "platform"]


@dataclass(frozen=True, slots=True)
class SubjectUptime:
    id: str
    availability: Availability
    incidents: list[Incident]


@dataclass(frozen=True, slots=True)
class UnknownSpan:
    start_ns: int
    end_ns: int
    reason: UnknownReason


@dataclass(frozen=True, slots=True)
class PartnerUptime:
    partner: str
    start_ns: int
    end_ns: int
    uptime_pct: float | None
    link_uptime_pct: float | None
    devices: list[SubjectUptime]
    links: list[SubjectUptime]
    incidents: list[Incident]
    unknown: list[UnknownSpan]


@dataclass(frozen=True, slots=True)
class PortBytes:
    switch: str
    port: str
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True, slots=True)
class PartnerUsage:
    partner: str
    start_ns: int
    end_ns: int
    messages: int
    mqtt_bytes: int
    rejected: int
    bytes_in: int
    bytes_out: int
    p95_in: P95
    p95_out: P95
    ports: list[PortBytes]


async def partner_uptime(
    influx: AsyncInfluxClient,
    registry: Registry,
    partner: Partner,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    grace_factor: float,
    history: RegistryHistory | None = None,
) -> PartnerUptime:
    """`history`: what was in force when (controlplane): the partner's ports and devices over
    the window, and each device's `T` at each time (without: the registry as it is now)."""
    hi = max(start_ns, min(end_ns, now_ns))
    if history is not None and hi > start_ns:
        partner = partner_over(partner, history, start_ns, hi)
    ports = {f"{p.switch}/{p.port}": p for p in partner.ports}
    records, blind = await asyncio.gather(
        uptime_records(influx, partner.id, list(ports), start_ns, hi),
        unreachable_by_switch(influx, {p.switch for p in partner.ports}, start_ns, hi),
    )
    gaps = [Interval(a, b) for a, b in platform_gaps(records.link_records, start_ns, hi)]
    maintenance = [
        Interval(datetime_ns(w.start), datetime_ns(w.end))
        for w in registry.maintenance
        if w.covers(partner.id)
    ]
    unknown = merge_intervals([*maintenance, *gaps])

    def timeout(kind: str, subject: str, interval_s: float) -> Timeout:
        """T in force at each time: an interval changed in the window judges the silences
        before the change with the earlier T (no re-derivation)."""
        at = None if history is None else history.interval_at((kind, partner.id, subject))
        if at is None or not callable(at):
            return timeout_ns(interval_s, grace_factor)
        return lambda t_ns: timeout_ns(at(t_ns), grace_factor)

    def availability(
        kind: str, subject: str, interval_s: float, blind_spans: list[Interval] | None = None
    ) -> Availability:
        rec = records.subjects.get((kind, subject))
        return availability_from_spans(
            first_ns=rec.first if rec else None,
            last_reset_ns=rec.last if rec else None,
            silences=rec.silences if rec else (),
            held=rec.held if rec else (),
            timeout_ns=timeout(kind, subject, interval_s),
            start_ns=start_ns,
            end_ns=end_ns,
            now_ns=now_ns,
            unknown=merge_intervals([*unknown, *blind_spans]) if blind_spans else unknown,
        )

    links = []
    port_down: dict[str, list[Interval]] = {}
    for name, port in ports.items():
        # SPEC: while the collector could not reach the switch, its ports' time is unknown.
        a = availability("port", name, port.interval_s, blind.get(port.switch))
        port_down[name] = list(a.down)
        links.append(SubjectUptime(name, a, incidents(name, a)))
    registered = {d.id: d for d in partner.devices}
    seen = {subject for kind, subject in records.subjects if kind == "device"}
    devices = []
    for device_id in [*registered, *sorted(seen - registered.keys())]:
        device = registered.get(device_id) or Device(id=device_id, kind="unregistered")
        a = availability("device", device_id, device.interval_s or DEFAULT_INTERVAL_S)
        behind_port = partner.port_of(device)
        behind = (
            port_down.get(f"{behind_port.switch}/{behind_port.port}", []) if behind_port else []
        )
        devices.append(SubjectUptime(device_id, a, incidents(device_id, a, behind)))

    def clip(spans: list[Interval]) -> list[Interval]:
        return clip_intervals(spans, start_ns, hi)

    every = [i for s in (*devices, *links) for i in s.incidents]
    every.sort(key=lambda i: (i.start_ns, i.subject))
    return PartnerUptime(
        partner=partner.id,
        start_ns=start_ns,
        end_ns=hi,
        uptime_pct=partner_uptime_pct(d.availability for d in devices),
        link_uptime_pct=partner_uptime_pct(link.availability for link in links),
        devices=devices,
        links=links,
        incidents=every,
        unknown=[
            *(UnknownSpan(i.start_ns, i.end_ns, "maintenance") for i in clip(maintenance)),
            *(UnknownSpan(i.start_ns, i.end_ns, "platform") for i in clip(gaps)),
        ],
    )


async def partner_usage(
    influx: AsyncInfluxClient,
    partner: Partner,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    *,
    samples: bool = False,
    history: RegistryHistory | None = None,
) -> PartnerUsage:
    """`samples`: keep every 5-minute bucket (for the audit list), not only the largest.
    `history`: the partner's ports over the window (a port moved away later still counts for
    the time it was the partner's; one moved in later does not)."""
    hi = max(start_ns, min(end_ns, now_ns))
    if history is not None and hi > start_ns:
        partner = partner_over(partner, history, start_ns, hi)
    ports = {f"{p.switch}/{p.port}": p.capacity_mbps for p in partner.ports}
    rec = await usage_records(influx, partner.id, ports, start_ns, hi, samples=samples)
    if rec.complete:
        p95_in, p95_out = p95(rec.inbound), p95(rec.outbound)
    else:
        p95_in = p95_from_largest(rec.buckets, rec.inbound)
        p95_out = p95_from_largest(rec.buckets, rec.outbound)
    per_port = [
        PortBytes(p.switch, p.port, *_bytes(rec.ports.get(f"{p.switch}/{p.port}")))
        for p in partner.ports
    ]
    return PartnerUsage(
        partner=partner.id,
        start_ns=start_ns,
        end_ns=hi,
        messages=rec.messages,
        mqtt_bytes=rec.mqtt_bytes,
        rejected=rec.rejected,
        bytes_in=sum(p.bytes_in for p in per_port),
        bytes_out=sum(p.bytes_out for p in per_port),
        p95_in=p95_in,
        p95_out=p95_out,
        ports=per_port,
    )


@dataclass(frozen=True, slots=True)
class ReportRow:
    partner: Partner
    uptime: PartnerUptime
    usage: PartnerUsage


async def monthly_report(
    influx: AsyncInfluxClient,
    registry: Registry,
    partners: list[Partner],
    month: tuple[int, int],
    now_ns: int,
    grace_factor: float,
    history: RegistryHistory | None = None,
) -> tuple[int, int, list[ReportRow]]:
    """One row per partner for the calendar month (UTC); a month still running ends now.
    With `history`, each with what was in force in that month (a past month never changes
    when today's registry does)."""
    start_ns, end_ns = month_window(*month)

    async def row(p: Partner) -> ReportRow:
        up, use = await asyncio.gather(
            partner_uptime(
                influx, registry, p, start_ns, end_ns, now_ns, grace_factor, history=history
            ),
            partner_usage(influx, p, start_ns, end_ns, now_ns, history=history),
        )
        return ReportRow(p, up, use)

    rows = await asyncio.gather(*(row(p) for p in partners))
    return start_ns, end_ns, list(rows)


def month_window(year: int, month: int) -> tuple[int, int]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return datetime_ns(start), datetime_ns(end)


def _bytes(usage: PortUsage | None) -> tuple[int, int]:
    return (0, 0) if usage is None else (usage.bytes_in, usage.bytes_out)
