"""The MQTT side of the ingest: one paho client on a shared, persistent subscription.

MQTT 3.1.1 on purpose: paho decodes v5 properties on every message, and a bare v3.1.1
subscriber drained 37–56k msg/s here where a v5 one drained 26–31k. Mosquitto offers shared
subscriptions and persistent sessions to both; devices may use either version.

The network loop thread parses and hands over; it waits only when the writer's inbox is at its
bound (InfluxDB and the spool both unable to take more), and then stops reading from the
broker, which keeps the rest (inbox.py).
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from domain.broker_clock import UPTIME_TOPIC, BrokerClock, parse_uptime
from ingest import metrics
from ingest.mqtt_client import DrainingClient

log = logging.getLogger(__name__)

AckToken = tuple[int, int]
"""(connection generation, packet id) of a QoS 1 message."""
Handler = Callable[[str, bytes, AckToken | None], None]
LinkListener = Callable[[bool], None]
BrokerEventListener = Callable[[str], None]
"""Called with "restart" (the broker started again) or "session_lost"."""

_PUBACK = 0x40
_PUBACK_HEAD = 0x4002 << 16  # PUBACK type, remaining length 2; the packet id fills the low bits


class Subscriber:
    """Delivers each message to `handle(topic, payload, token)`; `ack_many(tokens)` acks
    them once stored.

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
        on_broker_event: BrokerEventListener | None = None,
        broker_clock_file: Path | None = None,
    ) -> None:
        """`broker_clock_file`: where the broker's start time is kept between ingest runs."""
        self.host = host
        self.port = port
        self.topic_filter = topic_filter
        self.keepalive_s = keepalive_s
        self._handle = handle
        self._on_link = on_link
        self._on_broker_event = on_broker_event
        self._clock_file = broker_clock_file
        self._broker_clock = BrokerClock(_read_started(broker_clock_file))
        self._clock_written: int | None = None
        self._generation = 0
        self._connects = 0
        self._lock = threading.Lock()
        self._closing = False
        self.connected = threading.Event()
        client = DrainingClient(
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

    def close_intake(self) -> None:
        """Stop handing messages over (they stay unacked: the broker delivers them again)."""
        self._closing = True

    def stop(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    def ack_many(self, tokens: Sequence[AckToken]) -> None:
        """Acknowledge stored messages; tokens of an earlier connection are ignored.

        All PUBACKs of a batch go out as one write: queued one by one, each would cost a
        wake-up of the network thread and a socket write, which at tens of thousands of
        messages a second is a good part of the ingest's time.
        """
        with self._lock:
            generation = self._generation
            mids = [mid for gen, mid in tokens if gen == generation]
            if not mids:
                return
            queue = getattr(self.client, "_packet_queue", None)
            if queue is None:  # a paho without it: one ack at a time, same effect
                for mid in mids:
                    self.client.ack(mid, 1)
                return
            packets = struct.pack(f"!{len(mids)}I", *[_PUBACK_HEAD | mid for mid in mids])
            queue(_PUBACK, packets, 0, 0)

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        if rc.is_failure:
            log.error("broker %s:%d refused the ingest: %s", self.host, self.port, rc)
            return
        with self._lock:
            self._generation += 1
            self._connects += 1
        # Subscribing again on a resumed session is harmless and covers a broker that lost it.
        # The broker's uptime tells its restart (and a possible loss) from a dropped link.
        client.subscribe([(self.topic_filter, 1), (UPTIME_TOPIC, 0)])
        log.info(
            "connected to %s:%d (session %s), subscribed to %s",
            self.host,
            self.port,
            "resumed" if flags.session_present else "new",
            self.topic_filter,
        )
        if self._connects > 1 and not flags.session_present:
            log.warning(
                "the broker had lost the ingest's session (not persisted, or expired): "
                "messages queued for it while it was away may be gone"
            )
            self._broker_event("session_lost")
        metrics.BROKER_CONNECTED.set(1)
        self.connected.set()
        if self._on_link:
            self._on_link(True)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _f: mqtt.DisconnectFlags, rc: ReasonCode, _p: Any
    ) -> None:
        with self._lock:  # acks from now on belong to a dead connection
            self._generation += 1
        metrics.BROKER_CONNECTED.set(0)
        self.connected.clear()
        if rc.is_failure:
            log.warning("lost the broker (%s); reconnecting with backoff", rc)
        if self._on_link:
            self._on_link(False)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if self._closing:
            return
        if msg._topic[:1] == b"$":  # only $SYS/broker/uptime is subscribed to
            if not msg.retain:  # a retained copy is stale (domain/broker_clock.py)
                self._on_uptime(msg.payload)
            return
        token = (self._generation, msg.mid) if msg.qos > 0 else None
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # Mosquitto checks UTF-8, but a handler must never raise
            topic = msg._topic.decode("utf-8", "replace")
        self._handle(topic, bytes(msg.payload), token)

    def _on_uptime(self, payload: bytes | bytearray) -> None:
        uptime = parse_uptime(payload)
        if uptime is None:
            return
        if self._broker_clock.observe(uptime, time.time()):
            log.warning(
                "the broker restarted (up %d s): if it crashed, QoS 1 messages it acknowledged "
                "after its last save are lost (docs/failures.md)",
                uptime,
            )
            self._broker_event("restart")
        started = self._broker_clock.started_s
        if started is not None:
            metrics.BROKER_STARTED.set(started)
            if self._clock_file is not None and round(started) != self._clock_written:
                self._clock_written = round(started)
                with contextlib.suppress(OSError):  # a hint only: never stop the ingest for it
                    self._clock_file.parent.mkdir(parents=True, exist_ok=True)
                    self._clock_file.write_text(f"{self._clock_written}\n")

    def _broker_event(self, kind: str) -> None:
        (metrics.BROKER_RESTARTS if kind == "restart" else metrics.SESSIONS_LOST).inc()
        if self._on_broker_event is not None:
            self._on_broker_event(kind)


def _read_started(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return float(path.read_text())
    except (OSError, ValueError):
        return None
