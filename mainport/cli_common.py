"""What every `mainport` command shares: settings and registry loading with one-line errors,
logging, broker file sync, and table/JSON output."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from core.settings import Settings
from domain.registry import Registry, RegistryError, load_registry


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


def load_partners(settings: Settings, *, seed: bool = True) -> Registry:
    """The registry in force now, from the control-plane database (seeded from the partners
    file when empty, like every process: controlplane/live.py). A partners file that does not
    parse is reported as before, naming file, line and field. `seed` False (`mainport up`,
    which seeds it itself once it knows from which file): an empty database leaves the file's
    registry as the answer."""
    from controlplane.db import open_database, utcnow
    from controlplane.live import seed_from_file
    from controlplane.registry_store import is_empty
    from controlplane.snapshot import load_snapshot

    try:
        from_file = (
            load_registry(settings.partners_file) if settings.partners_file.exists() else None
        )
        engine = open_database(settings.database)
        try:
            if seed:
                seed_from_file(engine, settings)
            with engine.connect() as conn, conn.begin():
                if from_file is not None and is_empty(conn):
                    return from_file
                registry = load_snapshot(conn, utcnow()).registry
        finally:
            engine.dispose()
        if not registry.partners and from_file is None:
            load_registry(settings.partners_file)  # no registry anywhere: say which file
    except RegistryError as exc:
        raise fail(str(exc)) from None
    return registry


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("MAINPORT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


JsonOption = Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")]


def sync_broker_or_fail(settings: Settings, registry: Registry) -> bool:
    """Broker files from the stored logins and active grants (control-plane database); True when
    a running broker was reloaded."""
    from sqlalchemy.exc import SQLAlchemyError

    from access.broker import sync_broker
    from access.dynsec import ControlError
    from access.grants import GrantLogError
    from access.legacy_files import LegacyStateError

    try:
        return sync_broker(settings, registry)
    except (GrantLogError, LegacyStateError, SQLAlchemyError) as exc:
        raise fail(str(exc)) from None
    except ControlError as exc:
        raise fail(f"the login is stored, but the running broker did not take it: {exc}") from None


def print_rows(rows: list[dict[str, object]], as_json: bool) -> None:
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
