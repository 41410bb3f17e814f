"""`mainport partner|device|port|maintenance add|set|retire|list`: the registry's entities
changed one at a time from the shell, each audited as `cli:<OS user>`, refused (exit 1, one
line naming the field) when a rule is broken or when the partners file is the source of truth.
Shared helpers and `registry apply|export`, `audit`: mainport/cli_registry.py."""

from __future__ import annotations

from typing import Annotated

import typer

from mainport.cli_access import device_app
from mainport.cli_common import JsonOption, load_settings, print_rows
from mainport.cli_registry import (
    EffectiveOption,
    given,
    open_control_plane,
    parse_time,
    plain,
    report,
    run_change,
)

partner_app = typer.Typer(help="Partners of the network.", no_args_is_help=True)
port_app = typer.Typer(help="Fibre ports (switch/port) and whose they are.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Planned maintenance windows.", no_args_is_help=True)


# Partners.
@partner_app.command("add")
def partner_add(
    partner: Annotated[str, typer.Argument(help="Partner id (slug)")],
    name: Annotated[str, typer.Option(help="Display name")],
    sla_target_pct: Annotated[float | None, typer.Option(help="Uptime SLA target, %")] = None,
    device_quota: Annotated[
        int | None, typer.Option(help="Devices it may register itself (self-service)")
    ] = None,
    retention_days: Annotated[int | None, typer.Option(help="Raw data kept this long")] = None,
) -> None:
    """Add a partner (its ports and devices: `mainport port add`, `mainport device add`)."""
    from controlplane.registry_ops import add_partner

    fields = given(
        id=partner,
        name=name,
        sla_target_pct=sla_target_pct,
        device_quota=device_quota,
        retention_days=retention_days,
    )
    report(run_change(f"partner {partner}", lambda e, a: add_partner(e, fields, actor=a)))


