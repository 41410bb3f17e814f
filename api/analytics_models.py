"""Response models of the uptime, usage, report and rejected-messages endpoints (SPEC "HTTP API").

Times are RFC 3339 UTC strings; percentages are null when nothing of the window was monitored
and known (no data, or all of it maintenance).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


INCIDENT_EXAMPLE = {
    "subject": "aq-spuiboulevard",
    "start": "2026-11-22T03:12:00Z",
    "end": "2026-11-22T03:40:00Z",
    "duration_s": 1680.0,
    "cause": "timeout",
}


class IncidentOut(BaseModel):
    model_config = _example(INCIDENT_EXAMPLE)
    subject: str = Field(description="Device id, or `switch/port` for a fibre link")
    start: str
    end: str | None = Field(description="null while still going on")
    duration_s: float = Field(description="Down time so far when still going on")
    cause: Literal["offline", "timeout", "link"] = Field(
        description="offline: offline status (a link: oper_status down); timeout: silence "
        "beyond T; link: the device's fibre port was down when it started"
    )


class DeviceUptimeOut(BaseModel):
    id: str
    uptime_pct: float | None
    downtime_s: float
    incidents: int


class LinkUptimeOut(BaseModel):
    switch: str
    port: str
    uptime_pct: float | None
    downtime_s: float
    incidents: int


class UnknownOut(BaseModel):
    start: str
    end: str
    reason: Literal["maintenance", "platform"] = Field(
        description="A maintenance window, or Mainport itself could not receive"
    )


class UptimeOut(BaseModel):
    model_config = _example(
        {
            "partner": "gemeente-dordrecht",
            "start": "2026-11-22T12:00:00Z",
            "end": "2026-11-23T12:00:00Z",
            "uptime_pct": 99.61,
            "link_uptime_pct": 100.0,
            "devices": [
                {
                    "id": "aq-spuiboulevard",
                    "uptime_pct": 98.05,
                    "downtime_s": 1680.0,
                    "incidents": 1,
                }
            ],
            "links": [
                {
                    "switch": "dmd-core-1",
                    "port": "xe-0-0-1",
                    "uptime_pct": 100.0,
                    "downtime_s": 0.0,
                    "incidents": 0,
                }
            ],
            "incidents": [INCIDENT_EXAMPLE],
            "unknown": [],
        }
    )
    partner: str
    start: str
    end: str = Field(description="The window end, capped at now")
    uptime_pct: float | None = Field(description="Device uptime, time-weighted over devices")
    link_uptime_pct: float | None = Field(description="Fibre link uptime over the partner's ports")
    devices: list[DeviceUptimeOut]
    links: list[LinkUptimeOut]
    incidents: list[IncidentOut] = Field(description="Device and link incidents, by start")
    unknown: list[UnknownOut] = Field(description="Time excluded from the figures")


class PortUsageOut(BaseModel):
    switch: str
    port: str
    bytes_in: int
    bytes_out: int


class BucketOut(BaseModel):
    start: str
    in_bps: float
    out_bps: float


class P95AuditOut(BaseModel):
    buckets: int = Field(description="n: 5-minute buckets holding a valid delta")
    index: int | None = Field(description="ceil(0.95·n) − 1")
    in_bucket: str | None = Field(description="Start of the bucket whose rate is p95_in_bps")
    out_bucket: str | None


class UsageOut(BaseModel):
    model_config = _example(
        {
            "partner": "gemeente-dordrecht",
            "start": "2026-11-22T12:00:00Z",
            "end": "2026-11-23T12:00:00Z",
            "messages": 8640,
            "mqtt_bytes": 1123200,
            "rejected": 3,
            "bytes_in": 81234567890,
            "bytes_out": 12345678901,
            "p95_in_bps": 912345678.4,
            "p95_out_bps": 145678901.2,
            "ports": [
                {
                    "switch": "dmd-core-1",
                    "port": "xe-0-0-1",
                    "bytes_in": 81234567890,
                    "bytes_out": 12345678901,
                }
            ],
        }
    )
    partner: str
    start: str
    end: str
    messages: int = Field(description="Accepted MQTT messages, at their own timestamps")
    mqtt_bytes: int = Field(description="Their payload bytes")
    rejected: int
    bytes_in: int
    bytes_out: int
    p95_in_bps: float | None
    p95_out_bps: float | None
    ports: list[PortUsageOut]
    p95: P95AuditOut | None = Field(None, description="With samples=true: how p95 was taken")
    buckets: list[BucketOut] | None = Field(
        None, description="With samples=true: every 5-minute bucket rate behind p95, by time"
    )


class ReportRowOut(BaseModel):
    model_config = _example(
        {
            "partner": "gemeente-dordrecht",
            "name": "Gemeente Dordrecht",
            "uptime_pct": 99.93,
            "link_uptime_pct": 100.0,
            "incidents": 4,
            "messages": 259200,
            "mqtt_bytes": 33696000,
            "rejected": 12,
            "bytes_in": 2437037036700,
            "bytes_out": 370370370030,
            "p95_in_bps": 912345678.4,
            "p95_out_bps": 145678901.2,
        }
    )
    partner: str
    name: str
    uptime_pct: float | None
    link_uptime_pct: float | None
    incidents: int = Field(description="Device and link incidents that started in the month")
    messages: int
    mqtt_bytes: int
    rejected: int
    bytes_in: int
    bytes_out: int
    p95_in_bps: float | None
    p95_out_bps: float | None


class RejectedOut(BaseModel):
    model_config = _example(
        {
            "time": "2026-11-23T11:58:02Z",
            "reason": "non_numeric_value",
            "topic": "mainport/gemeente-dordrecht/aq-spuiboulevard/telemetry",
            "excerpt": '{"metrics": {"pm25": "high"}}',
            "detail": "metrics.pm25: expected a number, got string",
            "bytes": 30,
        }
    )
    time: str = Field(description="When the ingest received it")
    reason: str
    topic: str
    excerpt: str
    detail: str
    bytes: int
