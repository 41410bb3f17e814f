"""`mainport`: the CLI of SPEC. Secrets go alone to stdout, everything else to stderr."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mainport.cli_access import credentials_app, device_app, grant_app, token_app
from mainport.cli_alerts import alert, alerts_app
from mainport.cli_common import (
    fail,
    load_partners,
    load_settings,
    setup_logging,
    sync_broker_or_fail,
)
from mainport.cli_data import export
from mainport.cli_entities import maintenance_app, partner_app, port_app
from mainport.cli_erase import erase_app
from mainport.cli_registry import audit, registry_app

app = typer.Typer(
    help="Mainport: telemetry platform for open fibre networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(credentials_app, name="credentials")
app.add_typer(token_app, name="token")
app.add_typer(grant_app, name="grant")
app.add_typer(device_app, name="device")
app.add_typer(alerts_app, name="alerts")
app.command()(alert)
app.command()(export)
app.add_typer(registry_app, name="registry")
app.add_typer(partner_app, name="partner")
app.add_typer(port_app, name="port")
app.add_typer(maintenance_app, name="maintenance")
app.command()(audit)
app.add_typer(erase_app, name="erase")  # issue 17


@app.command()
def up(
    simulate: Annotated[bool, typer.Option(help="Also run the simulators")] = False,
    scenario: Annotated[Path | None, typer.Option(help="Scenario for --simulate")] = None,
    history: Annotated[
        str,
        typer.Option(
            help="With --simulate, on a data dir without data: first backfill this much of "
            "the scenario's past, faults and a maintenance window included (at least 2h)"
        ),
    ] = "7d",
    no_history: Annotated[
        bool, typer.Option("--no-history", help="With --simulate: go live without a past")
    ] = False,
) -> None:
    """Run broker, InfluxDB, ingest and API (and simulators) in the foreground."""
    from mainport.demo_history import MIN_HISTORY_S
    from mainport.preparation import StackError
    from mainport.up import Stack
    from simulators.scenario import parse_duration

    settings = load_settings()
    registry = load_partners(settings, seed=False)  # the stack seeds (mainport/up.py)
    try:
        history_s = parse_duration(history)
    except ValueError as exc:
        raise fail(f"--history: {exc}") from None
    if history_s < MIN_HISTORY_S:
        raise fail(f"--history must be at least {MIN_HISTORY_S // 3600}h, not {history!r}")
    try:
        code = Stack(
            settings,
            registry,
            simulate=simulate,
            scenario=scenario,
            history_s=None if no_history else history_s,
        ).run()
    except StackError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command("influx-setup")
def influx_setup() -> None:
    """InfluxDB's database, retention policies and users (admin, writer, deriver, reader),
    as its admin; for compose and hosts where Mainport does not start InfluxDB itself.
    Passwords from MAINPORT_INFLUX_{ADMIN,WRITER,DERIVER,READER}_PASSWORD (all four), else
    the local stack's generated logins. Safe to run again."""
    from core.influx_logins import ensure_logins
    from mainport.preparation import setup_influx
    from timeseries.client import StoreError

    settings = load_settings()
    logins = settings.influx_users() or ensure_logins(settings.influx_logins_file)
    try:
        setup_influx(settings, logins)
    except StoreError as exc:
        raise fail(f"InfluxDB at {settings.influx_url}: {exc}") from None
    names = ", ".join(f"{role} {user.username!r}" for role, user in logins.items())
    typer.echo(
        f"InfluxDB {settings.influx_url} ready: database {settings.influx_db!r}; {names}", err=True
    )


@app.command()
def ingest() -> None:
    """Run one ingest process (several share the load through the shared subscription)."""
    from ingest.service import run_ingest

    setup_logging()
    settings = load_settings()
    load_partners(settings)
    raise typer.Exit(run_ingest(settings, settings.ingest_metrics_port))


@app.command("retain-guard")
def retain_guard() -> None:
    """Keep each partner's retained messages on the broker within its budget."""
    import logging

    from core.processes import stop_on_signals
    from ingest.retained import run_retain_guard

    setup_logging()
    settings = load_settings()
    stop = stop_on_signals(logging.getLogger("mainport.retain-guard"))
    raise typer.Exit(run_retain_guard(settings, stop))


@app.command()
def derive(
    rebuild: Annotated[
        bool,
        typer.Option(
            help="First derive everything again from raw data: after lowering a device's "
            "interval or the grace factor, or when the deriver was down longer than markers "
            "are kept (7 days)."
        ),
    ] = False,
) -> None:
    """Keep the derived records (uptime spans, traffic buckets, hourly counts) up to date."""
    from derive.service import run_deriver

    setup_logging()
    settings = load_settings()
    load_partners(settings)
    raise typer.Exit(run_deriver(settings, rebuild=rebuild))


