"""A partner's alerts on `mainport/{partner}/_alerts`, on a real broker: published by the
evaluator's own `_alert` login (which may publish there and nowhere else), readable by that
partner's logins (gateway and device) and by no other partner."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from access.broker import ALERT_ACCOUNT
from alert.delivery import MqttPublisher
from domain.registry import Registry
from tests.conftest import wait_for
from tests.integration.conftest import Broker, run_broker
from tests.integration.mqtt_support import Subscriber

A, B = "gemeente-dordrecht", "woonbron"
DEVICE = "aq-spuiboulevard"


@pytest.fixture
def site(tmp_path: Path, registry: Registry) -> Iterator[Broker]:
    broker, child = run_broker(tmp_path, registry, bind_client_ids=False)
    broker.issue(ALERT_ACCOUNT)
    broker.issue(A, device=DEVICE)
    yield broker
    child.stop()


@contextmanager
def _sub(broker: Broker, username: str, topic: str) -> Iterator[Subscriber]:
    """`username` subscribed to `topic` (a refused subscription simply receives nothing)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, broker.passwords[username])
    sub = Subscriber(client)
    ready = threading.Event()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with sub.lock:
            sub.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    assert ready.wait(10), "no SUBACK"
    try:
        yield sub
    finally:
        client.disconnect()
        client.loop_stop()


def test_only_the_partners_own_logins_read_its_alerts(site: Broker) -> None:
    alerts = f"mainport/{A}/_alerts"
    with (
        _sub(site, A, alerts) as gateway,
        _sub(site, f"{A}.{DEVICE}", alerts) as device,
        _sub(site, B, alerts) as other,
        _sub(site, "_ingest", f"mainport/{A}/{DEVICE}/telemetry") as ingest,
    ):
        pub = MqttPublisher(site.host, site.port, "mainport", ALERT_ACCOUNT,
                            site.passwords[ALERT_ACCOUNT])  # fmt: skip
        try:
            message = {"id": "x1", "seq": 1, "event": "firing", "partner": A}
            wait_for(lambda: _try(pub, message), 30, "the alert published")
            for seen in (gateway, device):
                (got,) = seen.wait_for(1)
                assert json.loads(got[1]) == message
            # the alert login cannot pass for a device
            pub.client.publish(f"mainport/{A}/{DEVICE}/telemetry", b'{"metrics":{"v":1}}', 1)
            time.sleep(1)
            assert other.settle() == [] and ingest.settle() == []
        finally:
            pub.stop()


def _try(pub: MqttPublisher, message: dict[str, object]) -> bool:
    try:
        pub.send(message)
    except RuntimeError:
        return False
    return True
