"""Reading the registry for people (API listings, `mainport … list`): pages of devices in id
order (keyset paging, so page N costs what page 1 costs in a registry of 100,000 devices), one
device with its recorded terms, ports, maintenance windows, partners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, tuple_

from controlplane.db import utcnow
from controlplane.registry_diff import State
from controlplane.registry_state import read_state
from controlplane.tables import device_terms, devices, maintenance_windows, partners


@dataclass(frozen=True, slots=True)
class DeviceRow:
    partner: str
    id: str
    kind: str
    interval_s: int
    port: str | None
    switch: str | None
    auto: bool
    created_at: datetime
    retired_from: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "id": self.id,
            "kind": self.kind,
            "interval_s": self.interval_s,
            "port": self.port,
            "switch": self.switch,
            "auto": self.auto,
            "created_at": self.created_at,
            "retired_from": self.retired_from,
        }


def device_page(
    engine: Engine,
    *,
    partner: str | None = None,
    after: tuple[str, str] | None = None,
    limit: int = 100,
    include_retired: bool = False,
    at: datetime | None = None,
) -> list[DeviceRow]:
    """Devices ordered by (partner, id), those after `after`; terms in force at `at`."""
    at = at or utcnow()
    query = select(devices).order_by(devices.c.partner_id, devices.c.id).limit(limit)
    if partner is not None:
        query = query.where(devices.c.partner_id == partner)
    if after is not None:
        query = query.where(tuple_(devices.c.partner_id, devices.c.id) > tuple_(*after))
    if not include_retired:
        query = query.where(or_(devices.c.retired_at.is_(None), devices.c.retired_at > at))
    with engine.connect() as conn, conn.begin():
        rows = list(conn.execute(query))
        terms = _terms_of(conn, [(r.partner_id, r.id) for r in rows], at)
    out = []
    for r in rows:
        t = terms.get((r.partner_id, r.id))
        out.append(
            DeviceRow(
                r.partner_id,
                r.id,
                r.kind,
                t.interval_s if t is not None else 0,
                t.port if t is not None else None,
                t.switch if t is not None else None,
                bool(r.auto),
                r.created_at,
                r.retired_at,
            )
        )
    return out


def _terms_of(conn: Connection, keys: list[tuple[str, str]], at: datetime) -> dict[Any, Any]:
    """The terms row in force at `at` of each device (the first one before its first change;
    a retirement row counts as the last terms, so a retired device still shows its values)."""
    if not keys:
        return {}
    chosen: dict[Any, Any] = {}
    query = (
        select(device_terms)
        .where(
            and_(
                device_terms.c.partner_id.in_({k[0] for k in keys}),
                device_terms.c.device_id.in_({k[1] for k in keys}),
            )
        )
        .order_by(device_terms.c.effective_from)
    )
    for row in conn.execute(query):
        key = (row.partner_id, row.device_id)
        if key not in chosen or row.effective_from <= at:
            chosen[key] = row
    return chosen


def device_history(engine: Engine, partner: str, device: str) -> list[dict[str, Any]]:
    """Every recorded terms row of one device, oldest first (empty: no such device)."""
    query = (
        select(device_terms)
        .where(and_(device_terms.c.partner_id == partner, device_terms.c.device_id == device))
        .order_by(device_terms.c.effective_from)
    )
    with engine.connect() as conn:
        return [
            {
                "effective_from": r.effective_from,
                "interval_s": r.interval_s,
                "port": r.port,
                "switch": r.switch,
                "retired": bool(r.retired),
                "recorded_at": r.recorded_at,
            }
            for r in conn.execute(query)
        ]


def device_row(engine: Engine, partner: str, device: str) -> DeviceRow | None:
    """One device, retired or not, with the terms in force now (None: never registered)."""
    with engine.connect() as conn, conn.begin():
        row = conn.execute(
            select(devices).where(and_(devices.c.partner_id == partner, devices.c.id == device))
        ).one_or_none()
        if row is None:
            return None
        terms = _terms_of(conn, [(partner, device)], utcnow()).get((partner, device))
    return DeviceRow(
        partner,
        device,
        row.kind,
        terms.interval_s if terms is not None else 0,
        terms.port if terms is not None else None,
        terms.switch if terms is not None else None,
        bool(row.auto),
        row.created_at,
        row.retired_at,
    )


def state_now(engine: Engine, at: datetime | None = None) -> State:
    """Partners, ports, windows and switches in force (no devices: they are paged)."""
    with engine.connect() as conn, conn.begin():
        return read_state(conn, at or utcnow(), partner="_")


def partner_exists(engine: Engine, partner_id: str) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            select(partners.c.retired_at).where(partners.c.id == partner_id)
        ).one_or_none()
    return row is not None and row.retired_at is None


def window_rows(engine: Engine, *, include_cancelled: bool = False) -> list[dict[str, Any]]:
    query = select(maintenance_windows).order_by(
        maintenance_windows.c.start, maintenance_windows.c.id
    )
    if not include_cancelled:
        query = query.where(maintenance_windows.c.retired_at.is_(None))
    with engine.connect() as conn:
        return [
            {
                "id": w.id,
                "partner": w.partner,
                "start": w.start,
                "end": w.end,
                "reason": w.reason,
                "cancelled_at": w.retired_at,
            }
            for w in conn.execute(query)
        ]