@app.command()
def api() -> None:
    """Serve the HTTP API and the dashboard."""
    import uvicorn

    from api.app import create_app

    setup_logging()
    settings = load_settings()
    load_partners(settings)  # a bad partners file: one clear line, before uvicorn starts
    uvicorn.run(
        create_app(settings),  # the live registry (controlplane/live.py)
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
    )


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (simulators/scenarios/)")],
    speed: Annotated[
        str | None, typer.Option(help="Simulated seconds per second (1, 60, …) or max (backfill)")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="now, an RFC 3339 time, or an offset such as -30d")
    ] = None,
    duration: Annotated[str | None, typer.Option(help="How much time to simulate: 2h, 30d")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for every random choice")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="No broker: write the messages to --out")
    ] = False,
    out: Annotated[
        str | None, typer.Option(help="Feed file for --dry-run (gzip JSON lines; - for stdout)")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Write the ground truth (JSON) of the run here")
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, max=1000, help="Samples per SenML message (fast backfill)")
    ] = 1,
    max_rate: Annotated[
        float | None, typer.Option(min=1, help="At most this many messages per second")
    ] = None,
    client_prefix: Annotated[str, typer.Option(help="MQTT client id prefix")] = "sim",
    credentials_file: Annotated[
        Path | None, typer.Option(help="JSON: scope → username/password pair (else the env)")
    ] = None,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up",
            help="Real time with a --start in the past: publish what lies before now as fast "
            "as a backfill, then go on in real time",
        ),
    ] = False,
) -> None:
    """Simulate the devices and fibre ports of a scenario against the broker (or a dry run).

    Credentials come from MAINPORT_SIM_CREDENTIALS: JSON of partner id (and _network) to a
    username/password pair. Exit code 2 when the run had errors."""
    from simulators.commands import CommandError, parse_speed, run_simulate

    setup_logging()
    settings = load_settings()
    try:
        code = run_simulate(
            scenario,
            registry=load_partners(settings),
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            root=settings.mqtt_root,
            grace_factor=settings.grace_factor,
            overrides={
                "speed": parse_speed(speed),
                "start": start,
                "duration": duration,
                "seed": seed,
            },
            dry=dry_run,
            out=out,
            truth_path=truth,
            batch=batch,
            max_rate=max_rate,
            client_prefix=client_prefix,
            credentials_file=credentials_file,
            credentials_env=os.environ.get("MAINPORT_SIM_CREDENTIALS"),
            catch_up=catch_up,
        )
    except CommandError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def collect(
    once: Annotated[
        bool, typer.Option("--once", help="Poll one switch once and print what it read")
    ] = False,
    switch: Annotated[str | None, typer.Option(help="Only this switch (registry id)")] = None,
) -> None:
    """The SNMP collector: switch port counters → MQTT (`_network` login), per SPEC."""
    from collector.commands import CollectError, run_collect

    setup_logging()
    settings = load_settings()
    try:
        code = run_collect(settings, load_partners(settings), once=once, switch=switch)
    except CollectError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def provision() -> None:
    """Write the broker's password and ACL files from the partners file, the issued logins and
    the active grants, and reload a running broker."""
    settings = load_settings()
    registry = load_partners(settings)
    reloaded = sync_broker_or_fail(settings, registry)
    typer.echo(
        f"wrote {settings.broker_dir}/passwd and acl" + ("; broker reloaded" if reloaded else ""),
        err=True,
    )


@app.command("dead-letters")
def dead_letters(
    partner: Annotated[str | None, typer.Option(help="Only this partner's")] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only this reason (e.g. malformed_json)")
    ] = None,
    since: Annotated[str, typer.Option(help="30m, 24h, 7d, or an RFC 3339 time")] = "24h",
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many")] = 50,
    local: Annotated[
        bool, typer.Option("--local", help="Read this data dir's files, not InfluxDB")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    counts: Annotated[
        bool, typer.Option("--counts", help="Counts per partner and reason instead")
    ] = False,
) -> None:
    """Show rejected messages and refused points (the dead-letter store), newest first."""
    from ingest.dead_letter_view import parse_since, show

    settings = load_settings()
    try:
        since_ns = parse_since(since)
    except ValueError as exc:
        raise fail(str(exc)) from None
    show(
        settings,
        partner=partner,
        reason=reason,
        since_ns=since_ns,
        limit=limit,
        local=local,
        as_json=as_json,
        counts=counts,
    )


@app.command()
def record(
    out: Annotated[Path, typer.Option(help="Feed file to write (gzip JSON lines)")],
    topic: Annotated[
        str | None, typer.Option(help="Topic filter (default: everything under the root)")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many messages")] = None,
) -> None:
    """Capture the broker's traffic under the topic root into a feed file, until Ctrl-C.

    Logs in as MAINPORT_MQTT_USERNAME (default _ingest) with MAINPORT_MQTT_PASSWORD."""
    from simulators.commands import CommandError, run_record

    settings = load_settings()
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    try:
        code = run_record(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            username=settings.mqtt_username,
            password=password,
            out=out,
            topic=topic or f"{settings.mqtt_root}/#",
            duration_s=duration,
            count=count,
        )
    except CommandError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Feed file from `record` or `simulate --dry-run`")],
    speed: Annotated[
        str, typer.Option(help="Original spacing divided by this (1, 60, …), or max")
    ] = "1",
    rebase_time: Annotated[
        bool, typer.Option("--rebase-time", help="Shift payload timestamps to start now")
    ] = False,
    strict_order: Annotated[
        bool, typer.Option("--strict-order", help="Keep the global order across partners too")
    ] = False,
    window: Annotated[
        int, typer.Option(min=1, max=1000, help="QoS 1 messages in flight per connection")
    ] = 64,
    credentials_file: Annotated[
        Path | None, typer.Option(help="JSON: scope → username/password pair (else the env)")
    ] = None,
) -> None:
    """Publish a feed again with its original spacing scaled; damaged lines are reported and
    skipped. Credentials as for `simulate`. Exit code 2 when anything failed."""
    from simulators.commands import CommandError, parse_speed, run_replay

    settings = load_settings()
    try:
        parsed = parse_speed(speed)
        code = run_replay(
            file,
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            speed=None if parsed == "max" else float(parsed or 1),
            rebase=rebase_time,
            strict_order=strict_order,
            window=window,
            credentials_file=credentials_file,
            credentials_env=os.environ.get("MAINPORT_SIM_CREDENTIALS"),
        )
    except CommandError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)
