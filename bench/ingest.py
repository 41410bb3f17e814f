"""End-to-end ingest throughput against real Mosquitto and influxd. Prints figures; not a test.

200k QoS 1 telemetry messages from 1000 devices of 10 partners (a temporary partners file),
on a broker and an influxd of its own (temporary directories, free loopback ports):

- limit: a bare paho v3.1.1 subscriber that only counts, draining the backlog (the baseline);
- drain, 1 ingest: the same backlog, drained by `mainport ingest` until the last point is
  queryable in InfluxDB;
- drain, 2 ingests: the same backlog for a second group of two ingest processes sharing it;
- live: publish as fast as two publisher processes can while one ingest runs; first publish to
  last point queryable.

One publish builds the backlog for all three drains: each subscriber group has its own queue in
the broker, so they drain identical backlogs one after the other. Drain rates are timed from the
first message the subscriber received (so process start-up is not counted) to the last one
(bare) or to the last point queryable (ingest). Also printed: ratios to the limit, the peak RSS
of each ingest process (VmHWM), and loss (messages not stored exactly once).

Run: .venv/bin/python bench/ingest.py [--messages N]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from access.broker import INGEST_ACCOUNT, AccountStore, write_broker_files
from controlplane.db import open_database
from core.processes import Child, free_port
from domain.registry import load_registry
from mainport.services import BrokerConfig, InfluxConfig, start_broker, start_influxd
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

REPO = Path(__file__).resolve().parent.parent

PARTNERS = [f"bench-{k:02d}" for k in range(10)]
DEVICES_PER_PARTNER = 100
WINDOW = 100  # unacked QoS 1 messages per publishing client


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    passwords: dict[str, str]


def partners_yaml() -> str:
    rows = ["partners:"]
    for partner in PARTNERS:
        rows += [f"  - id: {partner}", f"    name: Bench {partner}", "    devices:"]
        rows += [f"      - {{id: dev-{d:03d}, kind: sensor}}" for d in range(DEVICES_PER_PARTNER)]
    return "\n".join(rows) + "\n"


def message(seq: int, base_ms: int) -> tuple[str, bytes]:
    device = seq % (len(PARTNERS) * DEVICES_PER_PARTNER)
    partner = PARTNERS[device // DEVICES_PER_PARTNER]
    topic = f"mainport/{partner}/dev-{device % DEVICES_PER_PARTNER:03d}/telemetry"
    metrics = {"temp_c": 20 + seq % 70 / 10, "rh_pct": 40.5 + seq % 13, "co2_ppm": 400 + seq % 600}
    return topic, orjson.dumps({"ts": base_ms + seq, "metrics": {**metrics, "seq": seq}})


def publisher(endpoint: Endpoint, seqs: range, base_ms: int, started: mp.Queue[float]) -> None:
    """One process: a QoS 1 client per partner, at most WINDOW unacked messages each."""
    clients: dict[str, tuple[mqtt.Client, threading.Semaphore]] = {}
    for partner in PARTNERS:
        slots = threading.Semaphore(WINDOW)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.username_pw_set(partner, endpoint.passwords[partner])
        client.on_publish = lambda *_a, s=slots: s.release()
        client.connect(endpoint.host, endpoint.port)
        client.loop_start()
        clients[partner] = (client, slots)
    started.put(time.time())
    for seq in seqs:
        topic, payload = message(seq, base_ms)
        client, slots = clients[topic.split("/")[1]]
        slots.acquire()
        client.publish(topic, payload, qos=1)
    for client, slots in clients.values():
        for _ in range(WINDOW):
            slots.acquire()
        client.disconnect()
        client.loop_stop()


def publish_all(endpoint: Endpoint, n: int, base_ms: int, processes: int = 2) -> float:
    """Publish seq 0..n-1 from `processes` processes; returns the time the first one began."""
    started: mp.Queue[float] = mp.Queue()
    procs = [
        mp.Process(target=publisher, args=(endpoint, range(i, n, processes), base_ms, started))
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    first = min(started.get() for _ in procs)
    for proc in procs:
        proc.join()
    return first


def bare_subscriber(endpoint: Endpoint, group: str, n: int, result: mp.Queue[float]) -> None:
    """Count messages on a persistent shared subscription; report first and last receipt."""
    count = 0
    first = cpu0 = 0.0
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal count, first, cpu0
        if count == 0:
            first = time.time()
            cpu0 = time.process_time()
        count += 1
        if count >= n:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=group, clean_session=False, protocol=mqtt.MQTTv311
    )
    client.username_pw_set(INGEST_ACCOUNT, endpoint.passwords[INGEST_ACCOUNT])
    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe(f"$share/{group}/mainport/#", qos=1)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    done.wait(600)
    result.put(first)
    result.put(time.time())
    result.put(float(count))
    result.put(time.process_time() - cpu0)
    client.disconnect()
    client.loop_stop()


def make_session(endpoint: Endpoint, client_id: str, group: str) -> None:
    """Create a persistent session subscribed to the group, and leave it offline."""
    subscribed = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=False,
        protocol=mqtt.MQTTv311,
    )
    client.username_pw_set(INGEST_ACCOUNT, endpoint.passwords[INGEST_ACCOUNT])
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    client.subscribe(f"$share/{group}/mainport/#", qos=1)
    if not subscribed.wait(10):
        raise RuntimeError("subscription not confirmed")
    client.disconnect()
    client.loop_stop()


def drop_session(endpoint: Endpoint, client_id: str) -> None:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311
    )
    client.username_pw_set(INGEST_ACCOUNT, endpoint.passwords[INGEST_ACCOUNT])
    client.connect(endpoint.host, endpoint.port)
    client.disconnect()


class Ingest:
    """One `mainport ingest` process."""

    def __init__(self, env: dict[str, str], client_id: str, group: str, db: str, log: Path) -> None:
        self.metrics_port = free_port()
        self.child = Child(
            client_id,
            [sys.executable, "-m", "mainport", "ingest"],
            log_file=log / f"{client_id}.log",
            env={
                **env,
                "MAINPORT_INGEST_CLIENT_ID": client_id,
                "MAINPORT_INGEST_GROUP": group,
                "MAINPORT_INFLUX_DB": db,
                "MAINPORT_INGEST_METRICS_PORT": str(self.metrics_port),
            },
            cwd=REPO,
        )

    def start(self) -> None:
        self.child.start()

    def metric(self, prefix: str) -> float:
        """Sum of the ingest's metric rows starting with `prefix`."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/", timeout=2).text
        except httpx.HTTPError:
            return 0.0
        return sum(
            float(row.rpartition(" ")[2]) for row in text.splitlines() if row.startswith(prefix)
        )

    def received(self) -> float:
        return self.metric("mainport_ingest_received_total")

    def writes(self) -> str:
        count = self.metric("mainport_ingest_write_seconds_count")
        seconds = self.metric("mainport_ingest_write_seconds_sum")
        points = self.metric("mainport_ingest_batch_points_sum")
        if not count:
            return "no writes"
        return (
            f"{count:.0f} writes of {points / count:,.0f} points in {seconds / count * 1e3:.0f} ms"
        )

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.child.pid}/status").read_text()
        kb = next(int(row.split()[1]) for row in status.splitlines() if row.startswith("VmHWM"))
        return kb / 1024

    def cpu_s(self) -> float:
        return cpu_s(self.child)

    def stop(self) -> None:
        self.child.stop()


