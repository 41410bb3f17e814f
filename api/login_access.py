"""What the self-service routes share (api/routes/selfservice.py, api/routes/gateways.py): who
may read or change a partner's logins, the broker kept in line with the stored logins, the audit
entry of a login change, and the "how to connect" guide for a device.

A partner token changes its own logins only when the operator turned self-service on (a device
quota on its partner row); the operator may for any partner; another partner gets 403. Each
change is audited (who, which login, when; never a password or its hash) and is in force on the
broker before the answer: the password file by SIGHUP, the rights through the dynamic-security
plugin (access/broker.py `sync_broker`).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from sqlalchemy import Engine, select

from access.broker import LABEL_RE, Account, AccountStore, account_username, sync_broker
from access.dynsec import ControlError
from access.tokens import Principal
from api.deps import CurrentPrincipal
from api.guards import AttemptLimiter
from api.selfservice_models import ConnectOut, LoginOut, Revoked
from controlplane.db import utcnow
from controlplane.registry_queries import DeviceRow, device_row
from controlplane.registry_store import is_empty
from controlplane.snapshot import load_snapshot
from controlplane.tables import partners
from core.settings import Settings
from domain.connect_guide import BrokerAddress, device_topics, guide
from domain.registry import SLUG_PATTERN, Registry

log = logging.getLogger(__name__)
LOGIN_CHANGES_PER_MINUTE = 120
"""Per token: each change rewrites the password file and reloads the broker for everyone."""


# --- who may do what -------------------------------------------------------------------------
def engine(request: Request) -> Engine:
    engine: Engine = request.app.state.control_db
    return engine


@dataclass(frozen=True, slots=True)
class PartnerTerms:
    device_quota: int | None


def _unseeded(request: Request) -> bool:
    """The control plane holds no partner yet (an API started without `mainport up`): the
    registry the process started with stands in, read-only."""
    with engine(request).connect() as conn:
        return is_empty(conn)


def partner_row(request: Request, partner_id: str) -> PartnerTerms:
    with engine(request).connect() as conn:
        row = conn.execute(
            select(partners.c.device_quota, partners.c.retired_at).where(
                partners.c.id == partner_id
            )
        ).one_or_none()
    if row is not None and row.retired_at is None:
        return PartnerTerms(row.device_quota)
    started: Registry = request.app.state.registry_source.current().registry
    found = started.partner(partner_id) if row is None and _unseeded(request) else None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no partner {partner_id!r}")
    return PartnerTerms(found.device_quota)


def may_read(principal: Principal, request: Request, partner_id: str) -> None:
    if not principal.may_see(partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    partner_row(request, partner_id)


def may_change(principal: Principal, request: Request, partner_id: str) -> None:
    """The operator; or the partner itself when the operator turned self-service on."""
    if not principal.may_see(partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    row = partner_row(request, partner_id)
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


def _readable(
    partner_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")],
    request: Request,
    principal: CurrentPrincipal,
) -> str:
    may_read(principal, request, partner_id)
    return partner_id


def _changeable(
    partner_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")],
    request: Request,
    principal: CurrentPrincipal,
) -> str:
    may_change(principal, request, partner_id)
    return partner_id


# As dependencies, the scope is checked before any body is: another partner's token gets 403
# whatever it sends, never a 422 that would tell it what the route expects.
ReadablePartner = Annotated[str, Depends(_readable)]
ChangeablePartner = Annotated[str, Depends(_changeable)]


def device(request: Request, partner_id: str, device_id: str) -> DeviceRow:
    row = device_row(engine(request), partner_id, device_id)
    if row is None and _unseeded(request):
        started: Registry = request.app.state.registry_source.current().registry
        partner = started.partner(partner_id)
        found = next((d for d in partner.devices if d.id == device_id), None) if partner else None
        if found is not None:
            return DeviceRow(
                partner_id,
                found.id,
                found.kind,
                found.interval_s,
                found.port,
                found.switch,
                False,
                datetime.now(UTC),
                None,
            )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r} of {partner_id!r}")
    return row


def active(row: DeviceRow) -> None:
    if row.retired_from is not None and row.retired_from <= datetime.now(UTC):
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {row.id!r} is retired")


# --- the broker ------------------------------------------------------------------------------
def store(request: Request) -> AccountStore:
    """The broker's logins; each change audited there (access/logins.py) as the caller."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return AccountStore(engine(request), actor=principal.actor if principal else None)


def registry(request: Request, settings: Settings) -> Registry:
    """The registry the broker's rights are made from: the process's live view when it has
    one; else, when the database is the source of truth and seeded, the registry in force there
    (a partner added since the start included); else the one the process started with."""
    source = getattr(request.app.state, "registry_source", None)
    if source is not None:
        live: Registry = source.current().registry
        return live
    if settings.registry_source == "database":
        with engine(request).connect() as conn, conn.begin():
            if not is_empty(conn):
                return load_snapshot(conn, utcnow()).registry
    fixed: Registry = request.app.state.registry_source.current().registry
    return fixed


def apply(request: Request, settings: Settings) -> bool:
    """The stored logins in force on the broker; False when no running broker took them."""
    try:
        applied = sync_broker(settings, registry(request, settings))
    except ControlError as exc:
        log.error("a login changed but the broker refused the new rights: %s", exc)
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"the login is stored, but the broker did not take it: {exc}",
        ) from None
    if not applied:
        log.warning("a login changed; no running broker updated: it applies it at its next start")
    return applied


def issue_device_logins(
    request: Request, principal: Principal, settings: Settings, rows: list[DeviceRow]
) -> list[tuple[str, Account]]:
    """Issue or rotate these devices' logins, audit them in one transaction (not yet on the
    broker: `apply` after). Every row is checked first, so a refusal changes nothing: 409 for a
    retired device or a gateway of that name, 422 for an id that cannot name a login."""
    known = {a.username: a for a in store(request).load()}
    for row in rows:
        active(row)
        if not LABEL_RE.fullmatch(row.id):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                f"device id {row.id!r} cannot name a login (lowercase letters, digits and '-', "
                "at most 32): publish it through a gateway login",
            )
        found = known.get(account_username(row.partner, row.id))
        if found is not None and found.device is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"{found.username!r} is a gateway login; revoke it first"
            )
    accounts = store(request)
    passwords = {
        account_username(row.partner, row.id): accounts.issue_device(row.partner, row.id)
        for row in rows
    }
    now = {a.username: a for a in accounts.load()}
    return [(passwords[name], now[name]) for name in passwords]


def account(request: Request, username: str) -> Account | None:
    return next((a for a in store(request).load() if a.username == username), None)


def login_out(account: Account) -> LoginOut:
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


def device_connect(
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


def revoke(
    request: Request, principal: Principal, settings: Settings, partner_id: str, username: str
) -> Revoked:
    before = account(request, username)
    if before is None or not store(request).revoke(username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no MQTT login {username!r}")
    return Revoked(username=username, revoked=True, broker_updated=apply(request, settings))
