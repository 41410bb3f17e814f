"""Device liveness for the API: two small InfluxQL queries, combined by `domain.liveness`.

InfluxQL values come in as bound parameters (`$partner`), never as text in the query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from domain.liveness import DeviceState, device_state
from domain.registry import DEFAULT_INTERVAL_S, Partner, Registry
from domain.timestamps import format_rfc3339
from timeseries.client import AsyncInfluxClient, Series

_LAST_TELEMETRY = (
    'SELECT last("bytes") FROM "messages" WHERE "type" = \'telemetry\'{where} '
    'GROUP BY "partner", "device"'
)
_LAST_STATUS = 'SELECT last("online") FROM "status"{where} GROUP BY "partner", "device"'

DeviceKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class DeviceView:
    partner: str
    id: str
    kind: str
    state: DeviceState
    last_seen_ns: int | None

    @property
    def last_seen(self) -> str | None:
        return format_rfc3339(self.last_seen_ns) if self.last_seen_ns is not None else None


async def fetch_last_seen(
    influx: AsyncInfluxClient, partner: str | None
) -> tuple[dict[DeviceKey, int], dict[DeviceKey, tuple[int, bool]]]:
    """Last telemetry time and last status (time, online) per (partner, device)."""
    params = {"partner": partner} if partner else {}
    telemetry_q = _LAST_TELEMETRY.format(where=' AND "partner" = $partner' if partner else "")
    status_q = _LAST_STATUS.format(where=' WHERE "partner" = $partner' if partner else "")
    results = await influx.query(f"{telemetry_q}; {status_q}", params)
    telemetry = {_key(s): int(s.values[0][0]) for s in results[0] if s.values}
    status = {_key(s): (int(s.values[0][0]), bool(s.values[0][1])) for s in results[1] if s.values}
    return telemetry, status


def device_views(
    partner: Partner,
    telemetry: dict[DeviceKey, int],
    status: dict[DeviceKey, tuple[int, bool]],
    *,
    now_ns: int,
    grace_factor: float,
) -> list[DeviceView]:
    """Registered devices first, in config order, then devices seen but not registered."""
    registered = {d.id: d for d in partner.devices}
    seen = {dev for (p, dev) in (*telemetry, *status) if p == partner.id}
    views = []
    for device_id in [*registered, *sorted(seen - registered.keys())]:
        device = registered.get(device_id)
        interval_s = device.interval_s if device else DEFAULT_INTERVAL_S
        key = (partner.id, device_id)
        last_telemetry = telemetry.get(key)
        status_ns, online = status.get(key, (None, False))
        observation = max(
            (t for t in (last_telemetry, status_ns if online else None) if t is not None),
            default=None,
        )
        offline = status_ns if status_ns is not None and not online else None
        timeout_ns = int(grace_factor * interval_s * 1e9)
        last_seen = max((t for t in (last_telemetry, status_ns) if t is not None), default=None)
        views.append(
            DeviceView(
                partner=partner.id,
                id=device_id,
                kind=device.kind if device else "unregistered",
                state=device_state(observation, offline, now_ns, timeout_ns),
                last_seen_ns=last_seen,
            )
        )
    return views


async def partner_devices(
    influx: AsyncInfluxClient, registry: Registry, partner_id: str | None, grace_factor: float
) -> dict[str, list[DeviceView]]:
    telemetry, status = await fetch_last_seen(influx, partner_id)
    now_ns = time.time_ns()
    partners = [registry.by_id[partner_id]] if partner_id else list(registry.partners)
    return {
        p.id: device_views(p, telemetry, status, now_ns=now_ns, grace_factor=grace_factor)
        for p in partners
    }


def _key(series: Series) -> DeviceKey:
    return (series.tags.get("partner", ""), series.tags.get("device", ""))