def cpu_s(child: Child) -> float:
    """User + system CPU seconds a child process has used so far."""
    fields = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored(influx: InfluxClient) -> tuple[int, int]:
    series = influx.query('SELECT count("seq"), sum("seq") FROM "telemetry"')[0]
    if not series:
        return 0, 0
    count, total = series[0].values[0][1:3]
    return int(count or 0), int(total or 0)


def wait_stored(influx: InfluxClient, n: int, timeout_s: float = 600) -> float:
    """Poll until n points are queryable; returns the time it was first seen."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if stored(influx)[0] >= n:
            return time.time()
        time.sleep(0.1)
    raise TimeoutError(f"{n} points not stored within {timeout_s:.0f} s: {stored(influx)}")


def first_receipt(ingests: list[Ingest]) -> float:
    while not any(ingest.received() > 0 for ingest in ingests):
        time.sleep(0.01)
    return time.time()


def loss(influx: InfluxClient, n: int) -> str:
    count, total = stored(influx)
    exact = count == n and total == n * (n - 1) // 2
    return f"{n - count} lost" + ("" if exact else f" (NOT exactly once: {count}, {total})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument(
        "--py-spy", type=Path, metavar="FILE", help="profile the 1-ingest drain (collapsed stacks)"
    )
    parser.add_argument("--inflight", type=int, help="broker max_inflight_messages")
    parser.add_argument("--batch-size", type=int, help="MAINPORT_INGEST_BATCH_SIZE")
    parser.add_argument("--modes", default="one,two,live", help="which of one,two,live to run")
    args = parser.parse_args()
    n = args.messages
    root = Path(tempfile.mkdtemp(prefix="mainport-bench-"))
    partners_file = root / "partners.yaml"
    partners_file.write_text(partners_yaml())
    registry = load_registry(partners_file)
    store = AccountStore(open_database(f"sqlite:///{root / 'mainport.db'}"))
    passwords = {scope: store.issue(scope) for scope in (INGEST_ACCOUNT, *PARTNERS)}
    # Many connections per login (publisher processes, ingest groups): client ids not bound.
    broker_cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker", bind_client_ids=False)
    if args.inflight:
        broker_cfg = dataclasses.replace(broker_cfg, max_inflight_messages=args.inflight)
    write_broker_files(store, registry, "mainport", broker_cfg.directory)
    broker = start_broker(broker_cfg, root / "log")
    influx_cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb", auth=False)
    influxd = start_influxd(influx_cfg, root / "log")
    endpoint = Endpoint(broker_cfg.host, broker_cfg.port, passwords)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env |= {
        "MAINPORT_PARTNERS_FILE": str(partners_file),
        "MAINPORT_DATA_DIR": str(root / "var"),
        "MAINPORT_MQTT_HOST": broker_cfg.host,
        "MAINPORT_MQTT_PORT": str(broker_cfg.port),
        "MAINPORT_MQTT_PASSWORD": passwords[INGEST_ACCOUNT],
        "MAINPORT_INFLUX_URL": influx_cfg.url,
        "MAINPORT_LOG_LEVEL": "WARNING",
    }
    if args.batch_size:
        env["MAINPORT_INGEST_BATCH_SIZE"] = str(args.batch_size)
    modes = args.modes.split(",")
    dbs = {name: InfluxClient(influx_cfg.url, f"bench_{name}") for name in ("one", "two", "live")}
    for client in dbs.values():
        ensure_schema(client, "400d")
    base_ms = time.time_ns() // 1_000_000 - 3_600_000
    try:
        print(
            f"{n:,} QoS 1 telemetry messages, {len(PARTNERS)} partners, "
            f"{len(PARTNERS) * DEVICES_PER_PARTNER} devices; {os.cpu_count()} cores"
        )
        for client_id, group in (
            ("bare", "bare"),
            ("one-1", "one"),
            ("two-1", "two"),
            ("two-2", "two"),
        ):
            make_session(endpoint, client_id, group)
        started = time.time()
        publish_all(endpoint, n, base_ms)
        built = time.time() - started
        print(f"backlog built for 3 groups in {built:.1f} s ({n / built:,.0f} msg/s published)")

        result: mp.Queue[float] = mp.Queue()
        bare = mp.Process(target=bare_subscriber, args=(endpoint, "bare", n, result))
        bare.start()
        first, last, counted, bare_cpu = (result.get() for _ in range(4))
        bare.join()
        limit = (counted - 1) / (last - first)
        drop_session(endpoint, "bare")
        print(
            f"limit  bare paho v3.1.1 subscriber drain : {limit:9,.0f} msg/s "
            f"({int(counted):,} counted; CPU {bare_cpu * 1e6 / counted:.0f} µs/msg)"
        )

        figures: dict[str, float] = {}
        for mode, ids in (("one", ["one-1"]), ("two", ["two-1", "two-2"])):
            if mode not in modes:
                continue
            ingests = [Ingest(env, cid, mode, f"bench_{mode}", root / "log") for cid in ids]
            for ingest in ingests:
                ingest.start()
            spy = _profile(ingests[0], args.py_spy) if mode == "one" and args.py_spy else None
            t0 = first_receipt(ingests)
            cpu0 = sum(ingest.cpu_s() for ingest in ingests)
            others0 = cpu_s(broker), cpu_s(influxd)
            t1 = wait_stored(dbs[mode], n)
            cpu = sum(ingest.cpu_s() for ingest in ingests) - cpu0
            broker_cpu = cpu_s(broker) - others0[0]
            influxd_cpu = cpu_s(influxd) - others0[1]
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            rss = [ingest.peak_rss_mb() for ingest in ingests]
            writes = "; ".join(ingest.writes() for ingest in ingests)
            for ingest in ingests:
                ingest.stop()
            for cid in ids:
                drop_session(endpoint, cid)
            rate = n / (t1 - t0)
            figures[mode] = rate
            label = "drain, 1 ingest" if mode == "one" else "drain, 2 ingests"
            print(
                f"{label:39}: {rate:9,.0f} msg/s  ratio {rate / limit:4.2f}  "
                f"peak RSS {' + '.join(f'{r:.0f}' for r in rss)} MB  {loss(dbs[mode], n)}"
                f"\n    CPU µs/msg: ingest {cpu * 1e6 / n:.0f}, "
                f"mosquitto {broker_cpu * 1e6 / n:.0f}, influxd {influxd_cpu * 1e6 / n:.0f}; "
                f"{writes}"
            )

        if "live" not in modes:
            return
        live = Ingest(env, "live-1", "live", "bench_live", root / "log")
        live.start()
        while live.received() == 0 and not _connected(live):
            time.sleep(0.05)
        t0 = publish_all(endpoint, n, base_ms)
        published = time.time()
        t1 = wait_stored(dbs["live"], n)
        rss_live = live.peak_rss_mb()
        live.stop()
        rate = n / (t1 - t0)
        print(
            f"{'live, 1 ingest, 2 publishers':39}: {rate:9,.0f} msg/s  ratio {rate / limit:4.2f}  "
            f"peak RSS {rss_live:.0f} MB  {loss(dbs['live'], n)}\n"
            f"    published at {n / (published - t0):,.0f} msg/s; last point queryable "
            f"{t1 - published:.1f} s after the last publish"
        )
    finally:
        influxd.stop()
        broker.stop()
        for client in dbs.values():
            client.close()


def _profile(ingest: Ingest, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy; not a dependency) sampling every thread of the ingest."""
    argv = ["py-spy", "record", "--pid", str(ingest.child.pid), "--rate", "250"]
    return subprocess.Popen([*argv, "--threads", "--format", "raw", "-o", str(out)])


def _connected(ingest: Ingest) -> bool:
    try:
        text = httpx.get(f"http://127.0.0.1:{ingest.metrics_port}/", timeout=2).text
    except httpx.HTTPError:
        return False
    return "mainport_ingest_broker_connected 1.0" in text


if __name__ == "__main__":
    main()
