"""MQTT helpers for the tests that publish through the session broker (simulators,
record/replay, the dashboard): a subscriber that sees exactly the traffic while it listens, and
a sweep of the retained messages a module leaves behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

Message = tuple[str, bytes, bool]
"""(topic, payload, retain) as a subscriber sees it."""


@dataclass
class Subscriber:
    """An MQTT v5 subscriber that keeps the publisher's retain flag and skips stored retained
    messages, so it sees exactly the traffic that flows while it listens."""

    client: mqtt.Client
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout_s: float = 60.0) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"received {len(self.messages)} of {count} messages")

    def settle(self, quiet_s: float = 1.0) -> list[Message]:
        """The messages once none arrived for `quiet_s` (to catch unexpected extras)."""
        last = -1
        while True:
            with self.lock:
                n = len(self.messages)
            if n == last:
                with self.lock:
                    return list(self.messages)
            last = n
            time.sleep(quiet_s)


def subscribe(
    host: str, port: int, password: str, topic: str = "mainport/#"
) -> Iterator[Subscriber]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set("_ingest", password)
    sub = Subscriber(client)
    ready = threading.Event()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with sub.lock:
            sub.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.connect(host, port)
    client.loop_start()
    client.subscribe(
        topic, options=SubscribeOptions(qos=1, retainAsPublished=True, retainHandling=2)
    )
    assert ready.wait(10), "subscription not confirmed"
    try:
        yield sub
    finally:
        client.disconnect()
        client.loop_stop()


def clear_retained(host: str, port: int, passwords: dict[str, str], quiet_s: float = 0.5) -> int:
    """Delete every retained message under mainport/ (an empty retained publish per topic),
    so later tests whose subscribers receive stored retained messages start clean."""
    topics: set[str] = set()
    lock = threading.Lock()
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    reader.username_pw_set("_ingest", passwords["_ingest"])

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            with lock:
                topics.add(msg.topic)

    reader.on_message = on_message
    reader.connect(host, port)
    reader.loop_start()
    reader.subscribe("mainport/#", options=SubscribeOptions(qos=0, retainHandling=0))
    last = -1
    while last != len(topics):
        last = len(topics)
        time.sleep(quiet_s)
    reader.disconnect()
    reader.loop_stop()
    by_scope: dict[str, list[str]] = {}
    for topic in topics:
        by_scope.setdefault(topic.split("/")[1], []).append(topic)
    for scope, own in by_scope.items():
        if scope not in passwords:
            continue
        writer = mqtt.Client(CallbackAPIVersion.VERSION2)
        writer.username_pw_set(scope, passwords[scope])
        writer.connect(host, port)
        writer.loop_start()
        infos = [writer.publish(topic, b"", qos=1, retain=True) for topic in own]
        for info in infos:
            info.wait_for_publish(10)
        writer.disconnect()
        writer.loop_stop()
    return len(topics)
