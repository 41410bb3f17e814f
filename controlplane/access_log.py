"""The access log in the control-plane database: who read which partner's data, appended in
batches off the request path, read back page by page.

Why batches: a read of partner data must not wait for a database write. `AccessLogWriter.add`
only appends to a list in memory; a background thread inserts what gathered every `flush_s`
(one multi-row INSERT, one transaction). `close()` stops the thread and writes what is left, so a
clean shutdown loses nothing; a failed insert keeps its rows for the next round (bounded by
`max_pending`, past which the oldest are dropped and counted: a database down for hours must not
exhaust the API's memory). A crash loses at most the last `flush_s` of entries.

Why not `write_tx`: that bumps the registry version, which every process polls to reload the
registry. The access log is not the registry; its inserts take their own short transaction.
Several API hosts share the log through the database; an entry of another host shows up there
at most `flush_s` after its read.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, or_, select

from controlplane.access_log_tables import ALL_PARTNERS, access_log

log = logging.getLogger(__name__)

COLUMNS = tuple(c.name for c in access_log.columns if c.name != "id")


def insert_entries(engine: Engine, entries: list[Mapping[str, Any]]) -> None:
    """Insert entries at once (one transaction): the writer's flush, and the CLI's one read."""
    if entries:
        with engine.begin() as conn:
            conn.execute(insert(access_log), [{k: e[k] for k in COLUMNS} for e in entries])


class AccessLogWriter:
    """Entries buffered in memory and inserted in batches by one background thread."""

    def __init__(self, engine: Engine, *, flush_s: float = 0.5, max_pending: int = 100_000) -> None:
        self.engine = engine
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.dropped = 0
        """Entries given up because the database stayed unreachable with `max_pending` waiting."""
        self._pending: deque[Mapping[str, Any]] = deque()
        self._lock = threading.Lock()  # guards _pending
        self._flushing = threading.Lock()  # one insert at a time keeps entries in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, entry: Mapping[str, Any]) -> None:
        """Queue one entry (no I/O: safe on the request path)."""
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(entry)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> None:
        """Insert every queued entry now. On failure they go back to the front of the queue
        and the error propagates (the thread logs it and retries at its next round)."""
        with self._flushing:
            with self._lock:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return
            try:
                insert_entries(self.engine, batch)
            except Exception:
                with self._lock:
                    self._pending.extendleft(reversed(batch))
                    while len(self._pending) > self.max_pending:
                        self._pending.popleft()
                        self.dropped += 1
                raise

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # the database is down: keep the entries, try again
            log.warning("access log: %d entries wait for the database: %s", self.pending(), exc)

    def close(self) -> None:
        """Stop the thread and write what is left (a clean shutdown loses no entry)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._flush_logged()


def page(
    engine: Engine,
    partner: str,
    start: datetime | None,
    end: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Entries about `partner` (or every partner) with start <= at < end, newest first; and
    whether more follow."""
    query = (
        select(access_log)
        .where(or_(access_log.c.partner == partner, access_log.c.partner == ALL_PARTNERS))
        .order_by(access_log.c.at.desc(), access_log.c.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    if start is not None:
        query = query.where(access_log.c.at >= start)
    if end is not None:
        query = query.where(access_log.c.at < end)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return rows[:limit], len(rows) > limit


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(access_log)).scalar_one())


def grantee_reads(
    engine: Engine, owner: str, grantee: str, device: str, since: datetime
) -> tuple[int, datetime | None]:
    """How often `grantee` read `owner`'s shared `device` since `since`, and when last (answered
    reads only): what the grantor sees beside each active grant (consent it can check)."""
    query = select(func.count(), func.max(access_log.c.at)).where(
        access_log.c.partner == owner,
        access_log.c.reader_partner == grantee,
        access_log.c.device == device,
        access_log.c.role == "grantee",
        access_log.c.status < 400,
        access_log.c.at >= since,
    )
    with engine.connect() as conn:
        n, last = conn.execute(query).one()
    return int(n), last
