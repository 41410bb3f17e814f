"""One device's telemetry for one metric: raw points, or the mean per `every` bucket.

InfluxQL cannot bind identifiers (InfluxDB 1.6 answers `SELECT $f` with "field must contain at
least one variable"), so the metric — a field name — is checked against the pattern the ingest
stores (domain/messages.py) and then quoted with escaping. Every value — partner, device, start,
end, limit — goes in as a bound parameter, never as query text. The bucket width is the only
other text, and it is an integer this module formats itself.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from api.params import BadParameter, parse_window
from domain.timestamps import NS_PER_S, format_rfc3339
from timeseries.client import AsyncInfluxClient

METRIC_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"
RESERVED_METRICS = frozenset(("time", "partner", "device"))
EVERY_PATTERN = r"^[1-9][0-9]{0,6}[smhd]$"
_EVERY_RE = re.compile(r"([1-9][0-9]{0,6})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
# Far below the width where InfluxDB's int64 nanoseconds overflow (292 years) and its 500s.
MAX_EVERY_S = 3650 * 86_400


@dataclass(frozen=True, slots=True)
class TelemetryRequest:
    partner: str
    device: str
    metric: str
    start_ns: int
    end_ns: int
    every_s: int | None
    limit: int

    @property
    def every(self) -> str | None:
        return None if self.every_s is None else _format_every(self.every_s)


def telemetry_request(
    partner: str,
    device: str,
    metric: str,
    start: str | None,
    end: str | None,
    every: str | None,
    *,
    limit: int,
    now_ns: int | None = None,
) -> TelemetryRequest:
    """Check and complete the parameters (SPEC: `end` defaults to now, `start` to end − 24h)."""
    if not re.fullmatch(METRIC_PATTERN, metric) or metric.lower() in RESERVED_METRICS:
        raise BadParameter(
            "metric", "1-64 of A-Za-z0-9_.:/- starting alphanumeric, not time/partner/device"
        )
    start_ns, end_ns = parse_window(start, end, now_ns=now_ns or time.time_ns())
    every_s = None
    if every is not None:
        match = _EVERY_RE.fullmatch(every)
        if match is None:
            raise BadParameter("every", "a whole number and a unit s, m, h or d, e.g. 5m or 1h")
        every_s = int(match[1]) * _UNIT_S[match[2]]
        if every_s > MAX_EVERY_S:
            raise BadParameter("every", "at most 3650d")
        buckets = -(-(end_ns - start_ns) // (every_s * NS_PER_S))
        if buckets > limit:
            raise BadParameter(
                "every",
                f"{every} over this window gives {buckets} buckets, more than {limit}; "
                "choose a longer every or a shorter window",
            )
    return TelemetryRequest(partner, device, metric, start_ns, end_ns, every_s, limit)


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier; backslash and quote escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_query(req: TelemetryRequest) -> tuple[str, dict[str, str | int]]:
    field = quote_ident(req.metric)
    where = 'WHERE "partner" = $partner AND "device" = $device AND time >= $start AND time < $end'
    params: dict[str, str | int] = {
        "partner": req.partner,
        "device": req.device,
        "start": req.start_ns,
        "end": req.end_ns,
        # One more than the limit, to tell a truncated answer from one that fits exactly.
        "limit": req.limit + 1,
    }
    # The only text put into the query: the quoted, pattern-checked field and an integer.
    if req.every_s is None:
        raw = f'SELECT {field} FROM "telemetry" {where} ORDER BY time ASC LIMIT $limit'  # noqa: S608
        return raw, params
    group = f"GROUP BY time({int(req.every_s)}s) fill(none)"
    return f'SELECT mean({field}) FROM "telemetry" {where} {group} LIMIT $limit', params  # noqa: S608


async def fetch_points(
    influx: AsyncInfluxClient, req: TelemetryRequest
) -> tuple[list[tuple[str, float]], bool]:
    """Points as (RFC 3339 time, value), oldest first, and whether the limit cut them off."""
    query, params = build_query(req)
    results = await influx.query(query, params)
    rows = [row for series in (results[0] if results else []) for row in series.values]
    points = [(format_rfc3339(int(t)), float(v)) for t, v in rows if v is not None]
    return points[: req.limit], len(points) > req.limit


def _format_every(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"
