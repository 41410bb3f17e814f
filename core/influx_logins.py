"""The local stack's InfluxDB logins: one per role, generated on first start, kept 0600.

InfluxDB 1.x needs the plaintext password at every login, so unlike the broker's and the API's
secrets these cannot be stored hashed; the file is readable by its owner only, and nothing
prints or logs a password. `mainport up` hands each child its own role's login in the
environment; commands run by hand against the local stack (`mainport dead-letters`) find
their role's login here (`Settings.influx_login`).

Roles and what each may do on the platform's database (least privilege):

| role    | InfluxDB privilege    | used by                                                 |
|---------|-----------------------|---------------------------------------------------------|
| admin   | all (server admin)    | `mainport up`, `mainport influx-setup`: schema, users   |
| writer  | WRITE on the database | the ingest: writes points; may not read, drop or delete |
| deriver | ALL on the database   | the deriver: reads raw data, writes derived (`… INTO`)  |
| reader  | READ on the database  | the API, `mainport dead-letters`, Grafana               |
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.files import locked, write_private

Role = Literal["admin", "writer", "deriver", "reader"]
ROLES: tuple[Role, ...] = ("admin", "writer", "deriver", "reader")
DEFAULT_USERNAMES: dict[Role, str] = {
    "admin": "mainport_admin",
    "writer": "mainport_ingest",
    "deriver": "mainport_derive",
    "reader": "mainport_read",
}
# InfluxQL cannot take a user name as a bound parameter, so names are kept to characters that
# are safe inside its double quotes (no quote, backslash or space).
USERNAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
_USERNAME = re.compile(USERNAME_PATTERN)


def quoted_username(username: str) -> str:
    """`username` double-quoted for InfluxQL, refused unless it matches USERNAME_PATTERN."""
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"InfluxDB user name {username!r} must match {USERNAME_PATTERN}")
    return f'"{username}"'


@dataclass(frozen=True, slots=True)
class InfluxUser:
    username: str
    password: str

    def __repr__(self) -> str:  # never the password, wherever an object ends up printed
        return f"InfluxUser({self.username!r}, password=***)"


def load_logins(path: Path) -> dict[Role, InfluxUser]:
    """The logins in `path`, or none when the file does not exist (InfluxDB without auth)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {role: InfluxUser(**doc[role]) for role in ROLES if role in doc}


def ensure_logins(path: Path) -> dict[Role, InfluxUser]:
    """Every role's login, generating (256 random bits each) and saving those missing."""
    with locked(path):
        logins = load_logins(path)
        missing = [role for role in ROLES if role not in logins]
        if missing:
            for role in missing:
                logins[role] = InfluxUser(DEFAULT_USERNAMES[role], secrets.token_urlsafe(32))
            doc = {
                role: {"username": user.username, "password": user.password}
                for role, user in logins.items()
            }
            write_private(path, json.dumps(doc, indent=1))
    return logins
