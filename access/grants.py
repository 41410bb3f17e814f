"""Data-sharing grants in the control-plane database (`grants`), one row per grant with its
revocation, and every change in the audit (entity "grant").

A grant is given for a purpose and, optionally, until an end date. From that date on it counts
as revoked everywhere it is read (the API refuses the grantee from that instant), and the
expiry job (`expire_due`, run by every API process: access/expiry.py) makes that durable — a
conditional UPDATE … WHERE revoked_at IS NULL, so with several API replicas exactly one
records it — and applies it to the broker. Readers query on each call, so a revocation counts
from the next request on, on every host. A database that cannot be read raises
`GrantLogError`: grant-based access is then refused, never assumed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from controlplane import audit
from controlplane.db import utcnow, write_tx
from controlplane.tables import audit as audit_table
from controlplane.tables import grants as grants_table
from domain.grants import (
    EXPIRED_BY,
    GRANT,
    GRANT_ID_RE,
    MAX_NOTE,
    REVOKE,
    AlreadyRevoked,
    Grant,
    GrantError,
    UnknownGrant,
    check_grant,
    check_purpose,
)
from domain.registry import Registry

ENTITY = "grant"


class GrantLogError(RuntimeError):
    """The grants cannot be read; grant-based access is refused until the database answers."""


def time_text(when: datetime) -> str:
    """A grant time as the API has always shown it: RFC 3339 UTC with milliseconds and `Z`."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_text() -> str:
    return time_text(datetime.now(UTC))


def parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def grant_of(row: Any, now: datetime | None = None) -> Grant:
    """The grant a row holds; one past its end date and not yet revoked by the expiry job reads
    as revoked by it at its end (with `now` given)."""
    grant = Grant(
        id=row.id,
        owner=row.owner,
        grantee=row.grantee,
        device=row.device,
        granted_by=row.granted_by,
        granted_at=time_text(row.granted_at),
        note=row.note,
        revoked_by=row.revoked_by,
        revoked_at=None if row.revoked_at is None else time_text(row.revoked_at),
        purpose=row.purpose,
        ends_at=None if row.ends_at is None else time_text(row.ends_at),
    )
    ended = row.ends_at is not None and now is not None and row.ends_at <= now
    if ended and row.revoked_at is None:
        grant = replace(grant, revoked_by=EXPIRED_BY, revoked_at=grant.ends_at)
    return grant


def public(grant: Grant) -> dict[str, Any]:
    """A grant as the audit keeps it (nothing in a grant is secret)."""
    return {
        "owner": grant.owner,
        "grantee": grant.grantee,
        "device": grant.device,
        "purpose": grant.purpose,
        "note": grant.note,
        "granted_by": grant.granted_by,
        "granted_at": grant.granted_at,
        "ends_at": grant.ends_at,
        "revoked_by": grant.revoked_by,
        "revoked_at": grant.revoked_at,
    }


@contextmanager
def _reading() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise GrantLogError(f"control-plane database: {type(exc).__name__}: {exc}") from None


