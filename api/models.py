"""Response models: the JSON shapes of SPEC's API, with examples for the OpenAPI page."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.registry import DeviceId, Slug


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    influxdb: bool
    broker: bool
    influxdb_writes: bool | None = Field(
        None, description="InfluxDB takes the ingest's writes (null: no ingest to ask)"
    )
    disk_spool: bool | None = Field(None, description="The spool's disk has room (null: unseen)")
    disk_influxdb: bool | None = Field(None, description="InfluxDB's disk has room")
    failed: list[str] = Field(default_factory=list)


class PartnerSummary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "gemeente-dordrecht",
                    "name": "Gemeente Dordrecht",
                    "devices": 5,
                    "devices_online": 4,
                    "ports": 2,
                }
            ]
        }
    )
    id: str
    name: str
    devices: int
    devices_online: int
    ports: int


class DeviceStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "aq-spuiboulevard",
                    "kind": "air-quality",
                    "status": "online",
                    "last_seen": "2026-11-23T12:00:00Z",
                }
            ]
        }
    )
    id: str
    kind: str
    status: Literal["online", "offline", "unknown"]
    last_seen: str | None


class TelemetrySeries(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "partner": "gemeente-dordrecht",
                    "device": "aq-spuiboulevard",
                    "metric": "pm25",
                    "start": "2026-11-22T12:00:00Z",
                    "end": "2026-11-23T12:00:00Z",
                    "every": "1h",
                    "points": [["2026-11-22T12:00:00Z", 11.4], ["2026-11-22T13:00:00Z", 12.1]],
                    "truncated": False,
                }
            ]
        }
    )
    partner: str
    device: str
    metric: str
    start: str
    end: str
    every: str | None = Field(description="Bucket width; null for raw points")
    points: list[tuple[str, float]]
    truncated: bool = Field(description="True when more points matched than the limit")


class GrantReads(BaseModel):
    count: int = Field(description="Reads of the device by the grantee's tokens")
    last: str | None = Field(description="The latest one (RFC 3339 UTC), null if none")


class GrantView(BaseModel):
    """One data-sharing grant: `owner` lets `grantee` read `device`'s telemetry."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "g-3f2a9c1b7d4e",
                    "owner": "gemeente-dordrecht",
                    "grantee": "bouwbedrijf-drechtsteden",
                    "device": "aq-spuiboulevard",
                    "note": "air quality near the building site, until completion",
                    "purpose": "dust limits during construction of the new quay",
                    "ends_at": "2027-06-30T00:00:00.000Z",
                    "granted_by": "partner gemeente-dordrecht (API token 5d1c0e2a9b7f)",
                    "granted_at": "2026-11-23T12:00:00.000Z",
                    "revoked_by": None,
                    "revoked_at": None,
                    "active": True,
                    "reads": {"count": 12, "last": "2026-11-30T08:14:03.512Z"},
                }
            ]
        }
    )
    id: str
    owner: str
    grantee: str
    device: str
    note: str
    granted_by: str
    granted_at: str
    revoked_by: str | None
    revoked_at: str | None
    active: bool
    purpose: str = Field(
        description='What the grantee may use the data for; "" for a grant given before '
        'purposes were asked for (shown as "(not recorded)")'
    )
    ends_at: str | None = Field(
        None, description="When the consent ends: revoked by itself then; null: until revoked"
    )
    reads: GrantReads | None = Field(
        None,
        description="The grantee's reads of the device through the API since the grant (from "
        "the access log), on the owner's list of its active grants; null elsewhere",
    )


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee: Slug = Field(description="Partner id of the partner who may read")
    devices: list[DeviceId] = Field(
        min_length=1, max_length=100, description="Registered devices of the owner's"
    )
    purpose: str = Field(
        min_length=1,
        max_length=500,
        description="Required: what the grantee may use the data for (shown to the grantor)",
    )
    ends_at: AwareDatetime | None = Field(
        None,
        description="When the consent ends (in the future, with a zone); the grant is revoked by "
        "itself then, on the broker and in the API. Omitted: until revoked",
    )
    note: str = Field("", max_length=200, description="Why, for the audit log")


class GrantResult(BaseModel):
    created: list[GrantView]
    existing: list[GrantView] = Field(description="Requested devices that were already shared")
