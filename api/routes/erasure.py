"""Erasure: a partner asks for a device's data (or all of its data) to be erased, the operator
confirms, the deriver erases (derive/erasure.py) and the audit records it.

Confirming first freezes the partner's closed months (api/closed_months.py): the billed
figures are kept on purpose — the bill is the operator's record of a contract, kept for the
bookkeeping law's term, and holds sums, no device's readings — so the erasure cannot change a
closed month's report.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from api.closed_months import close_months, closed_months
from api.control_db import ControlDbDep
from api.deps import CurrentPrincipal, InfluxDep, PartnerId, RegistryDep, SettingsDep
from controlplane import erasure_requests
from controlplane.erasure_requests import ErasureRequest, ErasureRequestError
from domain.registry import DEVICE_ID_PATTERN

router = APIRouter(prefix="/api/v1/partners", tags=["your data"])

RETAINED_MONTHS = 14
"""Closed months frozen before an erasure: every month the raw retention (400 days) can hold."""


class ErasureAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    device: str | None = Field(
        None, pattern=DEVICE_ID_PATTERN, description="A device id; none: all of the data"
    )
    reason: str = Field("", max_length=1000)


class ErasureOut(BaseModel):
    id: str
    partner: str
    device: str | None
    reason: str
    state: str
    requested_by: str
    requested_at: datetime
    confirmed_by: str | None
    confirmed_at: datetime | None
    done_at: datetime | None
    outcome: dict[str, Any] | None


def _out(req: ErasureRequest) -> ErasureOut:
    return ErasureOut(
        id=req.id,
        partner=req.partner,
        device=req.device,
        reason=req.reason,
        state=req.state,
        requested_by=req.requested_by,
        requested_at=req.requested_at,
        confirmed_by=req.confirmed_by,
        confirmed_at=req.confirmed_at,
        done_at=req.done_at,
        outcome=req.outcome,
    )


@router.post("/{partner_id}/erasure-requests", response_model=ErasureOut, status_code=201)
def ask(
    partner_id: PartnerId,
    body: ErasureAsk,
    principal: CurrentPrincipal,
    registry: RegistryDep,
    control_db: ControlDbDep,
) -> ErasureOut:
    """Ask for a device's data, or all of the partner's data, to be erased (the partner, or the
    operator on its behalf). Nothing is erased before the operator confirms."""
    if body.device is not None and registry.device(partner_id, body.device) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {body.device!r}")
    rid = erasure_requests.request(
        control_db, partner_id, body.device, body.reason, principal.actor
    )
    req = erasure_requests.get(control_db, rid)
    assert req is not None
    return _out(req)


@router.get("/{partner_id}/erasure-requests", response_model=list[ErasureOut])
def requests(partner_id: PartnerId, control_db: ControlDbDep) -> list[ErasureOut]:
    """The partner's erasure requests, newest first, with their state and what was erased."""
    return [_out(r) for r in erasure_requests.of_partner(control_db, partner_id)]


@router.post("/{partner_id}/erasure-requests/{request_id}/confirm", response_model=ErasureOut)
async def confirm(
    partner_id: PartnerId,
    request_id: Annotated[str, Path(pattern=r"^er-[0-9a-f]{12}$")],
    principal: CurrentPrincipal,
    registry: RegistryDep,
    influx: InfluxDep,
    settings: SettingsDep,
    control_db: ControlDbDep,
) -> ErasureOut:
    """The operator confirms; the deriver erases within seconds (the state becomes `done`)."""
    if not principal.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the operator confirms an erasure")
    req = erasure_requests.get(control_db, request_id)
    if req is None or req.partner != partner_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no erasure request {request_id!r}")
    partner = registry.partner(partner_id)
    assert partner is not None
    now = time.time_ns()
    await close_months(
        influx,
        registry,
        [partner],
        closed_months(now, RETAINED_MONTHS),
        now,
        settings.grace_factor,
        control_db,
    )
    try:
        done = await asyncio.to_thread(
            erasure_requests.confirm, control_db, request_id, principal.actor
        )
    except ErasureRequestError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _out(done)
