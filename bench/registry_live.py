"""A live registry: how fast a change reaches the running processes, and what a large registry
costs the ingest's hot path. Prints figures; not a test.

On a broker and an influxd of its own (temporary directories, free loopback ports), with the
control-plane database in SQLite under a temporary data dir:

- propagation: N changes, each one write transaction that lists a new device for a partner
  with no budget for unlisted devices and adds a new partner with a login already issued.
  Timed from the commit to: the ingest accepting the device's message (a publisher retries
  every 20 ms), the API listing the device (polled every 20 ms), the broker letting the new
  partner's login publish (the `mainport up` supervisor's wiring, mainport/broker_follow.py).
  p50/p95 per process; the registry is the large one unless --small.
- drain ratio: the same QoS 1 backlog (bench/ingest.py's messages: 10 partners, 1,000
  devices) drained by a bare paho subscriber (the limit) and by `mainport ingest` on a
  small registry (the 10 partners, 2 listed devices each, the rest auto-registered: about
  today's 19) and on a 100,000-device registry (200 partners, 4,000 ports) in the same run.
  Target: large ratio ≥ 0.95 × small ratio. Peak RSS (VmHWM) of each ingest and of the API.

Run: .venv/bin/python bench/registry_live.py [--messages N] [--changes N]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, insert

# Run as a script, this file's folder comes first on sys.path, where bench/ingest.py would hide
# the ingest package: the repository root instead, and bench/ingest.py loaded by its path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from access.broker import INGEST_ACCOUNT, AccountStore, apply_access, write_broker_files  # noqa: E402
from access.store import control_plane  # noqa: E402
from access.tokens import OPERATOR, TokenStore  # noqa: E402
from controlplane.db import open_database, utcnow, write_tx  # noqa: E402
from controlplane.registry_store import insert_device, insert_partner  # noqa: E402
from controlplane.snapshot import RegistrySource  # noqa: E402
from controlplane.tables import device_terms, devices, partners, port_terms, ports  # noqa: E402
from core.processes import Child, free_port  # noqa: E402
from core.settings import Settings  # noqa: E402
from domain.registry import Device, Partner  # noqa: E402
from mainport.broker_follow import follow_broker  # noqa: E402
from mainport.services import BrokerConfig, InfluxConfig, start_broker, start_influxd  # noqa: E402
from timeseries.client import InfluxClient  # noqa: E402
from timeseries.schema import ensure_schema  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_ingest", REPO / "bench" / "ingest.py")
assert _spec is not None and _spec.loader is not None
bi: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_ingest"] = bi
_spec.loader.exec_module(bi)

LARGE_PARTNERS, LARGE_DEVICES, LARGE_PORTS = 200, 500, 20  # 100,000 devices, 4,000 ports
STRICT = "strict"  # no budget for unlisted devices: a new device is refused until listed


def bulk_registry(engine: Engine, large: bool) -> None:
    """Write the registry straight into the tables (executemany; the seed's audited row-by-row
    path is the store's, benchmarked in bench/registry.py)."""
    at = utcnow()
    ids = [*bi.PARTNERS, STRICT]
    if large:
        ids += [f"filler-{k:03d}" for k in range(LARGE_PARTNERS - len(ids))]
    per = LARGE_DEVICES if large else 2
    p_rows, d_rows, dt_rows, po_rows, pt_rows = [], [], [], [], []
    for k, pid in enumerate(ids):
        budgets = {"auto_devices": 0} if pid == STRICT else {}
        p_rows.append({"id": pid, "name": pid, "budgets": budgets, "created_at": at})
        listed = per if pid != STRICT else 0
        for d in range(listed):
            d_rows.append({"partner_id": pid, "id": f"dev-{d:03d}", "kind": "s", "created_at": at})
            dt_rows.append(
                {
                    "partner_id": pid,
                    "device_id": f"dev-{d:03d}",
                    "effective_from": at,
                    "interval_s": 60,
                    "retired": False,
                    "recorded_at": at,
                }
            )
        for j in range(LARGE_PORTS if large else 0):
            key = {"switch": f"sw-{k:03d}", "port": f"p-{j:02d}"}
            po_rows.append({**key, "created_at": at})
            pt_rows.append(
                {
                    **key,
                    "effective_from": at,
                    "partner_id": pid,
                    "capacity_mbps": 1000.0,
                    "interval_s": 60,
                    "retired": False,
                    "recorded_at": at,
                }
            )
    with write_tx(engine) as (conn, _version):
        for table, rows in (
            (partners, p_rows),
            (devices, d_rows),
            (device_terms, dt_rows),
            (ports, po_rows),
            (port_terms, pt_rows),
        ):
            if rows:
                conn.execute(insert(table), rows)
    print(f"registry: {len(ids)} partners, {len(d_rows):,} devices, {len(po_rows):,} ports")


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else values * 19
    return f"p50 {statistics.median(values) * 1e3:6.0f} ms  p95 {q[18] * 1e3:6.0f} ms"


def until(check: Callable[[], bool], timeout_s: float = 30.0, every_s: float = 0.02) -> float:
    """The time `check()` first held (polled every `every_s`); inf when it never did."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if check():
            return time.time()
        time.sleep(every_s)
    return float("inf")


def client(username: str, password: str, client_id: str = "") -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    c.username_pw_set(username, password)
    c.connect("127.0.0.1", int(os.environ["BENCH_BROKER_PORT"]))
    c.loop_start()
    return c


def propagation(
    engine: Engine,
    env: dict[str, str],
    root: Path,
    store: AccountStore,
    broker_dir: Path,
    passwords: dict[str, str],
    changes: int,
) -> None:
    """N changes; latency from each commit to the ingest, the API and the broker applying it."""
    ingest = bi.Ingest(env, "prop-1", "prop", "bench_prop", root / "log")
    ingest.start()
    api_port = free_port()
    api = Child(
        "api",
        [sys.executable, "-m", "mainport", "api"],
        log_file=root / "log" / "api.log",
        env={**env, "MAINPORT_API_PORT": str(api_port), "MAINPORT_INFLUX_DB": "bench_prop"},
        cwd=REPO,
    )
    api.start()
    token = TokenStore(
        control_plane(
            Settings(
                data_dir=Path(env["MAINPORT_DATA_DIR"]),
                database_url=env.get("MAINPORT_DATABASE_URL"),
            )
        )
    ).issue(OPERATOR)
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {token}"}
    )
    until(lambda: _ok(http, "/healthz"), 120)
    until(lambda: bi._connected(ingest), 120)
    # The supervisor's part: the broker's rights follow the registry.
    follower = RegistrySource(engine, float(env.get("MAINPORT_REGISTRY_POLL_S", "0.5")))
    follow_broker(
        follower,
        lambda registry: apply_access(store, registry, "mainport", broker_dir, []),
        print,
    )
    follower.start()
    gateway = client(STRICT, passwords[STRICT])
    watcher = client(INGEST_ACCOUNT, passwords[INGEST_ACCOUNT])
    seen: set[str] = set()
    watcher.on_message = lambda _c, _u, m: seen.add(m.topic)
    watcher.subscribe("mainport/+/d/telemetry", qos=0)
    lat: dict[str, list[float]] = {"ingest": [], "api": [], "broker": []}
    for k in range(changes):
        device, partner = f"new-{k:03d}", f"live-{k:03d}"
        newcomer = client(partner, passwords[partner], client_id=partner)
        accepted = ingest.metric(f'mainport_ingest_accepted_total{{partner="{STRICT}"}}')
        with write_tx(engine) as (conn, _version):
            insert_device(conn, STRICT, Device(id=device), at=utcnow(), actor="bench")
            insert_partner(conn, Partner(id=partner, name=partner), at=utcnow(), actor="bench")
        committed = time.time()
        done: dict[str, float] = {}

        def ingest_applied(device: str = device, accepted: float = accepted) -> bool:
            payload = orjson.dumps({"metrics": {"x": 1.0}})
            gateway.publish(f"mainport/{STRICT}/{device}/telemetry", payload, qos=1)
            now = float(ingest.metric(f'mainport_ingest_accepted_total{{partner="{STRICT}"}}'))
            return now > accepted

        def api_applied(device: str = device) -> bool:
            answer = http.get(f"/api/v1/partners/{STRICT}/devices")
            return answer.status_code == 200 and any(d["id"] == device for d in answer.json())

        def broker_applied(partner: str = partner, newcomer: mqtt.Client = newcomer) -> bool:
            newcomer.publish(f"mainport/{partner}/d/telemetry", b'{"metrics":{"x":1}}', qos=1)
            return f"mainport/{partner}/d/telemetry" in seen

        threads = [
            threading.Thread(target=lambda n=n, f=f, d=done: d.__setitem__(n, until(f)))
            for n, f in (
                ("ingest", ingest_applied),
                ("api", api_applied),
                ("broker", broker_applied),
            )
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, at in done.items():
            lat[name].append(at - committed)
        newcomer.disconnect()
        newcomer.loop_stop()
    for name, values in lat.items():
        late = sum(v > 2.0 for v in values)
        print(f"  write → applied in {name:6}: {percentiles(values)}  ({late} of {changes} > 2 s)")
    print(f"  peak RSS: ingest {ingest.peak_rss_mb():.0f} MB, API {_rss_mb(api):.0f} MB")
    follower.stop()
    for c in (gateway, watcher):
        c.disconnect()
        c.loop_stop()
    http.close()
    api.stop()
    ingest.stop()
    bi.drop_session(
        bi.Endpoint("127.0.0.1", int(os.environ["BENCH_BROKER_PORT"]), passwords), "prop-1"
    )


def _ok(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def _rss_mb(child: Child) -> float:
    status = Path(f"/proc/{child.pid}/status").read_text()
    return next(int(r.split()[1]) for r in status.splitlines() if r.startswith("VmHWM")) / 1024


def drain(
    env: dict[str, str], root: Path, name: str, db: InfluxClient, n: int
) -> tuple[float, float]:
    """One ingest draining the backlog of group `name`: msg/s and peak RSS."""
    ingest = bi.Ingest(env, f"{name}-1", name, db.db, root / "log")
    ingest.start()
    t0 = bi.first_receipt([ingest])
    t1 = bi.wait_stored(db, n)
    rss = ingest.peak_rss_mb()
    ingest.stop()
    print(f"    {bi.loss(db, n)}")
    return n / (t1 - t0), rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--small", action="store_true", help="propagation on the small registry")
    args = parser.parse_args()
    n = args.messages
    root = Path(tempfile.mkdtemp(prefix="mainport-bench-live-"))
    (root / "log").mkdir()
    store = AccountStore(open_database(f"sqlite:///{root / 'logins.db'}"))
    live = [f"live-{k:03d}" for k in range(args.changes)]
    passwords = {s: store.issue(s) for s in (INGEST_ACCOUNT, STRICT, *bi.PARTNERS, *live)}
    broker_cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker", bind_client_ids=False)
    influx_cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb", auth=False)
    os.environ["BENCH_BROKER_PORT"] = str(broker_cfg.port)
    dbs: dict[str, Engine] = {}
    for size in ("small", "large"):
        (root / size).mkdir()
        dbs[size] = open_database(f"sqlite:///{root / size / 'mainport.db'}")
        started = time.time()
        bulk_registry(dbs[size], size == "large")
        loaded = time.time()
        RegistrySource(dbs[size], 1.0).current()
        print(
            f"  {size}: written in {loaded - started:.1f} s, snapshot read in "
            f"{time.time() - loaded:.2f} s"
        )
    write_broker_files(
        store,
        RegistrySource(dbs["small"], 1.0).current().registry,
        "mainport",
        broker_cfg.directory,
    )
    broker = start_broker(broker_cfg, root / "log")
    influxd = start_influxd(influx_cfg, root / "log")
    endpoint = bi.Endpoint(broker_cfg.host, broker_cfg.port, passwords)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    base_env |= {
        "MAINPORT_PARTNERS_FILE": str(root / "absent.yaml"),  # the database only
        "MAINPORT_MQTT_HOST": broker_cfg.host,
        "MAINPORT_MQTT_PORT": str(broker_cfg.port),
        "MAINPORT_MQTT_PASSWORD": passwords[INGEST_ACCOUNT],
        "MAINPORT_INFLUX_URL": influx_cfg.url,
        "MAINPORT_LOG_LEVEL": "WARNING",
    }
    env = {
        size: {
            **base_env,
            "MAINPORT_DATA_DIR": str(root / size),
            "MAINPORT_DATABASE_URL": f"sqlite:///{root / size / 'mainport.db'}",
        }
        for size in dbs
    }
    influx = {g: InfluxClient(influx_cfg.url, f"bench_{g}") for g in ("small", "large", "prop")}
    for c in influx.values():
        ensure_schema(c, "400d")
    try:
        print(f"{os.cpu_count()} cores; poll every 0.5 s (MAINPORT_REGISTRY_POLL_S)")
        print(f"propagation, {args.changes} changes, {'small' if args.small else 'large'} registry")
        which = "small" if args.small else "large"
        propagation(
            dbs[which], env[which], root, store, broker_cfg.directory, passwords, args.changes
        )

        for cid, group in (("bare", "bare"), ("small-1", "small"), ("large-1", "large")):
            bi.make_session(endpoint, cid, group)
        started = time.time()
        bi.publish_all(endpoint, n, time.time_ns() // 1_000_000 - 3_600_000)
        print(f"backlog of {n:,} messages built for 3 groups in {time.time() - started:.1f} s")
        result: mp.Queue[float] = mp.Queue()
        bare = mp.Process(target=bi.bare_subscriber, args=(endpoint, "bare", n, result))
        bare.start()
        first, last, counted, _cpu = (result.get() for _ in range(4))
        bare.join()
        limit = (counted - 1) / (last - first)
        print(f"  bare paho subscriber: {limit:9,.0f} msg/s")
        ratios = {}
        for size in ("small", "large"):
            rate, rss = drain(env[size], root, size, influx[size], n)
            ratios[size] = rate / limit
            print(
                f"  ingest, {size} registry: {rate:9,.0f} msg/s  ratio {ratios[size]:.2f}  "
                f"peak RSS {rss:.0f} MB"
            )
        print(f"  large / small ratio: {ratios['large'] / ratios['small']:.3f} (target ≥ 0.95)")
    finally:
        influxd.stop()
        broker.stop()
        for c in influx.values():
            c.close()
        for engine in dbs.values():
            engine.dispose()


if __name__ == "__main__":
    main()
