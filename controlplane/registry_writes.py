"""Turning `registry_diff.Change`s into rows, in the caller's write transaction, each with its
audit entry. Batched (one executemany per table), so applying a registry of 100,000 devices is a
handful of statements, not 300,000 round trips.

Figures' terms are never updated in place: a change or a retirement of a device or port is a new
`*_terms` row from its effective time, which must come after the entity's latest recorded one —
so a timeline only ever grows at its end and a change means "from then on" (see
docs/registry.md). Plain attributes (a partner's name, a device's kind, a switch's settings) are
updated in place; the audit keeps their before and after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, update

from controlplane.registry_diff import Change, State
from controlplane.registry_errors import ConflictingChange
from controlplane.tables import (
    audit,
    device_terms,
    devices,
    maintenance_windows,
    partners,
    port_terms,
    ports,
    switches,
)

ACTIONS = {"add": "create", "change": "update", "retire": "retire"}


def jsonable(form: dict[str, Any] | None) -> dict[str, Any] | None:
    if form is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in form.items()}


def _iso(at: datetime) -> str:
    return at.isoformat()


class Writer:
    """Collects the rows of a set of changes; `flush()` writes them in an order the foreign keys
    accept. `now` is when the change is recorded; `effective` when its terms take effect."""

    def __init__(self, conn: Connection, state: State, *, actor: str, now: datetime) -> None:
        self.conn = conn
        self.state = state
        self.actor = actor
        self.now = now
        self._ports: list[dict[str, Any]] = []
        self._port_terms: list[dict[str, Any]] = []
        self._devices: list[dict[str, Any]] = []
        self._device_terms: list[dict[str, Any]] = []
        self._kinds: list[dict[str, Any]] = []
        self._devices_retired: list[dict[str, Any]] = []
        self._ports_retired: list[dict[str, Any]] = []
        self._audit: list[dict[str, Any]] = []
        self.window_ids: list[int] = []

    def write(self, change: Change, effective: datetime) -> None:
        handler = getattr(self, f"_{change.entity}_{change.action}")
        extra = handler(change, effective)
        after = jsonable(change.after)
        if extra and after is not None:
            after = {**after, **extra}
        before = jsonable(change.before)
        if change.action == "retire" and extra:
            after = dict(extra)
        self._audit.append(
            {
                "at": self.now,
                "actor": self.actor,
                "action": ACTIONS[change.action],
                "entity": change.entity,
                "entity_id": self._entity_id(change),
                "partner": change.partner,
                "before": before,
                "after": after,
            }
        )

    def _entity_id(self, change: Change) -> str:
        if change.entity == "maintenance" and change.action == "add":
            return str(self.window_ids[-1])
        return change.entity_id

    # Partners: plain rows.
    def _partner_add(self, change: Change, _effective: datetime) -> None:
        assert change.after is not None
        self.conn.execute(insert(partners).values(**change.after, created_at=self.now))

    def _partner_change(self, change: Change, _effective: datetime) -> None:
        assert change.after is not None
        values = {k: v for k, v in change.after.items() if k != "id"}
        self.conn.execute(update(partners).where(partners.c.id == change.key[0]).values(**values))

    def _partner_retire(self, change: Change, _effective: datetime) -> dict[str, Any]:
        self.conn.execute(
            update(partners).where(partners.c.id == change.key[0]).values(retired_at=self.now)
        )
        return {"retired_at": _iso(self.now)}

    # Ports: terms rows from an effective time.
    def _check_after_latest(self, latest: datetime | None, what: str, effective: datetime) -> None:
        if latest is not None and effective <= latest:
            raise ConflictingChange(
                f"{what}'s latest recorded change takes effect at {_iso(latest)}; a change must "
                f"take effect after it, not at {_iso(effective)}",
                "effective_from",
            )

    def _port_terms_row(
        self, key: tuple[str, str], form: dict[str, Any], effective: datetime, retired: bool
    ) -> dict[str, Any]:
        return {
            "switch": key[0],
            "port": key[1],
            "effective_from": effective,
            "partner_id": form["partner"],
            "capacity_mbps": form["capacity_mbps"],
            "interval_s": form["interval_s"],
            "retired": retired,
            "recorded_at": self.now,
        }

    def _port_add(self, change: Change, effective: datetime) -> dict[str, Any]:
        assert change.after is not None
        switch, port = change.key
        self._ports.append({"switch": switch, "port": port, "created_at": self.now})
        self._port_terms.append(
            self._port_terms_row((switch, port), change.after, effective, False)
        )
        return {"effective_from": _iso(effective)}

    def _port_change(self, change: Change, effective: datetime) -> dict[str, Any]:
        assert change.after is not None
        key = (change.key[0], change.key[1])
        self._check_after_latest(
            self.state.port_latest.get(key), f"port {change.entity_id}", effective
        )
        self._port_terms.append(self._port_terms_row(key, change.after, effective, False))
        return {"effective_from": _iso(effective)}

    def _port_retire(self, change: Change, effective: datetime) -> dict[str, Any]:
        assert change.before is not None
        key = (change.key[0], change.key[1])
        self._check_after_latest(
            self.state.port_latest.get(key), f"port {change.entity_id}", effective
        )
        self._port_terms.append(self._port_terms_row(key, change.before, effective, True))
        self._ports_retired.append({"k_switch": key[0], "k_port": key[1], "at": effective})
        return {"retired_from": _iso(effective)}

    # Devices: kind in place, the rest as terms rows.
    def _device_terms_row(
        self, key: tuple[str, str], form: dict[str, Any], effective: datetime, retired: bool
    ) -> dict[str, Any]:
        return {
            "partner_id": key[0],
            "device_id": key[1],
            "effective_from": effective,
            "interval_s": form["interval_s"],
            "port": form.get("port"),
            "switch": form.get("switch"),
            "retired": retired,
            "recorded_at": self.now,
        }

    def _device_add(self, change: Change, effective: datetime) -> dict[str, Any]:
        assert change.after is not None
        key = (change.key[0], change.key[1])
        self._devices.append(
            {
                "partner_id": key[0],
                "id": key[1],
                "kind": change.after["kind"],
                "auto": False,
                "created_at": self.now,
            }
        )
        self._device_terms.append(self._device_terms_row(key, change.after, effective, False))
        return {"effective_from": _iso(effective)}

    def _device_change(self, change: Change, effective: datetime) -> dict[str, Any]:
        assert change.after is not None and change.before is not None
        key = (change.key[0], change.key[1])
        changed = change.fields()
        extra: dict[str, Any] = {}
        if "kind" in changed:
            self._kinds.append(
                {"k_partner": key[0], "k_id": key[1], "new_kind": change.after["kind"]}
            )
        if set(changed) - {"kind"}:
            self._check_after_latest(
                self.state.device_latest.get(key), f"device {change.entity_id}", effective
            )
            self._device_terms.append(self._device_terms_row(key, change.after, effective, False))
            extra["effective_from"] = _iso(effective)
        return extra

    def _device_retire(self, change: Change, effective: datetime) -> dict[str, Any]:
        assert change.before is not None
        key = (change.key[0], change.key[1])
        self._check_after_latest(
            self.state.device_latest.get(key), f"device {change.entity_id}", effective
        )
        self._device_terms.append(self._device_terms_row(key, change.before, effective, True))
        self._devices_retired.append({"k_partner": key[0], "k_id": key[1], "at": effective})
        return {"retired_from": _iso(effective)}

    # Maintenance windows and switches: plain rows.
    def _maintenance_add(self, change: Change, _effective: datetime) -> None:
        assert change.after is not None
        result = self.conn.execute(
            insert(maintenance_windows).values(**change.after, created_at=self.now)
        )
        self.window_ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]

    def _maintenance_change(self, change: Change, _effective: datetime) -> None:
        assert change.after is not None
        self.conn.execute(
            update(maintenance_windows)
            .where(maintenance_windows.c.id == int(change.key[0]))
            .values(**change.after)
        )

    def _maintenance_retire(self, change: Change, _effective: datetime) -> dict[str, Any]:
        self.conn.execute(
            update(maintenance_windows)
            .where(maintenance_windows.c.id == int(change.key[0]))
            .values(retired_at=self.now)
        )
        return {"cancelled_at": _iso(self.now)}

    def _switch_add(self, change: Change, _effective: datetime) -> None:
        assert change.after is not None
        spec = {k: v for k, v in change.after.items() if k != "id"}
        self.conn.execute(insert(switches).values(id=change.key[0], spec=spec, created_at=self.now))

    def _switch_change(self, change: Change, _effective: datetime) -> None:
        assert change.after is not None
        spec = {k: v for k, v in change.after.items() if k != "id"}
        self.conn.execute(update(switches).where(switches.c.id == change.key[0]).values(spec=spec))

    def _switch_retire(self, change: Change, _effective: datetime) -> dict[str, Any]:
        self.conn.execute(
            update(switches).where(switches.c.id == change.key[0]).values(retired_at=self.now)
        )
        return {"retired_at": _iso(self.now)}

    def flush(self) -> None:
        """Write what was collected: entities before their terms, terms before the audit."""
        conn = self.conn
        if self._ports:
            conn.execute(insert(ports), self._ports)
        if self._port_terms:
            conn.execute(insert(port_terms), self._port_terms)
        if self._devices:
            conn.execute(insert(devices), self._devices)
        if self._device_terms:
            conn.execute(insert(device_terms), self._device_terms)
        if self._kinds:
            conn.execute(
                update(devices)
                .where(
                    and_(
                        devices.c.partner_id == bindparam("k_partner"),
                        devices.c.id == bindparam("k_id"),
                    )
                )
                .values(kind=bindparam("new_kind")),
                self._kinds,
            )
        if self._devices_retired:
            conn.execute(
                update(devices)
                .where(
                    and_(
                        devices.c.partner_id == bindparam("k_partner"),
                        devices.c.id == bindparam("k_id"),
                    )
                )
                .values(retired_at=bindparam("at")),
                self._devices_retired,
            )
        if self._ports_retired:
            conn.execute(
                update(ports)
                .where(
                    and_(
                        ports.c.switch == bindparam("k_switch"), ports.c.port == bindparam("k_port")
                    )
                )
                .values(retired_at=bindparam("at")),
                self._ports_retired,
            )
        if self._audit:
            conn.execute(insert(audit), self._audit)
        for name in (
            "_ports",
            "_port_terms",
            "_devices",
            "_device_terms",
            "_kinds",
            "_devices_retired",
            "_ports_retired",
            "_audit",
        ):
            getattr(self, name).clear()
