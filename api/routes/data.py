"""A partner's data taken out (`/export`) and who read it (`/access-log`).

Export scope: the operator any partner, a partner itself, and a grantee the telemetry of the
devices shared with it (and nothing else: 403 for another kind or device).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from access.grants import GrantLog, GrantLogError
from api.deps import CurrentPrincipal, GrantLogDep, InfluxDep, PartnerId, RegistryDep, SettingsDep
from api.export import MEDIA_TYPES, SHARED_KINDS, ExportSlots, export_request, stream_export
from api.params import BadParameter, parse_window
from controlplane import access_log as access_log_store
from controlplane.access_log import AccessLogWriter
from domain.grants import valid_now
from domain.registry import SLUG_PATTERN, Registry
from domain.timestamps import parse_rfc3339

router = APIRouter(prefix="/api/v1/partners", tags=["your data"])

ListQuery = Annotated[str | None, Query(max_length=6500)]


@router.get(
    "/{partner_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export(
    partner_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")],
    request: Request,
    principal: CurrentPrincipal,
    registry: RegistryDep,
    grants: GrantLogDep,
    influx: InfluxDep,
    settings: SettingsDep,
    start: Annotated[
        str | None, Query(max_length=64, description="RFC 3339, inclusive; default end − 24h")
    ] = None,
    end: Annotated[
        str | None, Query(max_length=64, description="RFC 3339, exclusive; default now")
    ] = None,
    format: Annotated[str, Query(max_length=8, description="csv or ndjson")] = "csv",
    kind: Annotated[
        str | None, Query(max_length=80, description="telemetry,status,messages,counters,rejected")
    ] = None,
    device: ListQuery = None,
    metric: ListQuery = None,
) -> StreamingResponse:
    """The partner's data in [start, end), one row per point and field, streamed page by page
    (constant memory whatever the window). A grantee: telemetry of its shared devices only."""
    # Who first, then what (the order of answers of api/deps.py): 403 before any 422.
    shared: set[str] = set()
    if principal.may_see(partner_id):
        if registry.partner(partner_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no partner {partner_id!r}")
    else:
        shared = _shared_devices(grants, registry, principal.partner, partner_id)
        if not shared:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    try:
        # The same longest window as uptime and usage: one request cannot ask InfluxDB for
        # more than a report's worth, however often it is repeated.
        start_ns, end_ns = parse_window(
            start, end, now_ns=time.time_ns(), max_days=settings.api_max_window_days
        )
        req = export_request(partner_id, start_ns, end_ns, format, kind, device, metric)
    except BadParameter as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if shared:
        if kind is not None and set(req.kinds) - set(SHARED_KINDS):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a grant shares telemetry only")
        if req.devices is not None and set(req.devices) - shared:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a device asked for is not shared")
        devices = req.devices or tuple(sorted(shared))
        req = replace(req, kinds=SHARED_KINDS, devices=devices)
    name = f"{partner_id}-{log_time(req.start_ns)[:10]}-{log_time(req.end_ns)[:10]}.{req.fmt}"
    slots: ExportSlots = request.app.state.exports
    release = slots.take(partner_id)
    if release is None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{slots.per_partner} exports of {partner_id!r} are running; "
            "retry when one has finished",
            headers={"Retry-After": "10"},
        )
    return StreamingResponse(
        _released_when_gone(stream_export(influx, req, done=release), release),
        media_type=MEDIA_TYPES[req.fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _released_when_gone(
    body: AsyncIterator[bytes], release: Callable[[], None]
) -> AsyncIterator[bytes]:
    """The slot goes back when the stream ends (its `finally`) and also when the stream is
    dropped without ever being started (a client gone before the first byte: a generator that
    never ran has no `finally` to run)."""
    weakref.finalize(body, release)
    return body


def _shared_devices(
    grants: GrantLog, registry: Registry, reader: str | None, owner: str
) -> set[str]:
    if reader is None:
        return set()
    try:
        active = grants.active()
    except GrantLogError:
        return set()  # fail closed: an unreadable log could hide a revocation
    return {
        g.device
        for g in active
        if g.grantee == reader and g.owner == owner and valid_now(g, registry)
    }


class AccessEntry(BaseModel):
    time: str
    partner: str
    token_id: str
    label: str
    role: str
    reader_partner: str | None
    endpoint: str
    path: str
    device: str | None
    params: dict[str, str]
    status: int


class DirectReaderOut(BaseModel):
    username: str
    privilege: str
    used_by: str


class AccessLogPage(BaseModel):
    partner: str
    entries: list[AccessEntry]
    next_offset: int | None
    direct_readers: list[DirectReaderOut]
    """Standing readers of InfluxDB itself: their reads do not pass the API and are not logged."""


@router.get("/{partner_id}/access-log", response_model=AccessLogPage)
def access_log(
    partner_id: PartnerId,
    request: Request,
    settings: SettingsDep,
    start: Annotated[str | None, Query(max_length=64, description="RFC 3339")] = None,
    end: Annotated[str | None, Query(max_length=64, description="RFC 3339")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AccessLogPage:
    """Who read this partner's data through the API, newest first, `limit` per page."""
    try:
        lo = _moment(parse_rfc3339(start)) if start is not None else None
        hi = _moment(parse_rfc3339(end)) if end is not None else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"start/end: {exc}") from None
    writer: AccessLogWriter = request.app.state.access_log
    writer.flush()  # this process's reads so far are in the answer; other hosts' within 0.5 s
    rows, more = access_log_store.page(writer.engine, partner_id, lo, hi, offset, limit)
    reader = settings.influx_user("reader")
    direct = [
        DirectReaderOut(
            username=reader.username if reader else "(no InfluxDB login: anyone who can reach it)",
            privilege="READ on the database",
            used_by="Grafana and the API (the API's own reads are the entries above)",
        )
    ]
    return AccessLogPage(
        partner=partner_id,
        entries=[AccessEntry(time=_text(r.pop("at")), **r) for r in rows],
        next_offset=offset + len(rows) if more else None,
        direct_readers=direct,
    )


def _moment(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _text(moment: datetime) -> str:
    """Fixed-width RFC 3339 (µs): entries compare as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_time(ns: int) -> str:
    return _text(datetime.fromtimestamp(ns / 1e9, UTC))
