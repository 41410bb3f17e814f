"""Gateway logins `PARTNER.LABEL`: a LoRaWAN network server or a partner's own back end
publishing for many devices (and subscribing under the partner's topics). Created, listed and
revoked like device logins (api/login_access.py: scopes, audit, broker update); the password
is shown once, in the answer that creates or rotates it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status

from access.broker import LABEL_RE, account_username
from api.deps import CurrentPrincipal, SettingsDep
from api.login_access import (
    ChangeablePartner,
    ReadablePartner,
    account,
    apply,
    broker_address,
    engine,
    login_out,
    revoke,
    store,
)
from api.selfservice_models import ConnectOut, GatewayIn, IssuedLogin, LoginOut, Revoked
from controlplane.registry_queries import device_row
from domain.connect_guide import gateway_topics, guide
from domain.registry import SLUG_PATTERN

router = APIRouter(prefix="/api/v1", tags=["self-service"])

PartnerPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")]
LabelPath = Annotated[str, Path(pattern=LABEL_RE.pattern, description="Gateway label")]


@router.get("/partners/{partner_id}/gateways", response_model=list[LoginOut])
def list_gateways(
    partner_id: ReadablePartner,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> list[LoginOut]:
    """Gateway logins: publish and subscribe for every device of the partner."""
    mine = [
        a
        for a in store(request).load()
        if a.scope == partner_id and not a.runtime and a.device is None
    ]
    return [login_out(a) for a in sorted(mine, key=lambda a: a.username)]


@router.post("/partners/{partner_id}/gateways", response_model=IssuedLogin, status_code=201)
def issue_gateway(
    partner_id: ChangeablePartner,
    body: GatewayIn,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> IssuedLogin:
    """Create (or rotate) the gateway login PARTNER.LABEL; its password is shown once."""
    username = account_username(partner_id, body.label)
    before = account(request, username)
    if (before is not None and before.device is not None) or device_row(
        engine(request), partner_id, body.label
    ) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{body.label!r} is a device of {partner_id!r}: a gateway needs another label",
        )
    password = store(request).issue(partner_id, label=body.label)
    after = account(request, username)
    assert after is not None
    applied = apply(request, settings)
    topics = gateway_topics(settings.mqtt_root, partner_id)
    example = "gateway-test"
    found = guide(
        broker_address(request, settings),
        username=username,
        password=password,
        telemetry_topic=topics["telemetry"].format(device=example),
        status_topic=topics["status"].format(device=example),
        topics=topics,
        kind="generic",
    )
    return IssuedLogin(
        **login_out(after).model_dump(),
        password=password,
        broker_updated=applied,
        connect=ConnectOut.model_validate(found, from_attributes=True),
    )


@router.delete("/partners/{partner_id}/gateways/{label}", response_model=Revoked)
def revoke_gateway(
    partner_id: ChangeablePartner,
    label: LabelPath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> Revoked:
    """Revoke a gateway login: the broker disconnects the clients using it, and only them."""
    username = account_username(partner_id, label)
    found = account(request, username)
    if found is not None and found.device is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no gateway login {username!r}")
    return revoke(request, principal, settings, partner_id, username)
