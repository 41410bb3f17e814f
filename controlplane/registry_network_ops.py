"""Changing ports, maintenance windows and switches one at a time: the counterpart of
registry_ops.py (partners and devices), with the same runner, checks and effective times.

A port's partner, capacity_mbps and interval_s are terms from an effective time; a port that
still carries devices of the partner it leaves cannot move or retire (the registry would name a
device's port that is no longer its partner's). Windows and switches change now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from controlplane.db import utcnow
from controlplane.registry_diff import Change, State, port_form, window_form
from controlplane.registry_errors import (
    ConflictingChange,
    InvalidChange,
    UnknownEntity,
    from_validation,
)
from controlplane.registry_ops import (
    NO_DEVICES,
    active_partner,
    partner_model,
    refuse_used_id,
    run,
    validated,
)
from controlplane.registry_state import read_state
from controlplane.registry_writes import Writer
from domain.registry import Device, MaintenanceWindow, Port
from domain.switches import Switch


# Ports.
def add_port(engine: Engine, fields: Mapping[str, Any], *, actor: str) -> list[Change]:
    partner_id = str(fields.get("partner", ""))
    port = validated(Port, {k: v for k, v in fields.items() if k != "partner" and v is not None})

    def build(state: State) -> list[Change]:
        active_partner(state, partner_id)
        key = port.key
        refuse_used_id(
            "port",
            "/".join(key),
            key in state.ports,
            state.port_known.get(key) if key not in state.ports else None,
        )
        if key in state.port_known:
            raise ConflictingChange(f"port {'/'.join(key)} already exists", "port")
        return [Change("add", "port", key, partner_id, None, port_form(partner_id, port))]

    return run(engine, build, actor=actor)


def _port(state: State, key: tuple[str, str]) -> dict[str, Any]:
    if key in state.ports:
        return state.ports[key]
    if key in state.port_known:
        raise ConflictingChange(f"port {key[0]}/{key[1]} is retired", "port")
    raise UnknownEntity(f"no port {key[1]!r} on switch {key[0]!r}", "port")


def _port_leaves(engine: Engine, key: tuple[str, str], at: datetime | None) -> str:
    """The partner a port leaves (for reading its devices before the change)."""
    with engine.connect() as conn:
        state = read_state(conn, at or utcnow(), partner=NO_DEVICES)
    return str(_port(state, key)["partner"])


def _free_of_devices(state: State, key: tuple[str, str], owner: str) -> None:
    devices = [Device(id=k[1], **f) for k, f in sorted(state.devices.items()) if k[0] == owner]
    try:
        partner_model(state, owner, devices, skip_port=key)
    except ValidationError as exc:
        raise InvalidChange(
            f"port {key[0]}/{key[1]} still carries devices of partner {owner!r}: move them to "
            f"another of its ports or retire them first ({from_validation(exc).reason})",
            "partner",
        ) from None


def set_port(
    engine: Engine,
    switch: str,
    port: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    effective: datetime | None = None,
) -> list[Change]:
    """Reassign a port (`partner`) or change its capacity_mbps / interval_s, from `effective`."""
    allowed = {"partner", "capacity_mbps", "interval_s"}
    if unknown := set(changes) - allowed:
        raise InvalidChange(f"not a port field; use {sorted(allowed)}", sorted(unknown)[0])
    key = (switch, port)
    owner = _port_leaves(engine, key, effective)

    def build(state: State) -> list[Change]:
        before = _port(state, key)
        merged = {**before, **{k: v for k, v in changes.items() if v is not None}}
        active_partner(state, str(merged["partner"]))
        checked = validated(
            Port,
            {
                "switch": switch,
                "port": port,
                **{k: merged[k] for k in ("capacity_mbps", "interval_s")},
            },
        )
        after = port_form(str(merged["partner"]), checked)
        if after == before:
            return []
        if after["partner"] != before["partner"]:
            if before["partner"] != owner:
                raise ConflictingChange("the port changed meanwhile; try again", "partner")
            _free_of_devices(state, key, owner)
        return [Change("change", "port", key, after["partner"], before, after)]

    return run(engine, build, actor=actor, effective=effective, devices_of=owner)


def retire_port(
    engine: Engine, switch: str, port: str, *, actor: str, effective: datetime | None = None
) -> list[Change]:
    key = (switch, port)
    owner = _port_leaves(engine, key, effective)

    def build(state: State) -> list[Change]:
        before = _port(state, key)
        _free_of_devices(state, key, str(before["partner"]))
        return [Change("retire", "port", key, str(before["partner"]), before, None)]

    return run(engine, build, actor=actor, effective=effective, devices_of=owner)


# Maintenance windows.
def _window_model(fields: Mapping[str, Any]) -> MaintenanceWindow:
    return validated(MaintenanceWindow, {k: v for k, v in fields.items() if v is not None})


def _window_partner(state: State, window: MaintenanceWindow) -> None:
    if window.partner != "*":
        active_partner(state, window.partner)


def add_maintenance(engine: Engine, fields: Mapping[str, Any], *, actor: str) -> int:
    """Plan a maintenance window; its id."""
    window = _window_model(fields)
    writers: list[Writer] = []

    def build(state: State) -> list[Change]:
        _window_partner(state, window)
        form = window_form(window.partner, window.start, window.end, window.reason)
        owner = None if window.partner == "*" else window.partner
        return [Change("add", "maintenance", ("new",), owner, None, form)]

    run(engine, build, actor=actor, writers=writers)
    return writers[0].window_ids[0]


def _window(state: State, window_id: int) -> dict[str, Any]:
    if window_id not in state.windows:
        raise UnknownEntity(f"no planned maintenance window {window_id}", "id")
    return state.windows[window_id]


def set_maintenance(
    engine: Engine, window_id: int, changes: Mapping[str, Any], *, actor: str
) -> list[Change]:
    def build(state: State) -> list[Change]:
        before = _window(state, window_id)
        window = _window_model({**before, **changes})
        _window_partner(state, window)
        after = window_form(window.partner, window.start, window.end, window.reason)
        if after == before:
            return []
        owner = None if window.partner == "*" else window.partner
        return [Change("change", "maintenance", (window_id,), owner, before, after)]

    return run(engine, build, actor=actor)


def retire_maintenance(engine: Engine, window_id: int, *, actor: str) -> list[Change]:
    """Cancel a window: no longer excluded from figures."""

    def build(state: State) -> list[Change]:
        before = _window(state, window_id)
        owner = None if before["partner"] == "*" else before["partner"]
        return [Change("retire", "maintenance", (window_id,), owner, before, None)]

    return run(engine, build, actor=actor)


# Switches (the SNMP collector's).
def add_switch(engine: Engine, fields: Mapping[str, Any], *, actor: str) -> list[Change]:
    switch = validated(Switch, fields)

    def build(state: State) -> list[Change]:
        refuse_used_id(
            "switch", switch.id, switch.id in state.switches, state.switch_retired.get(switch.id)
        )
        return [Change("add", "switch", (switch.id,), None, None, switch.model_dump(mode="json"))]

    return run(engine, build, actor=actor)


def set_switch(
    engine: Engine, switch_id: str, changes: Mapping[str, Any], *, actor: str
) -> list[Change]:
    def build(state: State) -> list[Change]:
        before = _switch(state, switch_id)
        after = validated(Switch, {**before, **changes, "id": switch_id}).model_dump(mode="json")
        if after == before:
            return []
        return [Change("change", "switch", (switch_id,), None, before, after)]

    return run(engine, build, actor=actor)


def retire_switch(engine: Engine, switch_id: str, *, actor: str) -> list[Change]:
    def build(state: State) -> list[Change]:
        return [Change("retire", "switch", (switch_id,), None, _switch(state, switch_id), None)]

    return run(engine, build, actor=actor)


def _switch(state: State, switch_id: str) -> dict[str, Any]:
    if switch_id in state.switch_retired:
        raise ConflictingChange(f"switch {switch_id!r} is retired", "id")
    if switch_id not in state.switches:
        raise UnknownEntity(f"no switch {switch_id!r}", "id")
    return state.switches[switch_id]
