"""`mainport registry apply|export`, `partner|device|port|maintenance add|set|retire|list` and
`mainport audit`: the registry in the control-plane database, changed from the shell.

Every change is audited as `cli:<OS user>`. Refusals print one line naming the field and the
reason (exit 1); a file's errors name file, line and field. When the partners file is the source
of truth (MAINPORT_PARTNERS_FILE set explicitly) entity changes are refused: edit the file and
`mainport registry apply` it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import Engine

from controlplane.registry_diff import Change, Diff
from controlplane.registry_errors import RegistryChangeError, refuse_in_file_mode
from core.settings import Settings
from mainport.cli_access import device_app
from mainport.cli_common import JsonOption, fail, load_settings, print_rows

registry_app = typer.Typer(help="The registry whole: apply a file, export.", no_args_is_help=True)
partner_app = typer.Typer(help="Partners of the network.", no_args_is_help=True)
port_app = typer.Typer(help="Fibre ports (switch/port) and whose they are.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Planned maintenance windows.", no_args_is_help=True)

T = TypeVar("T")

EffectiveOption = Annotated[
    str | None,
    typer.Option(
        "--effective",
        help="When the change takes effect: an RFC 3339 time (past or future) or now (default)",
    ),
]


def parse_time(text: str | None, what: str = "--effective") -> datetime | None:
    if text is None or text == "now":
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{what} {text!r}: not an RFC 3339 time (e.g. 2026-12-01T00:00:00Z)") from None
    if value.tzinfo is None:
        raise fail(f"{what} {text!r}: give a time zone (e.g. Z)")
    return value.astimezone(UTC)


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    from controlplane.db import open_database, safe_url

    try:
        engine = open_database(settings.database)
    except Exception as exc:  # a database that does not answer: say which, not a trace
        raise fail(f"control-plane database {safe_url(settings.database)}: {exc}") from None
    try:
        yield engine
    finally:
        engine.dispose()


def _change(what: str, act: Callable[[Engine, str], T]) -> T:
    """Run one entity change as the CLI user; refusals as one line."""
    from controlplane.audit import cli_actor

    settings = load_settings()
    try:
        refuse_in_file_mode(settings.registry_source, what)
        with _database(settings) as engine:
            return act(engine, cli_actor())
    except RegistryChangeError as exc:
        raise fail(str(exc)) from None


def _report(changes: list[Change]) -> None:
    if not changes:
        typer.echo("nothing to change", err=True)
    for change in changes:
        typer.echo(change.line(), err=True)


def _fields(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _print_diff(changes: Diff, applied: bool) -> None:
    for line in changes.lines():
        typer.echo(line)
    verb = "applied" if applied else "would apply"
    typer.echo(f"{verb}: {changes.summary()}", err=True)


@registry_app.command("apply")
def registry_apply(
    file: Annotated[Path, typer.Argument(help="A registry file (the form of partners.yaml)")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the difference, change nothing")
    ] = False,
) -> None:
    """Make the registry say what FILE says: prints what is added (+), changed (~) and retired
    (-, what the file leaves out), then applies it in one transaction. Running it again changes
    nothing. Also the compose init step (it migrates the database first)."""
    from controlplane.audit import cli_actor
    from controlplane.registry_store import apply
    from domain.registry import RegistryError, load_registry
    from domain.yaml_model import line_at

    settings = load_settings()
    try:
        registry = load_registry(file)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    with _database(settings) as engine:
        try:
            changes = apply(
                engine, registry, actor=cli_actor(), at=datetime.now(UTC), dry_run=dry_run
            )
        except RegistryChangeError as exc:
            line = line_at(file.read_text(encoding="utf-8"), exc.loc) if exc.loc else None
            where = f"{file}:{line}" if line else str(file)
            raise fail(f"{where}: {exc.field or '(file)'}: {exc.reason}") from None
    _print_diff(changes, applied=not dry_run)


@registry_app.command("export")
def registry_export(
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
) -> None:
    """The registry in force now, in the form of partners.yaml (no secrets)."""
    from controlplane.registry_store import export
    from domain.registry_yaml import dump_registry

    with _database(load_settings()) as engine:
        text = dump_registry(export(engine))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


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

    fields = _fields(
        id=partner,
        name=name,
        sla_target_pct=sla_target_pct,
        device_quota=device_quota,
        retention_days=retention_days,
    )
    _report(_change(f"partner {partner}", lambda e, a: add_partner(e, fields, actor=a)))


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

    fields = _fields(
        name=name,
        sla_target_pct=sla_target_pct,
        device_quota=device_quota,
        retention_days=retention_days,
    )
    _report(_change(f"partner {partner}", lambda e, a: set_partner(e, partner, fields, actor=a)))


@partner_app.command("retire")
def partner_retire(partner: Annotated[str, typer.Argument(help="Partner id")]) -> None:
    """Retire a partner now, with its devices, ports and maintenance windows. History stays;
    its id is never given to another partner."""
    from controlplane.registry_ops import retire_partner

    _report(_change(f"partner {partner}", lambda e, a: retire_partner(e, partner, actor=a)))


@partner_app.command("list")
def partner_list(as_json: JsonOption = False) -> None:
    """Partners in force, with their device quota and SLA target."""
    from controlplane.registry_queries import state_now

    with _database(load_settings()) as engine:
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

    fields = _fields(id=device, kind=kind, interval_s=interval_s, port=port, switch=switch)
    _report(
        _change(f"device {partner}/{device}", lambda e, a: add_device(e, partner, fields, actor=a))
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
    fields = _fields(kind=kind, interval_s=interval_s, port=port, switch=switch)
    _report(
        _change(
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
    _report(
        _change(
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
    with _database(load_settings()) as engine:
        rows = device_page(
            engine, partner=partner, after=cursor, limit=limit, include_retired=retired
        )
    print_rows([_plain(r.as_dict()) for r in rows], as_json)


def _plain(row: dict[str, Any]) -> dict[str, object]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


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

    fields = _fields(
        switch=switch,
        port=port,
        partner=partner,
        capacity_mbps=capacity_mbps,
        interval_s=interval_s,
    )
    _report(_change(f"port {switch}/{port}", lambda e, a: add_port(e, fields, actor=a)))


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
    fields = _fields(partner=partner, capacity_mbps=capacity_mbps, interval_s=interval_s)
    _report(
        _change(
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
    _report(
        _change(
            f"port {switch}/{port}",
            lambda e, a: retire_port(e, switch, port, actor=a, effective=at),
        )
    )


@port_app.command("list")
def port_list(as_json: JsonOption = False) -> None:
    """Ports in force and whose they are."""
    from controlplane.registry_queries import state_now

    with _database(load_settings()) as engine:
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
    window_id = _change("maintenance", lambda e, a: add_maintenance(e, fields, actor=a))
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

    fields = _fields(partner=partner, start=start, end=end, reason=reason)
    _report(
        _change(f"maintenance {window}", lambda e, a: set_maintenance(e, window, fields, actor=a))
    )


@maintenance_app.command("retire")
def maintenance_retire(window: Annotated[int, typer.Argument(help="Window id")]) -> None:
    """Cancel a window: its time counts in figures again."""
    from controlplane.registry_network_ops import retire_maintenance

    _report(_change(f"maintenance {window}", lambda e, a: retire_maintenance(e, window, actor=a)))


@maintenance_app.command("list")
def maintenance_list(
    cancelled: Annotated[bool, typer.Option("--cancelled", help="Cancelled ones too")] = False,
    as_json: JsonOption = False,
) -> None:
    """Planned windows, in start order."""
    from controlplane.registry_queries import window_rows

    with _database(load_settings()) as engine:
        rows = window_rows(engine, include_cancelled=cancelled)
    print_rows([_plain(r) for r in rows], as_json)


def audit(
    partner: Annotated[str | None, typer.Option(help="Only this partner's entities")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Registry changes, newest first: who, when, what, before and after."""
    from controlplane import audit as audit_log

    with _database(load_settings()) as engine, engine.connect() as conn:
        logged = audit_log.entries(conn, partner=partner, limit=limit)
    rows: list[dict[str, object]] = [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "entity": e.entity,
            "entity_id": e.entity_id,
            "before": json.dumps(e.before, sort_keys=True) if e.before is not None else None,
            "after": json.dumps(e.after, sort_keys=True) if e.after is not None else None,
        }
        for e in logged
    ]
    print_rows(rows, as_json)
