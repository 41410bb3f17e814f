"""The grant log on disk: `var/grants/audit.jsonl`, one JSON event per line, append-only.

Every change takes the file's lock, replays the log, checks the request against the result and
appends; readers (the API on each request) re-read only when the file changed, so a revocation
counts from the next request on. Nothing in this file is secret, but it says who shares what
with whom, so it is kept owner-only like the rest of the data dir.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.files import Stamp, append_private, locked, stamp
from domain.grants import (
    GRANT_ID_RE,
    MAX_NOTE,
    AlreadyRevoked,
    Grant,
    GrantError,
    UnknownGrant,
    check_grant,
    grant_event,
    replay,
    revoke_event,
)
from domain.registry import Registry


class GrantLogError(RuntimeError):
    """The log cannot be read; grant-based access is refused until an operator repairs it."""


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GrantLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: Stamp | None = None
        self._events: list[dict[str, Any]] = []
        self._grants: list[Grant] = []

    def _load(self) -> None:
        current = stamp(self.path)
        if current is None:
            self._stamp, self._events, self._grants = None, [], []
            return
        if current == self._stamp:
            return
        events: list[dict[str, Any]] = []
        for n, line in enumerate(self.path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                raise GrantLogError(f"{self.path}:{n}: not JSON ({exc.msg})") from None
            if not isinstance(event, dict):
                raise GrantLogError(f"{self.path}:{n}: not a JSON object")
            events.append(event)
        try:
            grants = replay(events)
        except GrantError as exc:
            raise GrantLogError(f"{self.path}: {exc}") from None
        self._stamp, self._events, self._grants = current, events, grants

    def events(self) -> list[dict[str, Any]]:
        """The whole history, oldest first."""
        self._load()
        return list(self._events)

    def grants(self) -> list[Grant]:
        """Every grant ever given, revoked ones included, oldest first."""
        self._load()
        return list(self._grants)

    def active(self) -> list[Grant]:
        return [g for g in self.grants() if g.active]

    def add(
        self,
        registry: Registry,
        owner: str,
        grantee: str,
        devices: Sequence[str],
        by: str,
        note: str = "",
    ) -> tuple[list[Grant], list[Grant]]:
        """Grant `grantee` read access to `devices` of `owner`'s.

        Returns (new grants, grants that already existed). All devices are checked before
        anything is written, so a bad request changes nothing.
        """
        if not devices:
            raise GrantError("name at least one device")
        if len(note) > MAX_NOTE or not note.isprintable():
            raise GrantError(f"note: at most {MAX_NOTE} printable characters")
        for device in devices:
            check_grant(registry, owner, grantee, device)
        with locked(self.path):
            existing = {(g.owner, g.grantee, g.device): g for g in self.grants() if g.active}
            taken = {g.id for g in self._grants}
            created: list[Grant] = []
            already: list[Grant] = []
            for device in dict.fromkeys(devices):  # keeps order, drops repeats
                found = existing.get((owner, grantee, device))
                if found is not None:
                    already.append(found)
                    continue
                grant = Grant(
                    id=_new_id(taken),
                    owner=owner,
                    grantee=grantee,
                    device=device,
                    granted_by=by,
                    granted_at=now_text(),
                    note=note,
                )
                taken.add(grant.id)
                append_private(self.path, json.dumps(grant_event(grant), ensure_ascii=False))
                created.append(grant)
        return created, already

    def revoke(self, grant_id: str, by: str, *, owner: str | None = None) -> Grant:
        """Revoke an active grant; with `owner`, only one of that partner's own grants."""
        if not GRANT_ID_RE.fullmatch(grant_id):
            raise GrantError(f"{grant_id!r} is not a grant id (g- and 12 hex digits)")
        with locked(self.path):
            grant = next((g for g in self.grants() if g.id == grant_id), None)
            if grant is None or (owner is not None and grant.owner != owner):
                raise UnknownGrant(f"no grant {grant_id}" + (f" of {owner}" if owner else ""))
            if not grant.active:
                raise AlreadyRevoked(
                    f"grant {grant_id} was already revoked at {grant.revoked_at} "
                    f"by {grant.revoked_by}"
                )
            at = now_text()
            append_private(self.path, json.dumps(revoke_event(grant, by, at), ensure_ascii=False))
        return replace(grant, revoked_by=by, revoked_at=at)


def _new_id(taken: set[str]) -> str:
    while True:
        grant_id = f"g-{secrets.token_hex(6)}"
        if grant_id not in taken:
            return grant_id
