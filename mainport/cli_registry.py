"""`mainport registry apply|export` and `mainport audit`, and what the entity commands
(mainport/cli_entities.py: `partner|device|port|maintenance add|set|retire|list`) share: the
control-plane database opened from the settings, `--effective` times, one-line refusals.

Every change is audited as `cli:<OS user>`. A file's errors name file, line, field and reason.
When the partners file is the source of truth (MAINPORT_PARTNERS_FILE set explicitly) entity
changes are refused: edit the file and `mainport registry apply` it.
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
from mainport.cli_common import JsonOption, fail, load_settings, print_rows

registry_app = typer.Typer(help="The registry whole: apply a file, export.", no_args_is_help=True)

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
def open_control_plane(settings: Settings) -> Iterator[Engine]:
    from controlplane.db import open_database, safe_url

    try:
        engine = open_database(settings.database)
    except Exception as exc:  # a database that does not answer: say which, not a trace
        raise fail(f"control-plane database {safe_url(settings.database)}: {exc}") from None
    try:
        yield engine
    finally:
        engine.dispose()


def run_change(what: str, act: Callable[[Engine, str], T]) -> T:
    """Run one entity change as the CLI user; refusals as one line."""
    from controlplane.audit import cli_actor

    settings = load_settings()
    try:
        refuse_in_file_mode(settings.registry_source, what)
        with open_control_plane(settings) as engine:
            return act(engine, cli_actor())
    except RegistryChangeError as exc:
        raise fail(str(exc)) from None


def report(changes: list[Change]) -> None:
    if not changes:
        typer.echo("nothing to change", err=True)
    for change in changes:
        typer.echo(change.line(), err=True)


def given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def plain(row: dict[str, Any]) -> dict[str, object]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def print_diff(changes: Diff, applied: bool) -> None:
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
    with open_control_plane(settings) as engine:
        try:
            changes = apply(
                engine, registry, actor=cli_actor(), at=datetime.now(UTC), dry_run=dry_run
            )
        except RegistryChangeError as exc:
            line = line_at(file.read_text(encoding="utf-8"), exc.loc) if exc.loc else None
            where = f"{file}:{line}" if line else str(file)
            raise fail(f"{where}: {exc.field or '(file)'}: {exc.reason}") from None
    print_diff(changes, applied=not dry_run)


@registry_app.command("export")
def registry_export(
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
) -> None:
    """The registry in force now, in the form of partners.yaml (no secrets)."""
    from controlplane.registry_store import export
    from domain.registry_yaml import dump_registry

    with open_control_plane(load_settings()) as engine:
        text = dump_registry(export(engine))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def audit(
    partner: Annotated[str | None, typer.Option(help="Only this partner's entities")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Registry changes, newest first: who, when, what, before and after."""
    from controlplane import audit as audit_log

    with open_control_plane(load_settings()) as engine, engine.connect() as conn:
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
