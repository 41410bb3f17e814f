"""Registry writes (partners, devices) and the audit, through the control-plane database.

Scopes (SPEC): the operator changes everything; a partner token only its own devices, and only
when the operator gave its partner a device quota (self-service; adding stays within the quota
and the allowed kinds), else 403. Another partner's entities answer 403 whether they exist or
not. Every write is one transaction with its audit entry and answers after the commit; the
process's own registry view is refreshed before the answer when it has one. When the partners
file is the source of truth (MAINPORT_PARTNERS_FILE set explicitly) writes answer 409 saying so.

Answers: 401/403 as elsewhere; 404 unknown entity; 409 id in use or retired (ids are never
reused), an effective time before the latest recorded change, or file mode; 422 a rule of the
registry broken, naming the field as FastAPI's own validation errors do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from sqlalchemy import Engine

from access.tokens import Principal
from api.deps import CurrentPrincipal, SettingsDep
from api.registry_models import (
    AuditOut,
    AuditPage,
    Changed,
    DeviceIn,
    DeviceOut,
    DevicePage,
    DevicePatch,
    DeviceTermsOut,
    PartnerIn,
    PartnerOut,
    PartnerPatch,
)
from controlplane import audit as audit_log
from controlplane import registry_ops as ops
from controlplane import registry_queries as queries
from controlplane.registry_diff import Change
from controlplane.registry_errors import (
    ConflictingChange,
    GovernedByFile,
    InvalidChange,
    RegistryChangeError,
    UnknownEntity,
    refuse_in_file_mode,
)
from core.settings import Settings
from domain.registry import DEVICE_ID_PATTERN, SLUG_PATTERN

router = APIRouter(prefix="/api/v1", tags=["registry"])

T = TypeVar("T")
PartnerPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")]
DevicePath = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="Device id")]
AFTER_PATTERN = f"{SLUG_PATTERN[:-1]}/{DEVICE_ID_PATTERN[1:]}"
EffectiveQuery = Annotated[
    datetime | None,
    Query(description="When the retirement takes effect (RFC 3339; default now)"),
]


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.control_db
    return engine


def _operator(principal: CurrentPrincipal) -> Principal:
    """A dependency, so a partner token is refused (403) before its body is looked at (422)."""
    if not principal.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an operator token may do this")
    return principal


OperatorPrincipal = Annotated[Principal, Depends(_operator)]


def change(request: Request, settings: Settings, what: str, act: Callable[[], T]) -> T:
    """Run one write; refusals as HTTP answers; the process's registry view refreshed after."""
    try:
        refuse_in_file_mode(settings.registry_source, what)
        result = act()
    except ops.QuotaExceeded as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except InvalidChange as exc:
        detail = [{"loc": ["body", *exc.field.split(".")], "msg": exc.reason, "type": "registry"}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    except UnknownEntity as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except (ConflictingChange, GovernedByFile) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except RegistryChangeError as exc:  # a kind added later: refuse, never 500
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    source = getattr(request.app.state, "registry_source", None)
    refresh = getattr(source, "refresh", None)
    if callable(refresh):
        refresh()
    return result


def changed(changes: list[Change]) -> Changed:
    return Changed(changes=[c.line() for c in changes])


def patch_fields(body: Any) -> dict[str, Any]:
    return {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "effective_from"}


# Partners: the operator's.
@router.post("/partners", response_model=PartnerOut, status_code=201)
def add_partner(
    body: PartnerIn, request: Request, principal: OperatorPrincipal, settings: SettingsDep
) -> PartnerOut:
    """Add a partner (then its ports and devices)."""
    fields = body.model_dump(exclude_none=True)
    changes = change(
        request,
        settings,
        f"partner {body.id}",
        lambda: ops.add_partner(engine_of(request), fields, actor=principal.actor),
    )
    after = changes[0].after
    assert after is not None
    return PartnerOut.model_validate(after)


@router.patch("/partners/{partner_id}", response_model=Changed)
def set_partner(
    partner_id: PartnerPath,
    body: PartnerPatch,
    request: Request,
    principal: OperatorPrincipal,
    settings: SettingsDep,
) -> Changed:
    fields = patch_fields(body)
    return changed(
        change(
            request,
            settings,
            f"partner {partner_id}",
            lambda: ops.set_partner(engine_of(request), partner_id, fields, actor=principal.actor),
        )
    )


@router.delete("/partners/{partner_id}", response_model=Changed)
def retire_partner(
    partner_id: PartnerPath, request: Request, principal: OperatorPrincipal, settings: SettingsDep
) -> Changed:
    """Retire a partner now with its devices, ports and windows; its history stays."""
    return changed(
        change(
            request,
            settings,
            f"partner {partner_id}",
            lambda: ops.retire_partner(engine_of(request), partner_id, actor=principal.actor),
        )
    )


# Devices: the operator's, or a partner's own with a quota.
@dataclass(frozen=True, slots=True)
class DeviceWriter:
    """Who changes a partner's devices: the operator, or the partner itself (self-service)."""

    principal: Principal
    self_service: bool


def _device_writer(partner_id: PartnerPath, principal: CurrentPrincipal) -> DeviceWriter:
    """A dependency, so another partner's token is refused (403) before the body is read: the
    operator always; the partner itself as self-service (quota and kinds checked in the
    transaction); anyone else 403."""
    if principal.is_operator:
        return DeviceWriter(principal, self_service=False)
    if principal.partner != partner_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    return DeviceWriter(principal, self_service=True)


DeviceWriterDep = Annotated[DeviceWriter, Depends(_device_writer)]


def _reader(partner_id: PartnerPath, principal: CurrentPrincipal) -> Principal:
    if not principal.may_see(partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    return principal


PartnerReader = Annotated[Principal, Depends(_reader)]


def _self_service_allowed(request: Request, partner_id: str) -> None:
    state = queries.state_now(engine_of(request))
    partner = state.partners.get(partner_id)
    if partner is None or partner["device_quota"] is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the operator has not allowed this partner to register devices",
        )


@router.post("/partners/{partner_id}/devices", response_model=DeviceOut, status_code=201)
def add_device(
    partner_id: PartnerPath,
    body: DeviceIn,
    request: Request,
    writer: DeviceWriterDep,
    settings: SettingsDep,
) -> DeviceOut:
    """Register a device; accepted by the running platform from the commit on."""
    principal, self_service = writer.principal, writer.self_service
    fields = body.model_dump(exclude_none=True)
    change(
        request,
        settings,
        f"device {partner_id}/{body.id}",
        lambda: ops.add_device(
            engine_of(request),
            partner_id,
            fields,
            actor=principal.actor,
            self_service=self_service,
        ),
    )
    return _device_out(request, partner_id, body.id, history=False)


@router.patch("/partners/{partner_id}/devices/{device_id}", response_model=Changed)
def set_device(
    partner_id: PartnerPath,
    device_id: DevicePath,
    body: DevicePatch,
    request: Request,
    writer: DeviceWriterDep,
    settings: SettingsDep,
) -> Changed:
    """Change kind (now) and interval_s, port, switch (from `effective_from`)."""
    principal = writer.principal
    if writer.self_service:
        _self_service_allowed(request, partner_id)
    fields = patch_fields(body)
    return changed(
        change(
            request,
            settings,
            f"device {partner_id}/{device_id}",
            lambda: ops.set_device(
                engine_of(request),
                partner_id,
                device_id,
                fields,
                actor=principal.actor,
                effective=body.effective_from,
            ),
        )
    )


@router.delete("/partners/{partner_id}/devices/{device_id}", response_model=Changed)
def retire_device(
    partner_id: PartnerPath,
    device_id: DevicePath,
    request: Request,
    writer: DeviceWriterDep,
    settings: SettingsDep,
    effective_from: EffectiveQuery = None,
) -> Changed:
    """Retire a device from `effective_from`: later messages rejected, history kept."""
    principal = writer.principal
    if writer.self_service:
        _self_service_allowed(request, partner_id)
    return changed(
        change(
            request,
            settings,
            f"device {partner_id}/{device_id}",
            lambda: ops.retire_device(
                engine_of(request),
                partner_id,
                device_id,
                actor=principal.actor,
                effective=effective_from,
            ),
        )
    )


def _device_out(request: Request, partner: str, device: str, *, history: bool) -> DeviceOut:
    engine = engine_of(request)
    row = queries.device_row(engine, partner, device)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device!r} of {partner!r}")
    out = DeviceOut.model_validate(row.as_dict())
    if history:
        out.history = [
            DeviceTermsOut.model_validate(t)
            for t in queries.device_history(engine, partner, device)
        ]
    return out


