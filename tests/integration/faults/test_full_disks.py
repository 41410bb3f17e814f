"""Full disks, on a small tmpfs (root only): InfluxDB's, then the spool's. Nothing acked is
lost, readiness says what is wrong while it lasts, and InfluxDB comes back without a hand once
space returns (restarted by the watchdog `mainport up` runs, if it stays stuck)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.processes import Child, free_port
from mainport.influx_watchdog import InfluxWatchdog, observe
from mainport.services import InfluxConfig
from tests.conftest import wait_for
from tests.integration.conftest import Broker, stack_env
from tests.integration.faults.conftest import fill, readyz, start_api
from tests.integration.ingest.ingest_harness import (
    OwnInfluxd,
    metric,
    publish_as,
    telemetry,
    wait_stored,
)
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

MIN_FREE = 4 * 1024 * 1024


def test_influxdb_disk_full_then_freed_loses_nothing_and_recovers(
    tmp_path: Path,
    broker: Broker,
    spawn: Callable[..., Child],
    small_disk: Callable[[str, int], Path],
) -> None:
    disk = small_disk("influx", 64)
    own = OwnInfluxd(
        InfluxConfig("127.0.0.1", free_port(), disk / "influxdb", auth=False), tmp_path / "log"
    )
    own.restart()
    client = InfluxClient(own.url, "full")
    ensure_schema(client, "400d")
    port = free_port()
    env = stack_env(
        broker,
        client,
        tmp_path / "var",
        MAINPORT_INGEST_METRICS_PORT=str(port),
        MAINPORT_INFLUX_DATA_PATH=str(disk),
        MAINPORT_DISK_MIN_FREE_BYTES=str(MIN_FREE),
    )
    try:
        spawn("ingest", ["ingest"], env)
        _, api = start_api(spawn, env)
        wait_for(lambda: metric(port, "mainport_ingest_broker_connected") == 1, 60, "ingest up")
        publish_as(broker, telemetry(range(500)))
        wait_stored(client, 500)
        assert readyz(api).status_code == 200

        filler = fill(disk)
        publish_as(broker, telemetry(range(500, 1500)))
        wait_for(lambda: metric(port, "mainport_ingest_store_up") == 0, 60, "writes refused")
        full = readyz(api)
        assert full.status_code == 503
        assert {"influxdb_writes", "disk_influxdb"} <= set(full.json()["failed"])

        filler.unlink()
        watchdog = InfluxWatchdog(MIN_FREE, stuck_after_s=5)

        def recovered() -> bool:
            if watchdog.observe(observe(own.url, port, disk)):
                own.stop()
                own.restart()
            return metric(port, "mainport_ingest_store_up") == 1

        wait_for(recovered, 120, "InfluxDB to take writes again")
        wait_stored(client, 1500)
        assert readyz(api).status_code == 200
        print(f"InfluxDB disk full: restarts needed {watchdog.restarts}")
    finally:
        client.close()
        own.stop()


def test_spool_disk_full_while_influxdb_down_holds_in_the_broker_and_loses_nothing(
    tmp_path: Path,
    broker: Broker,
    spawn: Callable[..., Child],
    small_disk: Callable[[str, int], Path],
) -> None:
    spool = small_disk("spool", 8)
    own = OwnInfluxd.start(tmp_path / "influx")
    client = InfluxClient(own.url, "spoolfull")
    ensure_schema(client, "400d")
    port = free_port()
    env = stack_env(
        broker,
        client,
        tmp_path / "var",
        MAINPORT_INGEST_METRICS_PORT=str(port),
        MAINPORT_INGEST_SPOOL_PATH=str(spool),
        MAINPORT_DISK_MIN_FREE_BYTES=str(MIN_FREE),
    )
    try:
        spawn("ingest", ["ingest"], env)
        _, api = start_api(spawn, env)
        wait_for(lambda: metric(port, "mainport_ingest_broker_connected") == 1, 60, "ingest up")
        own.stop()
        fill(spool)
        publish_as(broker, telemetry(range(1000)))  # all PUBACKed by the broker
        wait_for(lambda: metric(port, "mainport_ingest_spool_full") == 1, 60, "acking stopped")
        assert metric(port, "mainport_ingest_spooled_batches_total") == 0
        assert metric(port, "mainport_ingest_acked_total") < 1000  # the broker keeps the rest
        down = readyz(api)
        assert down.status_code == 503
        assert {"influxdb", "disk_spool"} <= set(down.json()["failed"])

        own.restart()  # the spool's disk still full: the held messages go straight in
        wait_stored(client, 1000)
        assert metric(port, "mainport_ingest_acked_total") >= 1000
    finally:
        client.close()
        own.stop()
