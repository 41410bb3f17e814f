"""Bodies and answers of the registry writes and of the audit (api/routes/registry.py).

Bodies are checked for shape here (unknown fields refused); the registry's own rules (patterns,
bounds, a device's port among its partner's) are checked by the control plane, whose refusal
comes back as a 422 naming the field. PATCH bodies change only the fields they carry; a field
sent as null is cleared (a device's port, a partner's quota).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EFFECTIVE = (
    "When the change takes effect (RFC 3339, past or future; default now). Figures for time "
    "before it keep the earlier values; it must come after the entity's latest recorded change."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerIn(_Body):
    id: str = Field(description="Slug: [a-z0-9][a-z0-9-]{1,31}; never reused once retired")
    name: str
    budgets: dict[str, Any] | None = None
    sla_target_pct: float | None = None
    device_quota: int | None = Field(None, description="Devices it may register itself")
    allowed_kinds: list[str] | None = None
    retention_days: int | None = None


class PartnerPatch(_Body):
    name: str | None = None
    budgets: dict[str, Any] | None = None
    sla_target_pct: float | None = None
    device_quota: int | None = None
    allowed_kinds: list[str] | None = None
    retention_days: int | None = None


class PartnerOut(BaseModel):
    id: str
    name: str
    budgets: dict[str, Any]
    sla_target_pct: float | None
    device_quota: int | None
    allowed_kinds: list[str] | None
    retention_days: int | None


class DeviceIn(_Body):
    id: str = Field(description="[A-Za-z0-9][A-Za-z0-9_.-]{0,63}; never reused once retired")
    kind: str = "generic"
    interval_s: int = 60
    port: str | None = Field(None, description="One of the partner's ports")
    switch: str | None = Field(None, description="Only when the port name is ambiguous")


class DevicePatch(_Body):
    kind: str | None = None
    interval_s: int | None = None
    port: str | None = None
    switch: str | None = None
    effective_from: datetime | None = Field(None, description=EFFECTIVE)


class DeviceTermsOut(BaseModel):
    effective_from: datetime
    interval_s: int
    port: str | None
    switch: str | None
    retired: bool
    recorded_at: datetime


class DeviceOut(BaseModel):
    partner: str
    id: str
    kind: str
    interval_s: int
    port: str | None
    switch: str | None
    auto: bool = Field(description="Registered by its first message (SPEC)")
    created_at: datetime
    retired_from: datetime | None
    history: list[DeviceTermsOut] | None = Field(
        None, description="Every recorded set of terms, oldest first (detail only)"
    )


class DevicePage(BaseModel):
    items: list[DeviceOut]
    next_after: str | None = Field(
        description="Pass as `after` for the next page (PARTNER/DEVICE); null: last page"
    )


class PortIn(_Body):
    switch: str
    port: str = Field(description="Slug, no '/'")
    partner: str
    capacity_mbps: float
    interval_s: int = 60


class PortPatch(_Body):
    partner: str | None = Field(None, description="Reassign the port to this partner")
    capacity_mbps: float | None = None
    interval_s: int | None = None
    effective_from: datetime | None = Field(None, description=EFFECTIVE)


class PortOut(BaseModel):
    switch: str
    port: str
    partner: str
    capacity_mbps: float
    interval_s: int


class MaintenanceIn(_Body):
    partner: str = Field(description="A partner id, or * for the whole network")
    start: datetime
    end: datetime
    reason: str = ""


class MaintenancePatch(_Body):
    partner: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    reason: str | None = None


class MaintenanceOut(BaseModel):
    id: int
    partner: str
    start: datetime
    end: datetime
    reason: str
    cancelled_at: datetime | None = None


class Changed(BaseModel):
    """What a write did, one line per entity touched (a partner's retirement retires its
    devices, ports and windows too)."""

    changes: list[str]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    partner: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_after: int | None = Field(description="Pass as `after` for older entries")
