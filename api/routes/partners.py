"""Partners and their devices."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentPrincipal, InfluxDep, PartnerId, RegistryDep, SettingsDep
from api.devices import partner_devices
from api.models import DeviceStatus, PartnerSummary

router = APIRouter(prefix="/api/v1/partners", tags=["partners"])


@router.get("", response_model=list[PartnerSummary])
async def list_partners(
    principal: CurrentPrincipal, influx: InfluxDep, registry: RegistryDep, settings: SettingsDep
) -> list[PartnerSummary]:
    """All partners for the operator; a partner token sees its own entry only."""
    scope = None if principal.is_operator else principal.partner
    views = await partner_devices(influx, registry, scope, settings.grace_factor)
    return [
        PartnerSummary(
            id=p.id,
            name=p.name,
            devices=len(views[p.id]),
            devices_online=sum(v.state == "online" for v in views[p.id]),
            ports=len(p.ports),
        )
        for p in registry.partners
        if p.id in views
    ]


@router.get("/{partner_id}/devices", response_model=list[DeviceStatus])
async def list_devices(
    partner_id: PartnerId, influx: InfluxDep, registry: RegistryDep, settings: SettingsDep
) -> list[DeviceStatus]:
    views = await partner_devices(influx, registry, partner_id, settings.grace_factor)
    return [
        DeviceStatus(id=v.id, kind=v.kind, status=v.state, last_seen=v.last_seen)
        for v in views[partner_id]
    ]
