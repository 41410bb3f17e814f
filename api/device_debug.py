"""What one device's debug page reads from InfluxDB: its last stored messages (with their
readings), its status messages (the latest `offline` is its Last Will firing, or its own
goodbye), and its partner's last dead letters that came from the device's topics.

One round trip, four statements, values bound (`$p`, `$d`), never spliced into InfluxQL. Dead
letters are tagged by partner and reason only, so the device's are picked by their topic here;
reading the partner's latest `REJECTED_SCAN` keeps that bounded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from domain.liveness import DeviceState, device_state
from domain.timestamps import format_rfc3339
from timeseries.client import AsyncInfluxClient, ParamValue
from timeseries.schema import RAW_RP

REJECTED_SCAN = 500
LOOKBACK = "7d"
_QUERIES = "; ".join(
    [
        'SELECT "bytes", "type" FROM "{rp}"."messages" WHERE "partner" = $p AND "device" = $d '
        "AND time > now() - {lb} ORDER BY time DESC LIMIT $n",
        'SELECT * FROM "{rp}"."telemetry" WHERE "partner" = $p AND "device" = $d '
        "AND time > now() - {lb} ORDER BY time DESC LIMIT $n",
        'SELECT "online" FROM "{rp}"."status" WHERE "partner" = $p AND "device" = $d '
        "AND time > now() - {lb} ORDER BY time DESC LIMIT $n",
        'SELECT "reason", "topic", "excerpt", "detail" FROM "{rp}"."rejected" '
        'WHERE "partner" = $p AND time > now() - {lb} ORDER BY time DESC LIMIT $scan',
    ]
).format(rp=RAW_RP, lb=LOOKBACK)
_TAGS = {"time", "partner", "device"}


@dataclass
class DebugView:
    state: DeviceState
    last_seen_ns: int | None
    messages: list[dict[str, object]] = field(default_factory=list)
    statuses: list[tuple[int, bool]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)


async def device_debug(
    influx: AsyncInfluxClient,
    *,
    partner: str,
    device: str,
    root: str,
    interval_s: int,
    grace_factor: float,
    limit: int,
) -> DebugView:
    params: dict[str, ParamValue] = {"p": partner, "d": device, "n": limit, "scan": REJECTED_SCAN}
    messages, telemetry, status, rejected = await influx.query(_QUERIES, params)
    readings: dict[int, dict[str, float]] = {}
    for series in telemetry:
        names = series.columns
        for row in series.values:
            readings[int(row[0])] = {
                n: float(v)
                for n, v in zip(names, row, strict=True)
                if n not in _TAGS and isinstance(v, int | float) and not isinstance(v, bool)
            }
    statuses = [(int(r[0]), bool(r[1])) for s in status for r in s.values]
    online_by_time = dict(statuses)
    stored: list[dict[str, object]] = []
    for series in messages:
        for row in series.values:
            at, kind = int(row[0]), str(row[2])
            stored.append(
                {
                    "time": format_rfc3339(at),
                    "type": kind,
                    "bytes": int(row[1] or 0),
                    "metrics": readings.get(at) if kind == "telemetry" else None,
                    "online": online_by_time.get(at) if kind == "status" else None,
                }
            )
    prefix = f"{root}/{partner}/{device}"
    letters = [
        {
            "time": format_rfc3339(int(r[0])),
            "reason": str(r[1] or ""),
            "topic": str(r[2] or ""),
            "excerpt": str(r[3] or ""),
            "detail": str(r[4] or ""),
        }
        for s in rejected
        for r in s.values
        if str(r[2] or "") == prefix or str(r[2] or "").startswith(prefix + "/")
    ][:limit]
    last_telemetry = max((int(s.values[0][0]) for s in telemetry if s.values), default=None)
    online_times = [t for t, online in statuses if online]
    offline_times = [t for t, online in statuses if not online]
    observation = max((t for t in (last_telemetry, *online_times[:1]) if t), default=None)
    now_ns = time.time_ns()
    state = device_state(
        observation,
        offline_times[0] if offline_times else None,
        now_ns,
        int(grace_factor * interval_s * 1e9),
    )
    last_seen = max((t for t in (last_telemetry, *(t for t, _ in statuses[:1])) if t), default=None)
    return DebugView(state, last_seen, stored, statuses, letters)
