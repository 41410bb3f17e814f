"""Partners onboard their own devices: MQTT logins, "how to connect", and a device's debug view.

Registering and retiring a device are the registry's routes (api/routes/registry.py: quota and
allowed kinds enforced there). Here, with its own token, a partner:
- issues its device's own login `PARTNER.DEVICE` (`POST …/devices/{device}/login`): the password
  is in that answer only, with the broker's address, how to get its CA, the device's topics, an
  example payload and pasteable snippets. Issuing again rotates: the old password stops working
  and the broker disconnects the session still using it. `DELETE` revokes it: that device alone
  is disconnected;
- creates, lists and revokes gateway logins `PARTNER.LABEL` (a LoRaWAN network server, its own
  back end), which publish for every device of the partner;
- reads a device's debug view: last stored and rejected messages, liveness, last Last Will.

Writes by a partner token need the self-service the operator turned on (a device quota on the
partner); the operator may do all of it for any partner. Another partner's token gets 403 and
learns nothing. Each change is audited (who, what login, when; never a secret) and is in force on
the broker before the answer: the password file by SIGHUP, the rights through the
dynamic-security plugin (access/broker.py `sync_broker`).
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse
from sqlalchemy import Engine, select

from access.broker import LABEL_RE, Account, AccountStore, account_username, sync_broker
from access.dynsec import ControlError
from access.tls import tls_files
from access.tokens import Principal
from api.deps import CurrentPrincipal, InfluxDep, SettingsDep
from api.device_debug import device_debug
from api.guards import AttemptLimiter
from api.selfservice_models import (
    ConnectOut,
    DeviceDebug,
    GatewayIn,
    IssuedLogin,
    LoginOut,
    RejectedMessage,
    Revoked,
    StatusEvent,
    StoredMessage,
)
from controlplane import audit
from controlplane.db import write_tx
from controlplane.registry_queries import DeviceRow, device_row
from controlplane.tables import partners
from core.settings import Settings
from domain.connect_guide import BrokerAddress, device_topics, gateway_topics, guide
from domain.registry import DEVICE_ID_PATTERN, SLUG_PATTERN, Registry
from domain.timestamps import format_rfc3339

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["self-service"])

PartnerPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")]
DevicePath = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="Device id")]
LabelPath = Annotated[str, Path(pattern=LABEL_RE.pattern, description="Gateway label")]
LOGIN_CHANGES_PER_MINUTE = 120
"""Per token: each change rewrites the password file and reloads the broker for everyone."""


# --- who may do what -------------------------------------------------------------------------
def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.control_engine
    return engine


def _partner_row(request: Request, partner_id: str) -> Any:
    with _engine(request).connect() as conn:
        row = conn.execute(
            select(partners.c.device_quota, partners.c.retired_at).where(
                partners.c.id == partner_id
            )
        ).one_or_none()
    if row is None or row.retired_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no partner {partner_id!r}")
    return row


def _may_read(principal: Principal, request: Request, partner_id: str) -> None:
    if not principal.may_see(partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    _partner_row(request, partner_id)


def _may_change(principal: Principal, request: Request, partner_id: str) -> None:
    """The operator; or the partner itself when the operator turned self-service on."""
    if not principal.may_see(partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    row = _partner_row(request, partner_id)
    if not principal.is_operator and row.device_quota is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the operator has not allowed this partner to manage its own devices",
        )
    limiter = getattr(request.app.state, "login_changes", None)
    if limiter is None:
        limiter = request.app.state.login_changes = AttemptLimiter(LOGIN_CHANGES_PER_MINUTE, 60)
    wait_s = limiter.retry_after(principal.token_id)
    if wait_s is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many login changes with this token; try again later",
            headers={"Retry-After": str(wait_s)},
        )
    limiter.record(principal.token_id)


def _device(request: Request, partner_id: str, device_id: str) -> DeviceRow:
    row = device_row(_engine(request), partner_id, device_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r} of {partner_id!r}")
    return row


def _active(row: DeviceRow) -> None:
    if row.retired_from is not None and row.retired_from <= datetime.now(UTC):
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {row.id!r} is retired")


# --- the broker ------------------------------------------------------------------------------
def _store(settings: Settings) -> AccountStore:
    return AccountStore(settings.credentials_file)


def _registry(request: Request) -> Registry:
    """The registry the broker's rights are made from: the live one when the process has it."""
    source = getattr(request.app.state, "registry_source", None)
    if source is not None:
        registry: Registry = source.current().registry
        return registry
    fixed: Registry = request.app.state.registry
    return fixed


def _apply(request: Request, settings: Settings) -> bool:
    """The stored logins in force on the broker; False when no running broker took them."""
    try:
        applied = sync_broker(settings, _registry(request))
    except ControlError as exc:
        log.error("a login changed but the broker refused the new rights: %s", exc)
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"the login is stored, but the broker did not take it: {exc}",
        ) from None
    if not applied:
        log.warning("a login changed; no running broker updated: it applies it at its next start")
    return applied


