"""Broker throughput with the dynamic-security plugin (the chosen mechanism) vs the ACL file.
Prints figures; not a test.

The same load on two brokers of our own (temporary directories, free loopback ports), the only
difference the `acl` setting of `mainport.services.BrokerConfig`: N partners publish QoS 1
telemetry, each from its own process with its own login, and one subscriber reads everything as
the ingest does (`_ingest`, `$share/<group>/mainport/#`) and only counts. Throughput is timed at
the subscriber from the first message to the last. Rounds alternate file / plugin so a noisy
machine hurts both alike; the median of the rounds is printed, and the ratio plugin / file.

Run: .venv/bin/python bench/broker_acl.py [--messages N] [--publishers N] [--rounds N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from access.broker import INGEST_ACCOUNT, AccountStore, write_broker_files
from controlplane.db import open_database
from core.processes import free_port
from domain.registry import load_registry
from mainport.services import BrokerConfig, start_broker

REPO = Path(__file__).resolve().parent.parent
PAYLOAD = b'{"metrics": {"power_kw": 1.5, "temp_c": 21.0}}'


def publish(port: int, login: str, password: str, count: int) -> None:
    """One partner: `count` QoS 1 messages over 10 of its devices, 100 unacked at most."""
    done = threading.Semaphore(0)
    window = threading.Semaphore(100)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(login, password)

    def on_publish(*_args: object) -> None:
        window.release()
        done.release()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    for n in range(count):
        window.acquire()
        client.publish(f"mainport/{login}/dev-{n % 10}/telemetry", PAYLOAD, qos=1)
    for _ in range(count):
        done.acquire()
    client.disconnect()
    client.loop_stop()


def one_round(acl: str, messages: int, partners: list[str]) -> float:
    """Messages per second through a fresh broker with this ACL mechanism."""
    registry = load_registry(REPO / "config" / "partners.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = AccountStore(open_database(f"sqlite:///{root / 'mainport.db'}"))
        passwords = {login: store.issue(login) for login in [INGEST_ACCOUNT, *partners]}
        cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker", acl=acl)
        write_broker_files(store, registry, "mainport", cfg.directory)
        broker = start_broker(cfg, root / "log")
        try:
            return _measure(cfg.port, passwords, messages, partners)
        finally:
            broker.stop()


def _measure(port: int, passwords: dict[str, str], messages: int, partners: list[str]) -> float:
    each = messages // len(partners)
    total = each * len(partners)
    got = 0
    first = last = 0.0
    finished = threading.Event()
    subscribed = threading.Event()

    def on_message(*_args: object) -> None:
        nonlocal got, first, last
        now = time.perf_counter()
        if got == 0:
            first = now
        got += 1
        last = now
        if got >= total:
            finished.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    sub.username_pw_set(INGEST_ACCOUNT, passwords[INGEST_ACCOUNT])
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe("$share/bench/mainport/#", qos=1)
    sub.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("the subscriber was not granted its subscription")
    workers = [
        mp.Process(target=publish, args=(port, login, passwords[login], each)) for login in partners
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if not finished.wait(120):
        raise RuntimeError(f"only {got} of {total} messages arrived")
    sub.disconnect()
    sub.loop_stop()
    return total / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    registry = load_registry(REPO / "config" / "partners.yaml")
    partners = [p.id for p in registry.partners][: args.publishers]
    rates: dict[str, list[float]] = {"file": [], "dynsec": []}
    for _ in range(args.rounds):
        for acl in ("file", "dynsec"):
            rates[acl].append(one_round(acl, args.messages, partners))
    file_rate, plugin_rate = (statistics.median(rates[k]) for k in ("file", "dynsec"))
    print(
        f"{args.messages:,} QoS 1 messages from {len(partners)} publishers to one subscriber, "
        f"median of {args.rounds} rounds"
    )
    for name, key in (("ACL file (baseline)", "file"), ("dynamic-security plugin", "dynsec")):
        runs = ", ".join(f"{r:,.0f}" for r in rates[key])
        print(f"  {name:<24} {statistics.median(rates[key]):>9,.0f} msg/s  ({runs})")
    print(f"  ratio plugin / file: {plugin_rate / file_rate:.2f}")


if __name__ == "__main__":
    main()
