"""Erasure requests: a partner asks, the operator confirms, the deriver erases and records it.

Each step is a write transaction with its audit entry (controlplane/audit.py), so the audit
keeps what was erased, when, requested by and confirmed by whom — never the data itself. A
request is confirmed once; a confirmed one is done once (the first deriver to finish it
records it; a second replica finding it done skips it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from controlplane import audit
from controlplane.access_log_tables import erasure_requests
from controlplane.db import utcnow, write_tx


class ErasureRequestError(Exception):
    """A request that does not exist, or a step out of order (confirming twice)."""


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    id: str
    partner: str
    device: str | None
    reason: str
    requested_by: str
    requested_at: datetime
    confirmed_by: str | None
    confirmed_at: datetime | None
    done_at: datetime | None
    outcome: dict[str, Any] | None

    @property
    def state(self) -> str:
        if self.done_at is not None:
            return "done"
        return "confirmed" if self.confirmed_at is not None else "requested"

    def what(self) -> dict[str, Any]:
        """What the audit says about it: the request, never the data."""
        return {
            "request": self.id,
            "device": self.device,
            "scope": "device" if self.device is not None else "all of the partner's data",
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "confirmed_by": self.confirmed_by,
            "confirmed_at": None if self.confirmed_at is None else self.confirmed_at.isoformat(),
        }


def _entity(req: ErasureRequest) -> tuple[str, str]:
    if req.device is not None:
        return "device", f"{req.partner}/{req.device}"
    return "partner", req.partner


def request(engine: Engine, partner: str, device: str | None, reason: str, actor: str) -> str:
    rid = "er-" + secrets.token_hex(6)
    at = utcnow()
    with write_tx(engine) as (conn, _):
        conn.execute(
            insert(erasure_requests).values(
                id=rid,
                partner=partner,
                device=device,
                reason=reason,
                requested_by=actor,
                requested_at=at,
            )
        )
        entity, entity_id = ("device", f"{partner}/{device}") if device else ("partner", partner)
        audit.record(
            conn,
            actor=actor,
            action="erase-request",
            entity=entity,
            entity_id=entity_id,
            partner=partner,
            before=None,
            after={"request": rid, "reason": reason},
            at=at,
        )
    return rid


def get(engine: Engine, rid: str) -> ErasureRequest | None:
    with engine.connect() as conn:
        row = conn.execute(select(erasure_requests).where(erasure_requests.c.id == rid)).first()
    return None if row is None else ErasureRequest(**row._mapping)


def of_partner(engine: Engine, partner: str) -> list[ErasureRequest]:
    query = (
        select(erasure_requests)
        .where(erasure_requests.c.partner == partner)
        .order_by(erasure_requests.c.requested_at.desc())
    )
    with engine.connect() as conn:
        return [ErasureRequest(**r._mapping) for r in conn.execute(query)]


def confirm(engine: Engine, rid: str, actor: str) -> ErasureRequest:
    at = utcnow()
    with write_tx(engine) as (conn, _):
        row = conn.execute(select(erasure_requests).where(erasure_requests.c.id == rid)).first()
        if row is None:
            raise ErasureRequestError(f"no erasure request {rid!r}")
        if row.confirmed_at is not None:
            raise ErasureRequestError(f"erasure request {rid!r} is confirmed already")
        conn.execute(
            update(erasure_requests)
            .where(erasure_requests.c.id == rid)
            .values(confirmed_by=actor, confirmed_at=at)
        )
        req = ErasureRequest(**{**row._mapping, "confirmed_by": actor, "confirmed_at": at})
        entity, entity_id = _entity(req)
        audit.record(
            conn,
            actor=actor,
            action="erase-confirm",
            entity=entity,
            entity_id=entity_id,
            partner=req.partner,
            before=None,
            after=req.what(),
            at=at,
        )
    return req


def confirmed_not_done(engine: Engine) -> list[ErasureRequest]:
    query = (
        select(erasure_requests)
        .where(erasure_requests.c.confirmed_at.is_not(None), erasure_requests.c.done_at.is_(None))
        .order_by(erasure_requests.c.confirmed_at)
    )
    with engine.connect() as conn:
        return [ErasureRequest(**r._mapping) for r in conn.execute(query)]


def done(engine: Engine, req: ErasureRequest, outcome: dict[str, Any], actor: str) -> bool:
    """Record the erasure as done, with its audit entry `erase`; False if already recorded."""
    at = utcnow()
    with write_tx(engine) as (conn, _):
        changed = conn.execute(
            update(erasure_requests)
            .where(erasure_requests.c.id == req.id, erasure_requests.c.done_at.is_(None))
            .values(done_at=at, outcome=outcome)
        ).rowcount
        if not changed:
            return False
        entity, entity_id = _entity(req)
        audit.record(
            conn,
            actor=actor,
            action="erase",
            entity=entity,
            entity_id=entity_id,
            partner=req.partner,
            before=None,
            after={**req.what(), "erased_at": at.isoformat(), "outcome": outcome},
            at=at,
        )
    return True
