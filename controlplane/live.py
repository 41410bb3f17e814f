"""How a running process gets its live registry: one call at start, then `source.current()`.

Every process (ingest, API, deriver, collector, the `mainport up` supervisor) opens the
control-plane database, seeds it from the partners file when it is still empty (so a process
started alone on a fresh data dir, as the tests and `make demo` do, finds the registry the file
describes; `seed` is idempotent and race-safe, the first to commit wins) and polls its version
(controlplane/snapshot.py). A caller that already holds a `Registry` (tests, benchmarks) wraps it
in a `StaticSource`: the same interface, never changing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Engine

from controlplane import registry_store
from controlplane.db import open_database, safe_url, utcnow
from controlplane.snapshot import RegistrySource, Snapshot
from core.settings import Settings
from domain.registry import Registry, load_registry
from domain.registry_history import RegistryHistory

log = logging.getLogger(__name__)


class LiveRegistry(Protocol):
    """What a process reads the registry through (RegistrySource, StaticSource)."""

    def current(self) -> Snapshot: ...

    def on_change(self, listener: Callable[[Snapshot], None]) -> None: ...

    def refresh(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class StaticSource:
    """A registry that never changes (given by a caller): always version 0, the history of a
    registry with no recorded change (its terms always in force)."""

    def __init__(self, registry: Registry) -> None:
        self._snapshot = Snapshot(0, registry, RegistryHistory.of_registry(registry))

    def current(self) -> Snapshot:
        return self._snapshot

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        return None

    def refresh(self) -> bool:
        return False

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def seed_from_file(engine: Engine, settings: Settings) -> bool:
    """Write the partners file into an empty control plane; True when this call did. A file
    that does not exist seeds nothing (a database-only set-up)."""
    if not settings.partners_file.is_file():
        return False
    registry = load_registry(settings.partners_file)
    seeded = registry_store.seed(
        engine, registry, at=utcnow(), actor=f"seed:{settings.partners_file.name}"
    )
    if seeded:
        log.info("control plane seeded from %s", settings.partners_file)
    return seeded


def open_registry(
    settings: Settings, *, start: bool = True, engine: Engine | None = None
) -> tuple[Engine, RegistrySource]:
    """The database (migrated, seeded when empty) and a source polling it every
    `registry_poll_s`, already started unless `start` is False. `engine`: the process's own
    engine on `settings.database` when it has one already (the API's)."""
    engine = engine or open_database(settings.database)
    seed_from_file(engine, settings)
    source = RegistrySource(engine, settings.registry_poll_s)
    if start:
        source.start()
    log.info(
        "registry from %s, version %d (polled every %.2f s)",
        safe_url(settings.database),
        source.current().version,
        settings.registry_poll_s,
    )
    return engine, source
