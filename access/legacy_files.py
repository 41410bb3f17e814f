"""The files access/ kept under the data dir before the control-plane database, read once to
bring them into it.

Formats, exactly as the code before the database wrote them (commit 002279b):
`secrets/api-tokens.json` `{"tokens": [{id, role, partner, sha256, issued_at, label?,
expires_at?}]}`; `secrets/mqtt-credentials.json` `{"accounts": [{username, scope,
password_hash, issued_at, runtime?, device?}]}`; `grants/audit.jsonl` one event per line
(domain/grants.py `replay`). Revoked tokens and logins were deleted from their files, so all
that is in them is live.

The import keeps every hash, id and time as it was, so every token and password works as
before; a grant keeps its whole history, and the audit gets a row for each historical event
at its original time. It inserts only what the database does not hold yet, in one write
transaction (processes starting together import once), then renames each file to
`*.migrated` — kept, not deleted, for the operator to remove once satisfied.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from access.grants import insert_grant, public
from controlplane import audit
from controlplane.db import utcnow, write_tx
from controlplane.tables import api_tokens, grants, mqtt_logins
from core.files import locked
from domain.grants import Grant, GrantError, replay

log = logging.getLogger(__name__)

MIGRATED_SUFFIX = ".migrated"


class LegacyStateError(RuntimeError):
    """A former file that cannot be read: nothing is imported until it is repaired."""


@dataclass(frozen=True, slots=True)
class LegacyToken:
    id: str
    role: str
    partner: str | None
    sha256: str
    issued_at: str
    label: str = ""
    expires_at: str | None = None


@dataclass(frozen=True, slots=True)
class LegacyLogin:
    username: str
    scope: str
    password_hash: str
    issued_at: str
    runtime: bool = False
    device: str | None = None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LegacyStateError(f"{path}: cannot read it ({exc})") from None


def read_tokens(path: Path) -> list[LegacyToken]:
    rows = _json(path)
    try:
        return [LegacyToken(**row) for row in rows["tokens"]]
    except (KeyError, TypeError) as exc:
        raise LegacyStateError(f"{path}: not a token file ({exc})") from None


def read_logins(path: Path) -> list[LegacyLogin]:
    rows = _json(path)
    try:
        return [LegacyLogin(**row) for row in rows["accounts"]]
    except (KeyError, TypeError) as exc:
        raise LegacyStateError(f"{path}: not a broker credentials file ({exc})") from None


def read_grants(path: Path) -> list[Grant]:
    """Every grant the log gave, with its revocation if any."""
    return read_grant_log(path)[1]


def read_grant_log(path: Path) -> tuple[list[dict[str, Any]], list[Grant]]:
    """The log's events in their order, and the grants they give."""
    events: list[dict[str, Any]] = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise LegacyStateError(f"{path}: cannot read it ({exc})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LegacyStateError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(event, dict):
            raise LegacyStateError(f"{path}:{n}: not a JSON object")
        events.append(event)
    try:
        return events, replay(events)
    except GrantError as exc:
        raise LegacyStateError(f"{path}: {exc}") from None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def import_legacy_state(
    engine: Engine, tokens_file: Path, credentials_file: Path, grants_file: Path
) -> dict[str, int]:
    """Import whichever of the three files exist; returns how many records each added."""
    files = [p for p in (tokens_file, credentials_file, grants_file) if p.exists()]
    if not files:
        return {}
    counts: dict[str, int] = {}
    # One lock for the three, beside the data dir's secrets/ (it exists: a file is in it).
    with locked(tokens_file.parent.parent / "legacy-import"):
        files = [p for p in files if p.exists()]  # another process may have finished first
        if not files:
            return {}
        tokens = read_tokens(tokens_file) if tokens_file in files else []
        logins = read_logins(credentials_file) if credentials_file in files else []
        events, given = read_grant_log(grants_file) if grants_file in files else ([], [])
        with write_tx(engine) as (conn, _version):
            counts["tokens"] = _import_tokens(conn, tokens, f"system: imported from {tokens_file}")
            counts["logins"] = _import_logins(
                conn, logins, f"system: imported from {credentials_file}"
            )
            counts["grants"] = _import_grants(conn, events, given)
        for path in files:
            target = path.with_name(path.name + MIGRATED_SUFFIX)
            if target.exists():
                target = path.with_name(f"{path.name}.{utcnow():%Y%m%dT%H%M%S}{MIGRATED_SUFFIX}")
            path.rename(target)
            log.warning("imported %s into the control-plane database; kept as %s", path, target)
    log.warning(
        "control-plane database: imported %(tokens)d API tokens, %(logins)d MQTT logins and "
        "%(grants)d grants from the data dir's former files",
        counts,
    )
    return counts


def _import_tokens(conn: Connection, tokens: list[LegacyToken], actor: str) -> int:
    have = set(conn.execute(select(api_tokens.c.id)).scalars())
    added = 0
    for token in tokens:
        if token.id in have:
            continue
        issued = _time(token.issued_at) or utcnow()
        conn.execute(
            insert(api_tokens).values(
                id=token.id,
                role=token.role,
                partner=token.partner,
                sha256=token.sha256,
                label=token.label,
                issued_at=issued,
                expires_at=_time(token.expires_at),
            )
        )
        public = {
            "role": token.role,
            "partner": token.partner,
            "label": token.label,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
        }
        audit.record(
            conn,
            actor=actor,
            action="create",
            entity="token",
            entity_id=token.id,
            partner=token.partner,
            before=None,
            after=public,
            at=issued,
        )
        added += 1
    return added


def _import_logins(conn: Connection, logins: list[LegacyLogin], actor: str) -> int:
    have = set(conn.execute(select(mqtt_logins.c.username)).scalars())
    added = 0
    for login in logins:
        if login.username in have:
            continue
        issued = _time(login.issued_at) or utcnow()
        conn.execute(
            insert(mqtt_logins).values(
                username=login.username,
                scope=login.scope,
                device=login.device,
                password_hash=login.password_hash,
                runtime=login.runtime,
                issued_at=issued,
            )
        )
        public = {
            "scope": login.scope,
            "device": login.device,
            "runtime": login.runtime,
            "issued_at": login.issued_at,
        }
        audit.record(
            conn,
            actor=actor,
            action="create",
            entity="login",
            entity_id=login.username,
            partner=None if login.scope.startswith("_") else login.scope,
            before=None,
            after=public,
            at=issued,
        )
        added += 1
    return added


def _import_grants(conn: Connection, events: list[dict[str, Any]], given: list[Grant]) -> int:
    """Each grant as it stands now, and an audit row per event in the log's order (so events at
    the same millisecond keep their order), at its original time."""
    have = set(conn.execute(select(grants.c.id)).scalars())
    new = {g.id: g for g in given if g.id not in have}
    for grant in new.values():
        insert_grant(conn, grant)  # purpose "": not asked for then (shown "(not recorded)")
    revoked: set[str] = set()
    for event in events:
        found = new.get(str(event["id"]))
        if found is None:
            continue
        granted = replace(found, revoked_by=None, revoked_at=None)
        if event["event"] == "grant":
            action, actor, before, after = "create", found.granted_by, None, public(granted)
        elif found.id in revoked or found.revoked_by is None:
            continue  # a repeated revoke changed nothing (domain/grants.py `replay`)
        else:
            revoked.add(found.id)
            action, actor = "revoke", found.revoked_by
            before, after = public(granted), public(found)
        audit.record(
            conn,
            actor=actor,
            action=action,
            entity="grant",
            entity_id=found.id,
            partner=found.owner,
            before=before,
            after=after,
            at=_time(str(event["at"])),
        )
    return len(new)
