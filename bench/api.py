"""API latency on 30 days of history, against the naive way. Prints figures; not a test.

Loads 30 days for 20 partners, 1000 devices (200 reporting every 60 s, 800 every 300 s) and 40
fibre ports (60 s) into an InfluxDB of its own, through the ingest's own writer
(`ingest.writer.BatchWriter`: raw points + markers; MQTT bypassed) while `mainport derive`
runs beside it as in production. The history has outages (silences, offline events, link
downs) and traffic with counter resets. Then, with `mainport api` running, times repeated calls
of: one partner's 30-day uptime; its 30-day usage with p95; the monthly report for all
partners; one device's 30-day telemetry at every=1h. In the same run it times the naive way —
pulling the partner's raw observations and counter samples for the window from InfluxDB and
computing the same figures with `domain` — and prints the ratio. Also: load time, derive
catch-up time, InfluxDB disk size.

Run: .venv/bin/python bench/api.py [--days 30] [--rounds 30]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file's name would hide
# the `api` package: the repository goes there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable

import httpx

from access.store import control_plane
from access.tokens import OPERATOR, TokenStore
from core.processes import Child, free_port
from core.settings import Settings
from domain.registry import load_registry
from domain.timestamps import NS_PER_S, format_rfc3339
from domain.uptime import device_availability, link_availability, partner_uptime_pct, timeout_ns
from domain.usage import bucket_octets, p95, port_deltas
from ingest.spool import Spool
from ingest.writer import BatchWriter
from mainport.services import InfluxConfig, start_influxd
from timeseries.client import InfluxClient
from timeseries.derived import CURSOR, PROGRESS
from timeseries.schema import DERIVED_RP, ensure_schema

REPO = Path(__file__).resolve().parent.parent
S = NS_PER_S
PARTNERS = [f"bench-{k:02d}" for k in range(20)]
FAST, SLOW = 10, 40  # devices per partner at 60 s and at 300 s
PORTS_PER_PARTNER = 2
CAPACITY_MBPS = 1000.0
_PROGRESS = f'SELECT "{CURSOR}" FROM "{DERIVED_RP}"."{PROGRESS}"'  # noqa: S608  (constants only)


def partners_yaml() -> str:
    rows = ["partners:"]
    for p in PARTNERS:
        rows += [f"  - id: {p}", f"    name: Bench {p}", "    devices:"]
        rows += [
            f"      - {{id: f-{d:02d}, kind: sensor, interval_s: 60, port: xe-0}}"
            for d in range(FAST)
        ]
        rows += [
            f"      - {{id: s-{d:02d}, kind: sensor, interval_s: 300, port: xe-1}}"
            for d in range(SLOW)
        ]
        rows += ["    ports:"]
        rows += [
            f"      - {{switch: sw-{p[-2:]}, port: xe-{k}, capacity_mbps: {CAPACITY_MBPS:g}}}"
            for k in range(PORTS_PER_PARTNER)
        ]
    return "\n".join(rows) + "\n"


class Loader:
    """Writes the history hour by hour (as a replay would), through the ingest's writer."""

    def __init__(self, client: InfluxClient, spool_dir: Path, start_ns: int, days: int) -> None:
        self.start_ns, self.end_ns = start_ns, start_ns + days * 86_400 * S
        self.writer = BatchWriter(
            client, Spool(spool_dir, 4 * 1024**3), max_points=10_000, max_age_s=0.25
        )
        self.sent = self.acked = 0
        self.points = 0
        self.cond = threading.Condition()
        self.rng = random.Random(30)
        self.devices = [
            (
                p,
                f"{'f' if k < FAST else 's'}-{k if k < FAST else k - FAST:02d}",
                60 if k < FAST else 300,
            )
            for p in PARTNERS
            for k in range(FAST + SLOW)
        ]
        self.next_t = {d: start_ns + self.rng.randrange(d[2]) * S for d in self.devices}
        self.ports = [
            (p, f"sw-{p[-2:]}", f"xe-{k}") for p in PARTNERS for k in range(PORTS_PER_PARTNER)
        ]
        self.counters = {
            port: [self.rng.randrange(2**40), self.rng.randrange(2**40)] for port in self.ports
        }
        self.outage: dict[tuple[str, str, int], int] = {}

    def _ack(self, tokens: list[object]) -> None:
        with self.cond:
            self.acked += len(tokens)
            self.cond.notify_all()

    def run(self) -> None:
        self.writer.start(self._ack)
        hour = self.start_ns
        while hour < self.end_ns:
            self._hour(hour, hour + 3600 * S)
            hour += 3600 * S
        with self.cond:
            self.cond.wait_for(lambda: self.acked == self.sent, timeout=3600)
        self.writer.stop()

    def _submit(self, lines: list[str]) -> None:
        for k in range(0, len(lines), 500):
            self.sent += 1
            self.points += len(lines[k : k + 500])
            self.writer.submit(lines[k : k + 500], self.sent)

    def _hour(self, lo: int, hi: int) -> None:
        """One hour of every device and port, as the ingest's points.py writes them (built
        here with f-strings: the ids need no escaping, and generation must not be the limit)."""
        rng, lines = self.rng, []
        for dev in self.devices:
            partner, device, interval = dev
            head = f"device={device},partner={partner}"
            t = self.next_t[dev]
            while t < hi:
                if rng.random() < 0.0005:  # an outage of 10 to 120 intervals
                    if rng.random() < 0.3:
                        lines.append(f"status,{head} online=0i {t}")
                        lines.append(f"messages,{head},type=status bytes=7i {t}")
                    t += rng.randrange(10, 120) * interval * S
                    continue
                lines.append(f"telemetry,{head} temp_c=20.5,rh_pct=55.0 {t}")
                lines.append(f"messages,{head},type=telemetry bytes=64i {t}")
                t += (interval + rng.randrange(-2, 3)) * S
            self.next_t[dev] = t
        for port in self.ports:
            partner, switch, name = port
            counters = self.counters[port]
            for k in range(60):
                t = lo + k * 60 * S
                counters[0] = (counters[0] + rng.randrange(2 * 10**9)) % 2**63
                counters[1] = (counters[1] + rng.randrange(4 * 10**8)) % 2**63
                up = int(rng.random() > 0.0005)
                lines.append(
                    f"counters,partner={partner},port={name},switch={switch} "
                    f"in_octets={counters[0]}i,out_octets={counters[1]}i,up={up}i {t}"
                )
        self._submit(lines)


