"""The registry as running processes see it: read from the database, at one version.

Each process holds a `RegistrySource`: it polls the one-row registry version every
`MAINPORT_REGISTRY_POLL_S` (a primary-key read) and, when it moved (or terms written earlier
take effect), reads a fresh `Snapshot` in one transaction, so a process never sees half a
change; only what changed since its last read (controlplane/snapshot_reader.py). Callers ask
`source.current()` each time they need the registry; a change is in force for them from the
first call after it is read.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine

from controlplane.db import current_version, utcnow
from controlplane.snapshot_reader import Snapshot, SnapshotReader, ns

__all__ = ["RegistrySource", "Snapshot", "load_snapshot"]

log = logging.getLogger(__name__)


def load_snapshot(conn: Connection, now: datetime) -> Snapshot:
    """The registry at `now` and its history, read at one version (call inside a transaction).
    One whole read; a `RegistrySource` reads only what changed since its last read."""
    return SnapshotReader().read(conn, now)


class RegistrySource:
    """A live view of the registry for one process: `current()` is the newest snapshot read.

    `start()` runs a daemon thread that polls the version; `refresh()` does one poll in the
    caller's thread (tests, and a write path that wants its own change in force at once)."""

    def __init__(
        self, engine: Engine, poll_s: float, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._engine = engine
        self._poll_s = poll_s
        self._now = clock
        self._lock = threading.Lock()
        self._reader = SnapshotReader()
        self._snapshot = self._read()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Snapshot], None]] = []

    def _read(self) -> Snapshot:
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # every statement at the one version
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = self._reader.read(conn, self._now())
        # A large registry is hundreds of thousands of long-lived objects: out of the cyclic
        # collector's way, so its full collections do not walk them on the ingest's hot path.
        gc.freeze()
        return snapshot

    def current(self) -> Snapshot:
        return self._snapshot

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        """Call `listener(snapshot)` after each newer snapshot is in force (in the poll thread)."""
        self._listeners.append(listener)

    def refresh(self) -> bool:
        """Read a newer snapshot if the version moved, or terms written earlier took effect
        since the last read; True when it did."""
        with self._engine.connect() as conn:
            version = current_version(conn)
        if version == self._snapshot.version and not self._due():
            return False
        with self._lock:
            if version == self._snapshot.version and not self._due():
                return False
            snapshot = self._read()
            self._snapshot = snapshot
        for listener in self._listeners:
            listener(snapshot)
        return True

    def _due(self) -> bool:
        due = self._snapshot.next_change_ns
        return due is not None and ns(self._now()) >= due

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="registry-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.refresh()
            except Exception:  # a database hiccup: keep the last snapshot, try again
                log.exception("registry poll failed; keeping version %d", self._snapshot.version)