class GrantLog:
    """The grants and their history, read and changed through the control-plane database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def grants(self) -> list[Grant]:
        """Every grant ever given, revoked and expired ones included, oldest first."""
        query = select(grants_table).order_by(grants_table.c.granted_at, grants_table.c.id)
        now = utcnow()
        with _reading(), self.engine.connect() as conn:
            return [grant_of(row, now) for row in conn.execute(query)]

    def active(self) -> list[Grant]:
        """Grants in force now: not revoked and not past their end."""
        now = utcnow()
        query = (
            select(grants_table)
            .where(grants_table.c.revoked_at.is_(None))
            .order_by(grants_table.c.granted_at, grants_table.c.id)
        )
        with _reading(), self.engine.connect() as conn:
            found = [grant_of(row, now) for row in conn.execute(query)]
        return [g for g in found if g.active]

    def events(self) -> list[dict[str, Any]]:
        """The whole history as events (`grant`, `revoke`), oldest first: the grants' audit
        rows, in the order they happened (imported ones in their former log's order)."""
        query = (
            select(audit_table)
            .where(audit_table.c.entity == ENTITY, audit_table.c.action.in_(("create", "revoke")))
            .order_by(audit_table.c.at, audit_table.c.id)
        )
        events: list[dict[str, Any]] = []
        with _reading(), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            state: dict[str, Any] = dict(row.after or {})
            common = {
                "id": row.entity_id,
                "owner": state.get("owner"),
                "grantee": state.get("grantee"),
                "device": state.get("device"),
                "by": row.actor,
            }
            if row.action == "create":
                extra = {k: state.get(k) for k in ("note", "purpose", "ends_at")}
                events.append({"at": time_text(row.at), "event": GRANT, **common, **extra})
            else:
                events.append({"at": str(state.get("revoked_at")), "event": REVOKE, **common})
        return events

    def add(
        self,
        registry: Registry,
        owner: str,
        grantee: str,
        devices: Sequence[str],
        by: str,
        note: str = "",
        *,
        purpose: str,
        ends_at: datetime | None = None,
    ) -> tuple[list[Grant], list[Grant]]:
        """Grant `grantee` read access to `devices` of `owner`'s, for `purpose`, until `ends_at`
        (None: until revoked).

        Returns (new grants, grants that already existed — left as they are). All devices are
        checked before anything is written, so a bad request changes nothing.
        """
        if not devices:
            raise GrantError("name at least one device")
        if len(note) > MAX_NOTE or not note.isprintable():
            raise GrantError(f"note: at most {MAX_NOTE} printable characters")
        purpose = check_purpose(purpose)
        now = utcnow()
        if ends_at is not None:
            if ends_at.tzinfo is None:
                raise GrantError("ends_at: give a time zone (e.g. Z)")
            if ends_at <= now:
                raise GrantError(f"ends_at {time_text(ends_at)} is not in the future")
        for device in devices:
            check_grant(registry, owner, grantee, device)
        created: list[Grant] = []
        already: list[Grant] = []
        with write_tx(self.engine) as (conn, _version):
            for device in dict.fromkeys(devices):  # keeps order, drops repeats
                found = self._active_for(conn, owner, grantee, device, now)
                if found is not None:
                    already.append(found)
                    continue
                grant = Grant(
                    id=_new_id(conn),
                    owner=owner,
                    grantee=grantee,
                    device=device,
                    granted_by=by,
                    granted_at=time_text(now),
                    note=note,
                    purpose=purpose,
                    ends_at=None if ends_at is None else time_text(ends_at),
                )
                insert_grant(conn, grant)
                audit.record(
                    conn,
                    actor=by,
                    action="create",
                    entity=ENTITY,
                    entity_id=grant.id,
                    partner=owner,
                    before=None,
                    after=public(grant),
                    at=now,
                )
                created.append(grant)
        return created, already

    @staticmethod
    def _active_for(
        conn: Connection, owner: str, grantee: str, device: str, now: datetime
    ) -> Grant | None:
        rows = conn.execute(
            select(grants_table).where(
                grants_table.c.owner == owner,
                grants_table.c.grantee == grantee,
                grants_table.c.device == device,
                grants_table.c.revoked_at.is_(None),
            )
        )
        return next((g for g in (grant_of(r, now) for r in rows) if g.active), None)

    def revoke(self, grant_id: str, by: str, *, owner: str | None = None) -> Grant:
        """Revoke an active grant; with `owner`, only one of that partner's own grants."""
        if not GRANT_ID_RE.fullmatch(grant_id):
            raise GrantError(f"{grant_id!r} is not a grant id (g- and 12 hex digits)")
        with write_tx(self.engine) as (conn, _version):
            now = utcnow()
            row = conn.execute(select(grants_table).where(grants_table.c.id == grant_id)).first()
            if row is None or (owner is not None and row.owner != owner):
                raise UnknownGrant(f"no grant {grant_id}" + (f" of {owner}" if owner else ""))
            grant = grant_of(row, now)
            if not grant.active:
                raise AlreadyRevoked(
                    f"grant {grant_id} was already revoked at {grant.revoked_at} "
                    f"by {grant.revoked_by}"
                )
            revoked = _revoke_row(conn, grant, by, now)
            assert revoked is not None  # the write transaction holds the lock
        return revoked

    def expire_due(self) -> list[Grant]:
        """Revoke every grant whose end date has come, as `EXPIRED_BY` at its end, audited like a
        manual revoke. Only the process whose conditional UPDATE wins records one; returns the
        grants this call revoked (apply them to the broker)."""
        now = utcnow()
        due = (
            select(grants_table.c.id)
            .where(grants_table.c.revoked_at.is_(None), grants_table.c.ends_at <= now)
            .limit(1)
        )
        with self.engine.connect() as conn:
            if conn.execute(due).first() is None:
                return []  # the usual answer, without taking the write lock
        expired: list[Grant] = []
        with write_tx(self.engine) as (conn, _version):
            rows = conn.execute(
                select(grants_table).where(
                    grants_table.c.revoked_at.is_(None), grants_table.c.ends_at <= now
                )
            ).all()
            for row in rows:
                grant = grant_of(row)
                assert row.ends_at is not None
                revoked = _revoke_row(conn, grant, EXPIRED_BY, now, revoked_at=row.ends_at)
                if revoked is not None:
                    expired.append(revoked)
        return expired

    def next_end(self) -> datetime | None:
        """When the next active grant ends, if any does."""
        query = select(grants_table.c.ends_at).where(
            grants_table.c.revoked_at.is_(None), grants_table.c.ends_at.is_not(None)
        )
        with self.engine.connect() as conn:
            ends = [e for (e,) in conn.execute(query) if e is not None]
        return min(ends, default=None)


def insert_grant(conn: Connection, grant: Grant) -> None:
    conn.execute(
        insert(grants_table).values(
            id=grant.id,
            owner=grant.owner,
            grantee=grant.grantee,
            device=grant.device,
            purpose=grant.purpose,
            note=grant.note,
            granted_by=grant.granted_by,
            granted_at=parse_time(grant.granted_at),
            ends_at=None if grant.ends_at is None else parse_time(grant.ends_at),
            revoked_by=grant.revoked_by,
            revoked_at=None if grant.revoked_at is None else parse_time(grant.revoked_at),
        )
    )


def _revoke_row(
    conn: Connection, grant: Grant, by: str, now: datetime, *, revoked_at: datetime | None = None
) -> Grant | None:
    """The conditional revoke: None when another writer revoked it first."""
    at = revoked_at or now
    result = conn.execute(
        update(grants_table)
        .where(grants_table.c.id == grant.id, grants_table.c.revoked_at.is_(None))
        .values(revoked_by=by, revoked_at=at)
    )
    if result.rowcount != 1:
        return None
    revoked = replace(grant, revoked_by=by, revoked_at=time_text(at))
    audit.record(
        conn,
        actor=by,
        action="revoke",
        entity=ENTITY,
        entity_id=grant.id,
        partner=grant.owner,
        before=public(grant),
        after=public(revoked),
        at=now,
    )
    return revoked


def _new_id(conn: Connection) -> str:
    while True:
        grant_id = f"g-{secrets.token_hex(6)}"
        taken = conn.execute(select(grants_table.c.id).where(grants_table.c.id == grant_id))
        if taken.first() is None:
            return grant_id
