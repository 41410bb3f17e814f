"""`mainport ingest`: wires subscriber → parser → writer and runs until SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping

from prometheus_client import start_http_server

from controlplane.live import LiveRegistry, StaticSource, open_registry
from controlplane.snapshot import Snapshot
from core.processes import stop_on_signals
from core.settings import Settings
from domain.budgets import DEFAULT_LIMITS, Budgets, Limits, Refusal
from domain.lineprotocol import line
from domain.messages import (
    UNKNOWN,
    Rejected,
    Status,
    Telemetry,
    TelemetryBatch,
    is_alert_topic,
    parse_message,
)
from domain.registry import NETWORK, Registry
from domain.registry_history import RegistryHistory
from ingest import metrics
from ingest.budgets import seed_budgets
from ingest.deadletters import INTERNAL_ERROR, DeadLetterFile
from ingest.points import dead_letter, dead_letter_line, message_lines
from ingest.spool import Spool, SpoolLocked, adopt_orphans
from ingest.subscriber import AckToken, Subscriber
from ingest.writer import BatchWriter
from timeseries.client import InfluxClient, StoreError, StoreForbidden
from timeseries.schema import ensure_schema

log = logging.getLogger(__name__)

# Heartbeats let the analytics tell "the platform could not receive" from "the device was
# silent": a gap in them is unknown time, never downtime blamed on a partner.
HEARTBEAT_S = 15.0
_BUDGETED = (Telemetry, TelemetryBatch, Status)
RETIRED_DEVICE = "retired_device"


def _retirements(history: RegistryHistory) -> frozenset[tuple[str, str]]:
    """The devices retired at some time: only their messages need the (cheap) time lookup."""
    return frozenset(k for k, timeline in history.devices.items() if None in timeline.terms)


class Pipeline:
    """What happens to one message between the broker and the writer. Never raises."""

    def __init__(
        self,
        registry: Registry | LiveRegistry,
        root: str,
        writer: BatchWriter,
        client_id: str,
        dead_letters: DeadLetterFile | None = None,
        budgets: Budgets | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        replicas: int = 1,
    ) -> None:
        self.root = root
        self.client_id = client_id
        self.writer = writer
        self.dead_letters = dead_letters
        self.source: LiveRegistry = (
            StaticSource(registry) if isinstance(registry, Registry) else registry
        )
        self._limits, self._replicas = limits, replicas
        snapshot = self.source.current()
        self.budgets = budgets or Budgets.from_registry(snapshot.registry, limits, replicas)
        self._version = -1
        self._follow(snapshot)

    def _follow(self, snapshot: Snapshot) -> None:
        """Put a newer registry in force, between two messages (the handling thread calls it:
        no message is seen half with the old registry and half with the new)."""
        registry = snapshot.registry
        self.known_partners: Mapping[str, object] = registry.by_id
        self.history = snapshot.history
        self._retired = _retirements(snapshot.history)
        if self._version >= 0:  # the first registry is the one the budgets were made from
            self.budgets.follow(registry, self._limits, self._replicas)
        counts = metrics.message_counts((*self.known_partners, NETWORK, UNKNOWN))
        self._received = counts.received
        self._accepted = counts.accepted
        self._version = snapshot.version

    def port_owner(self, key: tuple[str, str], ts_ns: int) -> str | None:
        """The partner billed for a port at a sample's own time (SPEC: effective times)."""
        return self.history.owner_at(key, ts_ns)

    def _retired_at(
        self, msg: Telemetry | TelemetryBatch | Status
    ) -> Telemetry | TelemetryBatch | Status | Rejected:
        """A retired device's message, judged at the message's own time (a device retired
        at t still had its data from before t accepted, replayed late or not)."""
        if (msg.partner, msg.device) not in self._retired:
            return msg
        retired = self.history.is_retired
        if isinstance(msg, TelemetryBatch):
            kept = tuple(i for i in msg.items if not retired(msg.partner, msg.device, i.ts_ns))
            if len(kept) == len(msg.items):
                return msg
            if kept:  # the records from before the retirement are the device's own
                return TelemetryBatch(msg.partner, msg.device, kept)
            ts_ns = msg.items[0].ts_ns
        else:
            ts_ns = msg.ts_ns
            if not retired(msg.partner, msg.device, ts_ns):
                return msg
        detail = f"device {msg.device!r} of {msg.partner} is retired: its messages are refused"
        return Rejected(msg.partner, RETIRED_DEVICE, detail, ts_ns)

    def handle(self, topic: str, payload: bytes, token: AckToken | None) -> None:
        if is_alert_topic(topic, self.root):  # our own alert to a partner: acked, not counted
            self.writer.submit([], token)
            return
        received_ns = time.time_ns()
        refused: Refusal | None = None
        snapshot = self.source.current()
        if snapshot.version != self._version:
            self._follow(snapshot)
        try:
            msg = parse_message(
                topic, payload, received_ns, root=self.root, known_partners=self.known_partners
            )
            if isinstance(msg, _BUDGETED) and self._retired:
                msg = self._retired_at(msg)
            if isinstance(msg, _BUDGETED):
                refused = self.budgets.check(msg, len(payload), received_ns)
                if refused is None:
                    lines = message_lines(msg, topic, payload, received_ns, self.port_owner)
                else:
                    lines = self._over_budget(msg.partner, refused, topic, payload, received_ns)
            elif isinstance(msg, Rejected):
                # Its dead letter is a point too: held to the partner's rate like the rest.
                refused = self.budgets.check_rejected(msg, len(payload), received_ns)
                if refused is not None:
                    lines = self._over_budget(msg.partner, refused, topic, payload, received_ns)
            else:
                lines = message_lines(msg, topic, payload, received_ns, self.port_owner)
        except Exception as exc:  # a bug must cost one message, not the ingest
            log.exception("could not process a message on %s", topic)
            msg = Rejected(UNKNOWN, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:200])
            refused = None
        if refused is not None:
            self.writer.submit(lines, token)
            return
        partner = getattr(msg, "partner", None) or NETWORK
        # Label values stay a fixed set: a slug nobody registered must not mint new series.
        if partner not in self._received:
            partner = UNKNOWN
        self._received[partner] += 1
        if isinstance(msg, Rejected):
            letter = dead_letter(msg, topic, payload, received_ns)
            lines = [dead_letter_line(letter)]
            metrics.REJECTED.labels(partner, msg.reason).inc()
            if self.dead_letters is not None:
                self.dead_letters.add(letter)
        else:
            self._accepted[partner] += 1
        self.writer.submit(lines, token)

    def _over_budget(
        self, partner: str, refused: Refusal, topic: str, payload: bytes, received_ns: int
    ) -> list[str]:
        """The points of a message a budget refused (all or part of): what it kept, and its
        dead letter unless only counted. The partner is a registered one (budgeted)."""
        self._received[partner] += 1
        metrics.REJECTED.labels(partner, refused.reason).inc()
        lines: list[str] = []
        if refused.kept is not None:
            self._accepted[partner] += 1
            lines = message_lines(refused.kept, topic, payload, received_ns, self.port_owner)
        if refused.rejected is not None:
            letter = dead_letter(refused.rejected, topic, payload, received_ns)
            lines.append(dead_letter_line(letter))
            if self.dead_letters is not None:
                self.dead_letters.add(letter)
        return lines

    def link_changed(self, connected: bool) -> None:
        lines = [link_line(self.client_id, connected)]
        if connected:  # alive from the first moment, not only after the first HEARTBEAT_S
            lines.append(heartbeat_line(self.client_id))
        self.writer.submit(lines, None, bounded=False)

    def accepted_total(self) -> int:
        return sum(self._accepted.values())

    def broker_event(self, kind: str) -> None:
        """A broker restart or a lost session, stored so the API's platform health (and an
        alert) can show it wherever the ingest runs."""
        self.writer.submit([broker_event_line(self.client_id, kind)], None, bounded=False)


