"""Replay throughput: `mainport replay --speed max` against a bare paho publisher loop.

Starts its own Mosquitto on a free loopback port, writes a feed of N messages (default 500k;
the simulator's dry run of the city-1000 scenario, in the very format `mainport record`
writes), then measures in the same run, alternating to share the machine's noise fairly:

- baseline: a bare paho publisher loop — one client per topic scope (the broker ACL needs
  partner logins), paho's own network thread (`loop_start`), QoS 1, at most WINDOW
  unacknowledged messages per client, over the same messages already decoded in memory;
- replay: `simulators.replay.Replayer` on the feed file: gzip, JSON and base64 decoding,
  per-scope credentials, bounded in-flight, acknowledgements counted.

Prints messages/s of each and the ratio (target ≥ 70 %). Not a test.
Run: .venv/bin/python bench/replay.py [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from access.broker import AccountStore, write_broker_files
from controlplane.db import open_database
from core.processes import free_port
from domain.registry import load_registry
from mainport.services import BrokerConfig, start_broker
from simulators.feed import FeedWriter, Record, read_feed
from simulators.plan import messages_of, plan
from simulators.replay import DEFAULT_WINDOW, Replayer
from simulators.scenario import load_scenario_file
from simulators.simulation import make_world

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "simulators" / "scenarios" / "city-1000.yaml"
START_MS = 1_767_225_600_000


def write_feed(path: Path, count: int) -> None:
    registry = load_registry(REPO / "config" / "partners.yaml")
    world = make_world(load_scenario_file(SCENARIO), registry, "mainport", START_MS)
    with FeedWriter(path, header={"source": "bench"}) as out:
        for action in plan(world):
            msg = messages_of(action)
            if msg is not None:
                out.write(msg.t_ms / 1000, msg.topic, msg.payload, 1, msg.retain)
                if out.count >= count:
                    return


def bare_paho(
    host: str, port: int, creds: dict[str, tuple[str, str]], records: list[Record]
) -> float:
    """messages/s of the plainest correct paho publisher: threaded loop, bounded in flight."""
    clients: dict[str, tuple[mqtt.Client, threading.Semaphore]] = {}
    for scope, (user, password) in creds.items():
        room = threading.Semaphore(DEFAULT_WINDOW)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bare-{scope}")
        client.username_pw_set(user, password)
        client.max_inflight_messages_set(DEFAULT_WINDOW)
        client.on_publish = lambda _c, sem, *_: sem.release()
        client.user_data_set(room)
        client.connect(host, port)
        client.loop_start()
        clients[scope] = (client, room)
    work = [
        (clients[r.topic.split("/", 2)[1]], r.topic, r.payload, r.qos, r.retain) for r in records
    ]
    began = time.perf_counter()
    for (client, room), topic, payload, qos, retain in work:
        room.acquire()
        client.publish(topic, payload, qos, retain)
    for _, room in clients.values():
        for _ in range(DEFAULT_WINDOW):
            room.acquire()  # every message acknowledged
    elapsed = time.perf_counter() - began
    for client, _ in clients.values():
        client.disconnect()
        client.loop_stop()
    return len(records) / elapsed


def replayer(host: str, port: int, creds: dict[str, tuple[str, str]], feed: Path) -> float:
    stats = Replayer(host, port, creds, speed=None).run(feed)
    assert stats.error_count == 0, stats.errors
    return stats.messages / stats.elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    registry = load_registry(REPO / "config" / "partners.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = AccountStore(open_database(f"sqlite:///{root / 'mainport.db'}"))
        scopes = ["_network", *(p.id for p in registry.partners)]
        creds = {scope: (scope, store.issue(scope)) for scope in scopes}
        cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker", bind_client_ids=False)
        write_broker_files(store, registry, "mainport", cfg.directory)
        broker = start_broker(cfg, root / "log")
        try:
            feed = root / "feed.jsonl.gz"
            began = time.perf_counter()
            write_feed(feed, args.messages)
            records = [r for r in read_feed(feed) if isinstance(r, Record)]
            took = time.perf_counter() - began
            print(
                f"feed: {len(records):,} messages of the city-1000 scenario, "
                f"{feed.stat().st_size / 1e6:.1f} MB gzip, written in {took:.1f} s"
            )
            base: list[float] = []
            mine: list[float] = []
            for round_ in range(1, args.rounds + 1):
                # Alternate which goes first: the machine is shared and noisy.
                first, second = (base, mine) if round_ % 2 else (mine, base)
                for results in (first, second):
                    if results is base:
                        base.append(bare_paho(cfg.host, cfg.port, creds, records))
                    else:
                        mine.append(replayer(cfg.host, cfg.port, creds, feed))
                print(
                    f"round {round_}: bare paho {base[-1]:,.0f} msg/s, replay {mine[-1]:,.0f} msg/s"
                )
        finally:
            broker.stop()
    b, r = statistics.median(base), statistics.median(mine)
    print(f"baseline (bare paho publisher loop, QoS 1, window {DEFAULT_WINDOW}): {b:,.0f} msg/s")
    print(f"mainport replay --speed max:                             {r:,.0f} msg/s")
    print(f"ratio: {100 * r / b:.0f} % (target >= 70 %)")


if __name__ == "__main__":
    main()
