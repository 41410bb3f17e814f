"""The registry as running processes see it: read whole from the database, at one version.

Each process holds a `RegistrySource`: it polls the one-row registry version every
`MAINPORT_REGISTRY_POLL_S` (a primary-key read) and, when it moved, reads a fresh `Snapshot` in
one transaction, so a process never sees half a change. Callers ask `source.current()` each time
they need the registry; a change is in force for them from the first call after it is read.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from controlplane.db import current_version, utcnow
from controlplane.tables import (
    device_terms,
    devices,
    maintenance_windows,
    partners,
    port_terms,
    switches,
)
from domain.registry import Registry
from domain.registry_history import DeviceTerms, PortTerms, RegistryHistory, Timeline

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    registry: Registry
    """What is in force now: registered partners, devices and ports, not retired."""
    history: RegistryHistory
    """What was in force when, retired entities included."""


def _ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


def load_snapshot(conn: Connection, now: datetime) -> Snapshot:
    """The registry at `now` and its history, read at one version (call inside a transaction)."""
    version = current_version(conn)
    now_ns = _ns(now)
    device_timelines = _timelines(
        conn.execute(
            select(device_terms).order_by(
                device_terms.c.partner_id, device_terms.c.device_id, device_terms.c.effective_from
            )
        ),
        key=lambda r: (r.partner_id, r.device_id),
        terms=lambda r: DeviceTerms(r.interval_s, r.port, r.switch),
    )
    port_timelines = _timelines(
        conn.execute(
            select(port_terms).order_by(
                port_terms.c.switch, port_terms.c.port, port_terms.c.effective_from
            )
        ),
        key=lambda r: (r.switch, r.port),
        terms=lambda r: PortTerms(r.partner_id, r.capacity_mbps, r.interval_s),
    )
    kinds = {
        (r.partner_id, r.id): r.kind
        for r in conn.execute(select(devices.c.partner_id, devices.c.id, devices.c.kind))
    }
    history = RegistryHistory(device_timelines, port_timelines, kinds)
    devices_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (partner, device), timeline in device_timelines.items():
        d_terms = timeline.at(now_ns)
        if d_terms is not None:
            entry: dict[str, Any] = {
                "id": device,
                "kind": kinds[(partner, device)],
                "interval_s": d_terms.interval_s,
            }
            if d_terms.port is not None:
                entry["port"] = d_terms.port
            if d_terms.switch is not None:
                entry["switch"] = d_terms.switch
            devices_of[partner].append(entry)
    ports_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (switch, port), p_timeline in port_timelines.items():
        p_terms = p_timeline.at(now_ns)
        if p_terms is not None:
            ports_of[p_terms.partner].append(
                {
                    "switch": switch,
                    "port": port,
                    "capacity_mbps": p_terms.capacity_mbps,
                    "interval_s": p_terms.interval_s,
                }
            )
    partner_rows = conn.execute(
        select(partners).where(partners.c.retired_at.is_(None)).order_by(partners.c.id)
    )
    body: dict[str, Any] = {
        "partners": [
            {
                "id": p.id,
                "name": p.name,
                "budgets": p.budgets or {},
                "sla_target_pct": p.sla_target_pct,
                "device_quota": p.device_quota,
                "allowed_kinds": p.allowed_kinds,
                "retention_days": p.retention_days,
                "devices": sorted(devices_of.get(p.id, []), key=lambda d: d["id"]),
                "ports": sorted(ports_of.get(p.id, []), key=lambda x: (x["switch"], x["port"])),
            }
            for p in partner_rows
        ],
        "maintenance": [
            {"partner": w.partner, "start": w.start, "end": w.end, "reason": w.reason}
            for w in conn.execute(
                select(maintenance_windows)
                .where(maintenance_windows.c.retired_at.is_(None))
                .order_by(maintenance_windows.c.start, maintenance_windows.c.id)
            )
        ],
        "switches": [
            {"id": s.id, **s.spec}
            for s in conn.execute(
                select(switches).where(switches.c.retired_at.is_(None)).order_by(switches.c.id)
            )
        ],
    }
    return Snapshot(version, Registry.model_validate(body), history)


def _timelines(rows: Any, key: Any, terms: Any) -> dict[Any, Timeline[Any]]:
    grouped: dict[Any, tuple[list[int], list[Any]]] = {}
    for row in rows:
        since, values = grouped.setdefault(key(row), ([], []))
        since.append(_ns(row.effective_from))
        values.append(None if row.retired else terms(row))
    return {k: Timeline(tuple(s), tuple(v)) for k, (s, v) in grouped.items()}


class RegistrySource:
    """A live view of the registry for one process: `current()` is the newest snapshot read.

    `start()` runs a daemon thread that polls the version; `refresh()` does one poll in the
    caller's thread (tests, and a write path that wants its own change in force at once)."""

    def __init__(
        self, engine: Engine, poll_s: float, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._engine = engine
        self._poll_s = poll_s
        self._now = clock
        self._lock = threading.Lock()
        self._snapshot = self._read()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Snapshot], None]] = []

    def _read(self) -> Snapshot:
        with self._engine.connect() as conn, conn.begin():
            return load_snapshot(conn, self._now())

    def current(self) -> Snapshot:
        return self._snapshot

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        """Call `listener(snapshot)` after each newer snapshot is in force (in the poll thread)."""
        self._listeners.append(listener)

    def refresh(self) -> bool:
        """Read a newer snapshot if the version moved; True when it did."""
        with self._engine.connect() as conn:
            version = current_version(conn)
        if version == self._snapshot.version:
            return False
        with self._lock:
            if version == self._snapshot.version:
                return False
            snapshot = self._read()
            self._snapshot = snapshot
        for listener in self._listeners:
            listener(snapshot)
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="registry-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.refresh()
            except Exception:  # a database hiccup: keep the last snapshot, try again
                log.exception("registry poll failed; keeping version %d", self._snapshot.version)
