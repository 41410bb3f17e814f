"""SNMP collector throughput against snmpsim. Prints figures; not a test.

M simulated switches of N ports each (default 100 × 50 = 5,000 ports), all served by one
snmpsim process on loopback (one community per switch; its data written here), measured:

- baseline: a bare Net-SNMP `snmpbulkwalk` of the same columns (ifTable and ifXTable, 25 rows
  per request) of every switch, 32 at a time: wall time and the walkers' CPU;
- one poll round of the collector (`collector.service.poll` of every switch, all in flight at
  once on one pysnmp engine, as `mainport collect` runs them): wall time, collector CPU; median
  of --rounds rounds after a warm-up;
- the same with --dead percent of the switches not answering (no agent at their address; the
  default timeout 2 s and 1 retry; the live ones wait up to 60 s for snmpsim's queue);
- poll-to-queryable: one round published through Mosquitto to `mainport ingest` into InfluxDB,
  from the round's start (and from its last publish) until every counters point is queryable.

snmpsim is pure Python and serves every switch from one process: it, not the collector, bounds
the round time here; the baseline runs against the same agent, so the ratio shows what the
collector adds. Run: .venv/bin/python bench/collect.py [--switches 100] [--ports 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from access.broker import INGEST_ACCOUNT, NETWORK_ACCOUNT, AccountStore, write_broker_files
from collector.poller import SwitchPoller
from collector.service import MqttPublisher, PollResult, poll
from controlplane.db import open_database
from core.processes import Child, free_port
from domain.registry import Port, load_registry
from domain.switches import CommunityV2c, Switch
from mainport.services import BrokerConfig, InfluxConfig, start_broker, start_influxd
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

REPO = Path(__file__).resolve().parent.parent
SNMPSIM = Path(sys.executable).parent / "snmpsim-command-responder"
IF, IFX = "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def snmprec(ports: int, seed: int) -> str:
    rows: list[tuple[str, int, int | str]] = [("1.3.6.1.2.1.1.3.0", 67, 100_000 + seed)]
    for k in range(1, ports + 1):
        name = f"xe-0/0/{k}"
        rows += [
            (f"{IF}.2.{k}", 4, name),
            (f"{IF}.8.{k}", 2, 1 if k % 17 else 2),
            (f"{IF}.10.{k}", 65, (seed * 7919 + k * 104_729) % 2**32),
            (f"{IF}.16.{k}", 65, (seed * 6007 + k * 130_363) % 2**32),
            (f"{IFX}.1.{k}", 4, name),
            (f"{IFX}.6.{k}", 70, 10**12 + seed * 10**6 + k),
            (f"{IFX}.10.{k}", 70, 2 * 10**12 + seed * 10**6 + k),
            (f"{IFX}.15.{k}", 66, 10_000),
        ]
    rows.sort(key=lambda r: tuple(int(p) for p in r[0].split(".")))
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in rows)


def partners_yaml(switches: list[str], ports: int) -> str:
    lines = ["partners:"]
    for k, sw in enumerate(switches):
        lines += [f"  - id: p-{k:03d}", f"    name: Partner {k}", "    ports:"]
        lines += [
            f"      - {{switch: {sw}, port: xe-0-0-{p}, capacity_mbps: 10000}}"
            for p in range(1, ports + 1)
        ]
    return "\n".join(lines) + "\n"


def start_snmpsim(root: Path, switches: list[str], ports: int) -> tuple[Child, int]:
    data = root / "data"
    data.mkdir(parents=True)
    (root / "cache").mkdir()
    for k, sw in enumerate(switches):
        (data / f"{sw}.snmprec").write_text(snmprec(ports, k))
    port = free_udp_port()
    env = dict(os.environ)
    if os.getuid() == 0:
        env["SNMPSIM_ALLOW_ROOT"] = "true"
    child = Child(
        "snmpsim",
        [
            str(SNMPSIM),
            f"--data-dir={data}",
            f"--cache-dir={root / 'cache'}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        ],
        log_file=root / "snmpsim.log",
        env=env,
    )
    child.start()
    return child, port


def pollers_for(switches: list[str], port: int, ports: int, dead: set[str]) -> list[SwitchPoller]:
    out = []
    for sw in switches:
        address = f"127.0.0.1:{free_udp_port() if sw in dead else port}"
        # One snmpsim process answers for every switch, one request at a time: with all switches
        # asked at once, the last answer comes long after the first, so the live ones get a
        # timeout that waits for it; the dead ones keep the default (2 s, 1 retry).
        timing = {} if sw in dead else {"timeout_s": 60, "retries": 0}
        switch = Switch.model_validate({"id": sw, "address": address, "credentials": sw, **timing})
        registry_ports = {
            f"xe-0-0-{p}": Port(switch=sw, port=f"xe-0-0-{p}", capacity_mbps=10_000)
            for p in range(1, ports + 1)
        }
        out.append(SwitchPoller(switch, registry_ports))
    return out


async def round_of(engine: SnmpEngine, pollers: list[SwitchPoller]) -> list[PollResult]:
    return list(
        await asyncio.gather(
            *(
                poll(
                    engine,
                    p,
                    CommunityV2c.model_validate({"version": "2c", "community": p.switch.id}),
                )
                for p in pollers
            )
        )
    )


def timed_rounds(pollers: list[SwitchPoller], rounds: int) -> tuple[float, float, list[PollResult]]:
    """Median wall and CPU seconds of `rounds` rounds after one warm-up round."""

    async def go() -> tuple[list[float], list[float], list[PollResult]]:
        engine = SnmpEngine()
        walls, cpus = [], []
        results: list[PollResult] = []
        try:
            await round_of(engine, pollers)
            for _ in range(rounds):
                w, c = time.perf_counter(), time.process_time()
                results = await round_of(engine, pollers)
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)
        finally:
            engine.close_dispatcher()
        return walls, cpus, results

    walls, cpus, results = asyncio.run(go())
    return statistics.median(walls), statistics.median(cpus), results


def bulkwalk_baseline(switches: list[str], port: int) -> tuple[float, float]:
    walker = shutil.which("snmpbulkwalk")
    assert walker, "snmpbulkwalk not installed (Debian package snmp)"

    async def go() -> None:
        gate = asyncio.Semaphore(32)

        async def walk(sw: str, oid: str) -> None:
            async with gate:
                proc = await asyncio.create_subprocess_exec(
                    walker,
                    "-v2c",
                    "-c",
                    sw,
                    "-Cr25",
                    "-On",
                    "-Oq",
                    "-t",
                    "5",
                    "-r",
                    "1",
                    f"127.0.0.1:{port}",
                    oid,
                    stdout=asyncio.subprocess.PIPE,
                    env={**os.environ, "MIBS": ""},
                )
                out, _ = await proc.communicate()
                assert proc.returncode == 0 and out, sw

        await asyncio.gather(*(walk(sw, oid) for sw in switches for oid in (IF, IFX)))

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    asyncio.run(go())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def poll_to_queryable(
    root: Path, switches: list[str], pollers: list[SwitchPoller], ports_total: int
) -> tuple[float, float]:
    root.mkdir(parents=True)
    partners_file = root / "partners.yaml"
    partners_file.write_text(partners_yaml(switches, len(pollers[0].ports)))
    registry = load_registry(partners_file)
    store = AccountStore(open_database(f"sqlite:///{root / 'mainport.db'}"))
    passwords = {s: store.issue(s) for s in (INGEST_ACCOUNT, NETWORK_ACCOUNT)}
    broker_cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker")
    write_broker_files(store, registry, "mainport", broker_cfg.directory)
    broker = start_broker(broker_cfg, root / "log")
    influx_cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb", auth=False)
    influxd = start_influxd(influx_cfg, root / "log")
    influx = InfluxClient(influx_cfg.url, "bench_collect")
    ensure_schema(influx, "400d")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env |= {
        "MAINPORT_PARTNERS_FILE": str(partners_file),
        "MAINPORT_DATA_DIR": str(root / "var"),
        "MAINPORT_MQTT_HOST": broker_cfg.host,
        "MAINPORT_MQTT_PORT": str(broker_cfg.port),
        "MAINPORT_MQTT_PASSWORD": passwords[INGEST_ACCOUNT],
        "MAINPORT_INFLUX_URL": influx_cfg.url,
        "MAINPORT_INFLUX_DB": influx.db,
        "MAINPORT_LOG_LEVEL": "WARNING",
        "MAINPORT_INGEST_METRICS_PORT": str(free_port()),
    }
    ingest = Child(
        "ingest",
        [sys.executable, "-m", "mainport", "ingest"],
        log_file=root / "ingest.log",
        env=env,
    )
    ingest.start()
    publisher = MqttPublisher(
        broker_cfg.host, broker_cfg.port, NETWORK_ACCOUNT, passwords[NETWORK_ACCOUNT]
    )
    try:
        deadline = time.monotonic() + 60
        while not influx.query('SELECT last("connected") FROM "ingest_link"')[0]:
            assert time.monotonic() < deadline, "the ingest did not subscribe"
            time.sleep(0.2)

        async def go() -> float:
            engine = SnmpEngine()
            try:
                results = await round_of(engine, pollers)
            finally:
                engine.close_dispatcher()
            for r in results:
                publisher(r.messages)
            return time.perf_counter()

        start = time.perf_counter()
        published = asyncio.run(go())
        while True:
            series = influx.query('SELECT count("in_octets") FROM "counters"')[0]
            if series and int(series[0].values[0][1]) >= ports_total:
                break
            assert time.perf_counter() - start < 300, "not all counters stored"
            time.sleep(0.05)
        done = time.perf_counter()
        return done - start, done - published
    finally:
        publisher.close()
        ingest.stop()
        influxd.stop()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=100)
    parser.add_argument("--ports", type=int, default=50)
    parser.add_argument("--dead", type=float, default=10.0, help="percent not answering")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mainport-bench-collect-"))
    switches = [f"sw-{k:03d}" for k in range(args.switches)]
    total = args.switches * args.ports
    print(
        f"{args.switches} switches × {args.ports} ports = {total:,} ports; {os.cpu_count()} cores"
    )
    sim, port = start_snmpsim(root / "snmpsim", switches, args.ports)
    try:
        deadline = time.monotonic() + 300
        while True:  # snmpsim indexes every data file before it answers
            try:
                bulkwalk_baseline(switches[:1], port)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "snmpsim did not answer"
                time.sleep(1)
        base_wall, base_cpu = bulkwalk_baseline(switches, port)
        print(f"baseline snmpbulkwalk: {base_wall:.2f} s wall, {base_cpu:.2f} s CPU (walkers)")
        live = pollers_for(switches, port, args.ports, set())
        wall, cpu, results = timed_rounds(live, args.rounds)
        published = sum(len(r.messages) for r in results)
        assert all(r.reachable for r in results), [r.error for r in results if r.error][:3]
        print(
            f"collector round: {wall:.2f} s wall ({wall / base_wall:.2f}× baseline), "
            f"{cpu:.2f} s CPU ({cpu / base_cpu:.2f}× baseline), {published:,} messages, "
            f"{cpu / total * 1e6:.0f} µs CPU per port"
        )
        dead = set(switches[: round(args.switches * args.dead / 100)])
        some_dead = pollers_for(switches, port, args.ports, dead)
        d_wall, d_cpu, d_results = timed_rounds(some_dead, args.rounds)
        unreachable = sum(not r.reachable for r in d_results)
        print(
            f"with {len(dead)} switches not answering: {d_wall:.2f} s wall "
            f"({d_wall / wall:.2f}× the full round), {d_cpu:.2f} s CPU; {unreachable} reported "
            "unreachable"
        )
        q_round, q_last = poll_to_queryable(root / "stack", switches, live, total)
        print(
            f"poll-to-queryable: {q_round:.2f} s from the round's start, "
            f"{q_last:.2f} s from its last publish, for {total:,} counters"
        )
    finally:
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
