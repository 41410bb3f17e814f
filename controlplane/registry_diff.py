"""The difference between the registry as recorded and a registry as declared (a YAML file):
what `mainport registry apply` would add, change and retire. Pure: no database here.

Entities are compared by their ids — a partner's id, a device's (partner, id), a port's
(switch, port), a switch's id; maintenance windows have no id in the file and are compared by
what they say (partner, start, end, reason). A port that moves to another partner in the file is
a change of its `partner`, not a retirement and an addition. What the file leaves out is retired,
except devices that registered themselves by publishing (SPEC: auto-registered), which the file
does not govern until it lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from controlplane.registry_errors import ConflictingChange
from domain.registry import Device, Partner, Port, Registry

Action = Literal["add", "change", "retire"]
DeviceKey = tuple[str, str]
PortKey = tuple[str, str]

DEVICE_TERMS = ("interval_s", "port", "switch")
"""Device fields recorded with an effective time (a new device_terms row); `kind` is not."""
PORT_TERMS = ("partner", "capacity_mbps", "interval_s")


def partner_form(partner: Partner) -> dict[str, Any]:
    """A partner's own attributes (its devices and ports are entities of their own)."""
    return {
        "id": partner.id,
        "name": partner.name,
        "budgets": partner.budgets.model_dump(exclude_none=True),
        "sla_target_pct": partner.sla_target_pct,
        "device_quota": partner.device_quota,
        "allowed_kinds": list(partner.allowed_kinds) if partner.allowed_kinds is not None else None,
        "retention_days": partner.retention_days,
    }


def device_form(device: Device) -> dict[str, Any]:
    return {
        "kind": device.kind,
        "interval_s": device.interval_s,
        "port": device.port,
        "switch": device.switch,
    }


def port_form(partner_id: str, port: Port) -> dict[str, Any]:
    return {
        "partner": partner_id,
        "capacity_mbps": float(port.capacity_mbps),
        "interval_s": port.interval_s,
    }


def window_form(partner: str, start: datetime, end: datetime, reason: str) -> dict[str, Any]:
    return {"partner": partner, "start": start, "end": end, "reason": reason}


@dataclass
class State:
    """The registry as recorded, in force at one time, with what is needed to refuse a change:
    every id ever used (retired ones included) and each entity's latest effective time."""

    partners: dict[str, dict[str, Any]] = field(default_factory=dict)
    partner_retired: dict[str, datetime] = field(default_factory=dict)
    devices: dict[DeviceKey, dict[str, Any]] = field(default_factory=dict)
    device_known: dict[DeviceKey, datetime | None] = field(default_factory=dict)
    """Every device ever recorded → when it was retired (None: not retired)."""
    device_latest: dict[DeviceKey, datetime] = field(default_factory=dict)
    auto_devices: set[DeviceKey] = field(default_factory=set)
    ports: dict[PortKey, dict[str, Any]] = field(default_factory=dict)
    port_known: dict[PortKey, datetime | None] = field(default_factory=dict)
    port_latest: dict[PortKey, datetime] = field(default_factory=dict)
    windows: dict[int, dict[str, Any]] = field(default_factory=dict)
    switches: dict[str, dict[str, Any]] = field(default_factory=dict)
    switch_retired: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    action: Action
    entity: str  # partner | device | port | maintenance | switch
    key: tuple[Any, ...]
    partner: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str = ""

    @property
    def entity_id(self) -> str:
        return "/".join(str(k) for k in self.key)

    def fields(self) -> dict[str, tuple[Any, Any]]:
        """field → (before, after), for the fields that differ."""
        before, after = self.before or {}, self.after or {}
        return {
            k: (before.get(k), after.get(k))
            for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)
        }

    def line(self) -> str:
        sign = {"add": "+", "change": "~", "retire": "-"}[self.action]
        text = f"{sign} {self.entity} {self.entity_id}"
        if self.action == "change":
            text += ": " + "; ".join(
                f"{k} {_show(b)} → {_show(a)}" for k, (b, a) in self.fields().items()
            )
        elif self.action == "add" and self.after:
            shown = {k: v for k, v in self.after.items() if v is not None and k != "id"}
            text += " (" + ", ".join(f"{k}={_show(v)}" for k, v in shown.items()) + ")"
        if self.note:
            text += f" ({self.note})"
        return text


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return "-" if value is None else str(value)


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        if not self.changes:
            return "no changes"
        return (
            f"{self.count('add')} to add, {self.count('change')} to change, "
            f"{self.count('retire')} to retire"
        )

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]


ABSENT = "absent from the file"


