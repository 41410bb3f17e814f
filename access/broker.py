"""Broker accounts: Mosquitto's password file and the topic rights generated from the registry
and grants.

Only hashes are stored (Mosquitto's own `$7$` PBKDF2-SHA512 format, checked against the real
broker in the tests). Kinds of login (SPEC, "Access on the broker"): a gateway login (`partner`
or `partner.label`) reads and writes `{root}/{partner}/#`; a device login (`partner.device`)
publishes only under `{root}/{partner}/{device}/#`; the network collector writes
`{root}/_network/#`; each ingest replica (`_ingest`, `_ingest.name`) reads everything, also
through the ingest's shared subscription. A data-sharing grant adds the granted device's
telemetry topic, read-only, to the grantee's gateway logins. The broker takes every client id
from the login's username (`use_username_as_clientid`), so no login can take over another's
session or fire another's Last Will.

The rights are enforced by the dynamic-security plugin (access.dynsec says why not the ACL file,
which is still rendered for comparison: `bench/broker_acl.py`). Applying a change rewrites the
password file and sends the broker SIGHUP — Mosquitto 2.0 re-reads it without dropping anyone and
disconnects a client whose password no longer verifies (a rotated or revoked login) — then sends
the changed rights to the plugin as one batch of control commands.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from access.dynsec import (
    ADMIN_ACCOUNT,
    DYNSEC_FILE,
    SEND,
    Acl,
    ControlError,
    admin_acls,
    control_commands,
    load_config,
    read_only,
    read_write,
    render_dynsec,
    roles_of,
    send_commands,
)
from access.grants import GrantLog
from core.files import locked, write_private
from core.settings import Settings
from domain.grants import Grant, shared_topics
from domain.registry import NETWORK, SLUG_RE, Registry

INGEST_ACCOUNT = "_ingest"
NETWORK_ACCOUNT = "_network"
# The retain guard (ingest/retained.py): reads everything, and may clear a retained message
# anywhere under the root (it publishes empty retained messages only; see that module).
RETAIN_ACCOUNT = "_retain"
ALERT_ACCOUNT = "_alert"
"""The alert evaluator (alert/): publishes a partner's alerts on `{root}/{partner}/_alerts`,
nothing else, and reads nothing."""
ALERTS_TOPIC = "_alerts"
SERVICE_ACCOUNTS = (INGEST_ACCOUNT, NETWORK_ACCOUNT, RETAIN_ACCOUNT, ALERT_ACCOUNT)
ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 (a file name)
# Extra logins of one scope are `scope.label` (e.g. `woonbron.sim`, `woonbron.gateway-2`).
LABEL_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")

# Mosquitto 2.0's defaults for `mosquitto_passwd`: PBKDF2-SHA512, 101 rounds, 12-byte salt.
_ROUNDS = 101
_SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A password in the format of Mosquitto's password file (`$7$rounds$salt$hash`)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ROUNDS)
    return f"$7${_ROUNDS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


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


def validate_scope(scope: str, registry: Registry) -> None:
    if scope in SERVICE_ACCOUNTS:
        return
    if not SLUG_RE.fullmatch(scope):
        raise ValueError(f"{scope!r} is not a partner id (pattern [a-z0-9][a-z0-9-]{{1,31}})")
    if registry.partner(scope) is None:
        raise ValueError(f"unknown partner {scope!r}: not in the partners file")


def render_password_file(accounts: list[Account]) -> str:
    return "".join(f"{a.username}:{a.password_hash}\n" for a in sorted(accounts, key=_by_name))


def render_acl(
    accounts: list[Account], registry: Registry, root: str, grants: Iterable[Grant] = ()
) -> str:
    """Per-user topic rules. Accounts of partners no longer in the registry get no rules; active
    grants add read-only telemetry topics to every login of the grantee."""
    shared = shared_topics(grants, registry, root)
    out = ["# Generated by `mainport provision` from the partners file. Do not edit.\n"]
    for account in sorted(accounts, key=_by_name):
        rules = _rules(account.scope, registry, root)
        if not rules:
            continue
        rules += [("read", topic) for topic in shared.get(account.scope, [])]
        out.append(f"\nuser {account.username}\n")
        out.extend(f"topic {access} {topic}\n" for access, topic in rules)
    return "".join(out)


def _rules(scope: str, registry: Registry, root: str) -> list[tuple[str, str]]:
    """The ACL file's rules (the comparison baseline; it knows no device logins)."""
    if scope == INGEST_ACCOUNT:
        # The broker's uptime: how the ingest notices the broker restarted (a crash may have
        # lost messages it had acknowledged; domain/broker_clock.py).
        return [("read", f"{root}/#"), ("read", "$SYS/broker/uptime")]
    if scope == NETWORK_ACCOUNT:
        return [("readwrite", f"{root}/{NETWORK}/#")]
    if scope == RETAIN_ACCOUNT:
        return [("readwrite", f"{root}/#")]
    if scope == ALERT_ACCOUNT:
        return [("write", f"{root}/+/{ALERTS_TOPIC}")]
    if registry.partner(scope) is None:
        return []
    return [("readwrite", f"{root}/{scope}/#")]


