"""A device's telemetry: for its owner, the operator, and partners it was shared with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import InfluxDep, ReadableDevice, SettingsDep
from api.models import TelemetrySeries
from api.params import BadParameter
from api.telemetry import EVERY_PATTERN, METRIC_PATTERN, fetch_points, telemetry_request
from domain.timestamps import format_rfc3339

router = APIRouter(prefix="/api/v1/partners", tags=["telemetry"])


@router.get("/{partner_id}/devices/{device_id}/telemetry", response_model=TelemetrySeries)
async def device_telemetry(
    ref: ReadableDevice,
    influx: InfluxDep,
    settings: SettingsDep,
    metric: Annotated[str, Query(pattern=METRIC_PATTERN, description="Metric name, e.g. pm25")],
    start: Annotated[
        str | None, Query(max_length=64, description="RFC 3339; default end − 24h")
    ] = None,
    end: Annotated[str | None, Query(max_length=64, description="RFC 3339; default now")] = None,
    every: Annotated[
        str | None,
        Query(pattern=EVERY_PATTERN, description="Mean per bucket of this width, e.g. 5m, 1h"),
    ] = None,
) -> TelemetrySeries:
    """Raw points, oldest first, or the mean per `every` bucket (buckets aligned to the epoch,
    empty ones left out); at most `MAINPORT_API_MAX_POINTS` points, `truncated` says if more
    matched."""
    try:
        req = telemetry_request(
            ref.partner,
            ref.device,
            metric,
            start,
            end,
            every,
            limit=settings.api_max_points,
        )
    except BadParameter as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    points, truncated = await fetch_points(influx, req)
    return TelemetrySeries(
        partner=req.partner,
        device=req.device,
        metric=req.metric,
        start=format_rfc3339(req.start_ns),
        end=format_rfc3339(req.end_ns),
        every=req.every,
        points=points,
        truncated=truncated,
    )
