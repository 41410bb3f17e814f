"""Registry writes of the network side: fibre ports (add, reassign, change capacity, retire)
and maintenance windows (plan, move, cancel). The operator's only; partner tokens may read their
own ports and the windows that concern them. Answers as in api/routes/registry.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status

from api.deps import CurrentPrincipal, SettingsDep
from api.registry_models import (
    Changed,
    MaintenanceIn,
    MaintenanceOut,
    MaintenancePatch,
    PortIn,
    PortOut,
    PortPatch,
)
from api.routes.registry import (
    EffectiveQuery,
    OperatorPrincipal,
    change,
    changed,
    engine_of,
    patch_fields,
)
from controlplane import registry_network_ops as ops
from controlplane import registry_queries as queries
from domain.registry import SLUG_PATTERN

router = APIRouter(prefix="/api/v1", tags=["registry"])

SwitchPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="Switch id")]
PortPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="Port name")]
WindowPath = Annotated[int, Path(ge=1, description="Maintenance window id")]


@router.get("/ports", response_model=list[PortOut])
def list_ports(request: Request, principal: CurrentPrincipal) -> list[PortOut]:
    """Ports in force and whose they are (a partner token: its own)."""
    state = queries.state_now(engine_of(request))
    return [
        PortOut(switch=k[0], port=k[1], **f)
        for k, f in sorted(state.ports.items())
        if principal.may_see(str(f["partner"]))
    ]


@router.post("/ports", response_model=PortOut, status_code=201)
def add_port(
    body: PortIn, request: Request, principal: OperatorPrincipal, settings: SettingsDep
) -> PortOut:
    fields = body.model_dump()
    change(
        request,
        settings,
        f"port {body.switch}/{body.port}",
        lambda: ops.add_port(engine_of(request), fields, actor=principal.actor),
    )
    return PortOut.model_validate(fields)


@router.patch("/ports/{switch}/{port}", response_model=Changed)
def set_port(
    switch: SwitchPath,
    port: PortPath,
    body: PortPatch,
    request: Request,
    principal: OperatorPrincipal,
    settings: SettingsDep,
) -> Changed:
    """Reassign a port (`partner`) or change its capacity from `effective_from`: reports for
    earlier windows keep the old partner and capacity."""
    fields = patch_fields(body)
    return changed(
        change(
            request,
            settings,
            f"port {switch}/{port}",
            lambda: ops.set_port(
                engine_of(request),
                switch,
                port,
                fields,
                actor=principal.actor,
                effective=body.effective_from,
            ),
        )
    )


@router.delete("/ports/{switch}/{port}", response_model=Changed)
def retire_port(
    switch: SwitchPath,
    port: PortPath,
    request: Request,
    principal: OperatorPrincipal,
    settings: SettingsDep,
    effective_from: EffectiveQuery = None,
) -> Changed:
    return changed(
        change(
            request,
            settings,
            f"port {switch}/{port}",
            lambda: ops.retire_port(
                engine_of(request),
                switch,
                port,
                actor=principal.actor,
                effective=effective_from,
            ),
        )
    )


@router.get("/maintenance", response_model=list[MaintenanceOut])
def list_maintenance(request: Request, principal: CurrentPrincipal) -> list[MaintenanceOut]:
    """Planned windows (a partner token: its own and the network-wide ones)."""
    return [
        MaintenanceOut.model_validate(w)
        for w in queries.window_rows(engine_of(request))
        if w["partner"] == "*" or principal.may_see(str(w["partner"]))
    ]


@router.post("/maintenance", response_model=MaintenanceOut, status_code=201)
def add_maintenance(
    body: MaintenanceIn, request: Request, principal: OperatorPrincipal, settings: SettingsDep
) -> MaintenanceOut:
    """Plan a window: its time is left out of SLA figures, live from the commit on."""
    fields = body.model_dump()
    window_id = change(
        request,
        settings,
        "maintenance",
        lambda: ops.add_maintenance(engine_of(request), fields, actor=principal.actor),
    )
    return MaintenanceOut(id=window_id, **fields)


def _window(request: Request, window_id: int) -> MaintenanceOut:
    found = [w for w in queries.window_rows(engine_of(request)) if w["id"] == window_id]
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no planned maintenance window {window_id}")
    return MaintenanceOut.model_validate(found[0])


@router.patch("/maintenance/{window_id}", response_model=MaintenanceOut)
def set_maintenance(
    window_id: WindowPath,
    body: MaintenancePatch,
    request: Request,
    principal: OperatorPrincipal,
    settings: SettingsDep,
) -> MaintenanceOut:
    fields = patch_fields(body)
    change(
        request,
        settings,
        f"maintenance {window_id}",
        lambda: ops.set_maintenance(engine_of(request), window_id, fields, actor=principal.actor),
    )
    return _window(request, window_id)


@router.delete("/maintenance/{window_id}", response_model=Changed)
def cancel_maintenance(
    window_id: WindowPath, request: Request, principal: OperatorPrincipal, settings: SettingsDep
) -> Changed:
    """Cancel a window: its time counts in figures again."""
    return changed(
        change(
            request,
            settings,
            f"maintenance {window_id}",
            lambda: ops.retire_maintenance(engine_of(request), window_id, actor=principal.actor),
        )
    )