Naive = Callable[[InfluxClient, str, int, int, Path], float | None]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def timed(call: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def naive_uptime(
    client: InfluxClient, partner: str, start: int, end: int, registry_path: Path
) -> float | None:
    """Every observation of the partner's devices in the window (and the last before it) into
    Python, then SPEC's definitions: what the API would do without derived data."""
    reg = load_registry(registry_path)
    part = reg.by_id[partner]
    series = client.query(
        'SELECT "bytes" FROM "messages" WHERE "partner" = $p AND time >= $s AND time < $e '
        'GROUP BY "device"',
        {"p": partner, "s": start - 3600 * S, "e": end},
    )[0]
    status = client.query(
        'SELECT "online" FROM "status" WHERE "partner" = $p AND time < $e GROUP BY "device"',
        {"p": partner, "e": end},
    )[0]
    off = {s.tags["device"]: [int(v[0]) for v in s.values if v[1] == 0] for s in status}
    avail = []
    for s in series:
        device = reg.device(partner, s.tags["device"])
        interval = device.interval_s if device else 60
        obs = [int(v[0]) for v in s.values]
        avail.append(
            device_availability(
                obs,
                off.get(s.tags["device"], []),
                timeout_ns=timeout_ns(interval),
                start_ns=start,
                end_ns=end,
                now_ns=time.time_ns(),
                first_observation_ns=obs[0],
            )
        )
    for port in part.ports:
        rows = client.query(
            'SELECT "up" FROM "counters" WHERE "switch" = $w AND "port" = $x '
            "AND time >= $s AND time < $e",
            {"w": port.switch, "x": port.port, "s": start - 3600 * S, "e": end},
        )[0]
        values = rows[0].values if rows else []
        link_availability(
            [int(v[0]) for v in values],
            [bool(v[1]) for v in values],
            timeout_ns=timeout_ns(60),
            start_ns=start,
            end_ns=end,
            now_ns=time.time_ns(),
            first_sample_ns=int(values[0][0]) if values else None,
        )
    return partner_uptime_pct(avail)


def naive_usage(
    client: InfluxClient, partner: str, start: int, end: int, registry_path: Path
) -> float | None:
    part = load_registry(registry_path).by_id[partner]
    inbound = []
    for port in part.ports:
        rows = client.query(
            'SELECT "in_octets", "out_octets" FROM "counters" WHERE "switch" = $w AND "port" = $x '
            "AND time >= $s AND time < $e",
            {"w": port.switch, "x": port.port, "s": start - 3600 * S, "e": end},
        )[0]
        values = rows[0].values if rows else []
        d = port_deltas(
            [int(v[0]) for v in values],
            [int(v[1]) for v in values],
            [int(v[2]) for v in values],
            port.capacity_mbps,
        )
        inbound.append(d.inbound)
    messages = client.query(
        'SELECT "bytes" FROM "messages" WHERE "partner" = $p AND time >= $s AND time < $e',
        {"p": partner, "s": start, "e": end},
    )[0]
    _ = sum(len(s.values) for s in messages)
    return p95(bucket_octets(inbound, start, end)).bps


def disk_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mainport-bench-api-"))
    partners_file = root / "partners.yaml"
    partners_file.write_text(partners_yaml())
    cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb", auth=False)
    influxd = start_influxd(cfg, root / "log")
    children: list[Child] = [influxd]
    try:
        client = InfluxClient(cfg.url, "mainport", timeout_s=300)
        ensure_schema(client, "INF")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
        env.update(
            MAINPORT_PARTNERS_FILE=str(partners_file),
            MAINPORT_DATA_DIR=str(root / "var"),
            MAINPORT_INFLUX_URL=cfg.url,
            MAINPORT_MQTT_PORT=str(free_port()),
            MAINPORT_DERIVE_LAG_S="5",
            PYTHONUNBUFFERED="1",
        )
        derive = Child(
            "derive",
            [sys.executable, "-m", "mainport", "derive"],
            log_file=root / "log" / "derive.log",
            env=env,
            cwd=REPO,
        )
        derive.start()
        children.append(derive)
        now = time.time_ns()
        end_ns = now // (3600 * S) * 3600 * S
        start_ns = end_ns - args.days * 86_400 * S
        loader = Loader(client, root / "spool", start_ns, args.days)
        t0 = time.perf_counter()
        loader.run()
        load_s = time.perf_counter() - t0
        print(
            f"loaded {loader.points:,} points ({len(loader.devices)} devices, "
            f"{len(loader.ports)} ports, {args.days} days) through the ingest writer in "
            f"{load_s:.0f} s = {loader.points / load_s:,.0f} points/s"
        )
        last_write = time.time_ns()
        t1 = time.perf_counter()
        while True:
            rows = client.query(_PROGRESS)[0]
            cursor = int(rows[0].values[-1][1]) if rows else 0
            if cursor >= last_write - 5 * S and derive.running():
                break
            time.sleep(1.0)
        print(f"deriver caught up {time.perf_counter() - t1:.1f} s after the last write")
        print(f"InfluxDB disk: {disk_bytes(cfg.directory) / 1e6:,.0f} MB (data + wal + meta)")

        settings = Settings(partners_file=partners_file, data_dir=root / "var")
        token = TokenStore(control_plane(settings)).issue(OPERATOR)
        api_port = free_port()
        api = Child(
            "api",
            [sys.executable, "-m", "mainport", "api"],
            log_file=root / "log" / "api.log",
            env={**env, "MAINPORT_API_PORT": str(api_port)},
            cwd=REPO,
        )
        api.start()
        children.append(api)
        base = f"http://127.0.0.1:{api_port}"
        http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        for _ in range(100):
            try:
                if http.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        partner = PARTNERS[7]
        window = {"start": format_rfc3339(start_ns), "end": format_rfc3339(end_ns)}
        month = time.strftime("%Y-%m", time.gmtime(end_ns / S))

        def get(path: str, params: dict[str, str]) -> Callable[[], object]:
            def call() -> object:
                r = http.get(path, params=params)
                r.raise_for_status()
                return r.json()

            return call

        cases = [
            (
                f"uptime, 1 partner, {args.days} d",
                get(f"/api/v1/partners/{partner}/uptime", window),
                0.300,
            ),
            (
                f"usage + p95, 1 partner, {args.days} d",
                get(f"/api/v1/partners/{partner}/usage", window),
                0.300,
            ),
            ("monthly report, 20 partners", get("/api/v1/report", {"month": month}), 3.0),
            (
                f"telemetry 1 device, {args.days} d, every=1h",
                get(
                    f"/api/v1/partners/{partner}/devices/f-03/telemetry",
                    {**window, "metric": "temp_c", "every": "1h"},
                ),
                0.200,
            ),
        ]
        print(f"\n{'call':40} {'p50 ms':>8} {'p95 ms':>8} {'target':>8}")
        results = {}
        for name, call, target in cases:
            call()  # warm
            p50, p95_ = percentiles(timed(call, args.rounds))
            results[name] = p50
            print(
                f"{name:40} {p50 * 1000:8.1f} {p95_ * 1000:8.1f} {target * 1000:8.0f}  "
                f"{'met' if p95_ <= target else 'MISSED'}"
            )
        naive_rounds = 3
        print(f"\nnaive (raw observations into Python, {naive_rounds} rounds):")
        api_up = http.get(f"/api/v1/partners/{partner}/uptime", params=window).json()
        naive_up = naive_uptime(client, partner, start_ns, end_ns, partners_file)
        print(f"  uptime both ways: API {api_up['uptime_pct']:.6f} %, naive {naive_up:.6f} %")
        naive: list[tuple[str, Naive]] = [("uptime", naive_uptime), ("usage + p95", naive_usage)]
        for name, fn in naive:

            def run_naive(fn: Naive = fn) -> object:
                return fn(client, partner, start_ns, end_ns, partners_file)

            p50, _ = percentiles(timed(run_naive, naive_rounds))
            key = next(k for k in results if k.startswith(name))
            print(
                f"  {name:12} naive p50 {p50 * 1000:9.0f} ms; "
                f"API p50 {results[key] * 1000:7.1f} ms; "
                f"API is {p50 / results[key]:.0f}× faster"
            )
        return 0
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    raise SystemExit(main())
