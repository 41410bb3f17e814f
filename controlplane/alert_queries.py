"""Reading and acknowledging alerts (controlplane/alert_tables.py): shared by the API
(`/api/v1/alerts`), the CLI (`mainport alerts`) and the evaluator. The evaluator's writes are
in alert/store.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update

from controlplane.alert_tables import alert_events, alerts
from domain.uptime import datetime_ns

STATES = ("firing", "resolved", "acknowledged", "suppressed")


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: str
    key: str
    kind: str
    partner: str | None
    subject: str
    cause: str
    severity: str
    state: str
    suppressed_reason: str | None
    was_suppressed: bool
    summary: str
    devices: list[str]
    port: str | None
    since_ns: int
    resolved_ns: int | None
    acked_at: datetime | None
    acked_by: str | None
    ack_comment: str | None

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


def _row(r: Any) -> AlertRow:
    return AlertRow(
        id=r.id, key=r.key, kind=r.kind, partner=r.partner, subject=r.subject, cause=r.cause,
        severity=r.severity, state=r.state, suppressed_reason=r.suppressed_reason,
        was_suppressed=bool(r.was_suppressed), summary=r.summary, devices=list(r.devices or []),
        port=r.port, since_ns=int(r.since_ns),
        resolved_ns=None if r.resolved_ns is None else int(r.resolved_ns),
        acked_at=r.acked_at, acked_by=r.acked_by, ack_comment=r.ack_comment,
    )  # fmt: skip


def list_alerts(
    engine: Engine,
    *,
    partner: str | None = None,
    state: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int = 1000,
) -> list[AlertRow]:
    """Newest first. `partner`: only that partner's alerts (a partner token's scope);
    `state` one of STATES (`acknowledged`: firing and acknowledged); the window keeps alerts
    that overlap `[start, end)`."""
    query = select(alerts).order_by(alerts.c.since_ns.desc(), alerts.c.id).limit(limit)
    if partner is not None:
        query = query.where(alerts.c.partner == partner)
    if state == "acknowledged":
        query = query.where(alerts.c.state == "firing", alerts.c.acked_at.is_not(None))
    elif state is not None:
        query = query.where(alerts.c.state == state)
    if end_ns is not None:
        query = query.where(alerts.c.since_ns < end_ns)
    if start_ns is not None:
        query = query.where(or_(alerts.c.resolved_ns.is_(None), alerts.c.resolved_ns >= start_ns))
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def get_alert(engine: Engine, alert_id: str) -> AlertRow | None:
    with engine.connect() as conn:
        found = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    return None if found is None else _row(found)


def history(engine: Engine, alert_id: str) -> list[dict[str, Any]]:
    query = (
        select(alert_events).where(alert_events.c.alert_id == alert_id).order_by(alert_events.c.pk)
    )
    with engine.connect() as conn:
        return [
            {"at_ns": int(r.at_ns), "action": r.action, "detail": r.detail}
            for r in conn.execute(query)
        ]


def acknowledge(
    engine: Engine, alert_id: str, *, by: str, comment: str, at: datetime, partner: str | None
) -> AlertRow | None:
    """Acknowledge one alert with a comment; `partner`: the caller may only touch that
    partner's alerts (None: an operator). None when there is no such alert in scope."""
    where = alerts.c.id == alert_id
    if partner is not None:
        where = and_(where, alerts.c.partner == partner)
    with engine.begin() as conn:
        found = conn.execute(update(alerts).where(where).values(
            acked_at=at, acked_by=by, ack_comment=comment
        ))  # fmt: skip
        if found.rowcount == 0:
            return None
        conn.execute(
            insert(alert_events).values(
                alert_id=alert_id,
                at_ns=datetime_ns(at),
                action="ack",
                detail={"by": by, "comment": comment},
            )
        )
    return get_alert(engine, alert_id)
