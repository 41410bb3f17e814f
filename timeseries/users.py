"""InfluxDB's users for the platform: the first admin, then one login per role with its grant.

With authentication on and no user yet, InfluxDB 1.x accepts exactly one statement without
credentials: creating an admin. Everything after that is done as that admin. Passwords travel
as bound parameters (`$password`), never in the query text; user names cannot be bound in
InfluxQL, so they are checked against a strict pattern (core/influx_logins.py) and quoted.
Running it again changes nothing but what differs (a password, a privilege): safe at every start.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing

from core.influx_logins import InfluxUser, Role, quoted_username
from timeseries.client import InfluxClient, StoreError, StoreUnauthorized

# Each role's privilege on the platform's database; "admin" is a server admin instead.
PRIVILEGES: dict[Role, str] = {"writer": "WRITE", "deriver": "ALL", "reader": "READ"}


class InfluxSetupError(StoreError):
    """The users cannot be set up; the message says what an operator must do."""


def ensure_admin(url: str, admin: InfluxUser, timeout_s: float = 10.0) -> None:
    """Make sure `admin` can log in, creating it when InfluxDB has no user yet."""
    with _client(url, admin, timeout_s) as client:
        try:
            client.query("SHOW USERS", db=False, epoch=None)
            return
        except StoreUnauthorized:
            pass
    anonymous = InfluxClient(url, "_", timeout_s=timeout_s)
    try:
        anonymous.query(
            f"CREATE USER {_name(admin)} WITH PASSWORD $password WITH ALL PRIVILEGES",
            {"password": admin.password},
            db=False,
        )
    except StoreUnauthorized:
        raise InfluxSetupError(
            f"InfluxDB at {url} has users already, and admin {admin.username!r} cannot log "
            "in with the password Mainport keeps: restore the logins file (or the "
            "MAINPORT_INFLUX_ADMIN_* settings) that belongs to this InfluxDB"
        ) from None
    finally:
        anonymous.close()


def ensure_users(
    url: str, db: str, admin: InfluxUser, users: Mapping[Role, InfluxUser], timeout_s: float = 10.0
) -> None:
    """Create or update every role's user and give it exactly its privilege on `db`.

    `db` must exist (InfluxDB refuses a grant on a missing database): create the schema first.
    """
    names = [admin.username, *(users[role].username for role in PRIVILEGES)]
    if len(set(names)) != len(names):
        raise InfluxSetupError(f"the InfluxDB logins must have four different names: {names}")
    with _client(url, admin, timeout_s) as client:
        listed = client.query("SHOW USERS", db=False, epoch=None)[0]
        existing = {row["user"]: bool(row["admin"]) for s in listed for row in s.records()}
        for role, privilege in PRIVILEGES.items():
            user = users[role]
            name = _name(user)
            if user.username in existing:
                client.query(
                    f"SET PASSWORD FOR {name} = $password", {"password": user.password}, db=False
                )
                if existing[user.username]:  # once an admin: a role gets no server rights
                    client.query(f"REVOKE ALL PRIVILEGES FROM {name}", db=False)
            else:
                client.query(
                    f"CREATE USER {name} WITH PASSWORD $password",
                    {"password": user.password},
                    db=False,
                )
            grants = client.query(f"SHOW GRANTS FOR {name}", db=False, epoch=None)[0]
            held = {row["database"]: row["privilege"] for s in grants for row in s.records()}
            if held.get(db) != ("ALL PRIVILEGES" if privilege == "ALL" else privilege):
                client.query(f'REVOKE ALL PRIVILEGES ON "{db}" FROM {name}', db=False)
                client.query(f'GRANT {privilege} ON "{db}" TO {name}', db=False)


def _name(user: InfluxUser) -> str:
    try:
        return quoted_username(user.username)
    except ValueError as exc:
        raise InfluxSetupError(str(exc)) from None


def _client(url: str, user: InfluxUser, timeout_s: float) -> closing[InfluxClient]:
    return closing(
        InfluxClient(url, "_", username=user.username, password=user.password, timeout_s=timeout_s)
    )
