"""Topic rights enforced by Mosquitto's dynamic-security plugin, rendered from the accounts.

Why the plugin and not the ACL file: Mosquitto 2.0.11's ACL file grants every SUBSCRIBE
(`security_default.c`: "FIXME - implement ACL subscription strings") and checks read access only
when it delivers. A partner could therefore join the ingest's shared subscription
(`$share/mainport-ingest/mainport/#`); the broker then hands it its round-robin share of all
partners' messages and drops each one the partner may not read — lost for the ingest too. The
plugin checks the filter at subscribe time (`subscribePattern`, `$share/<group>/` included) and
answers SUBACK "Not authorized", so the ingest's group can only ever hold ingest replicas.

Passwords stay in Mosquitto's password file (reloaded by SIGHUP, see access.broker): the plugin's
clients carry no password, so it defers authentication to that file and only decides ACLs. One
role per login, named after it; the defaults deny everything not granted. A running broker is
changed over `$CONTROL/dynamic-security/v1` by the `_admin` login (the plugin does not re-read its
file on SIGHUP), as one batch of commands, so no message is delivered under a half-applied state.
The plugin disconnects the clients of a role whose ACLs change (without their Last Will), so a
grant given or revoked makes the grantee's logins reconnect; no other login is touched.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ADMIN_ACCOUNT = "_admin"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
DYNSEC_FILE = "dynamic-security.json"

# (acltype, topic) pairs; every ACL here allows.
Acl = tuple[str, str]
SEND, RECEIVE, SUBSCRIBE = "publishClientSend", "publishClientReceive", "subscribePattern"


def read_write(topic_filter: str) -> list[Acl]:
    return [(SEND, topic_filter), (RECEIVE, topic_filter), (SUBSCRIBE, topic_filter)]


def read_only(topic_filter: str) -> list[Acl]:
    return [(RECEIVE, topic_filter), (SUBSCRIBE, topic_filter)]


def admin_acls() -> list[Acl]:
    return [(SEND, CONTROL_TOPIC), (RECEIVE, RESPONSE_TOPIC), (SUBSCRIBE, RESPONSE_TOPIC)]


def render_dynsec(roles: dict[str, list[Acl]]) -> dict[str, Any]:
    """The plugin's config file for logins `roles` (username → its ACLs)."""
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [{"username": name, "roles": [{"rolename": name}]} for name in sorted(roles)],
        "roles": [
            {"rolename": name, "acls": [_acl_json(acl) for acl in sorted(set(acls))]}
            for name, acls in sorted(roles.items())
        ],
    }


def _acl_json(acl: Acl) -> dict[str, Any]:
    return {"acltype": acl[0], "topic": acl[1], "allow": True}


def roles_of(config: dict[str, Any]) -> dict[str, set[Acl]]:
    """Username → ACLs of a rendered (or broker-saved) config: clients bound to their own role."""
    acls = {
        role["rolename"]: {(a["acltype"], a["topic"]) for a in role.get("acls", []) if a["allow"]}
        for role in config.get("roles", [])
    }
    return {
        client["username"]: acls.get(client["username"], set())
        for client in config.get("clients", [])
    }


def control_commands(
    old: dict[str, set[Acl]], new: Mapping[str, Iterable[Acl]]
) -> list[dict[str, Any]]:
    """The commands that turn the broker's `old` logins into `new`: rights are added before
    any are taken, and only roles that change are touched (each change kicks that role's
    clients)."""
    wanted = {name: set(acls) for name, acls in new.items()}
    commands: list[dict[str, Any]] = []
    for name in sorted(wanted.keys() - old.keys()):
        commands.append(
            {
                "command": "createRole",
                "rolename": name,
                "acls": [_acl_json(a) for a in sorted(wanted[name])],
            }
        )
        commands.append(
            {"command": "createClient", "username": name, "roles": [{"rolename": name}]}
        )
    for name in sorted(wanted.keys() & old.keys()):
        for acl in sorted(wanted[name] - old[name]):
            commands.append({"command": "addRoleACL", "rolename": name, **_acl_json(acl)})
        for acl in sorted(old[name] - wanted[name]):
            commands.append(
                {"command": "removeRoleACL", "rolename": name, "acltype": acl[0], "topic": acl[1]}
            )
    for name in sorted(old.keys() - wanted.keys()):
        commands.append({"command": "deleteClient", "username": name})
        commands.append({"command": "deleteRole", "rolename": name})
    return commands


def load_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


class ControlError(RuntimeError):
    """The broker did not apply a batch of dynamic-security commands."""


def send_commands(
    host: str,
    port: int,
    password: str,
    commands: list[dict[str, Any]],
    *,
    timeout_s: float = 10.0,
) -> None:
    """Publish `commands` as one control message as `_admin` and wait for every answer."""
    if not commands:
        return
    done = threading.Event()
    answers: list[dict[str, Any]] = []
    correlation = uuid.uuid4().hex
    for command in commands:
        command["correlationData"] = correlation
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=ADMIN_ACCOUNT)
    client.username_pw_set(ADMIN_ACCOUNT, password)

    def on_connect(c: mqtt.Client, _u: object, _f: object, code: Any, _p: object) -> None:
        if code.is_failure:
            answers.append({"error": f"login refused: {code}"})
            done.set()
            return
        c.subscribe(RESPONSE_TOPIC, qos=1)

    def on_subscribe(c: mqtt.Client, _u: object, _m: int, codes: list[Any], _p: object) -> None:
        if any(code.is_failure for code in codes):
            answers.append({"error": "may not read the control responses"})
            done.set()
            return
        c.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        replies = json.loads(msg.payload).get("responses", [])
        mine = [r for r in replies if r.get("correlationData") == correlation]
        if mine:
            answers.extend(mine)
            if len(answers) >= len(commands):
                done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise ControlError(f"broker {host}:{port} unreachable: {exc}") from exc
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise ControlError(
                f"no answer from the broker's dynamic-security plugin in {timeout_s}s"
            )
    finally:
        client.disconnect()
        client.loop_stop()
    errors = [f"{a.get('command', '?')}: {a['error']}" for a in answers if a.get("error")]
    if errors:
        raise ControlError("broker refused: " + "; ".join(errors))