def diff(state: State, desired: Registry) -> Diff:
    """What to do to `state` so that it says what `desired` says. Refuses (ConflictingChange)
    a file that brings back a retired id: ids are never reused."""
    out: list[Change] = []
    wanted_partners = {p.id: partner_form(p) for p in desired.partners}
    for i, (pid, form) in enumerate(wanted_partners.items()):
        if pid in state.partner_retired:
            raise _reused("partner", pid, state.partner_retired[pid], ("partners", i, "id"))
        if pid not in state.partners:
            out.append(Change("add", "partner", (pid,), pid, None, form))
        elif state.partners[pid] != form:
            out.append(Change("change", "partner", (pid,), pid, state.partners[pid], form))

    wanted_ports = {port.key: port_form(p.id, port) for p in desired.partners for port in p.ports}
    where = _places(desired, "ports")
    for key, form in wanted_ports.items():
        if key not in state.ports and key in state.port_known:
            raise _reused("port", "/".join(key), state.port_known[key], where[key])
        current = state.ports.get(key)
        if current is None:
            out.append(Change("add", "port", key, form["partner"], None, form))
        elif current != form:
            out.append(Change("change", "port", key, form["partner"], current, form))

    wanted_devices = {(p.id, d.id): device_form(d) for p, d in desired.devices()}
    where = _places(desired, "devices")
    for key, form in wanted_devices.items():
        if key not in state.devices and key in state.device_known:
            raise _reused("device", "/".join(key), state.device_known[key], where[key])
        current = state.devices.get(key)
        if current is None:
            out.append(Change("add", "device", key, key[0], None, form))
        elif current != form:
            out.append(Change("change", "device", key, key[0], current, form))

    wanted_windows = [window_form(w.partner, w.start, w.end, w.reason) for w in desired.maintenance]
    unmatched = dict(state.windows)
    for form in wanted_windows:
        match = next((wid for wid, have in unmatched.items() if have == form), None)
        if match is not None:
            del unmatched[match]
        else:
            out.append(Change("add", "maintenance", ("new",), _owner(form), None, form))

    wanted_switches = {s.id: s.model_dump(mode="json") for s in desired.switches}
    for i, (sid, form) in enumerate(wanted_switches.items()):
        if sid in state.switch_retired:
            raise _reused("switch", sid, state.switch_retired[sid], ("switches", i, "id"))
        if sid not in state.switches:
            out.append(Change("add", "switch", (sid,), None, None, form))
        elif state.switches[sid] != form:
            out.append(Change("change", "switch", (sid,), None, state.switches[sid], form))

    # Retirements last: devices before ports before partners.
    for key, form in state.devices.items():
        if key not in wanted_devices and (
            key not in state.auto_devices or key[0] not in wanted_partners
        ):
            out.append(Change("retire", "device", key, key[0], form, None, ABSENT))
    for pkey, form in state.ports.items():
        if pkey not in wanted_ports:
            out.append(Change("retire", "port", pkey, form["partner"], form, None, ABSENT))
    for wid, form in unmatched.items():
        out.append(Change("retire", "maintenance", (wid,), _owner(form), form, None, ABSENT))
    for sid, form in state.switches.items():
        if sid not in wanted_switches:
            out.append(Change("retire", "switch", (sid,), None, form, None, ABSENT))
    for pid, form in state.partners.items():
        if pid not in wanted_partners:
            out.append(Change("retire", "partner", (pid,), pid, form, None, ABSENT))
    return Diff(out)


def _owner(window: dict[str, Any]) -> str | None:
    partner: str = window["partner"]
    return None if partner == "*" else partner


def _places(desired: Registry, what: str) -> dict[tuple[str, str], tuple[str | int, ...]]:
    """Where each device or port of the file is: ("partners", i, what, j, field)."""
    out: dict[tuple[str, str], tuple[str | int, ...]] = {}
    for i, p in enumerate(desired.partners):
        if what == "devices":
            for j, d in enumerate(p.devices):
                out[(p.id, d.id)] = ("partners", i, "devices", j, "id")
        else:
            for j, port in enumerate(p.ports):
                out[port.key] = ("partners", i, "ports", j, "port")
    return out


def _reused(
    entity: str, entity_id: str, retired_at: datetime | None, loc: tuple[str | int, ...]
) -> ConflictingChange:
    when = f" at {_show(retired_at)}" if retired_at else ""
    error = ConflictingChange(
        f"{entity} {entity_id!r} was retired{when}; ids are never reused: choose a new id",
        ".".join(str(part) for part in loc),
    )
    error.loc = loc
    return error
