"""Partners onboard their own devices: MQTT logins, "how to connect", and a device's debug view.

Registering and retiring a device are the registry's routes (api/routes/registry.py: quota and
allowed kinds enforced there). Here, with its own token, a partner:
- issues its device's own login `PARTNER.DEVICE` (`POST …/devices/{device}/login`): the password
  is in that answer only, with the broker's address, how to get its CA, the device's topics, an
  example payload and pasteable snippets. Issuing again rotates: the old password stops working
  and the broker disconnects the session still using it. `DELETE` revokes it: that device alone
  is disconnected. `POST …/device-logins` issues many at once (one broker reload);
- reads a device's debug view: last stored and rejected messages, liveness, last Last Will.
Gateway logins are in api/routes/gateways.py; who may do what, the audit and the broker
update in api/login_access.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from access.broker import LABEL_RE, account_username
from access.tls import tls_files
from api.deps import CurrentPrincipal, InfluxDep, SettingsDep
from api.device_debug import device_debug
from api.login_access import (
    ChangeablePartner,
    ReadablePartner,
    account,
    apply,
    device,
    issue_device_logins,
    login_out,
    revoke,
    store,
)
from api.login_access import (
    device_connect as guide_for,
)
from api.selfservice_models import (
    BulkLogin,
    BulkLogins,
    BulkLoginsIn,
    ConnectOut,
    DeviceDebug,
    IssuedLogin,
    LoginOut,
    RejectedMessage,
    Revoked,
    StatusEvent,
    StoredMessage,
)
from domain.connect_guide import device_topics
from domain.registry import DEVICE_ID_PATTERN, SLUG_PATTERN
from domain.timestamps import format_rfc3339

router = APIRouter(prefix="/api/v1", tags=["self-service"])

PartnerPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")]
DevicePath = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="Device id")]


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
    partner_id: ChangeablePartner,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> IssuedLogin:
    """Issue (or rotate) the device's own MQTT login; its password is shown in this answer
    only. Rotating disconnects a session still using the old password."""
    row = device(request, partner_id, device_id)
    ((password, after),) = issue_device_logins(request, principal, settings, [row])
    applied = apply(request, settings)
    return IssuedLogin(
        **login_out(after).model_dump(),
        password=password,
        broker_updated=applied,
        connect=guide_for(request, settings, row, password),
    )


@router.post("/partners/{partner_id}/device-logins", response_model=BulkLogins, status_code=201)
def issue_many_device_logins(
    partner_id: ChangeablePartner,
    body: BulkLoginsIn,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> BulkLogins:
    """Issue (or rotate) the logins of many registered devices at once: one audit transaction
    and one broker update for all. Each password is in this answer only; all or none."""
    rows = [device(request, partner_id, d) for d in dict.fromkeys(body.devices)]
    issued = issue_device_logins(request, principal, settings, rows)
    applied = apply(request, settings)
    return BulkLogins(
        logins=[BulkLogin(username=a.username, password=p) for p, a in issued],
        broker_updated=applied,
    )


@router.delete("/partners/{partner_id}/devices/{device_id}/login", response_model=Revoked)
def revoke_device_login(
    partner_id: ChangeablePartner,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> Revoked:
    """Revoke the device's login: the broker disconnects that device, and only it."""
    device(request, partner_id, device_id)
    username = account_username(partner_id, device_id)
    return revoke(request, principal, settings, partner_id, username)


@router.get("/partners/{partner_id}/devices/{device_id}/connect", response_model=ConnectOut)
def device_connect(
    partner_id: ReadablePartner,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> ConnectOut:
    """The "how to connect" guide again, without the password (the snippets read it from the
    MQTT_PASSWORD environment variable)."""
    return guide_for(request, settings, device(request, partner_id, device_id), None)


@router.get("/partners/{partner_id}/logins", response_model=list[LoginOut])
def list_logins(
    partner_id: ReadablePartner,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> list[LoginOut]:
    """The partner's MQTT logins, device and gateway (never a password: none is kept)."""
    mine = [a for a in store(request).load() if a.scope == partner_id and not a.runtime]
    return [login_out(a) for a in sorted(mine, key=lambda a: a.username)]


@router.get("/partners/{partner_id}/devices/{device_id}/debug", response_model=DeviceDebug)
async def debug_device(
    partner_id: ReadablePartner,
    device_id: DevicePath,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    influx: InfluxDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Messages of each list")] = 10,
) -> DeviceDebug:
    """One device, alone: liveness, last stored and rejected messages (reason and excerpt),
    last status and Last Will, its login. For the partner who owns it and the operator."""
    # The control-plane reads are blocking: off the event loop, like the sync routes'.
    row = await run_in_threadpool(device, request, partner_id, device_id)
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
        await run_in_threadpool(account, request, account_username(partner_id, device_id))
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
        login=login_out(login) if login is not None and login.device else None,
        topics=device_topics(settings.mqtt_root, partner_id, device_id),
        messages=[StoredMessage.model_validate(m) for m in view.messages],
        rejected=[RejectedMessage.model_validate(r) for r in view.rejected],
    )
