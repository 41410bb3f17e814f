"""The partner registry (`config/partners.yaml`): who is on the network, with what.

Operator-written config is checked strictly at start-up; an error names the field and the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.switches import Switch
from domain.yaml_model import ConfigFileError, FieldError, load_yaml_model, parse_yaml_model

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,31}$"
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SLUG_RE = re.compile(SLUG_PATTERN)
DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)

NETWORK = "_network"
"""Topic segment of the network collector; never a partner id (slugs cannot start with '_')."""

DEFAULT_INTERVAL_S = 60

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Device(_Strict):
    id: DeviceId
    kind: str = Field("generic", min_length=1, max_length=64)
    interval_s: int = Field(DEFAULT_INTERVAL_S, ge=1, le=86_400)
    port: Slug | None = None
    # Only needed when the partner has a port of that name on more than one switch.
    switch: Slug | None = None


class Port(_Strict):
    switch: Slug
    port: Slug
    capacity_mbps: float = Field(gt=0, le=1_000_000)
    interval_s: int = Field(DEFAULT_INTERVAL_S, ge=1, le=86_400)

    @property
    def key(self) -> tuple[str, str]:
        return (self.switch, self.port)


class Budgets(_Strict):
    """A partner's own ingest budgets (domain/budgets.py); a field left out takes the
    platform default (Settings `ingest_budget_*`). Bounds keep a typo from switching one off."""

    metrics_per_device: int | None = Field(None, ge=1, le=100_000)
    metric_names: int | None = Field(None, ge=1, le=1_000_000)
    auto_devices: int | None = Field(None, ge=0, le=1_000_000)
    messages_per_s: float | None = Field(None, gt=0, le=1_000_000)
    # At least one message of the largest size SPEC allows (64 KiB) per second.
    bytes_per_s: int | None = Field(None, ge=64 * 1024, le=10 * 1024**3)


class Partner(_Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    devices: tuple[Device, ...] = ()
    ports: tuple[Port, ...] = ()
    budgets: Budgets = Budgets()
    sla_target_pct: float | None = Field(None, gt=0, le=100)
    """Alerts: the partner's device uptime this month below it fires (none: no SLA alert)."""
    device_quota: int | None = Field(None, ge=0, le=1_000_000)
    """Self-service: how many devices the partner may register itself (none: no self-service)."""
    allowed_kinds: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] | None = None
    """Self-service: the kinds of device it may register (none: any kind)."""
    retention_days: int | None = Field(None, ge=62, le=3650)
    """Raw telemetry kept this long (none: the platform default); at least two billing months."""

    @model_validator(mode="after")
    def _consistent(self) -> Partner:
        _no_duplicates([d.id for d in self.devices], f"device id in partner {self.id!r}", "devices")
        port_names = sorted({p.port for p in self.ports})
        for i, device in enumerate(self.devices):
            if device.port is None:
                if device.switch is not None:
                    raise FieldError("a device's switch needs a port too", "devices", i, "switch")
                continue
            matches = self._ports_named(device.port, device.switch)
            if not matches:
                where = f"{device.switch}/{device.port}" if device.switch else device.port
                raise FieldError(
                    f"device {device.id!r} sits behind port {where!r}, "
                    f"which is not one of partner {self.id!r}'s ports {port_names}",
                    "devices",
                    i,
                    "port",
                )
            if len(matches) > 1:
                raise FieldError(
                    f"port {device.port!r} exists on several of partner {self.id!r}'s switches "
                    f"({', '.join(p.switch for p in matches)}): give the device's switch too",
                    "devices",
                    i,
                    "port",
                )
        return self

    def _ports_named(self, port: str, switch: str | None) -> list[Port]:
        return [p for p in self.ports if p.port == port and switch in (None, p.switch)]

    def port_of(self, device: Device) -> Port | None:
        """The fibre port a device sits behind (SPEC: its named port, else the only one)."""
        if device.port is not None:
            return self._ports_named(device.port, device.switch)[0]
        return self.ports[0] if len(self.ports) == 1 else None


