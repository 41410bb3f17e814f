"""What the end-to-end ingest tests share: a QoS 1 load publisher, exactly-once checks, the
ingest's metrics, and InfluxDB / Mosquitto instances a test may kill and restart itself.

Every test message carries a sequence number as its only metric and a unique device time, so
"every point exactly once" is checkable in InfluxDB: the count of points is N and the sum of
the sequence numbers is 0 + 1 + … + (N-1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from access.broker import INGEST_ACCOUNT, AccountStore, write_broker_files
from core.processes import Child, free_port
from domain.registry import Registry
from mainport.services import BrokerConfig, InfluxConfig, start_broker, start_influxd
from tests.conftest import control_engine, wait_for
from tests.integration.conftest import Broker
from timeseries.client import InfluxClient

PARTNER = "woonbron"
DEVICES = 50
# An hour ago, so that every test message is inside the ingest's accepted time window.
BASE_MS = (time.time_ns() // 1_000_000) - 3_600_000


def telemetry(seqs: Iterable[int], partner: str = PARTNER) -> Iterator[tuple[str, bytes]]:
    """One telemetry message per sequence number, spread over DEVICES devices."""
    for seq in seqs:
        topic = f"mainport/{partner}/load-{seq % DEVICES:03d}/telemetry"
        yield topic, orjson.dumps({"ts": BASE_MS + seq, "metrics": {"seq": seq}})


def publish(
    host: str,
    port: int,
    username: str,
    password: str,
    messages: Iterable[tuple[str, bytes]],
    window: int = 100,
) -> int:
    """Publish at QoS 1 with at most `window` unacked messages; returns when all are acked.

    paho keeps every unacked message in one dict and slows down with thousands in flight, so
    the window is kept here rather than left to paho's own queue.
    """
    slots = threading.Semaphore(window)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)
    client.on_publish = lambda *_args: slots.release()
    client.connect(host, port)
    client.loop_start()
    count = 0
    try:
        for topic, payload in messages:
            if not slots.acquire(timeout=60):
                raise AssertionError(f"broker stopped acking after {count} messages")
            client.publish(topic, payload, qos=1)
            count += 1
        for _ in range(window):
            if not slots.acquire(timeout=60):
                raise AssertionError("broker did not ack the last messages")
    finally:
        client.disconnect()
        client.loop_stop()
    return count


def publish_as(broker: Broker, messages: Iterable[tuple[str, bytes]]) -> int:
    return publish(broker.host, broker.port, PARTNER, broker.passwords[PARTNER], messages)


def seq_stats(influx: InfluxClient) -> tuple[int, int, int]:
    """(telemetry points, sum of their seq, `messages` usage points)."""
    series = influx.query('SELECT count("seq"), sum("seq") FROM "telemetry"')[0]
    count, total = (series[0].values[0][1], series[0].values[0][2]) if series else (0, 0)
    usage = influx.query('SELECT count("bytes") FROM "messages"')[0]
    return int(count), int(total), int(usage[0].values[0][1]) if usage else 0


def exactly_once(n: int) -> tuple[int, int, int]:
    return n, n * (n - 1) // 2, n


def wait_stored(influx: InfluxClient, n: int, timeout_s: float = 120.0) -> None:
    """Wait until n points are stored, then check that they are 0..n-1, each once."""
    wait_for(lambda: seq_stats(influx)[0] >= n, timeout_s=timeout_s, what=f"{n} points stored")
    assert seq_stats(influx) == exactly_once(n)


def scrape(port: int) -> dict[str, float]:
    """The ingest's Prometheus metrics, `name{labels}` → value."""
    text = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
    values = {}
    for row in text.splitlines():
        if row and not row.startswith("#"):
            name, _, value = row.rpartition(" ")
            values[name] = float(value)
    return values


def metric(port: int, name: str) -> float:
    """One metric of the ingest serving on `port`; a name without labels sums every series."""
    try:
        values = scrape(port)
    except httpx.HTTPError:
        return 0.0
    if name in values:
        return values[name]
    return sum(v for key, v in values.items() if key.startswith(name + "{"))


@dataclass
class OwnInfluxd:
    """An influxd of one test's own, to kill -9 and start again on the same data."""

    cfg: InfluxConfig
    log_dir: Path
    child: Child | None = None

    @classmethod
    def start(cls, root: Path) -> OwnInfluxd:
        own = cls(
            InfluxConfig("127.0.0.1", free_port(), root / "influxdb", auth=False), root / "log"
        )
        own.restart()
        return own

    @property
    def url(self) -> str:
        return self.cfg.url

    def restart(self) -> None:
        self.child = start_influxd(self.cfg, self.log_dir)

    def kill(self) -> None:
        assert self.child is not None and self.child.proc is not None
        self.child.signal(9)
        self.child.proc.wait(10)
        self.child.stop()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


@dataclass
class OwnBroker:
    """A Mosquitto of one test's own (persistence on), to restart under a running ingest."""

    cfg: BrokerConfig
    log_dir: Path
    broker: Broker
    child: Child | None = None

    @classmethod
    def start(cls, root: Path, registry: Registry, **config: int) -> OwnBroker:
        """`config`: BrokerConfig fields to change, e.g. max_inflight_messages."""
        store = AccountStore(control_engine(root))
        passwords = {scope: store.issue(scope) for scope in (INGEST_ACCOUNT, PARTNER)}
        cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker", **config)  # type: ignore[arg-type]
        write_broker_files(store, registry, "mainport", cfg.directory)
        broker = Broker(cfg.host, cfg.port, cfg.directory, store, registry, passwords)
        own = cls(cfg, root / "log", broker)
        own.restart()
        return own

    def restart(self) -> None:
        if self.child is not None:
            self.child.stop()  # SIGTERM: Mosquitto writes its persistence file on the way out
        self.child = start_broker(self.cfg, self.log_dir)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
