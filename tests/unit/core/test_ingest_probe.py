"""core.ingest_probe reads the ingest's store_up from Prometheus text as prometheus_client
writes it (the same library the ingest serves its metrics with)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from core.ingest_probe import STORE_UP, store_up


def _exposition(value: float | None) -> str:
    registry = CollectorRegistry()
    Counter("mainport_ingest_messages", "messages", registry=registry).inc(3)
    if value is not None:
        Gauge(STORE_UP, "InfluxDB took the last write", registry=registry).set(value)
    return generate_latest(registry).decode()


@pytest.mark.parametrize(("value", "expected"), [(1.0, True), (0.0, False), (None, None)])
def test_store_up_is_read_from_the_ingests_metrics(
    value: float | None, expected: bool | None
) -> None:
    assert store_up(_exposition(value)) is expected