class MaintenanceWindow(_Strict):
    partner: str = Field(pattern=r"^(\*|[a-z0-9][a-z0-9-]{1,31})$")
    start: datetime
    end: datetime
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone (e.g. 2026-11-20T02:00:00Z)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def covers(self, partner_id: str) -> bool:
        return self.partner in ("*", partner_id)


class Registry(_Strict):
    partners: tuple[Partner, ...]
    maintenance: tuple[MaintenanceWindow, ...] = ()
    switches: tuple[Switch, ...] = ()
    """Switches the SNMP collector polls (domain/switches.py); none: no collector needed."""

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        _no_duplicates([p.id for p in self.partners], "partner id", "partners")
        _no_duplicates([s.id for s in self.switches], "switch id", "switches")
        owner: dict[tuple[str, str], str] = {}
        for i, partner in enumerate(self.partners):
            for j, port in enumerate(partner.ports):
                if port.key in owner:
                    raise FieldError(
                        f"switch port '{port.switch}/{port.port}' already belongs to partner "
                        f"{owner[port.key]!r} (a port belongs to one partner)",
                        "partners",
                        i,
                        "ports",
                        j,
                    )
                owner[port.key] = partner.id
        ids = {p.id for p in self.partners}
        for i, window in enumerate(self.maintenance):
            if window.partner != "*" and window.partner not in ids:
                raise FieldError(
                    f"maintenance names unknown partner {window.partner!r}",
                    "maintenance",
                    i,
                    "partner",
                )
        return self

    @cached_property
    def by_id(self) -> Mapping[str, Partner]:
        return {p.id: p for p in self.partners}

    @cached_property
    def port_owner(self) -> Mapping[tuple[str, str], Partner]:
        return {port.key: p for p in self.partners for port in p.ports}

    def canonical(self) -> Registry:
        """The same registry in the order the control plane keeps it (ids ascending), so two
        registries compare equal when they say the same whatever the file's order."""
        partners = [
            p.model_copy(
                update={
                    "devices": tuple(sorted(p.devices, key=lambda d: d.id)),
                    "ports": tuple(sorted(p.ports, key=lambda x: x.key)),
                }
            )
            for p in sorted(self.partners, key=lambda p: p.id)
        ]
        return self.model_copy(
            update={
                "partners": tuple(partners),
                "maintenance": tuple(
                    sorted(self.maintenance, key=lambda w: (w.start, w.end, w.partner, w.reason))
                ),
                "switches": tuple(sorted(self.switches, key=lambda s: s.id)),
            }
        )

    def ports_of_switch(self, switch_id: str) -> list[Port]:
        return [port for p in self.partners for port in p.ports if port.switch == switch_id]

    def partner(self, partner_id: str) -> Partner | None:
        return self.by_id.get(partner_id)

    def device(self, partner_id: str, device_id: str) -> Device | None:
        partner = self.by_id.get(partner_id)
        if partner is None:
            return None
        return next((d for d in partner.devices if d.id == device_id), None)

    def devices(self) -> Iterator[tuple[Partner, Device]]:
        for partner in self.partners:
            for device in partner.devices:
                yield partner, device


class RegistryError(ConfigFileError):
    """The partners file is unusable; the message says where and why."""


def parse_registry(text: str, source: str = "partners.yaml") -> Registry:
    """Validate registry YAML; errors carry `source:line` of the offending field."""
    return parse_yaml_model(text, Registry, source, RegistryError)


def load_registry(path: Path) -> Registry:
    return load_yaml_model(path, Registry, RegistryError)


def _no_duplicates(ids: list[str], what: str, field: str) -> None:
    """Refuse a repeated id, pointing at the second occurrence's `id`."""
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise FieldError(f"duplicate {what}: {value!r}", field, i, "id")
        seen.add(value)
