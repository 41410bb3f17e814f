"""The evaluator's writes: alert transitions, their history and their notifications, in one
transaction per evaluation. The outbox rows are written with the change they announce, so a
crash either loses both (the next evaluation finds the same change again) or keeps both (the
delivery workers send it): at least once, and never a second alert for one condition."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from alert.secrets import unseal
from controlplane.alert_tables import alert_deliveries, alert_events, alert_receivers, alerts
from domain.alerts import Change, Condition, Open, alert_id
from domain.timestamps import format_rfc3339

ALERTMANAGER = "alertmanager"
MQTT = "mqtt"


@dataclass(frozen=True, slots=True)
class Receiver:
    id: str
    kind: str  # webhook | email | alertmanager | mqtt
    partner: str | None  # None: operators, every alert
    target: str
    secret: str | None = None

    def wants(self, partner: str | None) -> bool:
        if self.kind == MQTT:  # a partner's own topic: partner alerts only
            return partner is not None
        return self.partner is None or self.partner == partner


def load_open(engine: Engine) -> dict[str, Open]:
    """The alerts not yet resolved, by key: where a restarted evaluator goes on from."""
    query = select(alerts).where(alerts.c.state.in_(("firing", "suppressed")))
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    found: dict[str, Open] = {}
    for r in rows:
        cond = Condition(
            key=r.key, kind=r.kind, partner=r.partner, subject=r.subject, cause=r.cause,
            severity=r.severity, since_ns=int(r.since_ns), summary=r.summary,
            devices=tuple(r.devices or ()), port=r.port,
        )  # fmt: skip
        clear = None if r.clear_since_ns is None else int(r.clear_since_ns)
        found[r.key] = Open(r.id, r.key, r.state, cond, clear)
    return found


def load_receivers(engine: Engine, data_dir: Path) -> list[Receiver]:
    with engine.connect() as conn:
        rows = list(conn.execute(select(alert_receivers).where(alert_receivers.c.enabled)))
    return [
        Receiver(
            r.id, r.kind, r.partner, r.target, unseal(data_dir, r.secret) if r.secret else None
        )
        for r in rows
    ]


def payload(alert: Open, event: str, at_ns: int, seq: int) -> dict[str, Any]:
    """What every receiver is told (webhook body, e-mail text, MQTT message, AM annotations)."""
    c = alert.condition
    return {
        "id": alert.id,
        "seq": seq,
        "event": event,
        "kind": c.kind,
        "partner": c.partner,
        "subject": c.subject,
        "cause": c.cause,
        "severity": c.severity,
        "summary": c.summary,
        "devices": list(c.devices),
        "port": c.port,
        "since": format_rfc3339(c.since_ns),
        "resolved": format_rfc3339(at_ns) if event == "resolved" else None,
    }


def apply(engine: Engine, changes: list[Change], receivers: list[Receiver], now_ns: int) -> None:
    """Persist one evaluation's transitions and queue their notifications."""
    if not changes:
        return
    with engine.begin() as conn:
        for change in changes:
            _apply_one(conn, change, receivers, now_ns)


