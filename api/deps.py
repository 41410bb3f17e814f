"""Typed dependencies: the app's clients from `app.state`, and who is asking.

Scopes are enforced here, once: routes under /partners/{partner_id} take `PartnerId`, which
validates the id against its pattern before it reaches a query and answers 403 for a partner
token asking about someone else. The one exception to "own partner only" is a device another
partner shared: `ReadableDevice` lets its grantee through, and nothing else does.

Order of answers: an address with too many failed logins 429; no or bad token 401; an id that
does not fit its pattern 422 (it cannot name anything, so this tells nobody anything); someone
else's partner 403; then 404 for the operator or the owner when the partner does not exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from access.grants import GrantLog, GrantLogError
from access.tokens import Principal, TokenStore
from api.guards import AttemptLimiter, client_key
from controlplane.live import LiveRegistry
from controlplane.snapshot import Snapshot
from core.settings import Settings
from domain.grants import may_read
from domain.registry import DEVICE_ID_PATTERN, SLUG_PATTERN, Registry
from domain.registry_history import RegistryHistory
from timeseries.client import AsyncInfluxClient

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="An operator or partner API token")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _snapshot(request: Request) -> Snapshot:
    """The registry in force for this request, read once (controlplane/live.py): one request
    sees one version, however long it runs."""
    snapshot = getattr(request.state, "registry_snapshot", None)
    if snapshot is None:
        source: LiveRegistry = request.app.state.registry_source
        snapshot = request.state.registry_snapshot = source.current()
    return snapshot


def _registry(request: Request) -> Registry:
    return _snapshot(request).registry


def _history(request: Request) -> RegistryHistory:
    return _snapshot(request).history


def _influx(request: Request) -> AsyncInfluxClient:
    client: AsyncInfluxClient = request.app.state.influx
    return client


def _grant_log(request: Request) -> GrantLog:
    grants: GrantLog = request.app.state.grants
    return grants


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # A blocked address is refused before its token is looked at, a right one included:
    # otherwise the answer would tell a guesser which guess was right (api/guards.py).
    limiter: AttemptLimiter = request.app.state.auth_failures
    source = client_key(request.client.host if request.client else None)
    wait_s = limiter.retry_after(source)
    if wait_s is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed logins from this address; try again later",
            headers={"Retry-After": str(wait_s)},
        )
    if credentials is None:  # not a guess: the dashboard's first call, a probe; not counted
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    store: TokenStore = request.app.state.tokens
    principal = store.authenticate(credentials.credentials)
    if principal is None:
        limiter.record(source)
        log.warning("refused an API token from %s", source)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid, expired or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal  # for the access log (api/app.py)
    return principal


SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[Registry, Depends(_registry)]
HistoryDep = Annotated[RegistryHistory, Depends(_history)]
InfluxDep = Annotated[AsyncInfluxClient, Depends(_influx)]
GrantLogDep = Annotated[GrantLog, Depends(_grant_log)]
CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def _partner_id(
    partner_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")],
    principal: CurrentPrincipal,
    registry: RegistryDep,
) -> str:
    if not principal.may_see(partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not see that partner")
    if registry.partner(partner_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no partner {partner_id!r}")
    return partner_id


PartnerId = Annotated[str, Depends(_partner_id)]


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """A device the caller may read: its own, any (operator), or one shared with it."""

    partner: str
    device: str
    shared: bool


def _readable_device(
    partner_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="Partner id (slug)")],
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="Device id")],
    principal: CurrentPrincipal,
    registry: RegistryDep,
    grants: GrantLogDep,
) -> DeviceRef:
    if principal.may_see(partner_id):
        if registry.partner(partner_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no partner {partner_id!r}")
        return DeviceRef(partner_id, device_id, shared=False)
    reader = principal.partner
    try:
        shared = reader is not None and may_read(
            grants.active(), registry, reader, partner_id, device_id
        )
    except GrantLogError as exc:
        # Fail closed: an unreadable log could hide a revocation.
        log.error("grant log unreadable, refusing shared access: %s", exc)
        shared = False
    if not shared:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "this token may not see that partner or device"
        )
    return DeviceRef(partner_id, device_id, shared=True)


ReadableDevice = Annotated[DeviceRef, Depends(_readable_device)]
