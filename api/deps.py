"""Typed dependencies: the app's clients from `app.state`, and who is asking.

Scopes are enforced here, once: routes under /partners/{partner_id} take `PartnerId`, which
validates the id against its pattern before it reaches a query and answers 403 for a partner
token asking about someone else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.tokens import Principal, TokenStore
from domain.registry import SLUG_PATTERN, Registry
from stack.influx import AsyncInfluxClient
from stack.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An operator or partner API token")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _influx(request: Request) -> AsyncInfluxClient:
    client: AsyncInfluxClient = request.app.state.influx
    return client


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    store: TokenStore = request.app.state.tokens
    principal = store.authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[Registry, Depends(_registry)]
InfluxDep = Annotated[AsyncInfluxClient, Depends(_influx)]
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
