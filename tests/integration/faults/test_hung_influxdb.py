"""A hung InfluxDB (SIGSTOP: the port still accepts connections, nothing answers): `/readyz`
still answers, 503, naming InfluxDB, instead of waiting out the client's 10 s timeout."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from core.processes import Child
from tests.integration.conftest import Broker, stack_env
from tests.integration.faults.conftest import readyz, start_api
from tests.integration.ingest.ingest_harness import OwnInfluxd
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema


def test_readyz_answers_503_while_influxd_hangs(
    tmp_path: Path, broker: Broker, spawn: Callable[..., Child]
) -> None:
    own = OwnInfluxd.start(tmp_path / "influx")
    client = InfluxClient(own.url, "hung")
    ensure_schema(client, "400d")
    assert own.child is not None
    try:
        _, url = start_api(spawn, stack_env(broker, client, tmp_path / "var"))
        assert readyz(url).status_code == 200

        own.child.signal(signal.SIGSTOP)
        answer = readyz(url)  # a client timeout of 5 s: the answer must come before it

        assert answer.status_code == 503, answer.json()
        assert answer.json()["influxdb"] is False
        assert "influxdb" in answer.json()["failed"]
        assert answer.json()["broker"] is True
    finally:
        own.child.signal(signal.SIGCONT)
        client.close()
        own.stop()
