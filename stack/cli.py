"""`mainport`: the CLI of SPEC. Secrets go alone to stdout, everything else to stderr."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from domain.registry import Registry, RegistryError, load_registry
from stack.settings import Settings

app = typer.Typer(
    help="Mainport: telemetry platform for open fibre networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
credentials_app = typer.Typer(help="Broker credentials (MQTT passwords).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")
app.add_typer(token_app, name="token")


def fail(message: str) -> typer.Exit:
    typer.echo(f"mainport: {message}", err=True)
    return typer.Exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MAINPORT_{'_'.join(map(str, e['loc'])).upper() or '(settings)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise fail(f"bad settings: {problems}") from None


def load_partners(settings: Settings) -> Registry:
    try:
        return load_registry(settings.partners_file)
    except RegistryError as exc:
        raise fail(str(exc)) from None


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("MAINPORT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def up(
    simulate: Annotated[bool, typer.Option(help="Also run the simulators")] = False,
    scenario: Annotated[Path | None, typer.Option(help="Scenario for --simulate")] = None,
) -> None:
    """Run broker, InfluxDB, ingest and API (and simulators) in the foreground."""
    from stack.up import Stack

    settings = load_settings()
    registry = load_partners(settings)
    from stack.up import StackError

    try:
        code = Stack(settings, registry, simulate=simulate, scenario=scenario).run()
    except StackError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def ingest() -> None:
    """Run one ingest process (several share the load through the shared subscription)."""
    from ingest.service import run_ingest

    _logging()
    settings = load_settings()
    load_partners(settings)
    raise typer.Exit(run_ingest(settings, settings.ingest_metrics_port))


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
    from ingest.deriver import run_deriver

    _logging()
    settings = load_settings()
    load_partners(settings)
    raise typer.Exit(run_deriver(settings, rebuild=rebuild))


@app.command()
def api() -> None:
    """Serve the HTTP API and the dashboard."""
    import uvicorn

    from api.app import create_app

    _logging()
    settings = load_settings()
    registry = load_partners(settings)
    uvicorn.run(
        create_app(settings, registry),
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
) -> None:
    """Simulate the devices and fibre ports of a scenario against the broker (or a dry run).

    Credentials come from MAINPORT_SIM_CREDENTIALS: JSON of partner id (and _network) to a
    username/password pair. Exit code 2 when the run had errors."""
    from simulators.commands import CommandError, parse_speed, run_simulate

    _logging()
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
        )
    except CommandError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def provision() -> None:
    """Write the broker's password and ACL files from the partners file, the issued logins and
    the active grants, and reload a running broker."""
    settings = load_settings()
    registry = load_partners(settings)
    reloaded = _sync_broker(settings, registry)
    typer.echo(
        f"wrote {settings.broker_dir}/passwd and acl" + ("; broker reloaded" if reloaded else ""),
        err=True,
    )


@credentials_app.command("issue")
def credentials_issue(
    partner: Annotated[str, typer.Argument(help="Partner id, or _network / _ingest")],
    label: Annotated[
        str | None,
        typer.Option(help="An extra login PARTNER.LABEL (e.g. one per gateway), same rights"),
    ] = None,
) -> None:
    """Create or rotate an MQTT password and print it once, alone on stdout.

    Rotating disconnects clients still logged in with the old password."""
    from stack.broker_access import AccountStore, account_username, validate_scope

    settings = load_settings()
    registry = load_partners(settings)
    try:
        validate_scope(partner, registry)
        username = account_username(partner, label)
    except ValueError as exc:
        raise fail(str(exc)) from None
    password = AccountStore(settings.credentials_file).issue(partner, label=label)
    reloaded = _sync_broker(settings, registry)
    typer.echo(
        f"issued MQTT credentials: username {username!r}"
        + ("; running broker reloaded" if reloaded else ""),
        err=True,
    )
    typer.echo(password)


@token_app.command("issue")
def token_issue(
    operator: Annotated[
        bool, typer.Option("--operator", help="A token that sees everything")
    ] = False,
    partner: Annotated[
        str | None, typer.Option("--partner", help="A token for one partner")
    ] = None,
    label: Annotated[str, typer.Option(help="A note to recognise the token by")] = "",
) -> None:
    """Create an API token and print it once, alone on stdout."""
    from api.tokens import OPERATOR, PARTNER, TokenStore

    if operator == (partner is not None):
        raise fail("give exactly one of --operator or --partner ID")
    settings = load_settings()
    if partner is not None and load_partners(settings).partner(partner) is None:
        raise fail(f"unknown partner {partner!r}: not in {settings.partners_file}")
    token = TokenStore(settings.tokens_file).issue(
        OPERATOR if operator else PARTNER, partner, label
    )
    typer.echo(f"issued {'an operator' if operator else f'a {partner}'} API token", err=True)
    typer.echo(token)


# --- Partners kept apart: logins, tokens and data-sharing grants ----------------------------

grant_app = typer.Typer(help="Data-sharing grants between partners.", no_args_is_help=True)
app.add_typer(grant_app, name="grant")

JsonOption = Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")]


def _sync_broker(settings: Settings, registry: Registry) -> bool:
    """Broker files from logins and active grants; True when a running broker was reloaded."""
    from stack.broker_access import sync_broker
    from stack.grants import GrantLogError

    try:
        return sync_broker(settings, registry)
    except GrantLogError as exc:
        raise fail(str(exc)) from None


def _print_rows(rows: list[dict[str, object]], as_json: bool) -> None:
    """Rows on stdout: JSON lines for scripts, or aligned columns for people."""
    import json

    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        typer.echo("(none)", err=True)
        return
    cells = [[str(k) for k in rows[0]]] + [
        ["-" if v is None else str(v) for v in row.values()] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    for line in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


@credentials_app.command("list")
def credentials_list(as_json: JsonOption = False) -> None:
    """Broker logins (never their passwords, which are not stored)."""
    from stack.broker_access import AccountStore

    settings = load_settings()
    rows: list[dict[str, object]] = [
        {
            "username": a.username,
            "scope": a.scope,
            "issued_at": a.issued_at,
            "kind": "run-time" if a.runtime else "issued",
        }
        for a in sorted(AccountStore(settings.credentials_file).load(), key=lambda a: a.username)
    ]
    _print_rows(rows, as_json)


@credentials_app.command("revoke")
def credentials_revoke(
    username: Annotated[str, typer.Argument(help="Login to delete, e.g. woonbron or woonbron.gw")],
) -> None:
    """Delete a broker login; the broker disconnects clients still using it."""
    from stack.broker_access import AccountStore

    settings = load_settings()
    registry = load_partners(settings)
    if not AccountStore(settings.credentials_file).revoke(username):
        raise fail(f"no MQTT login {username!r} (see `mainport credentials list`)")
    reloaded = _sync_broker(settings, registry)
    typer.echo(
        f"revoked MQTT login {username!r}"
        + ("; running broker reloaded, its clients disconnected" if reloaded else ""),
        err=True,
    )


@token_app.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """API tokens by id (never their secrets, which are not stored)."""
    from api.tokens import TokenStore

    settings = load_settings()
    rows: list[dict[str, object]] = [
        {
            "id": r.id,
            "role": r.role,
            "partner": r.partner,
            "label": r.label,
            "issued_at": r.issued_at,
        }
        for r in TokenStore(settings.tokens_file).records()
    ]
    _print_rows(rows, as_json)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (from `token list`) or the token")],
) -> None:
    """Revoke an API token; a running API refuses it from its next request on."""
    from api.tokens import TokenStore, token_id_of

    settings = load_settings()
    found = token_id_of(token_id)
    if found is None or not TokenStore(settings.tokens_file).revoke(found):
        raise fail("no such API token (see `mainport token list`)")
    typer.echo(f"revoked API token {found}", err=True)


@grant_app.command("add")
def grant_add(
    devices: Annotated[list[str], typer.Argument(help="Devices of the owner's to share")],
    owner: Annotated[str, typer.Option("--from", help="Partner who owns the devices")],
    grantee: Annotated[str, typer.Option("--to", help="Partner who may read them")],
    note: Annotated[str, typer.Option(help="Why, for the audit log")] = "",
) -> None:
    """Let partner --to read the telemetry of DEVICES of partner --from (broker and API).

    Prints the ids of the new grants on stdout."""
    import getpass

    from domain.grants import GrantError
    from stack.grants import GrantLog, GrantLogError

    settings = load_settings()
    registry = load_partners(settings)
    try:
        created, existing = GrantLog(settings.grants_file).add(
            registry, owner, grantee, devices, f"operator (CLI, user {getpass.getuser()})", note
        )
    except (GrantError, GrantLogError) as exc:
        raise fail(str(exc)) from None
    reloaded = _sync_broker(settings, registry) if created else False
    for grant in existing:
        typer.echo(
            f"{owner}/{grant.device} is already shared with {grantee} ({grant.id})", err=True
        )
    for grant in created:
        typer.echo(f"shared {owner}/{grant.device} with {grantee} ({grant.id})", err=True)
        typer.echo(grant.id)
    if created:
        typer.echo("running broker reloaded" if reloaded else "no running broker here", err=True)


@grant_app.command("revoke")
def grant_revoke(
    grant_id: Annotated[str, typer.Argument(help="Grant id, e.g. g-3f2a9c1b7d4e")],
) -> None:
    """Revoke a grant: the grantee loses broker and API access at once."""
    import getpass

    from domain.grants import GrantError
    from stack.grants import GrantLog, GrantLogError

    settings = load_settings()
    registry = load_partners(settings)
    try:
        grant = GrantLog(settings.grants_file).revoke(
            grant_id, f"operator (CLI, user {getpass.getuser()})"
        )
    except (GrantError, GrantLogError) as exc:
        raise fail(str(exc)) from None
    reloaded = _sync_broker(settings, registry)
    typer.echo(
        f"revoked {grant.id}: {grant.grantee} no longer reads {grant.owner}/{grant.device}"
        + ("; running broker reloaded" if reloaded else ""),
        err=True,
    )


@grant_app.command("list")
def grant_list(
    partner: Annotated[
        str | None, typer.Option(help="Only grants this partner gave or received")
    ] = None,
    include_revoked: Annotated[
        bool, typer.Option("--all", help="Include revoked grants, with who revoked them when")
    ] = False,
    history: Annotated[
        bool, typer.Option("--history", help="The audit log: every grant and revocation")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Grants in force (or all of them, or the audit log), oldest first."""
    from stack.grants import GrantLog, GrantLogError

    settings = load_settings()
    log = GrantLog(settings.grants_file)
    try:
        rows: list[dict[str, object]]
        if history:
            rows = [
                {k: e.get(k, "") for k in ("at", "event", "id", "owner", "device", "grantee", "by")}
                for e in log.events()
                if partner is None or partner in (e.get("owner"), e.get("grantee"))
            ]
        else:
            rows = [
                {
                    "id": g.id,
                    "owner": g.owner,
                    "device": g.device,
                    "grantee": g.grantee,
                    "granted_at": g.granted_at,
                    "granted_by": g.granted_by,
                    "revoked_at": g.revoked_at,
                    "revoked_by": g.revoked_by,
                    "note": g.note,
                }
                for g in log.grants()
                if (include_revoked or g.active) and (partner is None or g.concerns(partner))
            ]
    except GrantLogError as exc:
        raise fail(str(exc)) from None
    _print_rows(rows, as_json)


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
