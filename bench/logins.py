"""Device logins at scale: provisioning through the API, a connect storm, and what per-device
rules cost the broker. Prints figures; not a test.

One run, on loopback, with our own broker (dynamic-security plugin, client ids bound to logins,
as `mainport up` runs it), control-plane database and `mainport api`:
1. provisioning through the API: per change (`POST …/devices` then `POST …/devices/{d}/login`,
   one at a time, K of them: median and p95 latency), and in bulk (N devices registered in one
   registry apply, the control plane's bulk path, then `POST …/device-logins` for all N: one audit
   transaction and one broker reload);
2. connect storm: N clients, each with its own device login, connect at once (500 in flight) on
   the plain listener: time until every CONNACK said yes, broker RSS before and after;
3. broker throughput, same run, same load: 20 publishers × QoS 1 through a broker holding the N
   per-device rules (publishing with device logins, the N clients still connected) vs a fresh
   broker with only 20 partner rules (publishing with partner logins); one `_ingest` subscriber
   on the shared subscription counts. Ratio per-device / partner.

Run: .venv/bin/python bench/logins.py [--devices N] [--per-change K] [--messages M]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from access.broker import (
    INGEST_ACCOUNT,
    Account,
    AccountStore,
    hash_password,
    new_password,
    write_broker_files,
)
from access.tokens import OPERATOR, TokenStore
from controlplane.db import open_database, utcnow
from controlplane.registry_store import apply, seed
from core.processes import Child, free_port, wait_until
from domain.registry import load_registry
from mainport.services import BrokerConfig, start_broker

HOST = "127.0.0.1"
PARTNER = "bench"
BASELINE_PARTNERS = [PARTNER, *(f"p{i:02d}" for i in range(1, 20))]
PAYLOAD = b'{"metrics": {"power_kw": 1.5, "energy_kwh": 12.25}}'


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def partners_yaml(path: Path, devices: list[str]) -> Path:
    data = {
        "partners": [
            {
                "id": p,
                "name": f"Bench {p}",
                "devices": [{"id": d, "kind": "energy-meter", "interval_s": 60} for d in devices]
                if p == PARTNER
                else [],
            }
            for p in BASELINE_PARTNERS
        ]
    }
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class Stack:
    api: str
    operator: str
    broker_pid: int
    port: int
    ingest_password: str
    engine_url: str
    root: Path


@contextmanager
def stack(root: Path) -> Iterator[Stack]:
    """Broker + control plane (the baseline partners) + `mainport api`, one data dir."""
    data = root / "var"
    registry = load_registry(partners_yaml(root / "partners.yaml", []))
    url = f"sqlite:///{(data / 'mainport.db').resolve()}"
    engine = open_database(url)
    store = AccountStore(engine)
    ingest_password = store.issue(INGEST_ACCOUNT)
    cfg = BrokerConfig(HOST, free_port(), data / "mosquitto")
    write_broker_files(store, registry, "mainport", cfg.directory)
    broker = start_broker(cfg, root / "log")
    seed(engine, registry, at=utcnow(), actor="bench")
    operator = TokenStore(engine).issue(OPERATOR, label="bench")
    engine.dispose()
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env |= {
        "MAINPORT_DATA_DIR": str(data),
        "MAINPORT_MQTT_HOST": HOST,
        "MAINPORT_MQTT_PORT": str(cfg.port),
        "MAINPORT_MQTT_TLS_PORT": "0",
        "MAINPORT_API_PORT": str(api_port),
        "MAINPORT_LOG_LEVEL": "WARNING",
    }
    api = Child(
        "api", [sys.executable, "-m", "mainport", "api"], log_file=root / "api.log", env=env
    )
    api.start()
    base = f"http://{HOST}:{api_port}"
    try:
        wait_until(lambda: _answers(base), timeout_s=60, what="the API", child=api)
        assert broker.pid is not None
        yield Stack(base, operator, broker.pid, cfg.port, ingest_password, url, root)
    finally:
        api.stop()
        broker.stop()


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def q(xs: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    return statistics.median(xs), statistics.quantiles(xs, n=20)[-1]


def per_change(s: Stack, count: int) -> tuple[list[float], list[float]]:
    """Latency (ms) of registering a device, and of issuing its login, one change at a time."""
    adds, logins = [], []
    headers = {"Authorization": f"Bearer {s.operator}"}
    with httpx.Client(base_url=s.api, headers=headers, timeout=60) as client:
        for n in range(count):
            device = f"single-{n:05d}"
            t0 = time.perf_counter()
            r = client.post(f"/api/v1/partners/{PARTNER}/devices", json={"id": device})
            t1 = time.perf_counter()
            assert r.status_code == 201, r.text
            r = client.post(f"/api/v1/partners/{PARTNER}/devices/{device}/login")
            t2 = time.perf_counter()
            assert r.status_code == 201, r.text
            adds.append((t1 - t0) * 1000)
            logins.append((t2 - t1) * 1000)
    return adds, logins


def bulk(s: Stack, count: int, chunk: int) -> tuple[float, list[float], dict[str, str]]:
    """(registry apply s, seconds per bulk-login request of `chunk` devices, username →
    password) for `count` devices registered at once and given logins `chunk` at a time."""
    devices = [f"dev-{n:05d}" for n in range(count)]
    registry = load_registry(partners_yaml(s.root / "bulk.yaml", devices))
    engine = open_database(s.engine_url)
    t0 = time.perf_counter()
    apply(engine, registry, actor="bench", at=utcnow())
    apply_s = time.perf_counter() - t0
    engine.dispose()
    headers = {"Authorization": f"Bearer {s.operator}"}
    took: list[float] = []
    passwords: dict[str, str] = {}
    for start in range(0, count, chunk):
        t0 = time.perf_counter()
        r = httpx.post(
            f"{s.api}/api/v1/partners/{PARTNER}/device-logins",
            json={"devices": devices[start : start + chunk]},
            headers=headers,
            timeout=3600,
        )
        took.append(time.perf_counter() - t0)
        assert r.status_code == 201, f"after {start} logins: {r.text[:300]}"
        assert r.json()["broker_updated"], "the broker did not take the logins"
        passwords |= {x["username"]: x["password"] for x in r.json()["logins"]}
    return apply_s, took, passwords


class _Accounts(AccountStore):
    """Accounts held in memory: the broker's files for the storm, written once before it
    starts (the rights in its dynamic-security file, not sent as commands)."""

    def __init__(self, accounts: list[Account]) -> None:
        super().__init__(open_database("sqlite://"))  # never written: load() is overridden
        self.accounts = accounts

    def load(self) -> list[Account]:
        return self.accounts


@contextmanager
def storm_broker(root: Path, count: int) -> Iterator[tuple[int, int, str, dict[str, str]]]:
    """A broker started with `count` device logins of PARTNER (and `_ingest`): (port, pid,
    ingest password, username → password)."""
    registry = load_registry(partners_yaml(root / "partners.yaml", []))
    now = utcnow().isoformat(timespec="seconds")
    passwords = {f"{PARTNER}.dev-{n:05d}": new_password() for n in range(count)}
    accounts = [
        Account(u, PARTNER, hash_password(p), now, device=u.split(".", 1)[1])
        for u, p in passwords.items()
    ]
    ingest = new_password()
    accounts.append(Account(INGEST_ACCOUNT, INGEST_ACCOUNT, hash_password(ingest), now))
    cfg = BrokerConfig(HOST, free_port(), root / "storm" / "broker")
    write_broker_files(_Accounts(accounts), registry, "mainport", cfg.directory)
    broker = start_broker(cfg, root / "storm")
    try:
        assert broker.pid is not None
        yield cfg.port, broker.pid, ingest, passwords
    finally:
        broker.stop()


def _connect_packet(username: str, password: str) -> bytes:
    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("!H", len(data)) + data

    body = text("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 300) + text(username)
    body += text(username) + text(password)
    size, length = len(body), b""
    while True:
        size, digit = divmod(size, 128)
        length += bytes([digit | (0x80 if size else 0)])
        if not size:
            return b"\x10" + length + body


async def storm(port: int, logins: dict[str, str]) -> tuple[float, list[asyncio.StreamWriter]]:
    """Connect every login at once (500 in flight); seconds until all were accepted."""
    gate = asyncio.Semaphore(500)
    writers: list[asyncio.StreamWriter] = []

    async def one(username: str, password: str) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(_connect_packet(username, password))
            connack = await reader.readexactly(4)
            assert connack[3] == 0, f"{username}: CONNACK {connack[3]}"
            writers.append(writer)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(u, p) for u, p in logins.items()))
    return time.perf_counter() - t0, writers


def storm_holder(port: int, logins: dict[str, str], report: Any, release: Any) -> None:
    """In its own process (10,000 sockets would push the measuring clients' descriptors past
    what `select()` takes): the storm, its figures on `report`, connections held until
    `release`."""

    async def run() -> None:
        storm_s, writers = await storm(port, logins)
        report.put((storm_s, len(writers)))
        await asyncio.to_thread(release.wait)
        for writer in writers:
            writer.close()

    asyncio.run(run())


def publisher(port: int, login: str, password: str, topic: str, count: int, start: Any) -> None:
    """QoS 1, 100 unacked at most, from when every publisher is connected (`start`)."""
    done = threading.Semaphore(0)
    window = threading.Semaphore(100)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=login, protocol=mqtt.MQTTv311)
    client.username_pw_set(login, password)

    def on_publish(*_args: object) -> None:
        window.release()
        done.release()

    client.on_publish = on_publish
    client.connect(HOST, port)
    client.loop_start()
    start.wait()
    for _ in range(count):
        window.acquire()
        client.publish(topic, PAYLOAD, qos=1)
    for _ in range(count):
        done.acquire()
    client.disconnect()
    client.loop_stop()


def throughput(
    port: int, ingest_password: str, senders: list[tuple[str, str, str]], total: int
) -> float:
    """Messages/s seen by one `_ingest` shared subscriber while `senders` publish `total`."""
    each = total // len(senders)
    expected = each * len(senders)
    got, first, last = 0, 0.0, 0.0
    finished, ready = threading.Event(), threading.Event()

    def on_message(*_args: object) -> None:
        nonlocal got, first, last
        got += 1
        now = time.perf_counter()
        first = first or now
        last = now
        if got >= expected:
            finished.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=INGEST_ACCOUNT, protocol=mqtt.MQTTv311)
    sub.username_pw_set(INGEST_ACCOUNT, ingest_password)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: ready.set()
    sub.connect(HOST, port)
    sub.loop_start()
    sub.subscribe(f"$share/b{uuid.uuid4().hex[:6]}/mainport/#", qos=1)
    ready.wait(10)
    # Spawned, not forked: this process has threads (the subscriber's loop, the storm's event
    # loop) and a forked child may inherit one of their locks held, and hang.
    spawn = mp.get_context("spawn")
    start = spawn.Barrier(len(senders) + 1)
    procs = [
        spawn.Process(target=publisher, args=(port, login, pw, topic, each, start))
        for login, pw, topic in senders
    ]
    for p in procs:
        p.start()
    start.wait()
    for p in procs:
        p.join(300)
        if p.is_alive():  # stuck: say so rather than hang the run
            p.terminate()
    finished.wait(60)
    sub.disconnect()
    sub.loop_stop()
    assert got >= expected, f"received {got} of {expected}"
    return got / (last - first)


def baseline_broker(root: Path, messages: int) -> tuple[float, float]:
    """(messages/s, RSS MB) on a fresh broker with the 20 partner logins only."""
    registry = load_registry(root / "partners.yaml")
    (root / "baseline").mkdir(parents=True, exist_ok=True)
    store = AccountStore(open_database(f"sqlite:///{(root / 'baseline' / 'logins.db').resolve()}"))
    passwords = {p: store.issue(p) for p in [INGEST_ACCOUNT, *BASELINE_PARTNERS]}
    cfg = BrokerConfig(HOST, free_port(), root / "baseline" / "broker")
    write_broker_files(store, registry, "mainport", cfg.directory)
    broker = start_broker(cfg, root / "baseline")
    try:
        senders = [(p, passwords[p], f"mainport/{p}/meter/telemetry") for p in BASELINE_PARTNERS]
        rate = throughput(cfg.port, passwords[INGEST_ACCOUNT], senders, messages)
        assert broker.pid is not None
        return rate, rss_mb(broker.pid)
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000, help="connect storm, rules")
    parser.add_argument("--api-devices", type=int, default=2_000, help="bulk through the API")
    parser.add_argument("--chunk", type=int, default=100, help="logins per bulk request")
    parser.add_argument("--per-change", type=int, default=100, help="0: storm only")
    parser.add_argument("--messages", type=int, default=40_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.per_change > 0:
            provision(Path(tmp), args)
        storm_part(Path(tmp), args)


def provision(root: Path, args: argparse.Namespace) -> None:
    with stack(root) as s:
        adds, logins = per_change(s, args.per_change)
        print(
            f"provisioning through the API, {args.per_change} changes one at a time "
            "(ms, median / p95):"
        )
        print(f"  register a device   {q(adds)[0]:8.1f} / {q(adds)[1]:8.1f}")
        print(f"  issue its login     {q(logins)[0]:8.1f} / {q(logins)[1]:8.1f}")
        apply_s, took, _ = bulk(s, args.api_devices, args.chunk)
        n = args.api_devices
        print(f"provisioning in bulk, {n} devices:")
        print(f"  registry apply      {apply_s:8.1f} s ({n / apply_s:,.0f} devices/s)")
        print(
            f"  logins, {args.chunk} per request: {sum(took):.1f} s in all "
            f"({n / sum(took):,.0f} logins/s); first request {took[0]:.2f} s, "
            f"last {took[-1]:.2f} s"
        )


def storm_part(root: Path, args: argparse.Namespace) -> None:
    with storm_broker(root, args.devices) as (port, pid, ingest, passwords):
        rss_before = rss_mb(pid)
        senders = [
            (u, passwords[u], f"mainport/{PARTNER}/{u.split('.', 1)[1]}/telemetry")
            for u in list(passwords)[-20:]
        ]
        held = {u: p for u, p in passwords.items() if u not in {x[0] for x in senders}}
        spawn = mp.get_context("spawn")
        report, release = spawn.Queue(), spawn.Event()
        holder = spawn.Process(target=storm_holder, args=(port, held, report, release))
        holder.start()
        storm_s, connected = report.get(timeout=1800)
        rss_after = rss_mb(pid)
        per_device = throughput(port, ingest, senders, args.messages)
        release.set()
        holder.join(60)
        print(
            f"connect storm: {connected} clients with their own logins, all accepted "
            f"in {storm_s:.1f} s ({connected / storm_s:,.0f}/s)"
        )
        print(f"  broker RSS          {rss_before:8.1f} MB idle, {rss_after:8.1f} MB connected")
    partner_rate, partner_rss = baseline_broker(root, args.messages)
    print(f"broker throughput, 20 publishers, {args.messages} QoS 1 messages:")
    print(
        f"  {args.devices} per-device rules  {per_device:10,.0f} msg/s "
        f"({args.devices - 20} idle clients connected)"
    )
    print(f"  20 partner rules      {partner_rate:10,.0f} msg/s (broker RSS {partner_rss:.1f} MB)")
    print(f"  ratio per-device / partner: {per_device / partner_rate:.2f}")


if __name__ == "__main__":
    main()