def _audit(
    request: Request,
    principal: Principal,
    *,
    action: str,
    username: str,
    partner_id: str,
    before: Account | None,
    after: Account | None,
) -> None:
    """Who changed which login when; an issued time, never a password or its hash."""

    def form(a: Account | None) -> dict[str, Any] | None:
        if a is None:
            return None
        return {"kind": "device" if a.device else "gateway", "issued_at": a.issued_at}

    with write_tx(_engine(request)) as (conn, _):
        audit.record(
            conn,
            actor=principal.actor,
            action=action,
            entity="mqtt_login",
            entity_id=username,
            partner=partner_id,
            before=form(before),
            after=form(after),
        )


def _account(settings: Settings, username: str) -> Account | None:
    return next((a for a in _store(settings).load() if a.username == username), None)


def _login_out(account: Account) -> LoginOut:
    _, _, label = account.username.partition(".")
    return LoginOut(
        username=account.username,
        kind="device" if account.device else "gateway",
        device=account.device,
        label=None if account.device else (label or None),
        issued_at=account.issued_at,
    )


def broker_address(request: Request, settings: Settings) -> BrokerAddress:
    """Where devices reach the TLS listener: its bind address, or, when that is every address,
    the host name this API was reached by."""
    host = settings.mqtt_tls_host or settings.mqtt_host
    try:
        if ipaddress.ip_address(host).is_unspecified:
            host = request.url.hostname or host
    except ValueError:
        pass
    local_ca = settings.mqtt_tls_certfile is None
    ca_url = str(request.url_for("broker_ca")) if local_ca else None
    return BrokerAddress(host=host, tls_port=settings.mqtt_tls_port, ca_url=ca_url)


def _device_connect(
    request: Request, settings: Settings, row: DeviceRow, password: str | None
) -> ConnectOut:
    topics = device_topics(settings.mqtt_root, row.partner, row.id)
    found = guide(
        broker_address(request, settings),
        username=account_username(row.partner, row.id),
        password=password,
        telemetry_topic=topics["telemetry"],
        status_topic=topics["status"],
        topics=topics,
        kind=row.kind,
    )
    return ConnectOut.model_validate(found, from_attributes=True)


# --- routes ----------------------------------------------------------------------------------
@router.get("/broker/ca.crt", include_in_schema=True, name="broker_ca")
def broker_ca(settings: SettingsDep) -> FileResponse:
    """The CA certificate of the broker's TLS listener (public; no token needed)."""
    ca = tls_files(settings.tls_dir).ca_cert
    if settings.mqtt_tls_certfile is not None or not ca.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "no local CA: the broker's certificate is from a public CA (use the system's)",
        )
    return FileResponse(ca, media_type="application/x-pem-file", filename="mainport-ca.crt")


@router.post(
    "/partners/{partner_id}/devices/{device_id}/login", response_model=IssuedLogin, status_code=201
)
def issue_device_login(
    partner_id: PartnerPath,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> IssuedLogin:
    """Issue (or rotate) the device's own MQTT login; its password is shown in this answer
    only. Rotating disconnects a session still using the old password."""
    _may_change(principal, request, partner_id)
    row = _device(request, partner_id, device_id)
    _active(row)
    if not LABEL_RE.fullmatch(device_id):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"device id {device_id!r} cannot name a login (lowercase letters, digits and '-', "
            "at most 32): publish it through a gateway login",
        )
    username = account_username(partner_id, device_id)
    before = _account(settings, username)
    if before is not None and before.device is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{username!r} is a gateway login; revoke it first"
        )
    password = _store(settings).issue_device(partner_id, device_id)
    after = _account(settings, username)
    assert after is not None
    _audit(
        request,
        principal,
        action="rotate" if before else "issue",
        username=username,
        partner_id=partner_id,
        before=before,
        after=after,
    )
    applied = _apply(request, settings)
    return IssuedLogin(
        **_login_out(after).model_dump(),
        password=password,
        broker_updated=applied,
        connect=_device_connect(request, settings, row, password),
    )


