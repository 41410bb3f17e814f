"""API tokens: issued once, stored as SHA-256 hashes, scoped to the operator or one partner,
valid until revoked or until their optional expiry.

A token is `mp_<id>_<secret>` with 256 random bits of secret, so a fast hash is enough (no
password to brute-force) and the id finds the record without comparing against every hash.
The file is re-read when it changes (inode, size or mtime), so a running API accepts new tokens
and refuses revoked ones without a restart. Issuing and revoking hold the file's lock, so the CLI
and a running API never lose each other's changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.files import Stamp, locked, stamp, write_private

OPERATOR = "operator"
PARTNER = "partner"

TOKEN_ID_RE = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the operator (sees everything) or one partner."""

    role: str
    partner: str | None
    token_id: str

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    def may_see(self, partner_id: str) -> bool:
        return self.is_operator or self.partner == partner_id

    @property
    def actor(self) -> str:
        """How the audit log names this principal: role, partner and token id, never the secret."""
        who = "operator" if self.is_operator else f"partner {self.partner}"
        return f"{who} (API token {self.token_id})"


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


def parse_expiry(text: str, now: datetime) -> datetime:
    """`--expires`: a lifetime (`12h`, `30d`, `8w`) from `now`, or an ISO 8601 time (UTC when
    it names no zone; a bare date is its midnight UTC). It must lie in the future."""
    text = text.strip()
    if match := _LIFETIME.fullmatch(text):
        when = now + int(match[1]) * _LIFETIME_UNIT[match[2]]
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"--expires {text!r}: expected a lifetime like 12h, 30d, 8w or an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    if when <= now:
        raise ValueError(f"--expires {text!r}: that is not in the future")
    return when


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: dict[str, TokenRecord] = {}
        self._stamp: Stamp | None = None

    def _records(self) -> dict[str, TokenRecord]:
        current = stamp(self.path)
        if current is None:
            return {}
        if current != self._stamp:
            rows = json.loads(self.path.read_text())["tokens"]
            self._cache = {row["id"]: TokenRecord(**row) for row in rows}
            self._stamp = current
        return self._cache

    def records(self) -> list[TokenRecord]:
        """Every live token, oldest first (hashes included; never print those)."""
        return sorted(self._records().values(), key=lambda r: (r.issued_at, r.id))

    def issue(
        self,
        role: str,
        partner: str | None = None,
        label: str = "",
        expires_at: datetime | None = None,
    ) -> str:
        """Create a token and return it; only its hash is kept."""
        if role not in (OPERATOR, PARTNER) or (role == PARTNER) != (partner is not None):
            raise ValueError("a token is either for the operator or for exactly one partner")
        if expires_at is not None and expires_at.tzinfo is None:
            raise ValueError("a token's expiry needs a time zone")
        secret = secrets.token_urlsafe(32)
        with locked(self.path):
            records = dict(self._records())
            token_id = secrets.token_hex(6)
            while token_id in records:
                token_id = secrets.token_hex(6)
            records[token_id] = TokenRecord(
                id=token_id,
                role=role,
                partner=partner,
                sha256=_digest(secret),
                issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
                label=label,
                expires_at=(
                    expires_at.astimezone(UTC).isoformat(timespec="seconds") if expires_at else None
                ),
            )
            self._save(list(records.values()))
        return f"mp_{token_id}_{secret}"

    def revoke(self, token_id: str) -> bool:
        """Delete a token by its id; a running API refuses it from its next request on."""
        with locked(self.path):
            records = dict(self._records())
            if records.pop(token_id, None) is None:
                return False
            self._save(list(records.values()))
        return True

    def authenticate(self, token: str) -> Principal | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "mp":
            return None
        record = self._records().get(parts[1])
        if record is None or not hmac.compare_digest(record.sha256, _digest(parts[2])):
            return None
        if record.expired(datetime.now(UTC)):
            return None
        return Principal(record.role, record.partner, record.id)

    def _save(self, records: list[TokenRecord]) -> None:
        write_private(self.path, json.dumps({"tokens": [asdict(r) for r in records]}, indent=1))
