"""Our generated password and ACL files against the real broker."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.conftest import Broker

pytestmark = pytest.mark.integration


def _connect_result(broker: Broker, username: str | None, password: str | None) -> str:
    done = threading.Event()
    result: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        result.append(str(rc))
        done.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()
    return result[0] if result else "no answer"


def test_a_hashed_password_we_generated_logs_in(broker: Broker) -> None:
    assert _connect_result(broker, "woonbron", broker.passwords["woonbron"]) == "Success"


def test_a_wrong_password_is_refused(broker: Broker) -> None:
    assert _connect_result(broker, "woonbron", "not-the-password") == "Not authorized"


def test_anonymous_clients_are_refused(broker: Broker) -> None:
    assert _connect_result(broker, None, None) == "Not authorized"


def test_a_partner_cannot_publish_into_another_partners_topics(broker: Broker) -> None:
    received: list[str] = []
    subscribed = threading.Event()
    watcher = broker.client("_ingest", client_id="acl-watcher")
    watcher.on_message = lambda _c, _u, msg: received.append(msg.topic)
    watcher.on_subscribe = lambda *_: subscribed.set()
    watcher.subscribe("mainport/#", qos=1)
    assert subscribed.wait(5)

    intruder = broker.client("woonbron", client_id="acl-intruder")
    intruder.publish("mainport/gemeente-dordrecht/aq-1/telemetry", b"{}", qos=1).wait_for_publish(5)
    intruder.publish("mainport/woonbron/own-1/telemetry", b"{}", qos=1).wait_for_publish(5)
    intruder.publish("mainport/woonbron/own-2/telemetry", b"{}", qos=1).wait_for_publish(5)

    deadline = threading.Event()
    for _ in range(50):
        if len(received) >= 2:
            break
        deadline.wait(0.1)
    deadline.wait(0.3)  # room for a wrongly delivered message to show up
    for client in (watcher, intruder):
        client.disconnect()
        client.loop_stop()
    assert received == ["mainport/woonbron/own-1/telemetry", "mainport/woonbron/own-2/telemetry"]
