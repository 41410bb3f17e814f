"""Changing the registry one entity at a time (API, CLI): add, set, retire partners, devices,
ports, maintenance windows and switches. Each call is one `write_tx` whose changes carry their
audit entries; what it reads to check the change is read inside that transaction, after the
version bump has serialised it against every other writer (no lost update).

Checks are the domain's (domain/registry.py models) plus the registry's cross-checks, done for
the partner concerned only so that a change costs the same in a registry of 19 devices or of
100,000: a port belongs to one partner, a device's port is one of its partner's ports at the
effective time, a port still carrying devices cannot move or retire, ids are never reused.

Effective times: an addition is in force from when it is recorded (its first terms also reach
back over older data, domain/registry_history.py); a change or retirement of a device or port
takes `effective_from` (default now, past or future), which must come after the entity's latest
recorded change — a timeline only grows at its end. Partners, windows and switches change now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from controlplane.db import utcnow, write_tx
from controlplane.registry_diff import (
    Change,
    State,
    device_form,
    partner_form,
)
from controlplane.registry_errors import (
    ConflictingChange,
    InvalidChange,
    UnknownEntity,
    from_validation,
)
from controlplane.registry_state import read_state
from controlplane.registry_writes import Writer
from domain.registry import Device, Partner, Port

M = TypeVar("M", bound=BaseModel)
NO_DEVICES = "_"
"""A partner id no partner has: read ports, partners and windows without any device."""


class _Nothing(Exception):
    """Nothing to change: roll the transaction (and its version bump) back."""


def validated(model: type[M], data: Mapping[str, Any], prefix: str = "") -> M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise from_validation(exc, prefix) from None


def _aware(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    if at.tzinfo is None:
        raise InvalidChange("needs a time zone (e.g. 2026-12-01T00:00:00Z)", "effective_from")
    return at


def run(
    engine: Engine,
    build: Callable[[State], list[Change]],
    *,
    actor: str,
    effective: datetime | None = None,
    devices_of: str | None = NO_DEVICES,
    writers: list[Writer] | None = None,
) -> list[Change]:
    """Read the state in force at the effective time inside a write transaction, let `build`
    decide the changes (raising a RegistryChangeError to refuse), write them with their audit.
    An empty list changes nothing, not even the registry version."""
    now = utcnow()
    at = _aware(effective, now)
    try:
        with write_tx(engine) as (conn, _version):
            state = read_state(conn, at, partner=devices_of)
            changes = build(state)
            if not changes:
                raise _Nothing
            writer = Writer(conn, state, actor=actor, now=now)
            for change in changes:
                writer.write(change, at)
            writer.flush()
            if writers is not None:
                writers.append(writer)
    except _Nothing:
        return []
    return changes


def active_partner(state: State, partner_id: str, field: str = "partner") -> dict[str, Any]:
    if partner_id in state.partner_retired:
        raise ConflictingChange(f"partner {partner_id!r} is retired", field)
    if partner_id not in state.partners:
        raise UnknownEntity(f"no partner {partner_id!r}", field)
    return state.partners[partner_id]


def partner_model(
    state: State, partner_id: str, devices: list[Device], skip_port: tuple[str, str] | None = None
) -> Partner:
    """The partner with the given devices and its ports in force (but `skip_port`), checked."""
    ports = [
        Port(switch=k[0], port=k[1], capacity_mbps=f["capacity_mbps"], interval_s=f["interval_s"])
        for k, f in sorted(state.ports.items())
        if f["partner"] == partner_id and k != skip_port
    ]
    form = state.partners[partner_id]
    return Partner.model_validate(
        {"id": partner_id, "name": form["name"], "devices": devices, "ports": ports}
    )


# Partners.
def add_partner(engine: Engine, fields: Mapping[str, Any], *, actor: str) -> list[Change]:
    partner = validated(Partner, {k: v for k, v in fields.items() if v is not None})
    if partner.devices or partner.ports:
        raise InvalidChange("add devices and ports with their own calls", "devices")

    def build(state: State) -> list[Change]:
        refuse_used_id(
            "partner",
            partner.id,
            partner.id in state.partners,
            state.partner_retired.get(partner.id),
        )
        return [Change("add", "partner", (partner.id,), partner.id, None, partner_form(partner))]

    return run(engine, build, actor=actor)


def set_partner(
    engine: Engine, partner_id: str, changes: Mapping[str, Any], *, actor: str
) -> list[Change]:
    def build(state: State) -> list[Change]:
        before = active_partner(state, partner_id, "id")
        merged = {**before, **changes, "id": partner_id}
        after = partner_form(validated(Partner, {k: v for k, v in merged.items() if v is not None}))
        if after == before:
            return []
        return [Change("change", "partner", (partner_id,), partner_id, before, after)]

    return run(engine, build, actor=actor)


def retire_partner(engine: Engine, partner_id: str, *, actor: str) -> list[Change]:
    """Retire a partner with its devices, ports and maintenance windows, now."""

    def build(state: State) -> list[Change]:
        form = active_partner(state, partner_id, "id")
        out = [
            Change("retire", "device", key, partner_id, f, None, "its partner retires")
            for key, f in state.devices.items()
            if key[0] == partner_id
        ]
        out += [
            Change("retire", "port", key, partner_id, f, None, "its partner retires")
            for key, f in state.ports.items()
            if f["partner"] == partner_id
        ]
        out += [
            Change("retire", "maintenance", (wid,), partner_id, w, None, "its partner retires")
            for wid, w in state.windows.items()
            if w["partner"] == partner_id
        ]
        return [*out, Change("retire", "partner", (partner_id,), partner_id, form, None)]

    return run(engine, build, actor=actor, devices_of=partner_id)


def refuse_used_id(entity: str, entity_id: str, active: bool, retired_at: datetime | None) -> None:
    if retired_at is not None:
        raise ConflictingChange(
            f"{entity} {entity_id!r} was retired at {retired_at.isoformat()}; ids are never "
            "reused: choose a new id",
            "id",
        )
    if active:
        raise ConflictingChange(f"{entity} {entity_id!r} already exists", "id")


# Devices.
def _device_checked(state: State, partner_id: str, device: Device) -> None:
    try:
        partner_model(state, partner_id, [device])
    except ValidationError as exc:
        error = from_validation(exc)
        field = error.field.rsplit(".", 1)[-1] if error.field.startswith("devices") else error.field
        raise InvalidChange(error.reason, field) from None


def add_device(
    engine: Engine,
    partner_id: str,
    fields: Mapping[str, Any],
    *,
    actor: str,
    self_service: bool = False,
) -> list[Change]:
    """Register a device. `self_service`: a partner adds its own, within the quota and kinds
    the operator set on its partner row (no quota: refused)."""
    device = validated(Device, {k: v for k, v in fields.items() if v is not None})

    def build(state: State) -> list[Change]:
        partner = active_partner(state, partner_id)
        key = (partner_id, device.id)
        known = key in state.device_known
        refuse_used_id(
            "device",
            f"{partner_id}/{device.id}",
            known and key in state.devices,
            state.device_known.get(key) if known else None,
        )
        if known:  # registered but not in force (retired from a later time, …)
            raise ConflictingChange(f"device {partner_id}/{device.id} already exists", "id")
        _device_checked(state, partner_id, device)
        if self_service:
            _within_quota(state, partner, device)
        return [Change("add", "device", key, partner_id, None, device_form(device))]

    return run(engine, build, actor=actor, devices_of=partner_id)


class QuotaExceeded(ConflictingChange):
    """A partner's self-service registration beyond what the operator allowed (403 in the API)."""


