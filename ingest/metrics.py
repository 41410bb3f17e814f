"""The ingest's Prometheus metrics (served on its own port, scraped or proxied by the API).

What an operator needs to see that nothing is lost: messages received, accepted, rejected (per
partner and reason) and acked; points written, spooled, drained and refused; how full the spool
is and whether the ingest has stopped acking because of it; batch sizes and write latencies;
and whether the broker connection and InfluxDB are up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from domain.budgets import Budgets


class MessageCounts(Collector):
    """Messages received and accepted per partner, as plain integers.

    Counted for every message on the MQTT thread, where a Prometheus `Counter.inc()` (a lock
    and two calls) cost more than a tenth of the ingest's own work per message. Only that
    thread adds to these dicts and their keys are fixed up front, so a scrape on another
    thread reads them safely; the exported names are those of ordinary counters.
    """

    def __init__(self, partners: Iterable[str]) -> None:
        self.received = dict.fromkeys(partners, 0)
        self.accepted = dict.fromkeys(self.received, 0)

    def collect(self) -> Iterator[Metric]:
        for name, doc, counts in (
            ("mainport_ingest_received", "MQTT messages received", self.received),
            ("mainport_ingest_accepted", "Messages accepted", self.accepted),
        ):
            family = CounterMetricFamily(name, doc, labels=["partner"])
            for partner, value in list(counts.items()):
                family.add_metric([partner], value)
            yield family


_message_counts: MessageCounts | None = None


def message_counts(partners: Iterable[str]) -> MessageCounts:
    """The process's one `MessageCounts` (registered once; later calls extend its partners)."""
    global _message_counts
    if _message_counts is None:
        _message_counts = MessageCounts(partners)
        REGISTRY.register(_message_counts)
    else:
        for partner in partners:
            _message_counts.received.setdefault(partner, 0)
            _message_counts.accepted.setdefault(partner, 0)
    return _message_counts


class BudgetUse(Collector):
    """How much of its budget of auto-registered devices each partner uses, read at scrape
    time (nothing is counted on the hot path). Refusals are `mainport_ingest_rejected` with
    reason rate_limited, too_many_devices or too_many_metric_names."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets

    def collect(self) -> Iterator[Metric]:
        used = GaugeMetricFamily(
            "mainport_ingest_budget_auto_devices",
            "Auto-registered (unlisted) devices per partner, as this ingest knows them",
            labels=["partner"],
        )
        limit = GaugeMetricFamily(
            "mainport_ingest_budget_auto_devices_limit",
            "Budget of auto-registered devices per partner",
            labels=["partner"],
        )
        for partner, count in self.budgets.auto_devices().items():
            used.add_metric([partner], count)
            if (limits := self.budgets.limits(partner)) is not None:
                limit.add_metric([partner], limits.auto_devices)
        yield used
        yield limit


_budget_use: BudgetUse | None = None


def watch_budgets(budgets: Budgets) -> None:
    """Export `budgets` (the process's one; a later call replaces the earlier)."""
    global _budget_use
    if _budget_use is None:
        _budget_use = BudgetUse(budgets)
        REGISTRY.register(_budget_use)
    _budget_use.budgets = budgets


REJECTED = Counter(
    "mainport_ingest_rejected",
    "Dead letters: messages rejected, and points InfluxDB refused (reason store_refused)",
    ["partner", "reason"],
)
ACKED = Counter("mainport_ingest_acked", "Messages acked to the broker after durable storage")
POINTS_WRITTEN = Counter("mainport_ingest_points_written", "Points stored in InfluxDB")
POINTS_DEAD = Counter(
    "mainport_ingest_points_dead", "Points InfluxDB refused (kept in the dead-letter store)"
)
WRITE_RETRIES = Counter("mainport_ingest_write_retries", "Failed InfluxDB writes")
SPOOLED_BATCHES = Counter("mainport_ingest_spooled_batches", "Batches appended to the spool")
DRAINED_BATCHES = Counter("mainport_ingest_drained_batches", "Spooled batches written to InfluxDB")
SPOOL_BYTES = Gauge("mainport_ingest_spool_bytes", "Bytes in the spool waiting for InfluxDB")
SPOOL_FULL = Gauge(
    "mainport_ingest_spool_full", "1 while the spool is full and the ingest has stopped acking"
)
PENDING_MESSAGES = Gauge(
    "mainport_ingest_pending_messages", "Messages in memory, received but not yet stored"
)
PENDING_BYTES = Gauge(
    "mainport_ingest_pending_bytes", "Line protocol in memory waiting for the writer (bounded)"
)
BATCH_POINTS = Histogram(
    "mainport_ingest_batch_points",
    "Points per InfluxDB write",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000),
)
WRITE_SECONDS = Histogram(
    "mainport_ingest_write_seconds",
    "Time to store one batch in InfluxDB, retries included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BROKER_CONNECTED = Gauge("mainport_ingest_broker_connected", "1 while connected to the broker")
STORE_UP = Gauge("mainport_ingest_store_up", "1 while InfluxDB takes writes")
BROKER_RESTARTS = Counter(
    "mainport_ingest_broker_restarts",
    "Broker restarts seen ($SYS/broker/uptime went back): after a crash, QoS 1 messages the "
    "broker acknowledged since its last save are lost",
)
SESSIONS_LOST = Counter(
    "mainport_ingest_broker_sessions_lost",
    "Reconnects on which the broker no longer had the ingest's session (its queue is gone)",
)
BROKER_STARTED = Gauge(
    "mainport_ingest_broker_started_seconds", "When the broker last started (Unix time)"
)