def login_rights(
    account: Account, registry: Registry, root: str, shared: dict[str, list[str]]
) -> list[Acl]:
    """What one login may publish, receive and subscribe to; [] for a partner no longer
    registered. A subscription filter is allowed only inside these: with `$share/<group>/`
    in front too, so a partner's own shared subscriptions stay possible while the ingest's
    group on `{root}/#` is out of reach for everyone but an ingest login."""
    scope = account.scope
    if scope == INGEST_ACCOUNT:
        # $SYS/broker/uptime: how the ingest notices the broker restarted (a crash may have
        # lost messages it had acknowledged; domain/broker_clock.py).
        return (
            read_only(f"{root}/#")
            + read_only(f"$share/+/{root}/#")
            + read_only("$SYS/broker/uptime")
        )
    if scope == NETWORK_ACCOUNT:
        return read_write(f"{root}/{NETWORK}/#")
    if scope == RETAIN_ACCOUNT:
        return read_write(f"{root}/#")
    if scope == ALERT_ACCOUNT:
        return [(SEND, f"{root}/+/{ALERTS_TOPIC}")]
    if registry.partner(scope) is None:
        return []
    if account.device is not None:  # its own topics, and its partner's alerts
        return read_write(f"{root}/{scope}/{account.device}/#") + read_only(
            f"{root}/{scope}/{ALERTS_TOPIC}"
        )
    own = f"{root}/{scope}/#"
    rights = read_write(own) + read_only(f"$share/+/{own}")
    for topic in shared.get(scope, []):
        rights += read_only(topic) + read_only(f"$share/+/{topic}")
    return rights


def desired_roles(
    accounts: list[Account], registry: Registry, root: str, grants: Iterable[Grant] = ()
) -> dict[str, list[Acl]]:
    """Username → rights for every login that has any, plus the `_admin` control login."""
    shared = shared_topics(grants, registry, root)
    roles = {a.username: login_rights(a, registry, root, shared) for a in accounts}
    roles = {name: acls for name, acls in roles.items() if acls}
    roles[ADMIN_ACCOUNT] = admin_acls()
    return roles


def _by_name(account: Account) -> str:
    return account.username


class AccountStore:
    """Accounts as JSON under `var/secrets/` (hashes only), and the broker files made from it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Account]:
        if not self.path.exists():
            return []
        return [Account(**row) for row in json.loads(self.path.read_text())["accounts"]]

    def save(self, accounts: list[Account]) -> None:
        write_private(self.path, json.dumps({"accounts": [asdict(a) for a in accounts]}, indent=1))

    def issue(self, scope: str, *, label: str | None = None, runtime: bool = False) -> str:
        """Create or rotate a login; returns the password, which is not kept anywhere."""
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
        """Create or rotate the device login `partner.device`; returns its password."""
        if not LABEL_RE.fullmatch(device):
            raise ValueError(f"{device!r} is not a device id for a login")
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
        """Delete a login; False when there was none of that name."""
        with locked(self.path):
            accounts = self.load()
            kept = [a for a in accounts if a.username != username]
            if len(kept) == len(accounts):
                return False
            self.save(kept)
        return True

    def drop_runtime(self) -> None:
        with locked(self.path):
            self.save([a for a in self.load() if not a.runtime])


def admin_password(broker_dir: Path) -> str:
    """The `_admin` login's password (made on first use, 0600 beside the password file): the
    one secret that may change the broker's rights at run time."""
    path = broker_dir / ADMIN_PASSWORD_FILE
    if not path.exists():
        write_private(path, new_password())
    return path.read_text().strip()


def _render_files(
    accounts: list[Account], registry: Registry, root: str, broker_dir: Path, grants: list[Grant]
) -> None:
    admin = Account(ADMIN_ACCOUNT, ADMIN_ACCOUNT, hash_password(admin_password(broker_dir)), "")
    write_private(broker_dir / "passwd", render_password_file([*accounts, admin]))
    write_private(broker_dir / "acl", render_acl(accounts, registry, root, grants))


