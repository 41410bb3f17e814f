"""Writing the registry whole: seeding an empty control plane from the partners file, applying
a file declaratively (`mainport registry apply`), exporting it, and what `mainport up` does at
start by the source of truth. Change by change: registry_ops.py. Every write is one `write_tx`,
audited in the same transaction.

Rows are written in the shape snapshot.py reads: entity rows plus `*_terms` rows with the time
each set of terms takes effect.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from controlplane import audit
from controlplane.db import current_version, utcnow, write_tx
from controlplane.registry_diff import Diff, diff
from controlplane.registry_state import read_state
from controlplane.registry_writes import Writer
from controlplane.snapshot import load_snapshot
from controlplane.tables import (
    device_terms,
    devices,
    maintenance_windows,
    partners,
    port_terms,
    ports,
    switches,
)
from domain.registry import Device, MaintenanceWindow, Partner, Port, Registry, load_registry
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


class _Raced(Exception):
    """Another writer changed the registry between the dry look and the write: look again."""


def apply(
    engine: Engine, registry: Registry, *, actor: str, at: datetime, dry_run: bool = False
) -> Diff:
    """Make the recorded registry say what `registry` says (a whole file), in one transaction:
    additions, changes (new terms from `at`) and retirements of what the file leaves out. The
    difference is returned whether applied or not (`dry_run`). Idempotent: when nothing differs
    nothing is written — no version bump, no audit entry."""
    with engine.connect() as conn, conn.begin():
        seen_version = current_version(conn)
        seen = read_state(conn, at, partner=None)
    planned = diff(seen, registry)
    if dry_run or not planned:
        return planned
    try:
        with write_tx(engine) as (conn, version):
            # The bump took the lock: if it is the next version, nobody wrote since the look
            # above and what it read is still the truth; else read again under the lock.
            state = seen if version == seen_version + 1 else read_state(conn, at, partner=None)
            done = planned if state is seen else diff(state, registry)
            if not done:
                raise _Raced
            writer = Writer(conn, state, actor=actor, now=at)
            for change in done:
                writer.write(change, at)
            writer.flush()
    except _Raced:
        return Diff()
    return done


def export(engine: Engine, at: datetime | None = None) -> Registry:
    """The registry in force at `at` (default now), in canonical order."""
    with engine.connect() as conn, conn.begin():
        return load_snapshot(conn, at or utcnow()).registry.canonical()


def prepare_registry(
    engine: Engine, *, source: str, partners_file: Path, actor: str, at: datetime | None = None
) -> str:
    """What `mainport up` does before its children start, by the source of truth (SPEC):
    database → the file seeds an empty registry (never again: a restart undoes no change);
    file → the file is applied, at every start. Returns a line saying what happened; a bad
    file raises RegistryError naming file, line and field."""
    at = at or utcnow()
    if source == "file":
        changes = apply(engine, load_registry(partners_file), actor=actor, at=at)
        return f"registry from {partners_file}: {changes.summary()}"
    if not partners_file.exists():
        return "registry from the database"
    with engine.connect() as conn:
        if not is_empty(conn):
            return "registry from the database"
    if seed(engine, load_registry(partners_file), at=at, actor=actor):
        return f"registry seeded from {partners_file}"
    return "registry from the database"
