"""The file-backed stores as the code before the control-plane database had them (commit
002279b: access/tokens.py `TokenStore`, access/broker.py `AccountStore`, access/grants.py
`GrantLog`), copied verbatim where they write, so a test can make a `var/` exactly as that code
did and prove the migration loses nothing (test_legacy_import.py). Not used by the product."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from access.logins import Account, account_username, hash_password, new_password
from access.tokens import OPERATOR, PARTNER, TokenRecord, _digest
from core.files import Stamp, append_private, locked, stamp, write_private
from domain.grants import Grant, grant_event, replay, revoke_event


class LegacyTokenStore:
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

    def issue(
        self,
        role: str,
        partner: str | None = None,
        label: str = "",
        expires_at: datetime | None = None,
    ) -> str:
        assert role in (OPERATOR, PARTNER)
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
        with locked(self.path):
            records = dict(self._records())
            if records.pop(token_id, None) is None:
                return False
            self._save(list(records.values()))
        return True

    def _save(self, records: list[TokenRecord]) -> None:
        write_private(self.path, json.dumps({"tokens": [asdict(r) for r in records]}, indent=1))


class LegacyAccountStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Account]:
        if not self.path.exists():
            return []
        return [Account(**row) for row in json.loads(self.path.read_text())["accounts"]]

    def save(self, accounts: list[Account]) -> None:
        write_private(self.path, json.dumps({"accounts": [asdict(a) for a in accounts]}, indent=1))

    def issue(self, scope: str, *, label: str | None = None, runtime: bool = False) -> str:
        password = new_password()
        username = account_username(scope, label)
        account = Account(
            username=username,
            scope=scope,
            password_hash=hash_password(password),
            issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
            runtime=runtime,
        )
        with locked(self.path):
            self.save([a for a in self.load() if a.username != username] + [account])
        return password

    def issue_device(self, partner: str, device: str, *, runtime: bool = False) -> str:
        password = new_password()
        account = Account(
            username=account_username(partner, device),
            scope=partner,
            password_hash=hash_password(password),
            issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
            runtime=runtime,
            device=device,
        )
        with locked(self.path):
            kept = [a for a in self.load() if a.username != account.username]
            self.save([*kept, account])
        return password

    def revoke(self, username: str) -> bool:
        with locked(self.path):
            accounts = self.load()
            kept = [a for a in accounts if a.username != username]
            if len(kept) == len(accounts):
                return False
            self.save(kept)
        return True


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LegacyGrantLog:
    """The old log's writes (its checks against the registry left out: the test gives valid
    grants)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def grants(self) -> list[Grant]:
        if not self.path.exists():
            return []
        return replay(json.loads(line) for line in self.path.read_text().splitlines() if line)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def add(self, owner: str, grantee: str, device: str, by: str, note: str = "") -> Grant:
        with locked(self.path):
            grant = Grant(
                id=f"g-{secrets.token_hex(6)}",
                owner=owner,
                grantee=grantee,
                device=device,
                granted_by=by,
                granted_at=now_text(),
                note=note,
            )
            append_private(self.path, json.dumps(grant_event(grant), ensure_ascii=False))
        return grant

    def revoke(self, grant: Grant, by: str) -> Grant:
        with locked(self.path):
            at = now_text()
            append_private(self.path, json.dumps(revoke_event(grant, by, at), ensure_ascii=False))
        return replace(grant, revoked_by=by, revoked_at=at)