def write_broker_files(
    store: AccountStore,
    registry: Registry,
    root: str,
    broker_dir: Path,
    grants: Iterable[Grant] = (),
) -> None:
    """Render all files for a broker about to start; one writer at a time."""
    grants = list(grants)
    with locked(broker_dir / "acl"):
        accounts = store.load()
        _render_files(accounts, registry, root, broker_dir, grants)
        roles = desired_roles(accounts, registry, root, grants)
        write_private(broker_dir / DYNSEC_FILE, json.dumps(render_dynsec(roles), indent=1))


def reload_broker(pid_file: Path) -> bool:
    """SIGHUP a running broker so it re-reads passwd and ACL without dropping clients, and
    return once it has: True when the new files are in force.

    The pid file outlives the broker, and a pid can be reused by any other process, for which
    SIGHUP is fatal: only a live mosquitto started with this directory's config is signalled.
    """
    conf = pid_file.parent / "mosquitto.conf"
    try:
        pid = int(pid_file.read_text().strip())
        if not _runs_config(pid, conf):
            return False
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return False
    return _reload_fence(conf)


def _reload_fence(conf: Path) -> bool:
    """Wait until the broker has handled the SIGHUP.

    The signal only sets a flag; Mosquitto reloads at the end of its current loop pass. A new
    connection's CONNECT is read in a later pass, so its CONNACK (a refusal: this CONNECT has no
    login) proves the reload is done — a revoked grant must not leak one more message.
    """
    listener = _listener(conf)
    if listener is None:
        return False
    connect = b"\x10\x1a\x00\x04MQTT\x04\x02\x00\x05\x00\x0emainport-fence"
    try:
        with socket.create_connection(listener, timeout=5) as sock:
            sock.sendall(connect)
            return sock.recv(4)[:1] == b"\x20"  # CONNACK
    except (OSError, ValueError):
        return False


def _listener(conf: Path) -> tuple[str, int] | None:
    """The first listener of a generated config: (host, port)."""
    try:
        lines = conf.read_text().splitlines()
    except OSError:
        return None
    words = next((line.split() for line in lines if line.startswith("listener ")), None)
    if words is None or len(words) < 2 or not words[1].isdigit():
        return None
    return (words[2] if len(words) > 2 else "127.0.0.1", int(words[1]))


def _runs_config(pid: int, conf: Path) -> bool:
    """True when process `pid` is mosquitto with `-c conf` (paths compared resolved)."""
    proc = Path(f"/proc/{pid}")
    try:
        argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        cwd = (proc / "cwd").readlink()
    except OSError:
        return False
    if not argv or Path(argv[0]).name != "mosquitto" or "-c" not in argv[:-1]:
        return False
    given = Path(argv[argv.index("-c") + 1])
    return (cwd / given).resolve() == conf.resolve()


def apply_access(
    store: AccountStore,
    registry: Registry,
    root: str,
    broker_dir: Path,
    grants: Iterable[Grant],
    endpoint: tuple[str, int] | None = None,
) -> bool:
    """Bring a broker in line with the accounts and grants; True when a running one was.

    The password file first (SIGHUP: rotated and revoked logins are disconnected), then the
    rights through the dynamic-security plugin's control topic: the local broker's listener
    when a pid file names it, else `endpoint` (the broker in its own container). With no broker
    answering, the files are written for the next start.
    """
    grants = list(grants)
    with locked(broker_dir / "acl"):
        accounts = store.load()
        _render_files(accounts, registry, root, broker_dir, grants)
        roles = desired_roles(accounts, registry, root, grants)
        path = broker_dir / DYNSEC_FILE
        reloaded = reload_broker(broker_dir / "mosquitto.pid")
        target = _listener(broker_dir / "mosquitto.conf") if reloaded else endpoint
        applied = False
        if target is not None:
            commands = control_commands(roles_of(load_config(path)), roles)
            try:
                send_commands(*target, admin_password(broker_dir), commands)
                applied = True
            except ControlError:
                if reloaded:
                    raise
        write_private(path, json.dumps(render_dynsec(roles), indent=1))
    return reloaded or applied


def sync_broker(settings: Settings, registry: Registry) -> bool:
    """Apply the stored accounts and the active grants to the broker (see `apply_access`)."""
    return apply_access(
        AccountStore(settings.credentials_file),
        registry,
        settings.mqtt_root,
        settings.broker_dir,
        GrantLog(settings.grants_file).active(),
        (settings.mqtt_host, settings.mqtt_port),
    )