def broker_event_line(client_id: str, kind: str, ts_ns: int | None = None) -> str:
    """`ingest_broker_events`: one point per restart or lost session the ingest noticed."""
    return line(
        "ingest_broker_events",
        {"client": client_id, "kind": kind},
        {"n": 1},
        ts_ns or time.time_ns(),
    )


def link_line(client_id: str, connected: bool, ts_ns: int | None = None) -> str:
    return line(
        "ingest_link", {"client": client_id}, {"connected": int(connected)}, ts_ns or time.time_ns()
    )


def heartbeat_line(client_id: str, accepted: int | None = None) -> str:
    """Alive and connected, every HEARTBEAT_S: kept apart from `ingest_link`, whose few
    transitions the uptime maths reads (platform outages) for months at a time. `accepted`:
    messages accepted since the process started, so the API can count the ingest rate by
    arrival (device clocks may lag, or replay old data)."""
    fields: dict[str, int] = {"connected": 1}
    if accepted is not None:
        fields["accepted"] = accepted
    return line("ingest_heartbeat", {"client": client_id}, fields, time.time_ns())


def run_ingest(settings: Settings, metrics_port: int | None = None) -> int:
    # The registry is live (controlplane/live.py): the pipeline takes each committed change
    # between two messages, within `registry_poll_s` of its commit.
    engine, source = open_registry(settings)
    registry = source.current().registry
    client = InfluxClient(
        settings.influx_url, settings.influx_db, **settings.influx_login("writer")
    )
    spool = Spool(settings.spool_dir / settings.ingest_client_id, settings.ingest_spool_max_bytes)
    try:
        spool.open()
    except SpoolLocked as exc:
        log.error(
            "%s: is another ingest running with client id %s?", exc, settings.ingest_client_id
        )
        return 1
    stop = stop_on_signals(log)

    def ensure_store() -> None:
        # A write-only login (the default with auth on) may neither read nor create the
        # schema: the admin made it (`mainport up`, `mainport influx-setup`). A missing
        # database still shows, as a 404 on write, and the batch waits in the spool.
        with contextlib.suppress(StoreForbidden):
            ensure_schema(client, settings.influx_raw_retention)

    try:  # at start-up only to say so early; the writer creates the schema when it can
        ensure_store()
    except StoreError as exc:
        log.warning("InfluxDB not ready (%s): spooling until it is", exc)
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1")

    dead_letters = DeadLetterFile(
        settings.dead_letter_dir / f"{settings.ingest_client_id}.jsonl",
        settings.ingest_dead_letter_max_bytes,
    )
    writer = BatchWriter(
        client,
        spool,
        max_points=settings.ingest_batch_size,
        max_age_s=settings.ingest_batch_age_ms / 1000,
        max_pending_bytes=settings.ingest_max_pending_bytes,
        dead_letters=dead_letters,
        ensure_store=ensure_store,
        adopted=adopt_orphans(
            settings.spool_dir, settings.ingest_client_id, settings.ingest_spool_max_bytes
        ),
    )
    budgets = Budgets.from_registry(
        registry, settings.budget_limits(), replicas=settings.ingest_replicas
    )
    try:  # before the first message: a restart must not hand out every budget again
        devices = seed_budgets(client, budgets, [p.id for p in registry.partners])
        log.info("budgets: %d devices already in InfluxDB", devices)
    except StoreError as exc:
        log.warning(
            "budgets start from the registry alone (InfluxDB: %s): until the next restart, a "
            "partner may add one budget of devices and metric names beyond what it had",
            exc,
        )
    metrics.watch_budgets(budgets)
    pipeline = Pipeline(
        source,
        settings.mqtt_root,
        writer,
        settings.ingest_client_id,
        dead_letters,
        budgets,
        limits=settings.budget_limits(),
        replicas=settings.ingest_replicas,
    )
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
        on_broker_event=pipeline.broker_event,
        broker_clock_file=settings.spool_dir / f"{settings.ingest_client_id}.broker-started",
    )
    writer.start(subscriber.ack_many)
    subscriber.start()
    log.info("ingest %s started", settings.ingest_client_id)
    while not stop.wait(HEARTBEAT_S):
        if subscriber.connected.is_set():
            beat = heartbeat_line(settings.ingest_client_id, pipeline.accepted_total())
            writer.submit([beat], None, bounded=False)
    # Store and ack what is in hand while the connection still carries the acks, then go.
    subscriber.close_intake()
    writer.stop()
    subscriber.stop()
    spool.close()
    for orphan in writer.adopted:
        orphan.close()
    dead_letters.close()
    client.close()
    source.stop()
    engine.dispose()
    log.info("ingest stopped")
    return 0
