"""The control-plane database as access/ uses it: one engine per database per process, and the
former files under the data dir imported the first time a process opens it.

Tokens, broker logins and grants used to be files under `var/` (`secrets/api-tokens.json`,
`secrets/mqtt-credentials.json`, `grants/audit.jsonl`); whichever process starts first after an
upgrade — `mainport up`, the API, a CLI command — brings them into the database
(access/legacy_files.py), so no token, login or grant is lost.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from access.legacy_files import import_legacy_state
from controlplane.db import open_database
from core.settings import Settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def control_plane(settings: Settings) -> Engine:
    """This process's engine on `settings.database`, migrated, with the data dir's former
    files imported (once per process; a later call returns the same engine)."""
    url = settings.database
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = open_access_database(url, settings)
            _engines[url] = engine
        return engine


def open_access_database(url: str, settings: Settings) -> Engine:
    """A new engine on `url` (migrated), after importing the former files of `settings`'s data
    dir into it. The caller disposes of it."""
    engine = open_database(url)
    _make_private(url)
    import_legacy_state(
        engine, settings.tokens_file, settings.credentials_file, settings.grants_file
    )
    return engine


def _make_private(url: str) -> None:
    """An SQLite database holds the logins' and tokens' hashes: owner-only, like the files it
    replaces (its -wal and -shm files take the main file's mode when SQLite creates them)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{parsed.database}{suffix}")
        if path.exists():
            path.chmod(0o600)
