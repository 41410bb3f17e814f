"""Partners kept apart on the broker: partner B (woonbron) attacks partner A
(gemeente-dordrecht) with its own valid login, against the real Mosquitto and the real ingest.

What each attempt got from the broker is asserted, so this file is also the record of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from core.processes import Child
from tests.conftest import wait_for
from tests.integration.access_common import Session, barrier, raw_connect
from tests.integration.conftest import Broker, stack_env
from timeseries.client import InfluxClient

A = "gemeente-dordrecht"
B = "woonbron"


@pytest.fixture(scope="module")
def broker(bound_broker: Broker) -> Broker:
    """The broker configured as in production (client ids bound to logins)."""
    return bound_broker


@pytest.mark.parametrize(
    ("protocol", "answer"),
    [
        (mqtt.MQTTv5, "Not authorized"),  # PUBACK reason code 0x87
        (mqtt.MQTTv311, "Success"),  # 3.1.1 has no reason codes: acked, then dropped
    ],
)
def test_publishing_under_another_partner_never_reaches_its_subscribers(
    sessions: Callable[..., Session], protocol: int, answer: str
) -> None:
    a = sessions(A)
    a.subscribe(f"mainport/{A}/#")
    b = sessions(B, protocol=protocol)

    forged = [
        f"mainport/{A}/aq-spuiboulevard/telemetry",
        f"mainport/{A}/aq-spuiboulevard/status",
        f"mainport/{A}/new-device/telemetry",
    ]
    assert [b.publish(topic, b'{"metrics": {"pm25": 999}}') for topic in forged] == [answer] * 3
    assert b.publish(f"mainport/{A}/aq-merwekade/status", b"offline", retain=True) == answer

    barrier(a, a, f"mainport/{A}/barrier/telemetry")
    assert [t for t in a.topics() if "barrier" not in t] == []


def test_publishing_under_another_partner_never_reaches_influxdb(
    broker: Broker,
    influx_db: InfluxClient,
    spawn: Callable[..., Child],
    sessions: Callable[..., Session],
    tmp_path: Path,
) -> None:
    spawn("ingest", ["ingest"], stack_env(broker, influx_db, tmp_path))
    b = sessions(B, protocol=mqtt.MQTTv311)

    def stored(device: str) -> Callable[[], bool]:
        query = 'SELECT count("power_kw") FROM "telemetry" WHERE "device" = $d'
        own = f"mainport/{B}/{device}/telemetry"
        # Published on every poll: the first ones may come before the ingest has subscribed.
        return lambda: (
            b.publish(own, b'{"metrics": {"power_kw": 1}}') == "Success"
            and bool(influx_db.query(query, {"d": device})[0])
        )

    wait_for(stored("probe-before"), what="the ingest storing B's own telemetry")
    forged = f"forged-{uuid.uuid4().hex[:6]}"
    b.publish(f"mainport/{A}/{forged}/telemetry", b'{"metrics": {"pm25": 999}}')
    b.publish(f"mainport/{A}/{forged}/status", b"online")
    # B's own message after the forged ones is the barrier for the ingest too.
    wait_for(stored("probe-after"), what="B's telemetry after the forged messages")
    anything_of_a = influx_db.query(
        'SELECT * FROM "telemetry", "status", "messages", "rejected" WHERE "partner" = $p',
        {"p": A},
    )
    assert anything_of_a == [[]]


@pytest.mark.parametrize(
    "topic_filter",
    [
        f"mainport/{A}/#",
        f"mainport/{A}/aq-spuiboulevard/telemetry",
        f"mainport/{A}/+/status",
        "mainport/#",
        "mainport/+/+/telemetry",
        "#",
        f"$share/eavesdrop/mainport/{A}/#",
        "$share/mainport-ingest/mainport/#",  # the ingest's own group
        "mainport/_network/#",
        "$SYS/#",
    ],
)
def test_subscribing_to_another_partners_topics_receives_nothing(
    sessions: Callable[..., Session], topic_filter: str
) -> None:
    b = sessions(B)
    # Refused at subscribe time (the dynamic-security plugin), and read access is checked again
    # on every message delivered.
    assert b.subscribe(topic_filter) == "Not authorized"
    b.subscribe(f"mainport/{B}/barrier/#")
    a = sessions(A)
    network = sessions("_network")
    a.publish(f"mainport/{A}/aq-spuiboulevard/telemetry", b'{"metrics": {"pm25": 7}}')
    a.publish(f"mainport/{A}/aq-spuiboulevard/status", b"online")
    network.publish("mainport/_network/dmd-core-1/xe-0-0-1/counters", b'{"in_octets": 1}')

    barrier(b, b, f"mainport/{B}/barrier/telemetry")
    assert [t for t in b.topics() if "/barrier/" not in t] == []


def test_a_partner_cannot_forge_fibre_counters(sessions: Callable[..., Session]) -> None:
    watcher = sessions("_ingest")
    watcher.subscribe("mainport/#")
    b = sessions(B)
    # Counters drive bandwidth bills; only the network collector may publish them.
    assert b.publish("mainport/_network/dmd-dist-2/ge-0-0-7/counters", b"{}") == "Not authorized"
    barrier(b, watcher, f"mainport/{B}/barrier/telemetry")
    assert [t for t in watcher.topics() if "_network" in t] == []


def test_a_last_will_under_another_partner_is_never_published(
    broker: Broker, sessions: Callable[..., Session]
) -> None:
    a = sessions(A)
    a.subscribe(f"mainport/{A}/#")
    client_id = f"will-{uuid.uuid4().hex[:8]}"
    code, sock = raw_connect(
        broker.host,
        broker.port,
        B,
        broker.passwords[B],
        client_id=client_id,
        will_topic=f"mainport/{A}/aq-spuiboulevard/status",
        will=b"offline",
    )
    assert code == 0  # the connection is accepted; the will is checked when it fires
    sock.close()  # gone without DISCONNECT: the broker fires the will
    # Taking the client id over makes the broker finish the old connection (and its will)
    # before it answers, so the barrier below comes after the will in every case.
    sessions(B, client_id=client_id)
    barrier(a, a, f"mainport/{A}/barrier/telemetry")
    assert [t for t in a.topics() if "barrier" not in t] == []


# --- Client ids are bound to logins ---------------------------------------------------------
# The broker takes the client id from the username (`use_username_as_clientid`): whatever id
# another login asks for, it gets its own, so it can neither push a client off nor take over
# its session (which would fire the old session's Last Will, or drop what was queued for it).


def test_a_partner_cannot_knock_another_partners_device_off_by_its_client_id(
    broker: Broker, sessions: Callable[..., Session]
) -> None:
    client_id = f"aq-spuiboulevard-{uuid.uuid4().hex[:6]}"
    a = sessions(A, client_id=client_id)
    a.subscribe(f"mainport/{A}/barrier/#")
    b = Session(broker.host, broker.port, B, broker.passwords[B], client_id=client_id)
    try:
        assert b.connect() == "Success"  # connected, but under its own id
        # A is still connected: its own message comes back, and no disconnect came first.
        barrier(a, a, f"mainport/{A}/barrier/telemetry")
        assert a.disconnects == []
    finally:
        b.close()


def persistent(broker: Broker, login: str, client_id: str) -> Session:
    """A v3.1.1 session the broker keeps (clean_session off) under a chosen client id."""
    return Session(
        broker.host,
        broker.port,
        login,
        broker.passwords[login],
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=False,
    )


def test_a_partner_cannot_make_the_broker_drop_the_ingests_queued_messages(
    broker: Broker, sessions: Callable[..., Session]
) -> None:
    client_id = f"mainport-ingest-{uuid.uuid4().hex[:6]}"
    ingest = persistent(broker, "_ingest", client_id)
    ingest.connect()
    ingest.subscribe(f"mainport/{A}/#")
    ingest.close()  # the ingest restarts; the broker queues for its persistent session
    a = sessions(A)
    a.publish(f"mainport/{A}/aq-spuiboulevard/telemetry", b"queued for the ingest")

    thief = persistent(broker, B, client_id)
    thief.connect()
    thief.close()

    ingest = persistent(broker, "_ingest", client_id)
    try:
        ingest.connect()
        # The broker sends a resumed session's queue first: once a newer message is in, the
        # queued one would be too.
        barrier(a, ingest, f"mainport/{A}/barrier/telemetry")
        payloads = [payload for _, payload in ingest.received()]
        assert b"queued for the ingest" in payloads, "the message queued for the ingest was dropped"
    finally:
        ingest.close()
