"""What alerting costs and how fast it is, with 10,000 simulated devices (issue 15). Prints:

- detection latency, from the moment a device's deadline (`m + T`) passes to the notification
  at a webhook receiver: p50 / p95 / max over 500 incidents (goal: p95 under 5 s);
- one fibre port down with 200 devices behind it → notifications sent (goal: 1, plus 1 resolve);
- CPU per second of evaluation per 10,000 devices, beside the same with 1,000 (the ratio shows
  how it scales).

A real influxd and a real SQLite control plane; the evaluator, its outbox and a webhook worker
run as in `mainport alert`, against a webhook receiver in this process. The deriver's records
are written here as the deriver writes them (every device's `marks`, the `progress` cursor and
a batch marker every second), so the figures are the evaluator's own, not the ingest's.
Run: .venv/bin/python bench/alerts.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import orjson
from sqlalchemy import select

from alert import store
from alert.config import AlertSettings
from alert.delivery import Worker, webhook_sender
from alert.evaluator import Evaluator
from controlplane.alert_tables import alert_deliveries
from controlplane.db import open_database
from controlplane.registry_store import seed
from controlplane.snapshot import RegistrySource
from core.processes import free_port
from domain.lineprotocol import line
from domain.registry import Device, Partner, Port, Registry
from domain.timestamps import NS_PER_S
from mainport.services import InfluxConfig, start_influxd
from timeseries import derived
from timeseries.client import InfluxClient, StoreError
from timeseries.derived import Marks
from timeseries.markers import EVENTS
from timeseries.markers import MEASUREMENT as MARKERS
from timeseries.schema import DERIVED_RP, MARKERS_RP, ensure_schema

INTERVAL_S = 10  # T = 30 s; each device reports every 10 s, a tenth of them each second
PARTNERS = 50
PER_PARTNER = 200  # 10,000 devices; each partner's devices behind its one port
INCIDENTS = 500


def registry(partners: int) -> Registry:
    return Registry(
        partners=tuple(
            Partner(
                id=f"p{k:03d}",
                name=f"Partner {k}",
                ports=(Port(switch="sw", port=f"x{k}", capacity_mbps=1000, interval_s=INTERVAL_S),),
                devices=tuple(
                    Device(id=f"d{k:03d}-{i:03d}", interval_s=INTERVAL_S)
                    for i in range(PER_PARTNER)
                ),
            )
            for k in range(partners)
        )
    )


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[int, dict[str, Any]]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    sink.got.append((time.time_ns(), orjson.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class World:
    """The derived records of every device, rewritten every second as a deriver would."""

    def __init__(self, influx: InfluxClient, reg: Registry) -> None:
        self.influx = influx
        self.first = time.time_ns() - 60 * NS_PER_S
        self.last: dict[tuple[str, str, str], int] = {}
        self.frozen: set[tuple[str, str, str]] = set()
        self.port_down: dict[tuple[str, str, str], int] = {}
        for p in reg.partners:
            for d in p.devices:
                self.last[("device", p.id, d.id)] = self.first
            for port in p.ports:
                self.last[("port", p.id, f"{port.switch}/{port.port}")] = self.first
        self.stop = threading.Event()
        self.second = 0

    def tick(self, everyone: bool = False) -> None:
        """One second of the deriver's work: the devices that reported in it (a tenth of them,
        each every INTERVAL_S) get their marks rewritten."""
        now = time.time_ns()
        second = now // NS_PER_S
        # every second since the last tick (a slow write must not skip a tenth of the devices)
        phases = {
            s % INTERVAL_S for s in range(max(self.second + 1, second - INTERVAL_S), second + 1)
        }
        self.second = second
        lines = []
        for n, key in enumerate(self.last):
            if key in self.frozen or not (everyone or n % INTERVAL_S in phases):
                continue
            self.last[key] = now
            lines.append(derived.marks_line(key, Marks(self.first, now, None)))
        for key, start in list(self.port_down.items()):
            lines.append(derived.held_line(key, start, None))
        if lines:
            self.influx.write("\n".join(lines).encode(), rp=DERIVED_RP)
        self.influx.write(line(MARKERS, {"writer": "bench"}, {EVENTS: "x"}, now).encode(),
                          rp=MARKERS_RP)  # fmt: skip
        self.influx.write(derived.progress_line(now).encode(), rp=DERIVED_RP)

    def run(self) -> None:
        while not self.stop.wait(max(0.0, 1.0 - (time.time_ns() % NS_PER_S) / NS_PER_S)):
            try:
                self.tick()
            except StoreError as exc:  # a reset keep-alive connection: the next second retries
                print(f"(world: {exc})", file=sys.stderr)


def evaluator_for(
    tmp: Path, influx_url: str, db: str, reg: Registry, sink: Sink
) -> tuple[Evaluator, Worker]:
    engine = open_database(f"sqlite:///{tmp / db / 'mainport.db'}")
    seed(engine, reg, at=datetime.now(UTC) - timedelta(days=1), actor="bench")
    source = RegistrySource(engine, 5.0)
    settings = AlertSettings(eval_s=1.0, clear_s=0)
    receiver = store.Receiver("hook", "webhook", None, f"http://127.0.0.1:{sink.port}/")
    influx = InfluxClient(influx_url, db, timeout_s=30)
    evaluator = Evaluator(
        engine, influx, lambda: source.current().registry, settings, grace_factor=3,
        broker_up=lambda: True, receivers=lambda: [receiver],
    )  # fmt: skip
    worker = Worker(engine, receiver, webhook_sender(receiver.target, "secret"), settings)
    return evaluator, worker


def run_evaluator(evaluator: Evaluator, worker: Worker, stop: threading.Event,
                  cpu: list[float]) -> None:  # fmt: skip
    while not stop.is_set():
        started = time.thread_time()
        if evaluator.turn():
            worker.wake.set()
        cpu.append(time.thread_time() - started)
        stop.wait(1.0)


def cpu_per_eval_second(tmp: Path, url: str, partners: int, seconds: float) -> float:
    """Evaluator CPU seconds per wall second, evaluating once a second (`MAINPORT_ALERT_EVAL_S`
    default), nothing failing."""
    db = f"cpu{partners}"
    client = InfluxClient(url, db, timeout_s=30)
    ensure_schema(client, "30d")
    reg = registry(partners)
    world = World(client, reg)
    world.tick(everyone=True)
    sink = Sink()
    evaluator, _worker = evaluator_for(tmp, url, db, reg, sink)
    evaluator.turn()  # warm up
    spent, turns = 0.0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        world.tick(everyone=True)
        started = time.process_time()
        evaluator.turn()
        spent += time.process_time() - started
        turns += 1
        time.sleep(max(0.0, 1.0 - (time.process_time() - started)))
    sink.server.shutdown()
    return spent / turns


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = InfluxConfig("127.0.0.1", free_port(), tmp / "influxdb", auth=False)
        influxd = start_influxd(cfg, tmp / "log")
        try:
            bench(tmp, cfg.url)
        finally:
            influxd.stop()


def bench(tmp: Path, url: str) -> None:
    client = InfluxClient(url, "bench", timeout_s=30)
    ensure_schema(client, "30d")
    reg = registry(PARTNERS)
    world = World(client, reg)
    world.tick(everyone=True)
    sink = Sink()
    evaluator, worker = evaluator_for(tmp, url, "bench", reg, sink)
    worker.start()
    stop = threading.Event()
    cpu: list[float] = []
    threading.Thread(target=world.run, daemon=True).start()
    evaluator.turn()
    threading.Thread(target=run_evaluator, args=(evaluator, worker, stop, cpu), daemon=True).start()

    # 500 incidents: devices go silent, 25 per second, spread over the partners (not the big one).
    timeout_ns = 3 * INTERVAL_S * NS_PER_S
    victims = []
    for k in range(INCIDENTS):
        partner, index = k % (PARTNERS - 1) + 1, k // (PARTNERS - 1)
        victims.append(("device", f"p{partner:03d}", f"d{partner:03d}-{index:03d}"))
    for i in range(0, INCIDENTS, 25):
        world.frozen.update(victims[i : i + 25])
        time.sleep(1.0)
    deadline = {key[2]: world.last[key] + timeout_ns for key in victims}
    wait_until(lambda: len(firings(sink)) >= INCIDENTS, 300)
    latencies = sorted(
        (at - deadline[m["subject"]]) / NS_PER_S
        for at, m in firings(sink)
        if m["subject"] in deadline
    )
    print(
        f"devices: {PARTNERS * PER_PARTNER:,}; incidents: {len(latencies)}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        "detection latency deadline → webhook: "
        f"p50 {statistics.median(latencies):.2f} s, "
        f"p95 {latencies[int(0.95 * len(latencies)) - 1]:.2f} s, max {latencies[-1]:.2f} s"
    )
    # Where the time goes: deadline → queued (evaluation), queued → delivered (outbox worker).
    with evaluator.engine.connect() as conn:
        rows = conn.execute(
            select(alert_deliveries.c.payload, alert_deliveries.c.created_ns,
                   alert_deliveries.c.delivered_ns).where(alert_deliveries.c.seq == 1)
        ).all()  # fmt: skip
    queued = sorted((r.created_ns - deadline[r.payload["subject"]]) / NS_PER_S
                    for r in rows if r.payload["subject"] in deadline)  # fmt: skip
    sent = sorted((r.delivered_ns - r.created_ns) / NS_PER_S
                  for r in rows if r.payload["subject"] in deadline and r.delivered_ns)  # fmt: skip
    print(
        f"  of which deadline → queued p50 {statistics.median(queued):.2f} s "
        f"p95 {queued[int(0.95 * len(queued)) - 1]:.2f} s; queued → delivered "
        f"p50 {statistics.median(sent):.2f} s p95 {sent[int(0.95 * len(sent)) - 1]:.2f} s"
    )
    # One port down (a `down` sample) with its 200 devices silent from then on.
    big = "p000"
    port_key = ("port", big, "sw/x0")
    before = len([m for _, m in sink.got if m["partner"] == big])
    world.port_down[port_key] = time.time_ns()
    world.frozen.update(k for k in world.last if k[0] == "device" and k[1] == big)
    time.sleep(3 * INTERVAL_S + INTERVAL_S + 5)  # every device's own deadline passes
    started = world.port_down.pop(port_key)
    # the next `up` sample closes the held-down run, as the deriver writes it
    client.write(derived.held_line(port_key, started, time.time_ns()).encode(), rp=DERIVED_RP)
    world.frozen.clear()
    world.tick(everyone=True)
    wait_until(
        lambda: any(m["event"] == "resolved" and m["partner"] == big for _, m in sink.got), 60
    )
    time.sleep(2)
    mine = [m for _, m in sink.got if m["partner"] == big][before:]
    link = [m for m in mine if m["kind"] == "link"]
    named = len(link[0]["devices"]) if link else 0
    print(
        f"port down with {PER_PARTNER} devices behind it: {len(mine)} notifications "
        f"({', '.join(m['event'] for m in mine)}); the link alert names {named} devices"
    )
    eval_cpu = sum(cpu) / len(cpu) if cpu else float("nan")
    turn_ms = 1000 * statistics.median(cpu) if cpu else float("nan")
    stop.set()
    world.stop.set()
    worker.stop.set()
    worker.wake.set()
    sink.server.shutdown()
    print(f"evaluator thread during the run: {turn_ms:.0f} ms CPU per evaluation (median)")
    small = cpu_per_eval_second(tmp, url, PARTNERS // 10, 15)
    large = cpu_per_eval_second(tmp, url, PARTNERS, 15)
    print(
        f"CPU per second of evaluation (one turn a second): 10,000 devices {large:.3f} s/s, "
        f"1,000 devices {small:.3f} s/s (ratio {large / small:.1f}); "
        f"evaluator thread under load {eval_cpu:.3f} s/s"
    )


def firings(sink: Sink) -> list[tuple[int, dict[str, Any]]]:
    with sink.lock:
        return [(at, m) for at, m in sink.got if m["event"] == "firing" and m["kind"] == "device"]


def wait_until(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError("bench condition not reached")


if __name__ == "__main__":
    main()