def _within_quota(state: State, partner: dict[str, Any], device: Device) -> None:
    """The quota caps the partner's devices in force (listed by the operator or its own) at the
    moment it registers one; the kinds limit what it registers itself."""
    quota = partner["device_quota"]
    if quota is None:
        raise QuotaExceeded("the operator has not allowed this partner to register devices")
    kinds = partner["allowed_kinds"]
    if kinds is not None and device.kind not in kinds:
        # A body the partner can fix, not a right it lacks: 422 naming the field.
        raise InvalidChange(
            f"kind {device.kind!r} is not allowed for this partner (allowed: {sorted(kinds)})",
            "kind",
        )
    registered = sum(1 for key in state.devices if key[0] == partner["id"])
    if registered >= quota:
        raise QuotaExceeded(f"the partner's device quota ({quota}) is used up", "id")


def set_device(
    engine: Engine,
    partner_id: str,
    device_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    effective: datetime | None = None,
) -> list[Change]:
    """Change a device's kind (in place) and/or interval_s, port, switch (from `effective`)."""
    allowed = {"kind", "interval_s", "port", "switch"}
    if unknown := set(changes) - allowed:
        raise InvalidChange(f"not a device field; use {sorted(allowed)}", sorted(unknown)[0])

    def build(state: State) -> list[Change]:
        active_partner(state, partner_id)
        key = (partner_id, device_id)
        before = _device(state, key)
        merged = {**before, **changes}
        if "port" in changes and "switch" not in changes:
            merged["switch"] = None  # a new port: its switch from the new port, unless given
        device = validated(
            Device, {"id": device_id, **{k: v for k, v in merged.items() if v is not None}}
        )
        _device_checked(state, partner_id, device)
        after = device_form(device)
        if after == before:
            return []
        return [Change("change", "device", key, partner_id, before, after)]

    return run(engine, build, actor=actor, effective=effective, devices_of=partner_id)


def _device(state: State, key: tuple[str, str]) -> dict[str, Any]:
    if key in state.devices:
        return state.devices[key]
    retired = state.device_known.get(key)
    if key in state.device_known:
        when = f" at {retired.isoformat()}" if retired else ""
        raise ConflictingChange(f"device {key[0]}/{key[1]} is retired{when}", "id")
    raise UnknownEntity(f"no device {key[1]!r} of partner {key[0]!r}", "id")


def retire_device(
    engine: Engine,
    partner_id: str,
    device_id: str,
    *,
    actor: str,
    effective: datetime | None = None,
) -> list[Change]:
    def build(state: State) -> list[Change]:
        active_partner(state, partner_id)
        key = (partner_id, device_id)
        return [Change("retire", "device", key, partner_id, _device(state, key), None)]

    return run(engine, build, actor=actor, effective=effective, devices_of=partner_id)
