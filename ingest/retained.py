"""The retain guard: keeps each partner's retained messages on the broker within a budget.

Mosquitto 2.0.11 has no per-client or per-topic limit on retained messages (only the size of
each, through `max_packet_size`), and its ACLs cannot tell a retained publish from another. So
one service login (`_retain`) subscribes to everything with MQTT 5's retain-as-published, sees
every retained message as the broker stores it (and, on connecting, everything retained
already), counts them per partner (domain/retained.py) and clears those past the budget by
publishing an empty retained message on their topic. Clearing follows publishing within one
round trip, so the broker's retained store is bounded by the budget plus what a partner can
publish in that time. Each clearing is logged with the partner and counted.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.settings import Settings
from domain.retained import RetainedLedger

log = logging.getLogger(__name__)


class RetainGuard:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.mqtt_root
        self.ledger = RetainedLedger(settings.retain_max_messages, settings.retain_max_bytes)
        self.cleared: Counter[str] = Counter()
        self.subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=settings.retain_username, protocol=mqtt.MQTTv5
        )
        password = settings.retain_password
        client.username_pw_set(
            settings.retain_username, password.get_secret_value() if password else None
        )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.client = client
        self.host, self.port = settings.mqtt_host, settings.mqtt_port

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            log.error("broker %s:%d refused the retain guard: %s", self.host, self.port, rc)
            return
        # A fresh count on every connection: the broker sends all it retains first.
        self.ledger.sizes.clear()
        options = SubscribeOptions(qos=1, retainAsPublished=True)
        client.subscribe(f"{self.root}/#", options=options)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _m: int, codes: list[ReasonCode], _p: object
    ) -> None:
        if any(code.is_failure for code in codes):
            log.error("the retain guard may not read %s/# (its login's rights)", self.root)
            return
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if not msg.retain:
            return
        levels = msg.topic.split("/")
        if len(levels) < 3 or levels[1].startswith("_"):
            return  # the platform's own topics (network collector) are not a partner's budget
        partner = levels[1]
        if self.ledger.seen(partner, msg.topic, len(msg.payload)):
            return
        client.publish(msg.topic, b"", qos=1, retain=True)
        self.cleared[partner] += 1
        count, size = self.ledger.usage(partner)
        log.warning(
            "cleared a retained message of %s on %s: over its budget (%d messages, %d bytes kept)",
            partner,
            msg.topic,
            count,
            size,
        )


def run_retain_guard(settings: Settings, stop: threading.Event) -> int:
    guard = RetainGuard(settings)
    guard.start()
    log.info(
        "retain guard: at most %d retained messages and %d bytes per partner",
        settings.retain_max_messages,
        settings.retain_max_bytes,
    )
    stop.wait()
    guard.stop()
    return 0
