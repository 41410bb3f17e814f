"""The ingest's Prometheus metrics (served on its own port, scraped or proxied by the API)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("mainport_ingest_received", "MQTT messages received", ["partner"])
ACCEPTED = Counter("mainport_ingest_accepted", "Messages accepted", ["partner"])
REJECTED = Counter("mainport_ingest_rejected", "Messages rejected", ["partner", "reason"])
POINTS_WRITTEN = Counter("mainport_ingest_points_written", "Points stored in InfluxDB")
POINTS_DEAD = Counter("mainport_ingest_points_dead", "Points InfluxDB refused (dropped)")
WRITE_RETRIES = Counter("mainport_ingest_write_retries", "Failed InfluxDB writes retried")
BATCH_POINTS = Histogram(
    "mainport_ingest_batch_points",
    "Points per InfluxDB write",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000),
)
WRITE_SECONDS = Histogram(
    "mainport_ingest_write_seconds",
    "Time to store one batch, retries included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BROKER_CONNECTED = Gauge("mainport_ingest_broker_connected", "1 while connected to the broker")
STORE_UP = Gauge("mainport_ingest_store_up", "1 while the last InfluxDB write succeeded")
