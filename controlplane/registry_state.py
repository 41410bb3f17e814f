"""Reading the registry as recorded into a `registry_diff.State`: what is in force at one time,
every id ever used, each entity's latest effective time. Called inside the write transaction
that will change it (after its version bump has taken the lock), so what it reads is what the
change applies to — two writers never both act on the same old state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from controlplane.registry_diff import State, window_form
from controlplane.tables import (
    device_terms,
    devices,
    maintenance_windows,
    partners,
    port_terms,
    ports,
    switches,
)


def read_state(conn: Connection, at: datetime, *, partner: str | None = None) -> State:
    """The registry in force at `at`. `partner`: only that partner's devices (ports, partners,
    windows and switches are always read whole: they are few)."""
    state = State()
    for p in conn.execute(select(partners)):
        if p.retired_at is not None:
            state.partner_retired[p.id] = p.retired_at
            continue
        state.partners[p.id] = {
            "id": p.id,
            "name": p.name,
            "budgets": dict(p.budgets or {}),
            "sla_target_pct": p.sla_target_pct,
            "device_quota": p.device_quota,
            "allowed_kinds": list(p.allowed_kinds) if p.allowed_kinds is not None else None,
            "retention_days": p.retention_days,
        }

    for pr in conn.execute(select(ports.c.switch, ports.c.port, ports.c.retired_at)):
        state.port_known[(pr.switch, pr.port)] = pr.retired_at
    port_rows = conn.execute(
        select(
            port_terms.c.switch,
            port_terms.c.port,
            port_terms.c.effective_from,
            port_terms.c.partner_id,
            port_terms.c.capacity_mbps,
            port_terms.c.interval_s,
            port_terms.c.retired,
        ).order_by(port_terms.c.switch, port_terms.c.port, port_terms.c.effective_from)
    )
    for key, row, latest in _in_force(port_rows, lambda r: (r.switch, r.port), at):
        state.port_latest[key] = latest
        if row is not None:
            state.ports[key] = {
                "partner": row.partner_id,
                "capacity_mbps": float(row.capacity_mbps),
                "interval_s": row.interval_s,
            }

    device_query = select(
        devices.c.partner_id, devices.c.id, devices.c.kind, devices.c.auto, devices.c.retired_at
    )
    terms_query = select(
        device_terms.c.partner_id,
        device_terms.c.device_id,
        device_terms.c.effective_from,
        device_terms.c.interval_s,
        device_terms.c.port,
        device_terms.c.switch,
        device_terms.c.retired,
    ).order_by(device_terms.c.partner_id, device_terms.c.device_id, device_terms.c.effective_from)
    if partner is not None:
        device_query = device_query.where(devices.c.partner_id == partner)
        terms_query = terms_query.where(device_terms.c.partner_id == partner)
    kinds: dict[tuple[str, str], str] = {}
    for d in conn.execute(device_query):
        key = (d.partner_id, d.id)
        kinds[key] = d.kind
        state.device_known[key] = d.retired_at
        if d.auto:
            state.auto_devices.add(key)
    for key, row, latest in _in_force(
        conn.execute(terms_query), lambda r: (r.partner_id, r.device_id), at
    ):
        state.device_latest[key] = latest
        if row is not None and key[0] in state.partners:
            state.devices[key] = {
                "kind": kinds[key],
                "interval_s": row.interval_s,
                "port": row.port,
                "switch": row.switch,
            }

    for w in conn.execute(
        select(maintenance_windows)
        .where(maintenance_windows.c.retired_at.is_(None))
        .order_by(maintenance_windows.c.start, maintenance_windows.c.id)
    ):
        state.windows[w.id] = window_form(w.partner, w.start, w.end, w.reason)

    for s in conn.execute(select(switches).order_by(switches.c.id)):
        if s.retired_at is not None:
            state.switch_retired[s.id] = s.retired_at
        else:
            state.switches[s.id] = {"id": s.id, **s.spec}
    return state


def _in_force(
    rows: Iterable[Any], key: Any, at: datetime
) -> Iterable[tuple[Any, Any | None, datetime]]:
    """Per entity (rows sorted by key, then effective_from): the row in force at `at` (the first
    one before the first change, as domain/registry_history.py reads it; None when retired) and
    the latest effective time recorded."""
    current_key: Any = None
    chosen: Any = None
    latest: datetime | None = None
    for row in rows:
        k = key(row)
        if k != current_key:
            if current_key is not None and latest is not None:
                yield current_key, _live(chosen), latest
            current_key, chosen = k, row  # the first terms reach back
        elif row.effective_from <= at:
            chosen = row
        latest = row.effective_from
    if current_key is not None and latest is not None:
        yield current_key, _live(chosen), latest


def _live(row: Any) -> Any | None:
    return None if row is None or row.retired else row
