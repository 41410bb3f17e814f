"""Attacks on the broker itself, by a partner with its own valid login, against the real
Mosquitto configured as `mainport up` configures it (issue 12's attack run, one test each).

Each asserts what the broker answered and that nothing was lost; waiting is behavioural (see
tests/access_common.py on barriers).
"""

from __future__ import annotations

import os
import socket
import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from access.broker import apply_access
from core.processes import Child
from domain.registry import Registry
from tests.conftest import PARTNERS_FILE, wait_for
from tests.integration.access_common import Session, api_site, barrier
from tests.integration.conftest import Broker, Influx

pytestmark = pytest.mark.integration

A = "gemeente-dordrecht"
B = "woonbron"
INGEST_GROUP = "$share/mainport-ingest/mainport/#"


@pytest.fixture(scope="module")
def broker(bound_broker: Broker) -> Broker:
    return bound_broker


def test_joining_the_ingests_shared_subscription_is_refused_and_nothing_is_lost(
    sessions: Callable[..., Session],
) -> None:
    ingest = sessions("_ingest")
    assert ingest.subscribe(INGEST_GROUP) == "Granted QoS 1"
    thieves = [sessions(login) for login in (B, "_network")]
    # Refused at subscribe time, with and without the group, so the broker never counts the
    # partner as a member to hand messages to (and drop them, unreadable, on delivery).
    assert [t.subscribe(INGEST_GROUP) for t in thieves] == ["Not authorized"] * 2
    assert [t.subscribe("$share/mainport-ingest/mainport/+/#") for t in thieves] == [
        "Not authorized"
    ] * 2

    a = sessions(A)
    sent = [f"m{n}".encode() for n in range(200)]
    topic = f"mainport/{A}/aq-spuiboulevard/telemetry"
    assert {a.publish(topic, payload) for payload in sent} == {"Success"}  # all PUBACKed
    ingest.wait(lambda: len(ingest.received()) >= len(sent), "all messages at the ingest", 20)
    assert sorted(p for _, p in ingest.received()) == sorted(sent)  # 0 of 200 lost
    assert all(t.received() == [] for t in thieves)


def test_taking_a_devices_client_id_fires_no_last_will_and_keeps_it_connected(
    broker: Broker, sessions: Callable[..., Session]
) -> None:
    device = "aq-merwekade"
    broker.issue(A, device=device)
    login = f"{A}.{device}"
    watcher = sessions(A)
    watcher.subscribe(f"mainport/{A}/#")
    status = f"mainport/{A}/{device}/status"
    dev = Session(broker.host, broker.port, login, broker.passwords[login], client_id=login)
    dev.client.will_set(status, b"offline", qos=1, retain=False)
    assert dev.connect() == "Success"
    try:
        # The device's own client id, and the one the broker gives it, asked for by B.
        for asked in (login, f"{A}-{device}"):
            thief = sessions(B, client_id=asked)
            thief.close()
        barrier(dev, watcher, f"mainport/{A}/{device}/telemetry")
        assert dev.disconnects == []
        assert (status, b"offline") not in watcher.received()
    finally:
        dev.close()


def test_a_device_login_publishes_as_its_own_device_only(
    broker: Broker, sessions: Callable[..., Session]
) -> None:
    broker.issue(A, device="aq-spuiboulevard")
    watcher = sessions(A)
    watcher.subscribe(f"mainport/{A}/#")
    dev = sessions(f"{A}.aq-spuiboulevard")

    forged = [
        f"mainport/{A}/aq-merwekade/telemetry",
        f"mainport/{A}/aq-merwekade/status",
        f"mainport/{A}/_alerts",
        f"mainport/{B}/aq-spuiboulevard/telemetry",
    ]
    assert [dev.publish(t, b"offline") for t in forged] == ["Not authorized"] * len(forged)
    assert dev.subscribe(f"mainport/{A}/#") == "Not authorized"
    barrier(dev, watcher, f"mainport/{A}/aq-spuiboulevard/telemetry")
    assert [t for t, _ in watcher.received() if t in forged] == []


def _connect(host: str, port: int, login: str, password: str) -> tuple[int, socket.socket]:
    """A bare MQTT 3.1.1 CONNECT (clean session, random client id); the CONNACK's code."""

    def text(value: str) -> bytes:
        return struct.pack("!H", len(value)) + value.encode()

    body = (
        text("MQTT")
        + bytes([4, 0xC2])
        + struct.pack("!H", 60)
        + text(f"c-{uuid.uuid4().hex[:10]}")
        + text(login)
        + text(password)
    )
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(bytes([0x10, len(body)]) + body)
    return sock.recv(4)[3], sock


def _closed_by_broker(sock: socket.socket) -> bool:
    """True when the broker closed this connection (it is checked with a PINGREQ)."""
    try:
        sock.sendall(b"\xc0\x00")
        return sock.recv(2) != b"\xd0\x00"
    except OSError:
        return True


def test_a_hundred_connections_of_one_login_hold_one_session(broker: Broker) -> None:
    opened = [_connect(broker.host, broker.port, B, broker.passwords[B]) for _ in range(100)]
    try:
        assert {code for code, _ in opened} == {0}
        # Each CONNECT took the previous one's session: the broker closed all but the last.
        still_open = [not _closed_by_broker(sock) for _, sock in opened]
        assert still_open == [False] * 99 + [True]
    finally:
        for _, sock in opened:
            sock.close()


