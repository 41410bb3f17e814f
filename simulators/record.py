"""`mainport record`: capture live traffic under the topic root into a feed file.

Subscribes with MQTT v5 so the capture is faithful: QoS 2 on the subscription delivers each
message at the QoS it was published with, "retain as published" keeps the publisher's retain
flag (v3.1.1 brokers clear it on live forwarding), and retained messages already stored are
not sent at subscribe time (`retain handling` 2): the file holds the traffic that flowed
while recording, in the order the broker delivered it, stamped with the receive time.

Needs a login that may read everything under the root: the ingest's (`_ingest`) does.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from simulators.feed import FeedWriter
from simulators.payloads import rfc3339_ms

log = logging.getLogger(__name__)


class RecordError(RuntimeError):
    """Recording could not start (bad login, broker unreachable, subscription refused)."""


@dataclass
class RecordStats:
    messages: int = 0
    payload_bytes: int = 0
    elapsed_s: float = 0.0


class Recorder:
    def __init__(
        self,
        host: str,
        port: int,
        credentials: tuple[str, str],
        out: Path,
        topic_filter: str,
        client_id: str = "",
    ) -> None:
        self.host, self.port = host, port
        self.credentials = credentials
        self.out = out
        self.topic_filter = topic_filter
        self.client_id = client_id
        self.stats = RecordStats()
        self.subscribed = threading.Event()
        self._failure: str | None = None
        self._done = threading.Event()
        self._writer: FeedWriter | None = None

    def run(
        self,
        stop: threading.Event,
        *,
        max_messages: int | None = None,
        duration_s: float | None = None,
        on_ready: Any = None,
    ) -> RecordStats:
        """Record until `stop`, `max_messages` or `duration_s`; the file is complete on return."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(*self.credentials)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self._max = max_messages
        self._writer = FeedWriter(
            self.out,
            header={
                "source": "record",
                "filter": self.topic_filter,
                "started": rfc3339_ms(int(time.time() * 1000)),
            },
        )
        began = time.monotonic()
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            self._writer.close()
            raise RecordError(f"cannot reach the broker at {self.host}:{self.port}: {exc}") from exc
        client.loop_start()
        try:
            deadline = time.monotonic() + 15
            while not self.subscribed.is_set() and self._failure is None:
                if stop.wait(0.05) or time.monotonic() > deadline:
                    break
            if self._failure is not None:
                raise RecordError(self._failure)
            if not self.subscribed.is_set() and not stop.is_set():
                raise RecordError("the broker did not confirm the subscription in 15 s")
            if on_ready is not None:
                on_ready()
            until = None if duration_s is None else time.monotonic() + duration_s
            while not stop.is_set() and not self._done.is_set():
                if until is not None and time.monotonic() >= until:
                    break
                stop.wait(0.1)
        finally:
            client.disconnect()
            client.loop_stop()
            self._writer.close()
            self.stats.elapsed_s = time.monotonic() - began
        return self.stats

    def _on_connect(self, client: mqtt.Client, _: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._failure = f"the broker refused the login {self.credentials[0]!r}: {reason}"
            return
        options = SubscribeOptions(qos=2, retainAsPublished=True, retainHandling=2)
        client.subscribe(self.topic_filter, options=options)

    def _on_subscribe(
        self, client: mqtt.Client, _: Any, mid: int, reasons: list[Any], props: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            self._failure = f"subscription to {self.topic_filter!r} refused: {failed[0]}"
        else:
            self.subscribed.set()

    def _on_message(self, client: mqtt.Client, _: Any, msg: mqtt.MQTTMessage) -> None:
        if self._done.is_set() or self._writer is None:
            return
        self._writer.write(
            round(time.time(), 6), msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)
        )
        self.stats.messages += 1
        self.stats.payload_bytes += len(msg.payload)
        if self._max is not None and self.stats.messages >= self._max:
            self._done.set()

    def _on_disconnect(
        self, client: mqtt.Client, _: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure and not self._done.is_set():
            log.warning("recorder lost its connection (%s); paho reconnects", reason)
