"""Broker logins in the control-plane database (`mqtt_logins`): Mosquitto's own `$7$` hashes,
never a password.

Kinds of login (SPEC, "Access on the broker"): a gateway login (`partner` or `partner.label`), a
device login (`partner.device`), the services' logins (`_ingest`, `_network`, `_retain`, each
with labelled extras). Issuing creates or rotates a login, revoking keeps its row (`revoked_at`)
so the audit's history of a username stays whole; both are one write transaction with an audit
row that names the login and who changed it, never its hash. Two processes issuing at once are
serialised by the transaction (controlplane/db.py `write_tx`), so neither loses the other's
login. The broker's password file and rights are rendered from here (access/broker.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from controlplane import audit
from controlplane.audit import cli_actor
from controlplane.db import utcnow, write_tx
from controlplane.tables import mqtt_logins

# Extra logins of one scope are `scope.label` (e.g. `woonbron.sim`, `woonbron.gateway-2`).
LABEL_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
ENTITY = "login"

# Mosquitto 2.0's defaults for `mosquitto_passwd`: PBKDF2-SHA512, 101 rounds, 12-byte salt.
_ROUNDS = 101
_SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A password in the format of Mosquitto's password file (`$7$rounds$salt$hash`)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ROUNDS)
    return f"$7${_ROUNDS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verifies(password_hash: str, password: str) -> bool:
    """True when `password` is the one `password_hash` (`$7$…`) was made from."""
    parts = password_hash.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, salt=salt), password_hash)


def new_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class Account:
    """One broker login. `scope` is a partner id, `_network`, or `_ingest`."""

    username: str
    scope: str
    password_hash: str
    issued_at: str
    # Run-time accounts are minted by `mainport up` for its own children and replaced each run.
    runtime: bool = False
    # Set for a device login (`partner.device`): it publishes as that one device only.
    device: str | None = None


def account_username(scope: str, label: str | None = None) -> str:
    """`scope` for the main login of a partner or service, `scope.label` for extra ones."""
    if label is not None and not LABEL_RE.fullmatch(label):
        raise ValueError(f"{label!r} is not a login label (pattern [a-z0-9][a-z0-9-]{{0,31}})")
    return scope if label is None else f"{scope}.{label}"


def time_text(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def partner_of(scope: str) -> str | None:
    """Whose login it is for the audit: a partner's, or None for the platform's services."""
    return None if scope.startswith("_") else scope


def public(account: Account) -> dict[str, Any]:
    """What the audit keeps of a login: never its hash."""
    return {
        "scope": account.scope,
        "device": account.device,
        "runtime": account.runtime,
        "issued_at": account.issued_at,
    }


def _account(row: Any) -> Account:
    return Account(
        username=row.username,
        scope=row.scope,
        password_hash=row.password_hash,
        issued_at=time_text(row.issued_at),
        runtime=bool(row.runtime),
        device=row.device,
    )


class AccountStore:
    """The broker's logins in the control-plane database. `actor` names who issues and revokes
    in the audit (default: the CLI's OS user)."""

    def __init__(self, engine: Engine, *, actor: str | None = None) -> None:
        self.engine = engine
        self.actor = actor

    def load(self) -> list[Account]:
        """Every live login, by username."""
        query = (
            select(mqtt_logins)
            .where(mqtt_logins.c.revoked_at.is_(None))
            .order_by(mqtt_logins.c.username)
        )
        with self.engine.connect() as conn:
            return [_account(row) for row in conn.execute(query)]

    def issue(self, scope: str, *, label: str | None = None, runtime: bool = False) -> str:
        """Create or rotate a login; returns the password, which is not kept anywhere."""
        password = new_password()
        self._put(account_username(scope, label), scope, None, hash_password(password), runtime)
        return password

    def issue_device(self, partner: str, device: str, *, runtime: bool = False) -> str:
        """Create or rotate the device login `partner.device`; returns its password."""
        if not LABEL_RE.fullmatch(device):
            raise ValueError(f"{device!r} is not a device id for a login")
        password = new_password()
        username = account_username(partner, device)
        self._put(username, partner, device, hash_password(password), runtime)
        return password

    def set_password(self, username: str, scope: str, password: str) -> bool:
        """Make `password` the login's (a service password set in the environment, e.g. by
        compose); False when the stored hash already verifies it (nothing written)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(mqtt_logins).where(
                    mqtt_logins.c.username == username, mqtt_logins.c.revoked_at.is_(None)
                )
            ).first()
        if row is not None and row.scope == scope and verifies(row.password_hash, password):
            return False
        self._put(username, scope, None, hash_password(password), runtime=False)
        return True

    def _put(
        self, username: str, scope: str, device: str | None, password_hash: str, runtime: bool
    ) -> None:
        now = utcnow().replace(microsecond=0)
        with write_tx(self.engine) as (conn, _version):
            row = conn.execute(
                select(mqtt_logins).where(mqtt_logins.c.username == username)
            ).first()
            values = {
                "scope": scope,
                "device": device,
                "password_hash": password_hash,
                "runtime": runtime,
                "issued_at": now,
                "revoked_at": None,
            }
            if row is None:
                conn.execute(insert(mqtt_logins).values(username=username, **values))
            else:
                conn.execute(
                    update(mqtt_logins).where(mqtt_logins.c.username == username).values(**values)
                )
            live_before = row is not None and row.revoked_at is None
            after = Account(username, scope, "", time_text(now), runtime, device)
            audit.record(
                conn,
                actor=self.actor or cli_actor(),
                action="rotate" if live_before else "create",
                entity=ENTITY,
                entity_id=username,
                partner=partner_of(scope),
                before=public(_account(row)) if live_before else None,
                after=public(after),
            )

    def revoke(self, username: str) -> bool:
        """Revoke a login (its row stays, marked); False when there was no live one of that
        name."""
        with write_tx(self.engine) as (conn, _version):
            return self._revoke(conn, mqtt_logins.c.username == username) > 0

    def drop_runtime(self) -> None:
        """Revoke every run-time login (`mainport up` mints fresh ones each run)."""
        with write_tx(self.engine) as (conn, _version):
            self._revoke(conn, mqtt_logins.c.runtime.is_(True))

    def _revoke(self, conn: Connection, which: Any) -> int:
        rows = conn.execute(
            select(mqtt_logins).where(which, mqtt_logins.c.revoked_at.is_(None))
        ).all()
        now = utcnow()
        for row in rows:
            conn.execute(
                update(mqtt_logins)
                .where(mqtt_logins.c.username == row.username, mqtt_logins.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            audit.record(
                conn,
                actor=self.actor or cli_actor(),
                action="revoke",
                entity=ENTITY,
                entity_id=row.username,
                partner=partner_of(row.scope),
                before=public(_account(row)),
                after={"revoked_at": time_text(now)},
            )
        return len(rows)
