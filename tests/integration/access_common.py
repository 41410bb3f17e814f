"""Shared checks for the access tests: MQTT sessions that record what the broker answered,
a hand-built CONNECT for attacks paho will not send, and `Site`: a broker, a database and an API
process laid out under one data dir as `mainport up` lays them out, with logins and tokens for
three partners (A shares with B; C is a bystander) and the operator.

Waiting is behavioural: a "barrier" is a message the attacker is allowed to see, published after
the forbidden ones; once it has arrived, anything the broker was going to deliver before it has
arrived too (Mosquitto handles one client's packets in order, and delivers to one subscriber in
order), so "nothing else arrived" is a fact, not a guess about timing.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from access.broker import AccountStore, write_broker_files
from access.tokens import OPERATOR, PARTNER, TokenStore
from core.processes import Child, free_port
from domain.registry import Registry
from mainport.services import BrokerConfig, start_broker
from tests.conftest import PARTNERS_FILE, control_engine, wait_for
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema


class Session:
    """One MQTT client that keeps what it received and what the broker answered."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        *,
        client_id: str = "",
        protocol: int = mqtt.MQTTv5,
        ca_file: Path | None = None,
        default_ca: bool = False,
        clean_session: bool | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"t-{uuid.uuid4().hex[:10]}",
            protocol=protocol,  # type: ignore[arg-type]
            clean_session=clean_session,
        )
        self.client.reconnect_delay_set(60, 60)  # a refused or kicked session stays down
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None or default_ca:
            self.client.tls_set(ca_certs=str(ca_file) if ca_file else None)
        self.messages: list[tuple[str, bytes]] = []
        self.disconnects: list[str] = []
        self.connack: list[str] = []
        self.subacks: dict[int, list[str]] = {}
        self.pubacks: dict[int, str] = {}
        self._changed = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self.host, self.port = host, port

    # paho callbacks (run on paho's network thread); each wakes up whoever waits
    def _on_connect(self, *args: object) -> None:
        with self._changed:
            self.connack.append(str(args[3]))
            self._changed.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self._changed.notify_all()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, mid: int, codes: list[ReasonCode], _p: Properties
    ) -> None:
        with self._changed:
            self.subacks[mid] = [str(c) for c in codes]
            self._changed.notify_all()

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, code: ReasonCode, _p: Properties
    ) -> None:
        with self._changed:
            self.pubacks[mid] = str(code)
            self._changed.notify_all()

    def _on_disconnect(self, *args: object) -> None:
        with self._changed:
            self.disconnects.append(str(args[3]))
            self._changed.notify_all()

    def wait(self, check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
        """Block until `check()` holds (re-checked on every broker event) or fail."""
        if not self.settles(check, timeout_s):
            raise AssertionError(f"timed out waiting for {what}")

    def settles(self, check: Callable[[], bool], timeout_s: float) -> bool:
        """Whether `check()` comes to hold within `timeout_s` (for things that may not happen)."""
        with self._changed:
            return self._changed.wait_for(check, timeout_s)

    def connect(self) -> str:
        """Connect and wait for the broker's answer: "Success", "Not authorized", …"""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self.wait(lambda: bool(self.connack or self.disconnects), "a CONNACK")
        return self.connack[0] if self.connack else f"no CONNACK ({self.disconnects[0]})"

    def subscribe(self, topic_filter: str) -> str:
        """Subscribe at QoS 1 and return the SUBACK's reason ("Granted QoS 1", …)."""
        _rc, mid = self.client.subscribe(topic_filter, qos=1)
        assert mid is not None
        self.wait(lambda: mid in self.subacks, f"SUBACK for {topic_filter}")
        return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> str:
        """Publish at QoS 1 and return the PUBACK's reason (MQTT 5 says "Not authorized")."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self.wait(lambda: info.mid in self.pubacks, f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def received(self) -> list[tuple[str, bytes]]:
        with self._changed:
            return list(self.messages)

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.received()]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def barrier(sender: Session, receiver: Session, topic: str) -> None:
    """Publish a marker the receiver may see and wait until it has it (module doc)."""
    marker = uuid.uuid4().hex.encode()
    sender.publish(topic, marker)
    receiver.wait(lambda: any(p == marker for _, p in receiver.messages), f"marker on {topic}")


def raw_connect(
    host: str,
    port: int,
    username: str,
    password: str,
    *,
    client_id: str,
    will_topic: str,
    will: bytes,
) -> tuple[int, socket.socket]:
    """An MQTT 3.1.1 CONNECT with a retained QoS 1 Last Will, built by hand; returns the
    CONNACK return code and the open socket (close it without DISCONNECT to fire the will)."""

    def text(value: str | bytes) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        return struct.pack("!H", len(data)) + data

    flags = 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02  # user, password, will retain/QoS1/flag, clean
    body = (
        text("MQTT")
        + bytes([4, flags])
        + struct.pack("!H", 30)
        + text(client_id)
        + text(will_topic)
        + text(will)
        + text(username)
        + text(password)
    )
    length, size = b"", len(body)
    while True:  # MQTT's variable-length "remaining length"
        size, digit = divmod(size, 128)
        length += bytes([digit | (0x80 if size else 0)])
        if not size:
            break
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(b"\x10" + length + body)
    connack = sock.recv(4)
    return connack[3], sock


def tls_handshake_error(host: str, port: int, context: ssl.SSLContext) -> str | None:
    """None when a TLS handshake with `context` succeeds, else the error's text."""
    try:
        with (
            socket.create_connection((host, port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except (ssl.SSLError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


def start_api(env: dict[str, str], log_dir: Path) -> tuple[Child, str]:
    """`mainport api` as a child process on a free port; returns it and its base URL."""
    port = free_port()
    child = Child(
        "api",
        [sys.executable, "-m", "mainport", "api"],
        log_file=log_dir / f"api-{port}.log",
        env={**env, "MAINPORT_API_PORT": str(port)},
    )
    child.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30, "the API")
    except AssertionError:
        child.stop()
        raise AssertionError(f"the API did not start:\n{child.tail()}") from None
    return child, base


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


A = "gemeente-dordrecht"  # owns the air-quality sensors
B = "bouwbedrijf-drechtsteden"  # the builder the municipality may share them with
C = "woonbron"  # a third partner, who must see none of it


@dataclass
class Site:
    """A small Mainport as `mainport up` lays it out: broker with its files under the data dir,
    a database, an API process, and a login and a token for A, B, C and the operator."""

    data_dir: Path
    env: dict[str, str]
    host: str
    port: int
    api: str
    influx: InfluxClient
    passwords: dict[str, str]
    tokens: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `mainport ARGS` against this site, as an operator would."""
        result = subprocess.run(
            [sys.executable, "-m", "mainport", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"mainport {' '.join(args)} failed:\n{result.stderr}")
        return result

    def session(self, scope: str, **kwargs: Any) -> Session:
        session = Session(self.host, self.port, scope, self.passwords[scope], **kwargs)
        assert session.connect() == "Success"
        return session

    def get(self, path: str, who: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.api}{path}", params=params, headers=bearer(self.tokens[who]))


def seed_control_plane(data_dir: Path, registry: Registry, url: str | None = None) -> None:
    """What `mainport up` does before it starts the API: the file in the control-plane database
    (the data dir's SQLite unless `url`), which the API's registry routes read."""
    from datetime import UTC, datetime

    from controlplane.registry_store import apply

    apply(control_engine(data_dir, url), registry, actor="test", at=datetime.now(UTC))


@contextmanager
def api_site(root: Path, influx_url: str, registry: Registry, **env: str) -> Iterator[Site]:
    """Start a Site under `root` (what for: the module doc of integration/access/test_grants.py)."""
    data_dir = root / "var"
    engine = control_engine(data_dir, env.get("MAINPORT_DATABASE_URL"))
    store = AccountStore(engine)
    passwords = {scope: store.issue(scope) for scope in (A, B, C, "_ingest", "_network")}
    cfg = BrokerConfig("127.0.0.1", free_port(), data_dir / "mosquitto")
    write_broker_files(store, registry, "mainport", cfg.directory)
    broker = start_broker(cfg, data_dir / "log")
    influx = InfluxClient(influx_url, f"test_{uuid.uuid4().hex[:12]}")
    ensure_schema(influx, "400d")
    tokens_store = TokenStore(engine)
    tokens = {p: tokens_store.issue(PARTNER, p) for p in (A, B, C)}
    tokens["operator"] = tokens_store.issue(OPERATOR)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    child_env.update(
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE),
        MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_MQTT_HOST=cfg.host,
        MAINPORT_MQTT_PORT=str(cfg.port),
        MAINPORT_MQTT_TLS_PORT="0",
        MAINPORT_INFLUX_URL=influx_url,
        MAINPORT_INFLUX_DB=influx.db,
        PYTHONUNBUFFERED="1",
        **env,
    )
    seed_control_plane(data_dir, registry, env.get("MAINPORT_DATABASE_URL"))
    api, base = start_api(child_env, data_dir / "log")
    try:
        yield Site(data_dir, child_env, cfg.host, cfg.port, base, influx, passwords, tokens)
    finally:
        api.stop()
        broker.stop()
        influx.query(f'DROP DATABASE "{influx.db}"', db=False)
        influx.close()
