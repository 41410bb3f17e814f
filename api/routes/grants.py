"""Data-sharing grants: a partner shares chosen devices with another partner, for a stated
purpose and optionally until an end date, and takes it back.

A partner token gives and revokes grants on its own devices only (`PartnerId` answers 403 for
any other partner); the operator may act for any partner, and the audit says which token did.
A change is in force on the API from the next request (grants are read from the control-plane
database on each) and on the broker as soon as its rights are applied, before the response is
sent. A grant that reaches its end date is revoked by itself (access/expiry.py). The owner's
list of its grants shows what each grantee read of the shared device (api/access_log.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status

from access.broker import sync_broker
from api.deps import CurrentPrincipal, GrantLogDep, PartnerId, RegistryDep, SettingsDep
from api.guards import AttemptLimiter
from api.models import GrantReads, GrantRequest, GrantResult, GrantView
from controlplane import access_log as access_log_store
from controlplane.access_log import AccessLogWriter
from core.settings import Settings
from domain.grants import GRANT_ID_PATTERN, AlreadyRevoked, Grant, GrantError, UnknownGrant
from domain.registry import Registry
from domain.timestamps import format_rfc3339

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["grants"])

AllQuery = Annotated[
    bool, Query(alias="all", description="Include revoked grants (the full history)")
]


def view(grant: Grant, reads: GrantReads | None = None) -> GrantView:
    return GrantView(
        id=grant.id,
        owner=grant.owner,
        grantee=grant.grantee,
        device=grant.device,
        note=grant.note,
        granted_by=grant.granted_by,
        granted_at=grant.granted_at,
        revoked_by=grant.revoked_by,
        revoked_at=grant.revoked_at,
        active=grant.active,
        purpose=grant.purpose,
        ends_at=grant.ends_at,
        reads=reads,
    )


def _ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


def grantee_reads(request: Request, given: list[Grant]) -> dict[str, GrantReads]:
    """Per active grant, the grantee's answered reads of the shared device since it was given
    (the access log in the control-plane database; this process's queue written first)."""
    if not given:
        return {}
    writer: AccessLogWriter = request.app.state.access_log
    writer.flush()
    out: dict[str, GrantReads] = {}
    for g in given:
        since = datetime.fromisoformat(g.granted_at.replace("Z", "+00:00"))
        n, last = access_log_store.grantee_reads(
            request.app.state.control_db, g.owner, g.grantee, g.device, since
        )
        shown = None if last is None else format_rfc3339(_ns(last))
        out[g.id] = GrantReads(count=n, last=shown)
    return out


@router.get("/grants", response_model=list[GrantView])
def list_all_grants(
    principal: CurrentPrincipal, grants: GrantLogDep, include_revoked: AllQuery = False
) -> list[GrantView]:
    """The operator sees every grant; a partner those it gave or received."""
    return [
        view(g)
        for g in grants.grants()
        if (include_revoked or g.active)
        and (principal.is_operator or g.concerns(principal.partner or ""))
    ]


@router.get("/partners/{partner_id}/grants", response_model=list[GrantView])
def list_partner_grants(
    partner_id: PartnerId,
    grants: GrantLogDep,
    request: Request,
    include_revoked: AllQuery = False,
) -> list[GrantView]:
    """Grants the partner gave (it is `owner`) and received (it is `grantee`), with purpose and
    end date; on the active ones it gave, the grantee's reads of the device (`reads`)."""
    shown = [g for g in grants.grants() if (include_revoked or g.active) and g.concerns(partner_id)]
    given = [g for g in shown if g.active and g.owner == partner_id]
    reads = grantee_reads(request, given)
    return [view(g, reads.get(g.id)) for g in shown]


@router.post("/partners/{partner_id}/grants", response_model=GrantResult, status_code=201)
def add_grants(
    partner_id: PartnerId,
    body: GrantRequest,
    principal: CurrentPrincipal,
    grants: GrantLogDep,
    registry: RegistryDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> GrantResult:
    """Share `devices` of this partner with `grantee` (read-only telemetry, broker and API) for
    `purpose`, until `ends_at` if given (then revoked by itself).

    201 with the new grants; 200 when every device was already shared (nothing recorded; the
    existing grants keep their purpose and end). 422 without a purpose or with an end in the
    past."""
    _count_change(request, principal.token_id)
    try:
        created, existing = grants.add(
            registry,
            partner_id,
            body.grantee,
            body.devices,
            principal.actor,
            body.note,
            purpose=body.purpose,
            ends_at=body.ends_at,
        )
    except GrantError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if created:
        _apply(settings, registry, request)
    else:
        response.status_code = status.HTTP_200_OK
    return GrantResult(created=[view(g) for g in created], existing=[view(g) for g in existing])


@router.delete("/partners/{partner_id}/grants/{grant_id}", response_model=GrantView)
def revoke_grant(
    partner_id: PartnerId,
    grant_id: Annotated[str, Path(pattern=GRANT_ID_PATTERN, description="Grant id")],
    principal: CurrentPrincipal,
    grants: GrantLogDep,
    registry: RegistryDep,
    settings: SettingsDep,
    request: Request,
) -> GrantView:
    """Revoke one of this partner's grants; the grantee loses access at once."""
    _count_change(request, principal.token_id)
    try:
        revoked = grants.revoke(grant_id, principal.actor, owner=partner_id)
    except UnknownGrant as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except AlreadyRevoked as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    _apply(settings, registry, request)
    return view(revoked)


def _count_change(request: Request, token_id: str) -> None:
    """429 past the per-token rate of grant changes: each one rewrites and reloads the broker's
    ACL, so a loop of them would keep the broker busy for every partner."""
    limiter: AttemptLimiter = request.app.state.grant_changes
    wait_s = limiter.retry_after(token_id)
    if wait_s is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many grant changes with this token; try again later",
            headers={"Retry-After": str(wait_s)},
        )
    limiter.record(token_id)


def _apply(settings: Settings, registry: Registry, request: Request) -> None:
    """Apply the logins and active grants to the broker."""
    if sync_broker(settings, registry, request.app.state.control_db):
        return
    # No local broker to signal (it runs in its own container, or is down): it reads the
    # files at its next reload. Said loudly, because until then the broker lags the API.
    log.warning(
        "grants changed (%s %s); no local broker reloaded: it applies the new ACL at its "
        "next reload",
        request.method,
        request.url.path,
    )
