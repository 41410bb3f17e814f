"""Opening the control-plane database, bringing its schema up to date, and the one way to write.

Every write goes through `write_tx`: one transaction whose first statement bumps the registry
version. That single row serialises writers (PostgreSQL row lock; on SQLite the write lock is
taken at once, so a reader never has to upgrade its lock and deadlock), gives every change a
version number, and is what running processes poll to apply the change (snapshot.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select, update
from sqlalchemy.engine import make_url

from controlplane.tables import registry_version

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK = 0x6D61696E  # PostgreSQL advisory lock key of the schema migration


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite in WAL mode with foreign keys and a busy timeout, its file's
    folder created private. Pooled connections are checked before use (a restarted PostgreSQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoint, never corrupt
    # Switching a new file to WAL needs it alone, and SQLite does not wait for that (no busy
    # handler): processes opening a new database together retry until one has switched it.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cursor.close()


def safe_url(url: str) -> str:
    """The URL for logs and messages: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def upgrade(url: str) -> None:
    """Bring the schema to the newest revision (every branch head: alembic `upgrade heads`), in
    one transaction that first takes a lock, so processes starting together migrate once: the
    others wait, then find nothing left to do."""
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
            conn.commit()
    finally:
        engine.dispose()


def open_database(url: str) -> Engine:
    """Migrate, then an engine to use. Every process that touches the database starts here."""
    upgrade(url)
    return make_engine(url)


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def write_tx(engine: Engine) -> Iterator[tuple[Connection, int]]:
    """One write transaction and its new registry version. Commit on leaving, roll back on error
    (the version bump with it: a failed write changes nothing that anyone can see)."""
    with engine.begin() as conn:
        version = bump_version(conn)
        yield conn, version


def bump_version(conn: Connection) -> int:
    conn.execute(
        update(registry_version)
        .where(registry_version.c.id == 1)
        .values(version=registry_version.c.version + 1, changed_at=utcnow())
    )
    return current_version(conn)


def current_version(conn: Connection) -> int:
    value = conn.execute(select(registry_version.c.version).where(registry_version.c.id == 1))
    return int(value.scalar_one())
