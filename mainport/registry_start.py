"""What `mainport up` does with the registry before any child starts (SPEC, source of truth):
migrate the control-plane database, then seed it from the partners file when it is empty
(database source) or apply the file (file source, at every start)."""

from __future__ import annotations

from pathlib import Path

from controlplane.audit import cli_actor
from controlplane.db import open_database, safe_url
from controlplane.registry_errors import RegistryChangeError
from controlplane.registry_store import prepare_registry
from core.settings import Settings
from domain.registry import RegistryError
from mainport.preparation import StackError


def prepare_control_plane(settings: Settings, partners_file: Path | None = None) -> str:
    """A line for the console; StackError naming file, line and field when the file is bad or
    brings back a retired id. `partners_file`: the file to seed or apply instead of the
    settings' own (the demo's, with its history's maintenance window), same source of truth."""
    partners_file = partners_file or settings.partners_file
    try:
        engine = open_database(settings.database)
    except Exception as exc:  # the stack cannot run without it: say which database
        raise StackError(f"control-plane database {safe_url(settings.database)}: {exc}") from exc
    try:
        return prepare_registry(
            engine,
            source=settings.registry_source,
            partners_file=partners_file,
            actor=f"{cli_actor()} (mainport up)",
        )
    except (RegistryError, RegistryChangeError) as exc:
        raise StackError(f"{partners_file}: {exc}") from None
    finally:
        engine.dispose()
