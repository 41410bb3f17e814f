"""`/api/v1/alerts`: the alerts the evaluator (`mainport alert`) keeps in the control-plane
database, partner-scoped, and acknowledging one with a comment (operator: any; a partner: its
own). Reads and writes the alert tables only (controlplane/alert_queries.py)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.deps import CurrentPrincipal, SettingsDep
from api.params import BadParameter, parse_window
from controlplane.alert_queries import STATES, AlertRow, acknowledge, history, list_alerts
from controlplane.db import open_database
from core.settings import Settings
from domain.timestamps import format_rfc3339

router = APIRouter(prefix="/api/v1", tags=["alerts"])
_engine_lock = threading.Lock()


class Alert(BaseModel):
    id: str
    state: str = Field(description="firing, resolved or suppressed")
    acknowledged: bool
    kind: str = Field(description="device, link, sla, rejected or platform")
    partner: str | None
    subject: str
    cause: str
    severity: str
    summary: str
    devices: list[str] = Field(description="A link alert: every device behind the port")
    port: str | None
    since: str
    resolved: str | None
    suppressed_reason: str | None = Field(description="maintenance or platform, while suppressed")
    was_suppressed: bool = Field(description="Held back during unknown time before it fired")
    acked_at: str | None
    acked_by: str | None
    ack_comment: str | None


class AlertDetail(Alert):
    history: list[dict[str, object]]


class Ack(BaseModel):
    comment: str = Field(min_length=1, max_length=2000)


def _engine(request: Request, settings: Settings) -> Engine:
    with _engine_lock:
        engine: Engine | None = getattr(request.app.state, "alert_engine", None)
        if engine is None:
            engine = open_database(settings.database)
            request.app.state.alert_engine = engine
        return engine


def _view(a: AlertRow) -> Alert:
    return Alert(
        id=a.id, state=a.state, acknowledged=a.acknowledged, kind=a.kind, partner=a.partner,
        subject=a.subject, cause=a.cause, severity=a.severity, summary=a.summary,
        devices=a.devices, port=a.port, since=format_rfc3339(a.since_ns),
        resolved=format_rfc3339(a.resolved_ns) if a.resolved_ns is not None else None,
        suppressed_reason=a.suppressed_reason, was_suppressed=a.was_suppressed,
        acked_at=a.acked_at.isoformat().replace("+00:00", "Z") if a.acked_at else None,
        acked_by=a.acked_by, ack_comment=a.ack_comment,
    )  # fmt: skip


@router.get("/alerts", response_model=list[Alert])
def alerts(
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    state: Annotated[str | None, Query(description=" | ".join(STATES))] = None,
    start: str | None = None,
    end: str | None = None,
) -> list[Alert]:
    """Alerts overlapping the window (`start` defaults to end − 24 h; alerts still firing are
    always in it), newest first; a partner token sees its own partner's only."""
    if state is not None and state not in STATES:
        raise HTTPException(422, f"state: must be one of {', '.join(STATES)}, not {state!r}")
    try:
        lo, hi = parse_window(start, end, now_ns=time.time_ns())
    except BadParameter as exc:
        raise HTTPException(422, str(exc)) from None
    scope = None if principal.is_operator else principal.partner
    if scope is None and not principal.is_operator:
        raise HTTPException(403, "no partner in scope")
    found = list_alerts(
        _engine(request, settings), partner=scope, state=state, start_ns=lo, end_ns=hi
    )
    return [_view(a) for a in found]


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def alert(
    alert_id: str, request: Request, principal: CurrentPrincipal, settings: SettingsDep
) -> AlertDetail:
    engine = _engine(request, settings)
    scope = None if principal.is_operator else principal.partner
    found = [a for a in list_alerts(engine, partner=scope) if a.id == alert_id]
    if not found:
        raise HTTPException(404, f"no alert {alert_id!r} in your scope")
    return AlertDetail(**_view(found[0]).model_dump(), history=history(engine, alert_id))


@router.post("/alerts/{alert_id}/ack", response_model=Alert)
def ack(
    alert_id: str,
    body: Annotated[Ack, Body()],
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> Alert:
    """Acknowledge with a comment: an operator any alert, a partner its own."""
    scope = None if principal.is_operator else principal.partner
    if scope is None and not principal.is_operator:
        raise HTTPException(403, "no partner in scope")
    done = acknowledge(
        _engine(request, settings), alert_id, by=principal.actor, comment=body.comment,
        at=datetime.now(UTC), partner=scope,
    )  # fmt: skip
    if done is None:
        raise HTTPException(404, f"no alert {alert_id!r} in your scope")
    return _view(done)