@router.get("/partners/{partner_id}/devices/{device_id}", response_model=DeviceOut)
def device_detail(
    partner_id: PartnerPath, device_id: DevicePath, request: Request, _reader: PartnerReader
) -> DeviceOut:
    """One device as registered, retired or not, with every recorded set of terms."""
    return _device_out(request, partner_id, device_id, history=True)


@router.get("/devices", response_model=DevicePage)
def device_listing(
    request: Request,
    principal: CurrentPrincipal,
    partner: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    after: Annotated[
        str | None,
        Query(pattern=AFTER_PATTERN, description="PARTNER/DEVICE of the previous page's end"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    retired: Annotated[bool, Query(description="Retired devices too")] = False,
) -> DevicePage:
    """Registered devices in (partner, id) order, a page at a time (keyset: `after`). A partner
    token lists its own only."""
    if not principal.is_operator:
        if partner not in (None, principal.partner):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
        partner = principal.partner
    cursor = None
    if after is not None:
        p, _, d = after.partition("/")
        cursor = (p, d)
    rows = queries.device_page(
        engine_of(request), partner=partner, after=cursor, limit=limit, include_retired=retired
    )
    items = [DeviceOut.model_validate(r.as_dict()) for r in rows]
    last = f"{rows[-1].partner}/{rows[-1].id}" if len(rows) == limit else None
    return DevicePage(items=items, next_after=last)


# The audit: read-only, here and everywhere.
@router.get("/audit", response_model=AuditPage)
def audit(
    request: Request,
    principal: CurrentPrincipal,
    partner: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    after: Annotated[int | None, Query(ge=1, description="Entries older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Registry changes, newest first: who, when, what, before and after. The operator sees
    everything; a partner token the entries about its own entities."""
    if not principal.is_operator:
        if partner not in (None, principal.partner):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
        partner = principal.partner
    with engine_of(request).connect() as conn:
        logged = audit_log.entries(conn, partner=partner, after_id=after, limit=limit)
    items = [
        AuditOut(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            entity=e.entity,
            entity_id=e.entity_id,
            partner=e.partner,
            before=dict(e.before) if e.before is not None else None,
            after=dict(e.after) if e.after is not None else None,
        )
        for e in logged
    ]
    return AuditPage(items=items, next_after=items[-1].id if len(items) == limit else None)