@pytest.mark.parametrize("retain", [False, True])
def test_a_4_mb_payload_is_refused_and_the_broker_carries_on(
    broker: Broker, sessions: Callable[..., Session], retain: bool
) -> None:
    watcher = sessions("_ingest")
    watcher.subscribe(f"mainport/{B}/#")
    b = Session(broker.host, broker.port, B, broker.passwords[B], protocol=mqtt.MQTTv311)
    assert b.connect() == "Success"
    try:
        b.client.publish(f"mainport/{B}/big/telemetry", b"x" * 4_000_000, qos=1, retain=retain)
        # Mosquitto closes the connection on a packet over max_packet_size, unread.
        b.wait(lambda: bool(b.disconnects), "the broker closing the connection")
    finally:
        b.close()
    again = sessions(B)
    barrier(again, watcher, f"mainport/{B}/after/telemetry")
    assert [t for t, _ in watcher.received() if "/big/" in t] == []
    # Nothing retained either: a new subscription gets no message on the topic.
    assert again.subscribe(f"mainport/{B}/big/#") == "Granted QoS 1"
    barrier(again, again, f"mainport/{B}/big/barrier")
    assert [t for t, _ in again.received() if t.endswith("/big/telemetry")] == []


def test_a_payload_of_64_kib_still_reaches_the_ingest(
    sessions: Callable[..., Session],
) -> None:
    """SPEC: the ingest rejects and counts payloads over 64 KiB per partner, so a payload at
    the limit (and a little over) must pass the broker."""
    watcher = sessions("_ingest")
    watcher.subscribe(f"mainport/{B}/#")
    b = sessions(B)
    payload = b"x" * (64 * 1024 + 1)
    assert b.publish(f"mainport/{B}/edge/telemetry", payload) == "Success"
    watcher.wait(lambda: any(p == payload for _, p in watcher.received()), "the 64 KiB message")


def test_revoking_one_login_disconnects_that_client_only(
    broker: Broker, sessions: Callable[..., Session]
) -> None:
    for device in ("rev-1", "rev-2"):
        broker.issue(A, device=device)
    kept, revoked = sessions(f"{A}.rev-1"), sessions(f"{A}.rev-2")
    gateway = sessions(A)
    gateway.subscribe(f"mainport/{A}/#")

    assert broker.store.revoke(f"{A}.rev-2")
    assert apply_access(broker.store, broker.registry, "mainport", broker.directory, [])
    revoked.wait(lambda: bool(revoked.disconnects), "the revoked login disconnected")
    barrier(kept, gateway, f"mainport/{A}/rev-1/telemetry")
    assert kept.disconnects == [] and gateway.disconnects == []


def test_device_login_cli_issues_a_login_that_publishes_as_that_device_only(
    tmp_path: Path, influxd: Influx, registry: Registry
) -> None:
    with api_site(tmp_path, influxd.url, registry) as site:
        issued = site.cli("device", "login", "aq-spuiboulevard")
        password = issued.stdout.strip()
        assert issued.stdout == password + "\n"  # the secret alone on stdout
        login = f"{A}.aq-spuiboulevard"
        assert login in issued.stderr
        watcher = site.session(A)
        watcher.subscribe(f"mainport/{A}/#")
        device = Session(site.host, site.port, login, password)
        assert device.connect() == "Success"
        try:
            assert device.publish(f"mainport/{A}/aq-merwekade/status", b"x") == "Not authorized"
            barrier(device, watcher, f"mainport/{A}/aq-spuiboulevard/telemetry")
        finally:
            device.close()
            watcher.close()
        assert site.cli("device", "login", "no-such-device", check=False).returncode != 0


def _retained_under(broker: Broker, login: str, topic_filter: str) -> int:
    """How many retained messages a fresh subscription to `topic_filter` gets."""
    session = Session(broker.host, broker.port, login, broker.passwords[login])
    assert session.connect() == "Success"
    try:
        session.subscribe(topic_filter)
        # Retained messages follow the SUBACK; a live marker after them closes the count.
        marker_topic = topic_filter.replace("#", "barrier")
        barrier(session, session, marker_topic)
        return sum(1 for t, p in session.received() if t != marker_topic and p)
    finally:
        session.close()


def test_a_retained_flood_is_cut_back_to_the_partners_budget(
    broker: Broker, sessions: Callable[..., Session], spawn: Callable[..., Child], tmp_path: Path
) -> None:
    broker.issue("_retain")
    broker.issue(B, "late")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env |= {
        "MAINPORT_PARTNERS_FILE": str(PARTNERS_FILE),
        "MAINPORT_DATA_DIR": str(tmp_path),
        "MAINPORT_MQTT_HOST": broker.host,
        "MAINPORT_MQTT_PORT": str(broker.port),
        "MAINPORT_RETAIN_PASSWORD": broker.passwords["_retain"],
        "MAINPORT_RETAIN_MAX_MESSAGES": "5",
        "PYTHONUNBUFFERED": "1",
    }
    spawn("retain-guard", ["retain-guard"], env)
    b = sessions(B)
    for n in range(30):
        answer = b.publish(f"mainport/{B}/flood-{n}/status", b"x" * 1000, retain=True)
        assert answer in ("Success", "No matching subscribers")  # both: accepted

    wait_for(
        lambda: _retained_under(broker, f"{B}.late", f"mainport/{B}/#") <= 5,
        what="the broker retaining at most 5 messages of B",
    )
    assert _retained_under(broker, f"{B}.late", f"mainport/{B}/#") == 5  # the budget, kept
