"""Response models: the JSON shapes of SPEC's API, with examples for the OpenAPI page."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    influxdb: bool
    broker: bool
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
