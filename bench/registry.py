"""The registry's write side at network scale: 100,000 devices in 200 partners with 4,000 ports.
Prints figures; not a test.

Per database (SQLite under a temp dir; PostgreSQL too when its binaries are installed, through
the tests' fixture code): the time of `registry apply` from empty, of a 1 % change (1,000 devices:
half get a new interval, a quarter retire, a quarter are new), and of an apply that finds nothing
to do. Then, through the API in process (httpx ASGI transport, the app's lifespan run), the p50
and p95 of one page of the device listing (`GET /api/v1/devices?limit=100&after=…` at random
places) and of one device's lookup (`GET /api/v1/partners/{p}/devices/{d}`), in the big
registry and — as the baseline measured in the same run — in the shipped 19-device one.

Run: .venv/bin/python bench/registry.py [--devices 100000] [--partners 200] [--ports 4000]
     [--rounds 300] [--no-postgres]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where bench/api.py would hide
# the `api` package: the repository goes there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from access.store import control_plane
from access.tokens import OPERATOR, TokenStore
from api.app import create_app
from controlplane.db import open_database
from controlplane.registry_store import apply
from core.settings import Settings
from domain.registry import Registry, load_registry

REPO = Path(__file__).resolve().parent.parent


def big_registry(partners: int, ports: int, devices: int) -> Registry:
    per_ports, per_devices = ports // partners, devices // partners
    body: dict[str, Any] = {"partners": []}
    for p in range(partners):
        pid = f"partner-{p:03d}"
        port_rows = [
            {"switch": f"sw-{p:03d}", "port": f"ge-0-{j}", "capacity_mbps": 1000}
            for j in range(per_ports)
        ]
        device_rows = [
            {
                "id": f"d-{d:05d}",
                "kind": "sensor",
                "interval_s": 60,
                "port": f"ge-0-{d % per_ports}",
            }
            for d in range(per_devices)
        ]
        body["partners"].append(
            {"id": pid, "name": f"Partner {p}", "ports": port_rows, "devices": device_rows}
        )
    return Registry.model_validate(body)


def changed_by_one_percent(registry: Registry, seed: int = 7) -> tuple[Registry, int]:
    """1 % of the devices touched: half a new interval, a quarter retired, a quarter new."""
    rng = random.Random(seed)
    body = registry.model_dump(mode="json")
    keys = [(i, j) for i, p in enumerate(body["partners"]) for j in range(len(p["devices"]))]
    touched = rng.sample(keys, len(keys) // 100)
    half, quarter = len(touched) // 2, len(touched) // 4
    for i, j in touched[:half]:
        body["partners"][i]["devices"][j]["interval_s"] = 300
    for n, (i, j) in enumerate(touched[half : half + quarter]):
        body["partners"][i]["devices"][j]["retire"] = True
        body["partners"][i]["devices"].append(
            {"id": f"new-{n:05d}", "kind": "sensor", "interval_s": 60}
        )
    for p in body["partners"]:
        p["devices"] = [d for d in p["devices"] if not d.pop("retire", False)]
    return Registry.model_validate(body), len(touched)


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def bench_apply(url: str, registry: Registry, label: str) -> None:
    engine = open_database(url)
    try:
        at = datetime.now(UTC)
        s, done = timed(lambda: apply(engine, registry, actor="bench", at=at))
        print(f"{label}: apply from empty: {s:.1f} s ({done.summary()})")
        changed, n = changed_by_one_percent(registry)
        later = at + timedelta(minutes=1)
        s, done = timed(lambda: apply(engine, changed, actor="bench", at=later))
        print(f"{label}: apply of a 1 % change ({n} devices): {s:.1f} s ({done.summary()})")
        s, done = timed(lambda: apply(engine, changed, actor="bench", at=later))
        print(f"{label}: apply with nothing to do: {s:.1f} s ({done.summary()})")
    finally:
        engine.dispose()


def percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples) * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms"


def bench_api(url: str, registry: Registry, data_dir: Path, rounds: int) -> tuple[float, float]:
    """p95 of a listing page and of a device lookup; both printed, returned."""
    settings = Settings(data_dir=data_dir, database_url=url)
    token = TokenStore(control_plane(settings)).issue(OPERATOR)
    headers = {"Authorization": f"Bearer {token}"}
    keys = [(p.id, d.id) for p, d in registry.devices()]
    rng = random.Random(11)

    async def main() -> tuple[list[float], list[float]]:
        app = create_app(settings, registry)
        pages: list[float] = []
        lookups: list[float] = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                for _ in range(rounds):
                    p, d = rng.choice(keys)
                    start = time.perf_counter()
                    r = await c.get(
                        "/api/v1/devices",
                        headers=headers,
                        params={"limit": 100, "after": f"{p}/{d}"},
                    )
                    pages.append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text
                    p, d = rng.choice(keys)
                    start = time.perf_counter()
                    r = await c.get(f"/api/v1/partners/{p}/devices/{d}", headers=headers)
                    lookups.append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text
        return pages, lookups

    pages, lookups = asyncio.run(main())
    n = len(keys)
    print(f"  API, {n} devices: listing page of 100: {percentiles(pages)}")
    print(f"  API, {n} devices: one device's lookup: {percentiles(lookups)}")
    return statistics.quantiles(pages, n=100)[94], statistics.quantiles(lookups, n=100)[94]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=200)
    parser.add_argument("--ports", type=int, default=4_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    s, registry = timed(lambda: big_registry(args.partners, args.ports, args.devices))
    print(
        f"registry: {args.devices} devices, {args.partners} partners, {args.ports} ports "
        f"(built and validated in {s:.1f} s)"
    )
    small = load_registry(REPO / "config" / "partners.yaml")
    with tempfile.TemporaryDirectory(prefix="mainport-bench-registry-") as tmp:
        root = Path(tmp)
        big_url = f"sqlite:///{root / 'big' / 'mainport.db'}"
        bench_apply(big_url, registry, "SQLite")
        small_url = f"sqlite:///{root / 'small' / 'mainport.db'}"
        bench_apply(small_url, small, "SQLite, baseline 19 devices")
        print("SQLite:")
        big = bench_api(big_url, registry, root / "var-big", args.rounds)
        base = bench_api(small_url, small, root / "var-small", args.rounds)
        print(
            f"  p95 ratio big/baseline: listing {big[0] / base[0]:.2f}, "
            f"lookup {big[1] / base[1]:.2f}"
        )
        if args.no_postgres:
            return
        try:
            from tests.integration.postgres_support import start_postgres
        except ImportError as exc:
            print(f"PostgreSQL skipped: {exc}")
            return
        server = start_postgres()
        try:
            pg_url = server.new_database()
            bench_apply(pg_url, registry, "PostgreSQL")
            print("PostgreSQL:")
            bench_api(pg_url, registry, root / "var-pg", args.rounds)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