def _apply_one(conn: Connection, change: Change, receivers: list[Receiver], now_ns: int) -> None:
    a, c = change.alert, change.alert.condition
    values: dict[str, Any] = {
        "summary": c.summary, "devices": list(c.devices), "port": c.port, "cause": c.cause,
        "severity": c.severity, "clear_since_ns": a.clear_since_ns, "updated_ns": now_ns,
    }  # fmt: skip
    notify: str | None = None
    if change.action in ("fire", "suppress"):
        firing = change.action == "fire"
        if conn.execute(select(alerts.c.id).where(alerts.c.id == a.id)).first() is not None:
            # The same key fired before from the same instant (a condition that came back):
            # still a new alert, with an id of its own.
            a = replace(a, id=alert_id(f"{a.key}#{now_ns}", c.since_ns))
        conn.execute(
            insert(alerts).values(
                id=a.id, key=a.key, kind=c.kind, partner=c.partner, subject=c.subject,
                state=a.state, suppressed_reason=None, was_suppressed=not firing,
                notified=firing, since_ns=c.since_ns, **values,
            )
        )  # fmt: skip
        notify = "firing" if firing else None
    elif change.action == "unsuppress":
        values.update(state="firing", notified=True, since_ns=c.since_ns)
        conn.execute(update(alerts).where(alerts.c.id == a.id).values(**values))
        notify = "firing"
    elif change.action == "resolve":
        notified = conn.execute(select(alerts.c.notified).where(alerts.c.id == a.id)).scalar()
        values.update(state="resolved", resolved_ns=change.at_ns, clear_since_ns=None)
        conn.execute(update(alerts).where(alerts.c.id == a.id).values(**values))
        notify = "resolved" if notified else None
    else:  # update, clearing, held: state kept
        conn.execute(update(alerts).where(alerts.c.id == a.id).values(**values))
    detail = {"summary": c.summary, "devices": list(c.devices)}
    conn.execute(
        insert(alert_events).values(
            alert_id=a.id, at_ns=change.at_ns, action=change.action, detail=detail
        )
    )
    if notify is None:
        return
    seq = 1 + int(
        conn.execute(
            select(func.count(func.distinct(alert_deliveries.c.seq))).where(
                alert_deliveries.c.alert_id == a.id
            )
        ).scalar_one()
    )
    body = payload(a, notify, change.at_ns, seq)
    rows = [
        {
            "alert_id": a.id,
            "seq": seq,
            "event": notify,
            "receiver": r.id,
            "payload": body,
            "created_ns": now_ns,
            "attempts": 0,
            "next_ns": now_ns,
        }
        for r in receivers
        if r.wants(c.partner)
    ]
    if rows:
        conn.execute(insert(alert_deliveries), rows)


@dataclass(frozen=True, slots=True)
class Pending:
    pk: int
    alert_id: str
    seq: int
    event: str
    payload: dict[str, Any]
    attempts: int
    next_ns: int


def next_pending(engine: Engine, receiver: str, limit: int = 50) -> list[Pending]:
    """The receiver's undelivered notifications, oldest first (delivered in order: a resolve
    never overtakes its firing)."""
    query = (
        select(alert_deliveries)
        .where(alert_deliveries.c.receiver == receiver, alert_deliveries.c.delivered_ns.is_(None))
        .order_by(alert_deliveries.c.pk)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            Pending(int(r.pk), r.alert_id, int(r.seq), r.event, dict(r.payload), int(r.attempts),
                    int(r.next_ns))
            for r in conn.execute(query)
        ]  # fmt: skip


def delivered(engine: Engine, pk: int, at_ns: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(alert_deliveries)
            .where(alert_deliveries.c.pk == pk)
            .values(delivered_ns=at_ns, attempts=alert_deliveries.c.attempts + 1, last_error=None)
        )


def failed(engine: Engine, pk: int, next_ns: int, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(alert_deliveries)
            .where(alert_deliveries.c.pk == pk)
            .values(
                next_ns=next_ns, attempts=alert_deliveries.c.attempts + 1, last_error=error[:500]
            )
        )


def firing_for_alertmanager(engine: Engine) -> list[dict[str, Any]]:
    """Every notified alert still firing, as the payload of its firing notification: posted to
    Alertmanager again every few seconds (it resolves what it does not hear of again)."""
    query = select(alerts).where(alerts.c.state == "firing", alerts.c.notified)
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    out = []
    for r in rows:
        cond = Condition(r.key, r.kind, r.partner, r.subject, r.cause, r.severity,
                         int(r.since_ns), r.summary, tuple(r.devices or ()), r.port)  # fmt: skip
        out.append(payload(Open(r.id, r.key, "firing", cond), "firing", 0, 0))
    return out
