"""The collector's health per switch, as Prometheus metrics on its own /metrics port.

Its own port (MAINPORT_COLLECTOR_METRICS_PORT, default 9117) rather than the API's: the
collector is a separate process, often on another host near the switches, and Prometheus
scrapes it there; the API shows the same health from what the ingest stored
(`GET /api/v1/network/switches`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

REGISTRY = CollectorRegistry()

LAST_POLL = Gauge(
    "mainport_collector_last_poll_timestamp_seconds",
    "When the switch last answered a poll (epoch seconds)",
    ["switch"],
    registry=REGISTRY,
)
LATENCY = Gauge(
    "mainport_collector_poll_latency_seconds",
    "How long the last successful poll of the switch took",
    ["switch"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "mainport_collector_poll_errors",
    "Polls of the switch that failed (timeout after retries, SNMP error)",
    ["switch"],
    registry=REGISTRY,
)
POLLS = Counter(
    "mainport_collector_polls", "Polls of the switch started", ["switch"], registry=REGISTRY
)
REACHABLE = Gauge(
    "mainport_collector_reachable",
    "1 when the last poll of the switch was answered, else 0",
    ["switch"],
    registry=REGISTRY,
)
PORTS = Gauge(
    "mainport_collector_ports",
    "Registry ports of the switch published in the last poll",
    ["switch"],
    registry=REGISTRY,
)
SPEED_MISMATCH = Gauge(
    "mainport_collector_speed_mismatch_mbps",
    "ifHighSpeed of a port whose speed differs from its registry capacity_mbps (the glitch "
    "rule depends on the capacity); absent when they agree",
    ["switch", "port", "capacity_mbps"],
    registry=REGISTRY,
)
PUBLISHED = Counter(
    "mainport_collector_messages_published",
    "Messages handed to the MQTT client",
    registry=REGISTRY,
)


def serve(port: int, host: str = "127.0.0.1") -> None:
    if port:
        start_http_server(port, addr=host, registry=REGISTRY)
