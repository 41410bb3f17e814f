"""What a local ingest says of InfluxDB on its metrics port: `mainport_ingest_store_up`.

Read by the API's readiness check (api/checks.py) and by `mainport up`'s InfluxDB watchdog
(mainport/influx_watchdog.py); one parser, through prometheus_client's own text parser.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

STORE_UP = "mainport_ingest_store_up"


def store_up(metrics_text: str) -> bool | None:
    """Whether the ingest's last write reached InfluxDB; None when the metric is absent."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == STORE_UP:
                return sample.value > 0
    return None
