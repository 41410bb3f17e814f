"""Reading the registry again after a change, at the cost of the change, not of the registry.

A full read of a 100,000-device registry takes seconds (bench/registry_live.py): too slow for
"every process applies a change within 2 s". But `*_terms` rows are append-only (never updated
in place, controlplane/tables.py), so a reader that remembers the largest row id it has seen
reads only the newer rows, rebuilds only the timelines they touch, and rebuilds only the
partners whose devices, ports or own row changed; every other `Partner` object is the one of
the previous snapshot. The small tables (partners, maintenance, switches) are read whole.

Terms that take effect later than the read (a device added for tomorrow) change the registry
in force without a new version: the reader keeps them in `pending`, the snapshot says when the
next one is due (`next_change_ns`), and the source reads again then (snapshot.py).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, tuple_

from controlplane.db import current_version
from controlplane.tables import (
    device_terms,
    devices,
    maintenance_windows,
    partners,
    port_terms,
    switches,
)
from domain.registry import Device, MaintenanceWindow, Partner, Port, Registry
from domain.registry_history import DeviceTerms, PortTerms, RegistryHistory, Timeline
from domain.switches import Switch

_KINDS_CHUNK = 500  # device keys per IN (...) when reading the kinds of new devices


def ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    registry: Registry
    """What is in force now: registered partners, devices and ports, not retired."""
    history: RegistryHistory
    """What was in force when, retired entities included."""
    next_change_ns: int | None = None
    """When terms already written take effect next (then the registry in force changes)."""


@dataclass
class _Terms:
    """One table's terms as read so far: per key, effective times ascending and their terms."""

    max_pk: int = 0
    rows: dict[Any, tuple[list[int], list[Any]]] = field(default_factory=dict)
    timelines: dict[Any, Timeline[Any]] = field(default_factory=dict)

    def add(self, key: Any, since_ns: int, terms: Any) -> None:
        since, values = self.rows.setdefault(key, ([], []))
        at = bisect_right(since, since_ns)  # a backdated change lands in its place
        since.insert(at, since_ns)
        values.insert(at, terms)


