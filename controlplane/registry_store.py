"""Writing the registry: whole (seeding an empty control plane from the partners file) and, in
time, change by change. Every write is one `write_tx`, audited in the same transaction.

Rows are written in the shape snapshot.py reads: entity rows plus `*_terms` rows with the time
each set of terms takes effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from controlplane import audit
from controlplane.db import write_tx
from controlplane.tables import (
    device_terms,
    devices,
    maintenance_windows,
    partners,
    port_terms,
    ports,
    switches,
)
from domain.registry import Device, MaintenanceWindow, Partner, Port, Registry
from domain.switches import Switch


def partner_row(partner: Partner) -> dict[str, Any]:
    """A partner's own attributes (its devices and ports are rows of their own)."""
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
    return device.model_dump(exclude_none=True)


def port_form(port: Port) -> dict[str, Any]:
    return port.model_dump()


def is_empty(conn: Connection) -> bool:
    return conn.execute(select(func.count()).select_from(partners)).scalar_one() == 0


def insert_registry(conn: Connection, registry: Registry, *, at: datetime, actor: str) -> None:
    """Write a whole registry into an empty control plane, every term in force from `at` (and,
    as the first terms, for data older than that: domain/registry_history.py)."""
    for partner in registry.partners:
        insert_partner(conn, partner, at=at, actor=actor)
    for window in registry.maintenance:
        insert_maintenance(conn, window, at=at, actor=actor)
    for switch in registry.switches:
        insert_switch(conn, switch, at=at, actor=actor)


def insert_partner(conn: Connection, partner: Partner, *, at: datetime, actor: str) -> None:
    row = partner_row(partner)
    conn.execute(insert(partners).values(**row, created_at=at))
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity="partner",
        entity_id=partner.id,
        partner=partner.id,
        before=None,
        after=row,
        at=at,
    )
    for port in partner.ports:
        insert_port(conn, partner.id, port, at=at, actor=actor)
    for device in partner.devices:
        insert_device(conn, partner.id, device, at=at, actor=actor)


def insert_port(conn: Connection, partner_id: str, port: Port, *, at: datetime, actor: str) -> None:
    conn.execute(insert(ports).values(switch=port.switch, port=port.port, created_at=at))
    conn.execute(
        insert(port_terms).values(
            switch=port.switch,
            port=port.port,
            effective_from=at,
            partner_id=partner_id,
            capacity_mbps=port.capacity_mbps,
            interval_s=port.interval_s,
            retired=False,
            recorded_at=at,
        )
    )
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity="port",
        entity_id=f"{port.switch}/{port.port}",
        partner=partner_id,
        before=None,
        after={"partner": partner_id, **port_form(port), "effective_from": at.isoformat()},
        at=at,
    )


def insert_device(
    conn: Connection, partner_id: str, device: Device, *, at: datetime, actor: str
) -> None:
    conn.execute(
        insert(devices).values(partner_id=partner_id, id=device.id, kind=device.kind, created_at=at)
    )
    conn.execute(
        insert(device_terms).values(
            partner_id=partner_id,
            device_id=device.id,
            effective_from=at,
            interval_s=device.interval_s,
            port=device.port,
            switch=device.switch,
            retired=False,
            recorded_at=at,
        )
    )
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity="device",
        entity_id=f"{partner_id}/{device.id}",
        partner=partner_id,
        before=None,
        after={**device_form(device), "effective_from": at.isoformat()},
        at=at,
    )


def insert_maintenance(
    conn: Connection, window: MaintenanceWindow, *, at: datetime, actor: str
) -> int:
    result = conn.execute(
        insert(maintenance_windows).values(
            partner=window.partner,
            start=window.start,
            end=window.end,
            reason=window.reason,
            created_at=at,
        )
    )
    window_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity="maintenance",
        entity_id=str(window_id),
        partner=None if window.partner == "*" else window.partner,
        before=None,
        after=window.model_dump(mode="json"),
        at=at,
    )
    return window_id


def insert_switch(conn: Connection, switch: Switch, *, at: datetime, actor: str) -> None:
    spec = switch.model_dump(mode="json", exclude={"id"})
    conn.execute(insert(switches).values(id=switch.id, spec=spec, created_at=at))
    audit.record(
        conn,
        actor=actor,
        action="create",
        entity="switch",
        entity_id=switch.id,
        partner=None,
        before=None,
        after={"id": switch.id, **spec},
        at=at,
    )


class _NotEmpty(Exception):
    """Raised inside the write transaction to roll it back (its version bump with it)."""


def seed(engine: Engine, registry: Registry, *, at: datetime, actor: str) -> bool:
    """Write `registry` when the control plane holds no partner yet; False when it held some
    (the database is the source of truth: a restart never undoes a change)."""
    with engine.connect() as conn:
        if not is_empty(conn):
            return False
    try:
        with write_tx(engine) as (conn, _version):
            if not is_empty(conn):  # another process seeded it meanwhile
                raise _NotEmpty
            insert_registry(conn, registry, at=at, actor=actor)
    except _NotEmpty:
        return False
    return True
