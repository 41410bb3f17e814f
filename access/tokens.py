"""API tokens: issued once, stored as SHA-256 hashes, scoped to the operator or one partner,
valid until revoked or until their optional expiry.

A token is `mp_<id>_<secret>` with 256 random bits of secret, so a fast hash is enough (no
password to brute-force) and the id finds the record without comparing against every hash.
Tokens live in the control-plane database (`api_tokens`, hashes only): every API replica looks
a token up by its id on each request, so a new token works and a revoked one is refused from the
next request on, on every host. Issuing and revoking are one write transaction each with their
audit row (never the hash); a revoked token keeps its row (`revoked_at`), so its id is never
given again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update

from controlplane import audit
from controlplane.audit import cli_actor
from controlplane.db import utcnow, write_tx
from controlplane.tables import api_tokens

OPERATOR = "operator"
PARTNER = "partner"

TOKEN_ID_RE = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the operator (sees everything) or one partner."""

    role: str
    partner: str | None
    token_id: str
    label: str = ""  # the token's label, for the access log (api/access_log.py)

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    def may_see(self, partner_id: str) -> bool:
        return self.is_operator or self.partner == partner_id

    @property
    def actor(self) -> str:
        """How the audit names this principal: role, partner, token id and label, never the
        secret."""
        who = "operator" if self.is_operator else f"partner {self.partner}"
        token = f"API token {self.token_id}"
        return f"{who} ({token} {self.label!r})" if self.label else f"{who} ({token})"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    role: str
    partner: str | None
    sha256: str
    issued_at: str
    label: str = ""
    # RFC 3339 UTC; None: valid until revoked. From then on the API answers 401.
    expires_at: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and datetime.fromisoformat(self.expires_at) <= now


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_id_of(text: str) -> str | None:
    """The id in a token id or a whole token (`mp_<id>_<secret>`), or None if it is neither."""
    if TOKEN_ID_RE.fullmatch(text):
        return text
    parts = text.split("_", 2)
    if len(parts) == 3 and parts[0] == "mp" and TOKEN_ID_RE.fullmatch(parts[1]):
        return parts[1]
    return None


_LIFETIME = re.compile(r"(\d{1,6})([hdw])")
_LIFETIME_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_expiry(text: str, now: datetime, option: str = "--expires") -> datetime:
    """`--expires` (or `option`): a lifetime (`12h`, `30d`, `8w`) from `now`, or an ISO 8601
    time (UTC when it names no zone; a bare date is its midnight UTC). It must lie in the
    future."""
    text = text.strip()
    if match := _LIFETIME.fullmatch(text):
        when = now + int(match[1]) * _LIFETIME_UNIT[match[2]]
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{option} {text!r}: expected a lifetime like 12h, 30d, 8w or an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    if when <= now:
        raise ValueError(f"{option} {text!r}: that is not in the future")
    return when


ENTITY = "token"


def time_text(when: datetime) -> str:
    """A token time as the API and CLI have always shown it: RFC 3339 UTC, whole seconds."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        role=row.role,
        partner=row.partner,
        sha256=row.sha256,
        issued_at=time_text(row.issued_at),
        label=row.label,
        expires_at=None if row.expires_at is None else time_text(row.expires_at),
    )


def _public(record: TokenRecord) -> dict[str, Any]:
    """What the audit keeps of a token: never its hash."""
    return {
        "role": record.role,
        "partner": record.partner,
        "label": record.label,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
    }


_LIVE_BY_ID = select(api_tokens).where(
    api_tokens.c.id == bindparam("token_id"), api_tokens.c.revoked_at.is_(None)
)


class TokenStore:
    """API tokens in the control-plane database. `actor` names who issues and revokes in the
    audit (default: the CLI's OS user)."""

    def __init__(self, engine: Engine, *, actor: str | None = None) -> None:
        self.engine = engine
        self.actor = actor

    def records(self) -> list[TokenRecord]:
        """Every live token, oldest first (hashes included; never print those)."""
        query = (
            select(api_tokens)
            .where(api_tokens.c.revoked_at.is_(None))
            .order_by(api_tokens.c.issued_at, api_tokens.c.id)
        )
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def record(self, token_id: str) -> TokenRecord | None:
        """One live token by its id, or None (on every API request: one primary-key lookup,
        its statement built once)."""
        with self.engine.connect() as conn:
            row = conn.execute(_LIVE_BY_ID, {"token_id": token_id}).first()
        return None if row is None else _record(row)

    def issue(
        self,
        role: str,
        partner: str | None = None,
        label: str = "",
        expires_at: datetime | None = None,
        *,
        by: str | None = None,
    ) -> str:
        """Create a token and return it; only its hash is kept."""
        if role not in (OPERATOR, PARTNER) or (role == PARTNER) != (partner is not None):
            raise ValueError("a token is either for the operator or for exactly one partner")
        if expires_at is not None and expires_at.tzinfo is None:
            raise ValueError("a token's expiry needs a time zone")
        secret = secrets.token_urlsafe(32)
        now = utcnow().replace(microsecond=0)
        with write_tx(self.engine) as (conn, _version):
            token_id = secrets.token_hex(6)
            taken = select(api_tokens.c.id).where(api_tokens.c.id == token_id)
            while conn.execute(taken).first() is not None:  # ids are never given twice
                token_id = secrets.token_hex(6)
                taken = select(api_tokens.c.id).where(api_tokens.c.id == token_id)
            expiry = (
                None if expires_at is None else expires_at.astimezone(UTC).replace(microsecond=0)
            )
            conn.execute(
                insert(api_tokens).values(
                    id=token_id,
                    role=role,
                    partner=partner,
                    sha256=_digest(secret),
                    label=label,
                    issued_at=now,
                    expires_at=expiry,
                )
            )
            record = TokenRecord(
                token_id,
                role,
                partner,
                "",
                time_text(now),
                label,
                None if expiry is None else time_text(expiry),
            )
            audit.record(
                conn,
                actor=by or self.actor or cli_actor(),
                action="create",
                entity=ENTITY,
                entity_id=token_id,
                partner=partner,
                before=None,
                after=_public(record),
            )
        return f"mp_{token_id}_{secret}"

    def revoke(self, token_id: str, *, by: str | None = None) -> bool:
        """Revoke a token by its id; every API replica refuses it from its next request on.
        False when there is no live token of that id."""
        with write_tx(self.engine) as (conn, _version):
            row = conn.execute(
                select(api_tokens).where(
                    api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)
                )
            ).first()
            if row is None:
                return False
            now = utcnow()
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            audit.record(
                conn,
                actor=by or self.actor or cli_actor(),
                action="revoke",
                entity=ENTITY,
                entity_id=token_id,
                partner=row.partner,
                before=_public(_record(row)),
                after={"revoked_at": time_text(now)},
            )
        return True

    def authenticate(self, token: str) -> Principal | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "mp" or not TOKEN_ID_RE.fullmatch(parts[1]):
            return None
        record = self.record(parts[1])
        if record is None or not hmac.compare_digest(record.sha256, _digest(parts[2])):
            return None
        if record.expired(datetime.now(UTC)):
            return None
        return Principal(record.role, record.partner, record.id, record.label)
