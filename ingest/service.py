"""`mainport ingest`: wires subscriber → parser → writer and runs until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType

from prometheus_client import start_http_server

from domain.lineprotocol import line
from domain.messages import UNKNOWN, Rejected, parse_message
from domain.registry import NETWORK, Registry, load_registry
from ingest import metrics
from ingest.points import message_lines, rejected_line
from ingest.subscriber import Ack, Subscriber
from ingest.writer import BatchWriter
from stack.influx import InfluxClient, StoreError
from stack.schema import ensure_schema
from stack.settings import Settings

log = logging.getLogger(__name__)

# Heartbeats let the analytics tell "the platform could not receive" from "the device was
# silent": a gap in them is unknown time, never downtime blamed on a partner.
HEARTBEAT_S = 15.0


class Pipeline:
    """What happens to one message between the broker and the writer. Never raises."""

    def __init__(self, registry: Registry, root: str, writer: BatchWriter, client_id: str) -> None:
        self.root = root
        self.client_id = client_id
        self.writer = writer
        self.known_partners: Mapping[str, object] = registry.by_id
        self.port_owner = {key: p.id for key, p in registry.port_owner.items()}

    def handle(self, topic: str, payload: bytes, ack: Ack | None) -> None:
        received_ns = time.time_ns()
        try:
            msg = parse_message(
                topic, payload, received_ns, root=self.root, known_partners=self.known_partners
            )
            lines = message_lines(msg, topic, payload, received_ns, self.port_owner)
        except Exception as exc:  # a bug must cost one message, not the ingest
            log.exception("could not process a message on %s", topic)
            msg = Rejected(UNKNOWN, "internal_error", f"{type(exc).__name__}: {exc}"[:200])
            lines = [rejected_line(msg, topic, payload, received_ns)]
        partner = getattr(msg, "partner", None) or NETWORK
        # Label values stay a fixed set: a slug nobody registered must not mint new series.
        if partner not in self.known_partners and partner != NETWORK:
            partner = UNKNOWN
        metrics.RECEIVED.labels(partner).inc()
        if isinstance(msg, Rejected):
            metrics.REJECTED.labels(partner, msg.reason).inc()
        else:
            metrics.ACCEPTED.labels(partner).inc()
        self.writer.submit(lines, ack)

    def link_changed(self, connected: bool) -> None:
        self.writer.submit([link_line(self.client_id, connected)], None)


def link_line(client_id: str, connected: bool, ts_ns: int | None = None) -> str:
    return line(
        "ingest_link", {"client": client_id}, {"connected": int(connected)}, ts_ns or time.time_ns()
    )


def run_ingest(settings: Settings, metrics_port: int | None = None) -> int:
    registry = load_registry(settings.partners_file)
    client = InfluxClient(
        settings.influx_url,
        settings.influx_db,
        username=settings.influx_username,
        password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        timeout_s=settings.influx_timeout_s,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    _wait_for_schema(client, settings, stop)
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1")

    writer = BatchWriter(
        client,
        max_points=settings.ingest_batch_size,
        max_age_s=settings.ingest_batch_age_ms / 1000,
    )
    pipeline = Pipeline(registry, settings.mqtt_root, writer, settings.ingest_client_id)
    subscriber = Subscriber(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        client_id=settings.ingest_client_id,
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        topic_filter=f"$share/{settings.ingest_group}/{settings.mqtt_root}/#",
        handle=pipeline.handle,
        on_link=pipeline.link_changed,
        keepalive_s=settings.mqtt_keepalive_s,
    )
    writer.start()
    subscriber.start()
    log.info("ingest %s started", settings.ingest_client_id)
    while not stop.wait(HEARTBEAT_S):
        if subscriber.connected.is_set():
            writer.submit([link_line(settings.ingest_client_id, True)], None)
    subscriber.stop()
    writer.stop()
    client.close()
    log.info("ingest stopped")
    return 0


def _wait_for_schema(client: InfluxClient, settings: Settings, stop: threading.Event) -> None:
    attempt = 0
    while not stop.is_set():
        try:
            ensure_schema(client, settings.influx_raw_retention)
            return
        except StoreError as exc:
            if attempt % 10 == 0:
                log.warning("InfluxDB not ready (%s); waiting", exc)
            attempt += 1
            stop.wait(1.0)
