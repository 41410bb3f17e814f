"""`mainport credentials`, `token` and `grant`: partners kept apart. Secrets go alone to stdout,
everything else to stderr. Everything is stored in the control-plane database (hashes only) and
audited with the CLI's OS user as the actor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from core.settings import Settings
from domain.registry import Registry
from mainport.cli_common import (
    JsonOption,
    fail,
    load_partners,
    load_settings,
    print_rows,
    sync_broker_or_fail,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

credentials_app = typer.Typer(help="Broker credentials (MQTT passwords).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
grant_app = typer.Typer(help="Data-sharing grants between partners.", no_args_is_help=True)
device_app = typer.Typer(help="Registered devices.", no_args_is_help=True)


def control_db(settings: Settings) -> Engine:
    """The control-plane database, its former files imported; a one-line error if it cannot
    be opened."""
    from sqlalchemy.exc import SQLAlchemyError

    from access.legacy_files import LegacyStateError
    from access.store import control_plane
    from controlplane.db import safe_url

    try:
        return control_plane(settings)
    except LegacyStateError as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"control-plane database {safe_url(settings.database)}: {exc}") from None


def _print_login(
    what: str, username: str, password: str, settings: Settings, registry: Registry
) -> None:
    """Apply the new login to the broker, say so on stderr, and print the secret alone on
    stdout (scripts capture it)."""
    applied = sync_broker_or_fail(settings, registry)
    note = "; running broker updated" if applied else ""
    typer.echo(f"issued {what} {username!r}{note}", err=True)
    typer.echo(password)


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
    from access.broker import AccountStore, account_username, validate_scope

    settings = load_settings()
    registry = load_partners(settings)
    try:
        validate_scope(partner, registry)
        username = account_username(partner, label)
    except ValueError as exc:
        raise fail(str(exc)) from None
    password = AccountStore(control_db(settings)).issue(partner, label=label)
    _print_login("MQTT credentials: username", username, password, settings, registry)


@device_app.command("login")
def device_login(
    device: Annotated[
        str, typer.Argument(help="A registered device: DEVICE, or PARTNER/DEVICE if ambiguous")
    ],
) -> None:
    """Create or rotate a device's own MQTT login `PARTNER.DEVICE` and print its password once,
    alone on stdout. It may publish under the device's own topics only; rotating disconnects
    the device still logged in with the old password."""
    from access.broker import AccountStore, account_username

    settings = load_settings()
    registry = load_partners(settings)
    partner_id, _, device_id = device.rpartition("/")
    found = _registered(settings, registry, partner_id, device_id)
    where = (
        "the control-plane database"
        if settings.registry_source == "database"
        else (str(settings.partners_file))
    )
    if not found:
        raise fail(f"no registered device {device!r} in {where}")
    if len(found) > 1:
        owners = ", ".join(f"{p}/{d}" for p, d in found)
        raise fail(f"device {device!r} is ambiguous: say which one ({owners})")
    ((partner_id, device_id),) = found
    username = account_username(partner_id, device_id)
    try:  # audited by the store (access/logins.py), as the CLI's OS user
        password = AccountStore(control_db(settings)).issue_device(partner_id, device_id)
    except ValueError as exc:
        raise fail(str(exc)) from None
    _print_login("the device login", username, password, settings, registry)


def _registered(
    settings: Settings, registry: Registry, partner_id: str, device_id: str
) -> list[tuple[str, str]]:
    """(partner, device) pairs in force named DEVICE (of PARTNER when given): from the
    control-plane database when it is the source of truth (devices added by API or CLI since
    the start are there), else, or while it is still unseeded, from the partners file."""
    in_file = [
        (p.id, d.id)
        for p, d in registry.devices()
        if d.id == device_id and partner_id in ("", p.id)
    ]
    if settings.registry_source == "file":
        return in_file
    from sqlalchemy import select

    from controlplane.db import open_database, utcnow
    from controlplane.registry_store import is_empty
    from controlplane.tables import devices

    query = select(devices.c.partner_id, devices.c.id, devices.c.retired_at).where(
        devices.c.id == device_id
    )
    if partner_id:
        query = query.where(devices.c.partner_id == partner_id)
    engine = open_database(settings.database)
    try:
        with engine.connect() as conn:
            if is_empty(conn):  # no `mainport up` has seeded it yet: the file is the registry
                return in_file
            rows = list(conn.execute(query))
    finally:
        engine.dispose()
    now = utcnow()
    return [(r.partner_id, r.id) for r in rows if r.retired_at is None or r.retired_at > now]


@token_app.command("issue")
def token_issue(
    operator: Annotated[
        bool, typer.Option("--operator", help="A token that sees everything")
    ] = False,
    partner: Annotated[
        str | None, typer.Option("--partner", help="A token for one partner")
    ] = None,
    label: Annotated[str, typer.Option(help="A note to recognise the token by")] = "",
    expires: Annotated[
        str | None,
        typer.Option(help="Lifetime (12h, 30d, 8w) or ISO 8601 time; default: until revoked"),
    ] = None,
) -> None:
    """Create an API token and print it once, alone on stdout."""
    from datetime import UTC, datetime

    from access.tokens import OPERATOR, PARTNER, TokenStore, parse_expiry

    if operator == (partner is not None):
        raise fail("give exactly one of --operator or --partner ID")
    try:
        expires_at = parse_expiry(expires, datetime.now(UTC)) if expires else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    settings = load_settings()
    if partner is not None and load_partners(settings).partner(partner) is None:
        raise fail(f"unknown partner {partner!r}: not in {settings.partners_file}")
    token = TokenStore(control_db(settings)).issue(
        OPERATOR if operator else PARTNER, partner, label, expires_at
    )
    until = f", valid until {expires_at.isoformat(timespec='seconds')}" if expires_at else ""
    typer.echo(f"issued {'an operator' if operator else f'a {partner}'} API token{until}", err=True)
    typer.echo(token)


@credentials_app.command("list")
def credentials_list(as_json: JsonOption = False) -> None:
    """Broker logins (never their passwords, which are not stored)."""
    from access.broker import AccountStore

    settings = load_settings()
    rows: list[dict[str, object]] = [
        {
            "username": a.username,
            "scope": a.scope,
            "issued_at": a.issued_at,
            "kind": "run-time" if a.runtime else "issued",
        }
        for a in AccountStore(control_db(settings)).load()
    ]
    print_rows(rows, as_json)


@credentials_app.command("revoke")
def credentials_revoke(
    username: Annotated[str, typer.Argument(help="Login to delete, e.g. woonbron or woonbron.gw")],
) -> None:
    """Delete a broker login; the broker disconnects clients still using it."""
    from access.broker import AccountStore

    settings = load_settings()
    registry = load_partners(settings)
    if not AccountStore(control_db(settings)).revoke(username):
        raise fail(f"no MQTT login {username!r} (see `mainport credentials list`)")
    reloaded = sync_broker_or_fail(settings, registry)
    typer.echo(
        f"revoked MQTT login {username!r}"
        + ("; running broker reloaded, its clients disconnected" if reloaded else ""),
        err=True,
    )


@token_app.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """API tokens by id (never their secrets, which are not stored)."""
    from access.tokens import TokenStore

    settings = load_settings()
    rows: list[dict[str, object]] = [
        {
            "id": r.id,
            "role": r.role,
            "partner": r.partner,
            "label": r.label,
            "issued_at": r.issued_at,
            "expires_at": r.expires_at,
        }
        for r in TokenStore(control_db(settings)).records()
    ]
    print_rows(rows, as_json)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (from `token list`) or the token")],
) -> None:
    """Revoke an API token; a running API refuses it from its next request on."""
    from access.tokens import TokenStore, token_id_of

    settings = load_settings()
    found = token_id_of(token_id)
    if found is None or not TokenStore(control_db(settings)).revoke(found):
        raise fail("no such API token (see `mainport token list`)")
    typer.echo(f"revoked API token {found}", err=True)


@grant_app.command("add")
def grant_add(
    devices: Annotated[list[str], typer.Argument(help="Devices of the owner's to share")],
    owner: Annotated[str, typer.Option("--from", help="Partner who owns the devices")],
    grantee: Annotated[str, typer.Option("--to", help="Partner who may read them")],
    purpose: Annotated[
        str, typer.Option(help="Required: what the grantee may use the data for")
    ] = "",
    until: Annotated[
        str | None,
        typer.Option(
            help="When the consent ends: a lifetime (12h, 30d, 8w) or ISO 8601 time; "
            "revoked by itself then. Default: until revoked"
        ),
    ] = None,
    note: Annotated[str, typer.Option(help="Why, for the audit log")] = "",
) -> None:
    """Let partner --to read the telemetry of DEVICES of partner --from (broker and API), for
    --purpose, until --until if given.

    Prints the ids of the new grants on stdout."""
    from datetime import UTC, datetime

    from access.grants import GrantLog, GrantLogError
    from access.tokens import parse_expiry
    from controlplane.audit import cli_actor
    from domain.grants import GrantError

    try:
        ends_at = parse_expiry(until, datetime.now(UTC), "--until") if until else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    settings = load_settings()
    registry = load_partners(settings)
    engine = control_db(settings)
    try:
        created, existing = GrantLog(engine).add(
            registry, owner, grantee, devices, cli_actor(), note, purpose=purpose, ends_at=ends_at
        )
    except (GrantError, GrantLogError) as exc:
        raise fail(str(exc)) from None
    reloaded = sync_broker_or_fail(settings, registry) if created else False
    for grant in existing:
        typer.echo(
            f"{owner}/{grant.device} is already shared with {grantee} ({grant.id})", err=True
        )
    until_note = f" until {ends_at.isoformat(timespec='seconds')}" if ends_at else ""
    for grant in created:
        typer.echo(
            f"shared {owner}/{grant.device} with {grantee}{until_note} ({grant.id})", err=True
        )
        typer.echo(grant.id)
    if created:
        typer.echo("running broker reloaded" if reloaded else "no running broker here", err=True)


@grant_app.command("revoke")
def grant_revoke(
    grant_id: Annotated[str, typer.Argument(help="Grant id, e.g. g-3f2a9c1b7d4e")],
) -> None:
    """Revoke a grant: the grantee loses broker and API access at once."""
    from access.grants import GrantLog, GrantLogError
    from controlplane.audit import cli_actor
    from domain.grants import GrantError

    settings = load_settings()
    registry = load_partners(settings)
    try:
        grant = GrantLog(control_db(settings)).revoke(grant_id, cli_actor())
    except (GrantError, GrantLogError) as exc:
        raise fail(str(exc)) from None
    reloaded = sync_broker_or_fail(settings, registry)
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
        bool, typer.Option("--history", help="Every grant and revocation, oldest first")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Grants in force with purpose and end (or all of them, or their history), oldest first."""
    from access.grants import GrantLog, GrantLogError
    from domain.grants import shown_purpose

    settings = load_settings()
    log = GrantLog(control_db(settings))
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
                    "purpose": shown_purpose(g),
                    "ends_at": g.ends_at,
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
    print_rows(rows, as_json)
