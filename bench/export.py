"""Export of 30 days of 100 devices at 60 s (~4.3 M points) through the API. Prints figures;
not a test.

Loads the history straight into an InfluxDB of its own (line protocol, 10,000 points a
request; the ingest is not what is measured here), then, with two `mainport api` processes on
it — one with the access log on, one with it off (MAINPORT_ACCESS_LOG=false) — measures:
the export's MB/s and time to first byte, the API process's peak RSS (VmHWM) before and after
it, the latency of another API call (one device's 24 h telemetry) while the export runs vs
idle, and that call's p50/p95 with the access log on vs off, calls interleaved so both see
the same machine.

First, in-process, the former OFFSET paging against the time cursor on the same data
(bench/export_paging.py: the before/after of the paging in one run).

Run: .venv/bin/python bench/export.py [--days 30] [--devices 100] [--rounds 200]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where bench/api.py would hide
# the `api` package: the repository goes there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time

import httpx

from access.store import control_plane
from access.tokens import PARTNER, TokenStore
from bench.export_paging import compare
from controlplane.access_log import count
from controlplane.db import make_engine, safe_url
from core.processes import Child, free_port
from core.settings import Settings
from domain.timestamps import NS_PER_S, format_rfc3339
from mainport.services import InfluxConfig, start_influxd
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

REPO = Path(__file__).resolve().parent.parent
S = NS_PER_S
PARTNER_ID = "bench-export"


def partners_yaml(devices: int) -> str:
    rows = ["partners:", f"  - id: {PARTNER_ID}", "    name: Bench export", "    devices:"]
    rows += [f"      - {{id: d-{d:03d}, kind: sensor, interval_s: 60}}" for d in range(devices)]
    return "\n".join(rows) + "\n"


def load(client: InfluxClient, start_ns: int, end_ns: int, devices: int) -> int:
    points, batch = 0, []
    for t in range(start_ns, end_ns, 60 * S):
        for d in range(devices):
            value = (t // S + d) % 977 / 10
            batch.append(f"telemetry,partner={PARTNER_ID},device=d-{d:03d} pm25={value} {t}")
        if len(batch) >= 10_000:
            client.write("\n".join(batch).encode())
            points += len(batch)
            batch = []
    if batch:
        client.write("\n".join(batch).encode())
        points += len(batch)
    return points


def vm(pid: int, key: str) -> int:
    """A /proc/PID/status figure in kB (VmHWM: peak resident set; VmRSS: now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def start_api(env: dict[str, str], log_dir: Path, name: str) -> tuple[Child, str]:
    port = free_port()
    child = Child(
        name,
        [sys.executable, "-m", "mainport", "api"],
        log_file=log_dir / f"{name}.log",
        env={**env, "MAINPORT_API_PORT": str(port)},
        cwd=REPO,
    )
    child.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return child, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not start:\n{child.tail()}")


def pct(samples: list[float], q: float) -> float:
    if len(samples) < 2:
        return samples[0] * 1000 if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--paging-days", type=int, default=5, help="window of the paging comparison")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mainport-bench-export-"))
    partners_file = root / "partners.yaml"
    partners_file.write_text(partners_yaml(args.devices))
    cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb", auth=False)
    children: list[Child] = [start_influxd(cfg, root / "log")]
    try:
        client = InfluxClient(cfg.url, "mainport", timeout_s=300)
        ensure_schema(client, "INF")
        end_ns = time.time_ns() // (3600 * S) * 3600 * S
        start_ns = end_ns - args.days * 86_400 * S
        t0 = time.perf_counter()
        points = load(client, start_ns, end_ns, args.devices)
        load_s = time.perf_counter() - t0
        print(f"loaded {points:,} points in {load_s:.0f} s ({points / load_s:,.0f} points/s)")
        # Before/after in this run: the former OFFSET paging vs the time cursor, in-process.
        paging_days = min(args.days, args.paging_days)
        asyncio.run(
            compare(cfg.url, "mainport", PARTNER_ID, end_ns - paging_days * 86_400 * S, end_ns)
        )

        env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
        env.update(
            MAINPORT_PARTNERS_FILE=str(partners_file),
            MAINPORT_DATA_DIR=str(root / "var"),
            MAINPORT_INFLUX_URL=cfg.url,
            MAINPORT_MQTT_PORT=str(free_port()),
            PYTHONUNBUFFERED="1",
        )
        settings = Settings(partners_file=partners_file, data_dir=root / "var")
        token = TokenStore(control_plane(settings)).issue(PARTNER, PARTNER_ID)
        api_on, base_on = start_api(env, root / "log", "api-log-on")
        children.append(api_on)
        api_off, base_off = start_api(
            {**env, "MAINPORT_ACCESS_LOG": "false"}, root / "log", "api-log-off"
        )
        children.append(api_off)
        headers = {"Authorization": f"Bearer {token}"}
        probe_path = f"/api/v1/partners/{PARTNER_ID}/devices/d-007/telemetry"
        probe_params = {
            "metric": "pm25",
            "start": format_rfc3339(end_ns - 86_400 * S),
            "end": format_rfc3339(end_ns),
        }

        def probe(http: httpx.Client) -> float:
            t = time.perf_counter()
            answer = http.get(probe_path, params=probe_params)
            answer.raise_for_status()
            return time.perf_counter() - t

        with (
            httpx.Client(base_url=base_on, headers=headers, timeout=600) as on,
            httpx.Client(base_url=base_off, headers=headers, timeout=600) as off,
        ):
            for _ in range(20):  # warm-up: imports, connections, caches
                probe(on), probe(off)
            on_s: list[float] = []
            off_s: list[float] = []
            for k in range(args.rounds):
                pair = [(on, on_s), (off, off_s)]
                for http, out in pair if k % 2 else reversed(pair):
                    out.append(probe(http))
            pid = api_on.pid
            assert pid is not None
            hwm_before = vm(pid, "VmHWM")
            during: list[float] = []
            done = threading.Event()

            def export() -> tuple[int, float, float]:
                params = {
                    "start": format_rfc3339(start_ns),
                    "end": format_rfc3339(end_ns),
                    "format": "csv",
                }
                size, first = 0, 0.0
                t = time.perf_counter()
                with on.stream("GET", f"/api/v1/partners/{PARTNER_ID}/export", params=params) as r:
                    r.raise_for_status()
                    for chunk in r.iter_raw():
                        if not first:
                            first = time.perf_counter() - t
                        size += len(chunk)
                return size, first, time.perf_counter() - t

            result: list[tuple[int, float, float]] = []

            def run_export() -> None:
                try:
                    result.append(export())
                finally:
                    done.set()

            thread = threading.Thread(target=run_export)
            thread.start()
            with httpx.Client(base_url=base_on, headers=headers, timeout=600) as other:
                while not done.wait(0.2):
                    during.append(probe(other))
            thread.join()
            size, ttfb, total = result[0]
            hwm_after = vm(pid, "VmHWM")
            print(
                f"export: {size / 1e6:,.1f} MB CSV ({points:,} points) in {total:.1f} s = "
                f"{size / 1e6 / total:.1f} MB/s, {points / total:,.0f} points/s; "
                f"time to first byte {ttfb * 1000:.0f} ms"
            )
            print(
                f"API peak RSS (VmHWM): {hwm_before / 1024:.0f} MB before the export, "
                f"{hwm_after / 1024:.0f} MB after it"
            )
            idle = on_s
            print(
                f"another call (24 h of one device) while the export ran: p50 "
                f"{pct(during, 50):.1f} ms, p95 {pct(during, 95):.1f} ms over {len(during)} calls; "
                f"idle p50 {pct(idle, 50):.1f} ms, p95 {pct(idle, 95):.1f} ms "
                f"(x{pct(during, 95) / pct(idle, 95):.2f})"
            )
            print(f"access log on:  p50 {pct(on_s, 50):.2f} ms, p95 {pct(on_s, 95):.2f} ms")
            print(
                f"access log off: p50 {pct(off_s, 50):.2f} ms, p95 {pct(off_s, 95):.2f} ms "
                f"(on/off p95 x{pct(on_s, 95) / pct(off_s, 95):.3f}, {args.rounds} calls each)"
            )
            engine = make_engine(settings.database)
            print(f"access log: {count(engine):,} entries in {safe_url(settings.database)}")
            engine.dispose()
    finally:
        for child in reversed(children):
            child.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
