"""Uptime, usage, rejected messages per partner, and the monthly report."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status

from api.analytics import (
    PartnerUptime,
    PartnerUsage,
    SubjectUptime,
    partner_uptime,
    partner_usage,
)
from api.analytics_models import (
    BucketOut,
    DeviceUptimeOut,
    IncidentOut,
    LinkUptimeOut,
    P95AuditOut,
    PortUsageOut,
    RejectedOut,
    ReportRowOut,
    UnknownOut,
    UptimeOut,
    UsageOut,
)
from api.analytics_store import rejected_rows
from api.closed_months import report_rows
from api.control_db import ControlDbDep
from api.deps import (
    CurrentPrincipal,
    HistoryDep,
    InfluxDep,
    PartnerId,
    RegistryDep,
    SettingsDep,
)
from api.params import BadParameter, parse_window
from domain.registry import Partner, Registry
from domain.timestamps import format_rfc3339
from domain.uptime import Incident

router = APIRouter(prefix="/api/v1", tags=["analytics"])

Start = Annotated[str | None, Query(max_length=64, description="RFC 3339; default end − 24h")]
End = Annotated[str | None, Query(max_length=64, description="RFC 3339; default now")]
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
CSV_COLUMNS = list(ReportRowOut.model_fields)
# Reports cover 2000-01 up to the current month. Before 2000 there is no data to report (and
# year 0 or 1677 do not fit a datetime or InfluxDB's int64 nanoseconds); a later month has not
# begun.
FIRST_MONTH = (2000, 1)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _window(start: str | None, end: str | None, max_days: int) -> tuple[int, int, int]:
    now = time.time_ns()
    try:
        lo, hi = parse_window(start, end, now_ns=now, max_days=max_days)
    except BadParameter as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return lo, hi, now


def _partner(registry: Registry, partner_id: str) -> Partner:
    partner = registry.partner(partner_id)
    if partner is None:  # PartnerId answers 404 first; this keeps mypy and readers sure
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no partner {partner_id!r}")
    return partner


@router.get("/partners/{partner_id}/uptime", response_model=UptimeOut)
async def uptime(
    partner_id: PartnerId,
    influx: InfluxDep,
    registry: RegistryDep,
    history: HistoryDep,
    settings: SettingsDep,
    start: Start = None,
    end: End = None,
) -> UptimeOut:
    """Device and fibre link uptime with incidents (SPEC "Definitions"); maintenance windows
    and the platform's own outages are unknown time, left out of both sides."""
    lo, hi, now = _window(start, end, settings.api_max_window_days)
    result = await partner_uptime(
        influx,
        registry,
        _partner(registry, partner_id),
        lo,
        hi,
        now,
        settings.grace_factor,
        history=history,
    )
    return uptime_out(result)


@router.get(
    "/partners/{partner_id}/usage", response_model=UsageOut, response_model_exclude_none=True
)
async def usage(
    partner_id: PartnerId,
    influx: InfluxDep,
    registry: RegistryDep,
    history: HistoryDep,
    settings: SettingsDep,
    start: Start = None,
    end: End = None,
    samples: Annotated[
        bool, Query(description="Also list the 5-minute bucket rates behind p95")
    ] = False,
) -> UsageOut:
    """MQTT messages and bytes (at their own timestamps), rejected messages, fibre bytes per
    port and the partner's 95th percentile bandwidth (SPEC "Usage")."""
    lo, hi, now = _window(start, end, settings.api_max_window_days)
    result = await partner_usage(
        influx, _partner(registry, partner_id), lo, hi, now, samples=samples, history=history
    )
    return usage_out(result, samples)


@router.get("/partners/{partner_id}/rejected", response_model=list[RejectedOut])
async def rejected(
    partner_id: PartnerId,
    influx: InfluxDep,
    settings: SettingsDep,
    start: Start = None,
    end: End = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="At most this many, newest first")
    ] = 100,
) -> list[RejectedOut]:
    """The partner's dead letters, so it can find and fix a misbehaving device."""
    lo, hi, _ = _window(start, end, settings.api_max_window_days)
    series = await rejected_rows(influx, partner_id, lo, hi, limit)
    return [
        RejectedOut(
            time=format_rfc3339(int(v[0])),
            reason=str(v[1]),
            topic=str(v[2] or ""),
            excerpt=str(v[3] or ""),
            detail=str(v[4] or ""),
            bytes=int(v[5] or 0),
        )
        for s in series
        for v in s.values
    ]


