"""Nothing is lost: InfluxDB, the ingest or Mosquitto dies mid-stream, and every point is
still stored exactly once (real Mosquitto, real influxd, `mainport ingest` as a process)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

from core.processes import Child, free_port
from domain.registry import Registry
from tests.conftest import wait_for
from tests.integration.conftest import Broker, stack_env
from tests.integration.ingest.ingest_harness import (
    OwnBroker,
    OwnInfluxd,
    metric,
    publish_as,
    seq_stats,
    telemetry,
    wait_stored,
)
from timeseries.client import InfluxClient


def publishing(broker: Broker, seqs: range) -> threading.Thread:
    """Publish in the background; the test joins it (an exception fails the join check)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            publish_as(broker, telemetry(seqs))
        except BaseException as exc:
            errors.append(exc)
            raise

    thread = threading.Thread(target=run, name="publisher")
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def finish(thread: threading.Thread) -> None:
    thread.join(120)
    assert not thread.is_alive() and not thread.errors  # type: ignore[attr-defined]


def ingest_env(
    broker: Broker, influx: InfluxClient, data_dir: Path, **extra: str
) -> dict[str, str]:
    port = str(free_port())
    return stack_env(broker, influx, data_dir, MAINPORT_INGEST_METRICS_PORT=port, **extra)


def metrics_port(env: dict[str, str]) -> int:
    return int(env["MAINPORT_INGEST_METRICS_PORT"])


def wait_connected(env: dict[str, str]) -> None:
    port = metrics_port(env)
    wait_for(lambda: metric(port, "mainport_ingest_broker_connected") == 1, what="ingest up")


def test_influxd_killed_mid_stream_and_restarted_every_point_once(
    broker: Broker, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    n = 50_000
    influxd = OwnInfluxd.start(tmp_path / "own-influxd")
    influx = InfluxClient(influxd.url, "killed")
    try:
        env = ingest_env(broker, influx, tmp_path)
        spawn("ingest", ["ingest"], env)
        wait_connected(env)
        publisher = publishing(broker, range(n))
        wait_for(lambda: seq_stats(influx)[0] >= 2_000, what="the first points stored")

        influxd.kill()  # kill -9, mid-stream
        port = metrics_port(env)
        wait_for(lambda: metric(port, "mainport_ingest_spooled_batches_total") > 0, what="spool")
        finish(publisher)  # the broker took every message: the ingest kept acking
        influxd.restart()

        wait_stored(influx, n)
        assert metric(port, "mainport_ingest_drained_batches_total") > 0
        wait_for(lambda: metric(port, "mainport_ingest_spool_bytes") == 0, what="spool empty")
    finally:
        influx.close()
        influxd.stop()


def test_ingest_killed_mid_stream_and_restarted_every_point_once(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    n = 30_000
    env = ingest_env(broker, influx_db, tmp_path)
    first = spawn("ingest", ["ingest"], env)
    wait_connected(env)
    publisher = publishing(broker, range(n))
    wait_for(lambda: seq_stats(influx_db)[0] >= 2_000, what="the first points stored")

    first.signal(signal.SIGKILL)
    assert first.proc is not None and first.proc.wait(10) == -signal.SIGKILL
    stored_before = seq_stats(influx_db)[0]
    spawn("ingest-again", ["ingest"], env)  # same client id: same session, same spool

    finish(publisher)
    wait_stored(influx_db, n)
    assert stored_before < n  # it really died mid-stream


def test_mosquitto_restart_ingest_reconnects_by_itself_and_loses_nothing(
    registry: Registry, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    own = OwnBroker.start(tmp_path / "own-broker", registry)
    try:
        env = ingest_env(own.broker, influx_db, tmp_path)
        spawn("ingest", ["ingest"], env)
        wait_connected(env)
        publish_as(own.broker, telemetry(range(10_000)))

        own.restart()  # persistence on: the queue and in-flight messages survive

        wait_connected(env)
        publish_as(own.broker, telemetry(range(10_000, 20_000)))
        wait_stored(influx_db, 20_000)
        outages = influx_db.query(
            'SELECT count("connected") FROM "ingest_link" WHERE "connected" = 0'
        )
        assert outages[0] and outages[0][0].values[0][1] >= 1  # the disconnect was recorded
    finally:
        own.stop()


def test_two_ingests_on_one_shared_subscription_store_every_point_once_and_share_work(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    n = 20_000
    one = ingest_env(broker, influx_db, tmp_path / "one")
    two = {
        **one,
        "MAINPORT_DATA_DIR": str(tmp_path / "two"),
        "MAINPORT_INGEST_CLIENT_ID": one["MAINPORT_INGEST_CLIENT_ID"] + "-b",
        "MAINPORT_INGEST_METRICS_PORT": str(free_port()),
    }
    spawn("ingest-1", ["ingest"], one)
    spawn("ingest-2", ["ingest"], two)
    wait_connected(one)
    wait_connected(two)

    publish_as(broker, telemetry(range(n)))

    wait_stored(influx_db, n)
    shares = [metric(metrics_port(env), "mainport_ingest_acked_total") for env in (one, two)]
    assert all(share > 0 for share in shares), shares
    assert sum(shares) >= n


def test_a_full_spool_stops_acking_the_broker_holds_the_rest_nothing_is_dropped(
    broker: Broker, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    # Enough that the points outgrow all the ingest may hold: the spool, one held batch (up to
    # 10,000 points: 5,000 messages) and the in-memory bound; the broker must keep the rest.
    n, spool_max, pending_max = 20_000, 65_536, 1024 * 1024
    influxd = OwnInfluxd.start(tmp_path / "own-influxd")
    influx = InfluxClient(influxd.url, "spoolfull")
    try:
        env = ingest_env(
            broker,
            influx,
            tmp_path,
            MAINPORT_INGEST_SPOOL_MAX_BYTES=str(spool_max),
            MAINPORT_INGEST_MAX_PENDING_BYTES=str(pending_max),
        )
        port = metrics_port(env)
        spawn("ingest", ["ingest"], env)
        wait_connected(env)
        wait_for(lambda: seq_stats(influx) == (0, 0, 0), what="the ingest's database")
        influxd.kill()

        publish_as(broker, telemetry(range(n)))  # ~2.6 MB of points: 40 times the spool

        wait_for(lambda: metric(port, "mainport_ingest_spool_full") == 1, what="spool full")
        acked = metric(port, "mainport_ingest_acked_total")
        wait_for(
            lambda: metric(port, "mainport_ingest_pending_bytes") >= pending_max,
            what="the ingest's memory bound reached",
        )
        assert metric(port, "mainport_ingest_acked_total") == acked  # not one more ack
        assert metric(port, "mainport_ingest_received_total") < n  # the broker holds the rest
        assert metric(port, "mainport_ingest_spool_bytes") <= spool_max

        influxd.restart()

        wait_stored(influx, n)
        wait_for(lambda: metric(port, "mainport_ingest_spool_full") == 0, what="acking again")
        wait_for(lambda: metric(port, "mainport_ingest_spool_bytes") == 0, what="spool drained")
    finally:
        influx.close()
        influxd.stop()