class SnapshotReader:
    """Reads snapshots one after the other, each from the previous one and the newer rows."""

    def __init__(self) -> None:
        self._devices = _Terms()
        self._ports = _Terms()
        self._kinds: dict[tuple[str, str], str] = {}
        self._partners: dict[str, tuple[Any, Partner]] = {}
        self._pending: list[tuple[int, str, Any]] = []  # (since_ns, "device"|"port", key)
        self._now_ns: int | None = None
        self._in_force: dict[str, tuple[dict[str, Any], dict[Any, Any]]] = {}
        """Per partner, its devices and ports in force at the last read (their entries)."""
        self._port_owner: dict[tuple[str, str], str] = {}
        self._partner_devices: dict[str, set[str]] = {}
        self._partner_ports: dict[str, set[tuple[str, str]]] = {}

    def read(self, conn: Connection, now: datetime) -> Snapshot:
        """The registry at `now` and its history, read at one version (inside a transaction)."""
        version = current_version(conn)
        now_ns = ns(now)
        touched_devices = self._read_terms(
            conn, device_terms, self._devices, "device",
            key=lambda r: (r.partner_id, r.device_id),
            terms=lambda r: DeviceTerms(r.interval_s, r.port, r.switch),
            now_ns=now_ns,
        )  # fmt: skip
        touched_ports = self._read_terms(
            conn, port_terms, self._ports, "port",
            key=lambda r: (r.switch, r.port),
            terms=lambda r: PortTerms(r.partner_id, r.capacity_mbps, r.interval_s),
            now_ns=now_ns,
        )  # fmt: skip
        self._read_kinds(conn, [k for k in touched_devices if k not in self._kinds])
        # Terms written earlier that took effect since the last read.
        while self._pending and self._pending[0][0] <= now_ns:
            _, kind, key = heapq.heappop(self._pending)
            (touched_devices if kind == "device" else touched_ports).add(key)
        for partner, device in touched_devices:
            self._partner_devices.setdefault(partner, set()).add(device)
        for port_key in touched_ports:
            for terms in self._ports.rows[port_key][1]:
                if terms is not None:
                    self._partner_ports.setdefault(terms.partner, set()).add(port_key)
        history = RegistryHistory(
            dict(self._devices.timelines),
            dict(self._ports.timelines),
            dict(self._kinds),
            {p: tuple(sorted(ids)) for p, ids in self._partner_devices.items()},
            {p: tuple(sorted(keys)) for p, keys in self._partner_ports.items()},
        )
        registry = self._registry(conn, now_ns, touched_devices, touched_ports)
        self._now_ns = now_ns
        next_change = self._pending[0][0] if self._pending else None
        return Snapshot(version, registry, history, next_change)

    def _read_terms(
        self,
        conn: Connection,
        table: Any,
        into: _Terms,
        kind: str,
        *,
        key: Callable[[Any], Any],
        terms: Callable[[Any], Any],
        now_ns: int,
    ) -> set[Any]:
        touched: set[Any] = set()
        for row in conn.execute(select(table).where(table.c.pk > into.max_pk).order_by(table.c.pk)):
            k, since_ns = key(row), ns(row.effective_from)
            into.add(k, since_ns, None if row.retired else terms(row))
            into.max_pk = max(into.max_pk, row.pk)
            touched.add(k)
            if since_ns > now_ns:
                heapq.heappush(self._pending, (since_ns, kind, k))
        for k in touched:
            since, values = into.rows[k]
            into.timelines[k] = Timeline(tuple(since), tuple(values))
        return touched

    def _read_kinds(self, conn: Connection, keys: list[tuple[str, str]]) -> None:
        if not self._kinds and keys:  # the first read: every device, in one statement
            query = select(devices.c.partner_id, devices.c.id, devices.c.kind)
            self._kinds.update(((r.partner_id, r.id), r.kind) for r in conn.execute(query))
            return
        for i in range(0, len(keys), _KINDS_CHUNK):
            chunk = keys[i : i + _KINDS_CHUNK]
            query = select(devices.c.partner_id, devices.c.id, devices.c.kind).where(
                tuple_(devices.c.partner_id, devices.c.id).in_(chunk)
            )
            self._kinds.update(((r.partner_id, r.id), r.kind) for r in conn.execute(query))

    def _registry(
        self,
        conn: Connection,
        now_ns: int,
        touched_devices: Iterable[tuple[str, str]],
        touched_ports: Iterable[tuple[str, str]],
    ) -> Registry:
        """The registry in force at `now_ns`: partners rebuilt only where something of theirs
        changed, the others reused as they were."""
        changed: set[str] = set()
        for partner, device in touched_devices:
            entries = self._in_force.setdefault(partner, ({}, {}))[0]
            entry = _device_entry(self._devices.timelines[(partner, device)], now_ns)
            if entries.get(device) != entry:
                changed.add(partner)
                if entry is None:
                    entries.pop(device, None)
                else:
                    entries[device] = entry
        for port_key in touched_ports:
            terms = self._ports.timelines[port_key].at(now_ns)
            owner = self._port_owner.get(port_key)
            if owner is not None and (terms is None or terms.partner != owner):
                del self._in_force[owner][1][port_key]
                del self._port_owner[port_key]
                changed.add(owner)
            if terms is not None:
                self._port_owner[port_key] = terms.partner
                owned = self._in_force.setdefault(terms.partner, ({}, {}))[1]
                entry = {"capacity_mbps": terms.capacity_mbps, "interval_s": terms.interval_s}
                if owned.get(port_key) != entry:
                    owned[port_key] = entry
                    changed.add(terms.partner)
        built: dict[str, tuple[Any, Partner]] = {}
        query = select(partners).where(partners.c.retired_at.is_(None)).order_by(partners.c.id)
        for row in conn.execute(query):
            own = (
                row.name, row.budgets or {}, row.sla_target_pct, row.device_quota,
                row.allowed_kinds, row.retention_days,
            )  # fmt: skip
            previous = self._partners.get(row.id)
            if previous is not None and previous[0] == own and row.id not in changed:
                built[row.id] = previous
            else:
                built[row.id] = (own, self._partner(row.id, own))
        self._partners = built
        maintenance = [
            MaintenanceWindow(partner=w.partner, start=w.start, end=w.end, reason=w.reason)
            for w in conn.execute(
                select(maintenance_windows)
                .where(maintenance_windows.c.retired_at.is_(None))
                .order_by(maintenance_windows.c.start, maintenance_windows.c.id)
            )
        ]
        switch_rows = conn.execute(
            select(switches).where(switches.c.retired_at.is_(None)).order_by(switches.c.id)
        )
        # Each part was validated when written and above; the whole needs no second pass
        # (a window of a partner retired since must not make the registry unreadable).
        return Registry.model_construct(
            partners=tuple(p for _, p in built.values()),
            maintenance=tuple(maintenance),
            switches=tuple(Switch.model_validate({"id": s.id, **s.spec}) for s in switch_rows),
        )

    def _partner(self, partner_id: str, own: tuple[Any, ...]) -> Partner:
        entries, owned = self._in_force.get(partner_id, ({}, {}))
        name, budgets, sla, quota, kinds, retention = own
        return Partner.model_validate(
            {
                "id": partner_id,
                "name": name,
                "budgets": budgets,
                "sla_target_pct": sla,
                "device_quota": quota,
                "allowed_kinds": kinds,
                "retention_days": retention,
                "devices": [
                    Device.model_construct(
                        id=d, kind=self._kinds.get((partner_id, d), "generic"), **entries[d]
                    )
                    for d in sorted(entries)
                ],
                "ports": [
                    Port.model_construct(switch=k[0], port=k[1], **owned[k]) for k in sorted(owned)
                ],
            }
        )


def _device_entry(timeline: Timeline[DeviceTerms], now_ns: int) -> dict[str, Any] | None:
    terms = timeline.at(now_ns)
    if terms is None:
        return None
    return {"interval_s": terms.interval_s, "port": terms.port, "switch": terms.switch}