@router.delete("/partners/{partner_id}/devices/{device_id}/login", response_model=Revoked)
def revoke_device_login(
    partner_id: PartnerPath,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> Revoked:
    """Revoke the device's login: the broker disconnects that device, and only it."""
    _may_change(principal, request, partner_id)
    _device(request, partner_id, device_id)
    username = account_username(partner_id, device_id)
    return _revoke(request, principal, settings, partner_id, username)


@router.get("/partners/{partner_id}/devices/{device_id}/connect", response_model=ConnectOut)
def device_connect(
    partner_id: PartnerPath,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> ConnectOut:
    """The "how to connect" guide again, without the password (the snippets read it from the
    MQTT_PASSWORD environment variable)."""
    _may_read(principal, request, partner_id)
    return _device_connect(request, settings, _device(request, partner_id, device_id), None)


@router.get("/partners/{partner_id}/logins", response_model=list[LoginOut])
def list_logins(
    partner_id: PartnerPath, request: Request, principal: CurrentPrincipal, settings: SettingsDep
) -> list[LoginOut]:
    """The partner's MQTT logins, device and gateway (never a password: none is kept)."""
    _may_read(principal, request, partner_id)
    mine = [a for a in _store(settings).load() if a.scope == partner_id and not a.runtime]
    return [_login_out(a) for a in sorted(mine, key=lambda a: a.username)]


@router.get("/partners/{partner_id}/gateways", response_model=list[LoginOut])
def list_gateways(
    partner_id: PartnerPath, request: Request, principal: CurrentPrincipal, settings: SettingsDep
) -> list[LoginOut]:
    """Gateway logins: publish and subscribe for every device of the partner."""
    return [g for g in list_logins(partner_id, request, principal, settings) if g.kind == "gateway"]


@router.post("/partners/{partner_id}/gateways", response_model=IssuedLogin, status_code=201)
def issue_gateway(
    partner_id: PartnerPath,
    body: GatewayIn,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> IssuedLogin:
    """Create (or rotate) the gateway login PARTNER.LABEL; its password is shown once."""
    _may_change(principal, request, partner_id)
    username = account_username(partner_id, body.label)
    before = _account(settings, username)
    if (before is not None and before.device is not None) or device_row(
        _engine(request), partner_id, body.label
    ) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{body.label!r} is a device of {partner_id!r}: a gateway needs another label",
        )
    password = _store(settings).issue(partner_id, label=body.label)
    after = _account(settings, username)
    assert after is not None
    _audit(
        request,
        principal,
        action="rotate" if before else "issue",
        username=username,
        partner_id=partner_id,
        before=before,
        after=after,
    )
    applied = _apply(request, settings)
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
        **_login_out(after).model_dump(),
        password=password,
        broker_updated=applied,
        connect=ConnectOut.model_validate(found, from_attributes=True),
    )


@router.delete("/partners/{partner_id}/gateways/{label}", response_model=Revoked)
def revoke_gateway(
    partner_id: PartnerPath,
    label: LabelPath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> Revoked:
    """Revoke a gateway login: the broker disconnects the clients using it, and only them."""
    _may_change(principal, request, partner_id)
    username = account_username(partner_id, label)
    found = _account(settings, username)
    if found is not None and found.device is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no gateway login {username!r}")
    return _revoke(request, principal, settings, partner_id, username)


def _revoke(
    request: Request, principal: Principal, settings: Settings, partner_id: str, username: str
) -> Revoked:
    before = _account(settings, username)
    if before is None or not _store(settings).revoke(username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no MQTT login {username!r}")
    _audit(
        request,
        principal,
        action="revoke",
        username=username,
        partner_id=partner_id,
        before=before,
        after=None,
    )
    return Revoked(username=username, revoked=True, broker_updated=_apply(request, settings))


@router.get("/partners/{partner_id}/devices/{device_id}/debug", response_model=DeviceDebug)
async def debug_device(
    partner_id: PartnerPath,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    influx: InfluxDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Messages of each list")] = 10,
) -> DeviceDebug:
    """One device, alone: liveness, last stored and rejected messages (reason and excerpt),
    last status and Last Will, its login. For the partner who owns it and the operator."""
    _may_read(principal, request, partner_id)
    row = _device(request, partner_id, device_id)
    view = await device_debug(
        influx,
        partner=partner_id,
        device=device_id,
        root=settings.mqtt_root,
        interval_s=row.interval_s,
        grace_factor=settings.grace_factor,
        limit=limit,
    )
    statuses = [StatusEvent(time=format_rfc3339(t), online=o) for t, o in view.statuses]
    login = (
        _account(settings, account_username(partner_id, device_id))
        if LABEL_RE.fullmatch(device_id)
        else None
    )
    return DeviceDebug(
        partner=partner_id,
        device=device_id,
        kind=row.kind,
        interval_s=row.interval_s,
        retired_from=row.retired_from.isoformat() if row.retired_from else None,
        state=view.state,
        last_seen=format_rfc3339(view.last_seen_ns) if view.last_seen_ns else None,
        last_status=statuses[0] if statuses else None,
        last_will=next((s for s in statuses if not s.online), None),
        login=_login_out(login) if login is not None and login.device else None,
        topics=device_topics(settings.mqtt_root, partner_id, device_id),
        messages=[StoredMessage.model_validate(m) for m in view.messages],
        rejected=[RejectedMessage.model_validate(r) for r in view.rejected],
    )
