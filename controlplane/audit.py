"""The audit: every change to the control plane, appended in the transaction that makes it.

Who (an API token's id and label, or the CLI's OS user), when, what, before and after. There is
no update or delete here and none through the API: the table only grows.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from controlplane.db import utcnow
from controlplane.tables import audit


def cli_actor() -> str:
    """How the audit names a change made with the CLI: the OS user running it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container)
        user = "unknown"
    return f"cli:{user}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    partner: str | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    partner: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime | None = None,
) -> None:
    """Append one entry, in the caller's (write) transaction: the change and its record commit
    together or not at all."""
    conn.execute(
        insert(audit).values(
            at=at or utcnow(),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            partner=partner,
            before=None if before is None else dict(before),
            after=None if after is None else dict(after),
        )
    )


def entries(
    conn: Connection,
    *,
    partner: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """Newest first. `partner`: only that partner's entities (what a partner token may read);
    `after_id`: entries older than that id (the next page)."""
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if partner is not None:
        query = query.where(audit.c.partner == partner)
    if since is not None:
        query = query.where(audit.c.at >= since)
    if until is not None:
        query = query.where(audit.c.at < until)
    if after_id is not None:
        query = query.where(audit.c.id < after_id)
    return [
        AuditEntry(
            r.id, r.at, r.actor, r.action, r.entity, r.entity_id, r.partner, r.before, r.after
        )
        for r in conn.execute(query)
    ]