@partner_app.command("set")
def partner_set(
    partner: Annotated[str, typer.Argument(help="Partner id")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    sla_target_pct: Annotated[float | None, typer.Option(help="Uptime SLA target, %")] = None,
    device_quota: Annotated[int | None, typer.Option(help="Self-service device quota")] = None,
    retention_days: Annotated[int | None, typer.Option(help="Raw data kept this long")] = None,
) -> None:
    """Change a partner's name, SLA target, device quota or retention (in force now)."""
    from controlplane.registry_ops import set_partner

    fields = given(
        name=name,
        sla_target_pct=sla_target_pct,
        device_quota=device_quota,
        retention_days=retention_days,
    )
    report(run_change(f"partner {partner}", lambda e, a: set_partner(e, partner, fields, actor=a)))


@partner_app.command("retire")
def partner_retire(partner: Annotated[str, typer.Argument(help="Partner id")]) -> None:
    """Retire a partner now, with its devices, ports and maintenance windows. History stays;
    its id is never given to another partner."""
    from controlplane.registry_ops import retire_partner

    report(run_change(f"partner {partner}", lambda e, a: retire_partner(e, partner, actor=a)))


@partner_app.command("list")
def partner_list(as_json: JsonOption = False) -> None:
    """Partners in force, with their device quota and SLA target."""
    from controlplane.registry_queries import state_now

    with open_control_plane(load_settings()) as engine:
        state = state_now(engine)
    rows: list[dict[str, object]] = [
        {
            "id": p["id"],
            "name": p["name"],
            "ports": sum(1 for f in state.ports.values() if f["partner"] == p["id"]),
            "sla_target_pct": p["sla_target_pct"],
            "device_quota": p["device_quota"],
        }
        for p in sorted(state.partners.values(), key=lambda p: str(p["id"]))
    ]
    print_rows(rows, as_json)


# Devices (the `device` group also holds `device login`, mainport/cli_access.py).
@device_app.command("add")
def device_add(
    partner: Annotated[str, typer.Argument(help="Partner id")],
    device: Annotated[str, typer.Argument(help="Device id")],
    kind: Annotated[str, typer.Option(help="What it measures (free text)")] = "generic",
    interval_s: Annotated[
        int, typer.Option("--interval", "--interval-s", help="Expected reporting interval, s")
    ] = 60,
    port: Annotated[str | None, typer.Option(help="The partner's port it sits behind")] = None,
    switch: Annotated[str | None, typer.Option(help="The port's switch, if ambiguous")] = None,
) -> None:
    """Register a device; the running platform accepts its messages within seconds."""
    from controlplane.registry_ops import add_device

    fields = given(id=device, kind=kind, interval_s=interval_s, port=port, switch=switch)
    report(
        run_change(
            f"device {partner}/{device}", lambda e, a: add_device(e, partner, fields, actor=a)
        )
    )


@device_app.command("set")
def device_set(
    partner: Annotated[str, typer.Argument(help="Partner id")],
    device: Annotated[str, typer.Argument(help="Device id")],
    kind: Annotated[str | None, typer.Option(help="What it measures")] = None,
    interval_s: Annotated[int | None, typer.Option(help="Expected reporting interval, s")] = None,
    port: Annotated[
        str | None, typer.Option(help="Move it behind this port of its partner")
    ] = None,
    switch: Annotated[str | None, typer.Option(help="The port's switch, if ambiguous")] = None,
    effective: EffectiveOption = None,
) -> None:
    """Change a device: interval_s, port and switch from --effective (figures before it keep
    the old values); kind at once."""
    from controlplane.registry_ops import set_device

    at = parse_time(effective)
    fields = given(kind=kind, interval_s=interval_s, port=port, switch=switch)
    report(
        run_change(
            f"device {partner}/{device}",
            lambda e, a: set_device(e, partner, device, fields, actor=a, effective=at),
        )
    )


@device_app.command("retire")
def device_retire(
    partner: Annotated[str, typer.Argument(help="Partner id")],
    device: Annotated[str, typer.Argument(help="Device id")],
    effective: EffectiveOption = None,
) -> None:
    """Retire a device from --effective: its later messages are rejected (retired_device), its
    history stays, its id is never reused."""
    from controlplane.registry_ops import retire_device

    at = parse_time(effective)
    report(
        run_change(
            f"device {partner}/{device}",
            lambda e, a: retire_device(e, partner, device, actor=a, effective=at),
        )
    )


@device_app.command("list")
def device_list(
    partner: Annotated[str | None, typer.Option(help="Only this partner's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many")] = 1000,
    after: Annotated[
        str | None, typer.Option(help="Start after PARTNER/DEVICE (the next page)")
    ] = None,
    retired: Annotated[bool, typer.Option("--retired", help="Retired ones too")] = False,
    as_json: JsonOption = False,
) -> None:
    """Registered devices in (partner, id) order, with the terms in force now."""
    from controlplane.registry_queries import device_page

    cursor = None
    if after is not None:
        p, _, d = after.partition("/")
        cursor = (p, d)
    with open_control_plane(load_settings()) as engine:
        rows = device_page(
            engine, partner=partner, after=cursor, limit=limit, include_retired=retired
        )
    print_rows([plain(r.as_dict()) for r in rows], as_json)


# Ports.
@port_app.command("add")
def port_add(
    switch: Annotated[str, typer.Argument(help="Switch id")],
    port: Annotated[str, typer.Argument(help="Port name (slug, no '/')")],
    partner: Annotated[str, typer.Option(help="Whose port it is")],
    capacity_mbps: Annotated[float, typer.Option(help="Contracted capacity, Mbit/s")],
    interval_s: Annotated[int, typer.Option(help="Counter reporting interval, s")] = 60,
) -> None:
    """Add a fibre port and give it to a partner."""
    from controlplane.registry_network_ops import add_port

    fields = given(
        switch=switch,
        port=port,
        partner=partner,
        capacity_mbps=capacity_mbps,
        interval_s=interval_s,
    )
    report(run_change(f"port {switch}/{port}", lambda e, a: add_port(e, fields, actor=a)))


@port_app.command("set")
def port_set(
    switch: Annotated[str, typer.Argument(help="Switch id")],
    port: Annotated[str, typer.Argument(help="Port name")],
    partner: Annotated[str | None, typer.Option(help="Reassign it to this partner")] = None,
    capacity_mbps: Annotated[float | None, typer.Option(help="Capacity, Mbit/s")] = None,
    interval_s: Annotated[int | None, typer.Option(help="Counter interval, s")] = None,
    effective: EffectiveOption = None,
) -> None:
    """Reassign a port or change its capacity from --effective: reports for windows before it
    keep the old partner and capacity."""
    from controlplane.registry_network_ops import set_port

    at = parse_time(effective)
    fields = given(partner=partner, capacity_mbps=capacity_mbps, interval_s=interval_s)
    report(
        run_change(
            f"port {switch}/{port}",
            lambda e, a: set_port(e, switch, port, fields, actor=a, effective=at),
        )
    )


@port_app.command("retire")
def port_retire(
    switch: Annotated[str, typer.Argument(help="Switch id")],
    port: Annotated[str, typer.Argument(help="Port name")],
    effective: EffectiveOption = None,
) -> None:
    """Retire a port from --effective (move or retire the devices behind it first)."""
    from controlplane.registry_network_ops import retire_port

    at = parse_time(effective)
    report(
        run_change(
            f"port {switch}/{port}",
            lambda e, a: retire_port(e, switch, port, actor=a, effective=at),
        )
    )


@port_app.command("list")
def port_list(as_json: JsonOption = False) -> None:
    """Ports in force and whose they are."""
    from controlplane.registry_queries import state_now

    with open_control_plane(load_settings()) as engine:
        state = state_now(engine)
    rows: list[dict[str, object]] = [
        {"switch": k[0], "port": k[1], **f} for k, f in sorted(state.ports.items())
    ]
    print_rows(rows, as_json)


# Maintenance windows.
@maintenance_app.command("add")
def maintenance_add(
    partner: Annotated[str, typer.Option(help="Partner id, or * for the whole network")],
    start: Annotated[str, typer.Option(help="RFC 3339 start")],
    end: Annotated[str, typer.Option(help="RFC 3339 end")],
    reason: Annotated[str, typer.Option(help="Why (shown with the figures)")] = "",
) -> None:
    """Plan a maintenance window: its time is left out of SLA figures. Prints its id."""
    from controlplane.registry_network_ops import add_maintenance

    fields = {"partner": partner, "start": start, "end": end, "reason": reason}
    window_id = run_change("maintenance", lambda e, a: add_maintenance(e, fields, actor=a))
    typer.echo(f"planned maintenance window {window_id}", err=True)
    typer.echo(window_id)


@maintenance_app.command("set")
def maintenance_set(
    window: Annotated[int, typer.Argument(help="Window id (`mainport maintenance list`)")],
    partner: Annotated[str | None, typer.Option(help="Partner id or *")] = None,
    start: Annotated[str | None, typer.Option(help="RFC 3339 start")] = None,
    end: Annotated[str | None, typer.Option(help="RFC 3339 end")] = None,
    reason: Annotated[str | None, typer.Option(help="Why")] = None,
) -> None:
    """Move or re-describe a planned window."""
    from controlplane.registry_network_ops import set_maintenance

    fields = given(partner=partner, start=start, end=end, reason=reason)
    report(
        run_change(
            f"maintenance {window}", lambda e, a: set_maintenance(e, window, fields, actor=a)
        )
    )


@maintenance_app.command("retire")
def maintenance_retire(window: Annotated[int, typer.Argument(help="Window id")]) -> None:
    """Cancel a window: its time counts in figures again."""
    from controlplane.registry_network_ops import retire_maintenance

    report(run_change(f"maintenance {window}", lambda e, a: retire_maintenance(e, window, actor=a)))


@maintenance_app.command("list")
def maintenance_list(
    cancelled: Annotated[bool, typer.Option("--cancelled", help="Cancelled ones too")] = False,
    as_json: JsonOption = False,
) -> None:
    """Planned windows, in start order."""
    from controlplane.registry_queries import window_rows

    with open_control_plane(load_settings()) as engine:
        rows = window_rows(engine, include_cancelled=cancelled)
    print_rows([plain(r) for r in rows], as_json)