@router.get(
    "/report",
    response_model=list[ReportRowOut],
    responses={200: {"content": {"text/csv": {"example": ",".join(CSV_COLUMNS) + "\n"}}}},
)
async def report(
    principal: CurrentPrincipal,
    influx: InfluxDep,
    registry: RegistryDep,
    history: HistoryDep,
    settings: SettingsDep,
    control_db: ControlDbDep,
    month: Annotated[
        str, Query(max_length=7, description="YYYY-MM (UTC calendar month)", examples=["2026-11"])
    ],
    accept: Annotated[str | None, Header()] = None,
) -> list[ReportRowOut] | Response:
    """One row per partner (a partner token: its own row) for a calendar month; CSV with
    `Accept: text/csv`. A month still running is reported up to now; a closed one (a day after
    its end) as its figures were frozen then, whatever raw data expired or was erased since."""
    match = MONTH.fullmatch(month)
    if match is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"month: expected YYYY-MM, got {month!r}"
        )
    now = time.time_ns()
    year_month = (int(match[1]), int(match[2]))
    today = datetime.now(UTC)
    if year_month > (today.year, today.month):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"month: {month} has not begun")
    if year_month < FIRST_MONTH:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"month: {month} is before {FIRST_MONTH[0]}-{FIRST_MONTH[1]:02d}, "
            "the earliest month a report covers",
        )
    partners = [p for p in registry.partners if principal.may_see(p.id)]
    # Issue 17: a closed month's figures as frozen when it closed (api/closed_months.py).
    out = await report_rows(
        influx, registry, partners, year_month, now, settings.grace_factor, control_db, history
    )
    if accept and "text/csv" in accept:
        return Response(_csv(out), media_type="text/csv; charset=utf-8")
    return out


def _csv(rows: list[ReportRowOut]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.model_dump().items()})
    return buf.getvalue()


def _cell(value: object) -> object:
    """A value as a CSV cell a spreadsheet shows, never runs: text that would start a formula
    gets a leading apostrophe (numbers are written as numbers)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def uptime_out(u: PartnerUptime) -> UptimeOut:
    return UptimeOut(
        partner=u.partner,
        start=format_rfc3339(u.start_ns),
        end=format_rfc3339(u.end_ns),
        uptime_pct=u.uptime_pct,
        link_uptime_pct=u.link_uptime_pct,
        devices=[DeviceUptimeOut(id=d.id, **_figures(d)) for d in u.devices],
        links=[
            LinkUptimeOut(switch=s.id.partition("/")[0], port=s.id.partition("/")[2], **_figures(s))
            for s in u.links
        ],
        incidents=[_incident(i) for i in u.incidents],
        unknown=[
            UnknownOut(
                start=format_rfc3339(x.start_ns), end=format_rfc3339(x.end_ns), reason=x.reason
            )
            for x in u.unknown
        ],
    )


def _figures(s: SubjectUptime) -> dict[str, float | int | None]:
    return {
        "uptime_pct": s.availability.uptime_pct,
        "downtime_s": s.availability.downtime_s,
        "incidents": len(s.incidents),
    }


def _incident(i: Incident) -> IncidentOut:
    return IncidentOut(
        subject=i.subject,
        start=format_rfc3339(i.start_ns),
        end=format_rfc3339(i.end_ns) if i.end_ns is not None else None,
        duration_s=i.duration_s,
        cause=i.cause,
    )


def usage_out(u: PartnerUsage, samples: bool) -> UsageOut:
    out = UsageOut(
        partner=u.partner,
        start=format_rfc3339(u.start_ns),
        end=format_rfc3339(u.end_ns),
        messages=u.messages,
        mqtt_bytes=u.mqtt_bytes,
        rejected=u.rejected,
        bytes_in=u.bytes_in,
        bytes_out=u.bytes_out,
        p95_in_bps=u.p95_in.bps,
        p95_out_bps=u.p95_out.bps,
        ports=[
            PortUsageOut(switch=p.switch, port=p.port, bytes_in=p.bytes_in, bytes_out=p.bytes_out)
            for p in u.ports
        ],
    )
    if samples:
        inbound, outbound = u.p95_in.buckets, u.p95_out.buckets
        out.p95 = P95AuditOut(
            buckets=int(inbound.octets.size),
            index=u.p95_in.index,
            in_bucket=_maybe_time(u.p95_in.bucket_start_ns),
            out_bucket=_maybe_time(u.p95_out.bucket_start_ns),
        )
        out.buckets = [
            BucketOut(start=format_rfc3339(t), in_bps=i, out_bps=o)
            for t, i, o in zip(
                inbound.start_ns.tolist(),
                inbound.rates_bps.tolist(),
                outbound.rates_bps.tolist(),
                strict=True,
            )
        ]
    return out


def _maybe_time(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)
