"""The MQTT side of the ingest: one paho client on a shared, persistent subscription.

MQTT 3.1.1 on purpose: paho decodes v5 properties on every message, and a bare v3.1.1
subscriber drained 37–56k msg/s here where a v5 one drained 26–31k. Mosquitto offers shared
subscriptions and persistent sessions to both; devices may use either version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest import metrics

log = logging.getLogger(__name__)

Ack = Callable[[], None]
Handler = Callable[[str, bytes, Ack | None], None]
LinkListener = Callable[[bool], None]


class Subscriber:
    """Delivers each message to `handle(topic, payload, ack)`; the handler acks when stored.

    Acks are tied to the connection they came on: after a reconnect the broker redelivers
    everything unacked (persistent session), and a stale ack could otherwise acknowledge a
    different message that reuses the same packet id.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str,
        password: str | None,
        topic_filter: str,
        handle: Handler,
        on_link: LinkListener | None = None,
        keepalive_s: int = 30,
    ) -> None:
        self.host = host
        self.port = port
        self.topic_filter = topic_filter
        self.keepalive_s = keepalive_s
        self._handle = handle
        self._on_link = on_link
        self._generation = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.username_pw_set(username, password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        if rc.is_failure:
            log.error("broker %s:%d refused the ingest: %s", self.host, self.port, rc)
            return
        with self._lock:
            self._generation += 1
        # Subscribing again on a resumed session is harmless and covers a broker that lost it.
        client.subscribe(self.topic_filter, qos=1)
        log.info(
            "connected to %s:%d (session %s), subscribed to %s",
            self.host,
            self.port,
            "resumed" if flags.session_present else "new",
            self.topic_filter,
        )
        metrics.BROKER_CONNECTED.set(1)
        self.connected.set()
        if self._on_link:
            self._on_link(True)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _f: mqtt.DisconnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        metrics.BROKER_CONNECTED.set(0)
        self.connected.clear()
        if rc.is_failure:
            log.warning("lost the broker (%s); reconnecting with backoff", rc)
        if self._on_link:
            self._on_link(False)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        ack: Ack | None = None
        if msg.qos > 0:
            generation = self._generation
            mid, qos = msg.mid, msg.qos

            def ack() -> None:
                with self._lock:
                    if generation == self._generation:
                        client.ack(mid, qos)

        try:
            topic = msg.topic
        except UnicodeDecodeError:  # Mosquitto checks UTF-8, but a handler must never raise
            topic = msg._topic.decode("utf-8", "replace")
        self._handle(topic, bytes(msg.payload), ack)
