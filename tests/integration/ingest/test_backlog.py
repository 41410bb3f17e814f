"""The broker keeps the backlog: 200k QoS 1 messages published while the ingest is down are
all stored once it is back (Mosquitto's default of 1000 queued messages would drop 199k)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from core.processes import Child, free_port
from mainport.services import BrokerConfig
from tests.conftest import wait_for
from tests.integration.conftest import Broker, stack_env
from tests.integration.ingest.ingest_harness import (
    metric,
    publish_as,
    seq_stats,
    telemetry,
    wait_stored,
)
from timeseries.client import InfluxClient

N = 200_000


def test_a_200k_backlog_built_while_the_ingest_is_down_is_stored_in_full(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    assert BrokerConfig("h", 1, tmp_path).max_queued_messages >= N  # the generated config
    port = free_port()
    env = stack_env(broker, influx_db, tmp_path, MAINPORT_INGEST_METRICS_PORT=str(port))
    first = spawn("ingest", ["ingest"], env)
    wait_for(lambda: metric(port, "mainport_ingest_broker_connected") == 1, what="session")
    first.signal(signal.SIGTERM)  # its persistent session stays subscribed in the broker
    assert first.proc is not None and first.proc.wait(30) == 0

    publish_as(broker, telemetry(range(N)))
    assert seq_stats(influx_db)[0] == 0  # nothing was stored while the ingest was down

    spawn("ingest-again", ["ingest"], env)
    wait_stored(influx_db, N, timeout_s=240)
