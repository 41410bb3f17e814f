"""API tokens: issued once, stored as SHA-256 hashes, scoped to the operator or one partner.

A token is `mp_<id>_<secret>` with 256 random bits of secret, so a fast hash is enough (no
password to brute-force) and the id finds the record without comparing against every hash.
The file is re-read when it changes, so a running API accepts new tokens without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

OPERATOR = "operator"
PARTNER = "partner"


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


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    role: str
    partner: str | None
    sha256: str
    issued_at: str
    label: str = ""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: dict[str, TokenRecord] = {}
        self._mtime_ns: int | None = None

    def _records(self) -> dict[str, TokenRecord]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != self._mtime_ns:
            rows = json.loads(self.path.read_text())["tokens"]
            self._cache = {row["id"]: TokenRecord(**row) for row in rows}
            self._mtime_ns = mtime
        return self._cache

    def issue(self, role: str, partner: str | None = None, label: str = "") -> str:
        """Create a token and return it; only its hash is kept."""
        if role not in (OPERATOR, PARTNER) or (role == PARTNER) != (partner is not None):
            raise ValueError("a token is either for the operator or for exactly one partner")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = TokenRecord(
            id=token_id,
            role=role,
            partner=partner,
            sha256=_digest(secret),
            issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
            label=label,
        )
        records = dict(self._records())
        records[token_id] = record
        self._save(list(records.values()))
        return f"mp_{token_id}_{secret}"

    def revoke(self, token_id: str) -> bool:
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
        return Principal(record.role, record.partner, record.id)

    def _save(self, records: list[TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"tokens": [asdict(r) for r in records]}, handle, indent=1)
        tmp.replace(self.path)
