"""The dashboard tests' stack and browser: real Mosquitto, influxd, ingest, API and simulators,
and Debian's chromium driven by Playwright (never a downloaded browser).

`DashboardSite` starts the ingest, deriver and API as `mainport` child processes against the
session's broker and influxd, with three hours of simulated history (backfilled, so the charts,
incidents and the maintenance shading have something to show), then the network in real time.
One registered device, `PROBE`, is kept silent by the simulator so that the test alone decides
when it is up or down.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import ConsoleMessage, Page

from access.broker import NETWORK_ACCOUNT
from access.grants import GrantLog
from access.tokens import OPERATOR, PARTNER, TokenStore
from core.processes import Child, free_port
from domain.registry import Registry, load_registry
from simulators.scenario import Scenario
from simulators.simulation import Simulation
from tests.conftest import PARTNERS_FILE, REPO, control_engine, wait_for
from tests.integration.conftest import Broker, Influx, stack_env
from tests.integration.mqtt_support import clear_retained
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

CHROMIUM = Path("/usr/bin/chromium")
# What the machine's closed network needs: no background connections, no GPU, no sandbox (root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "var" / "test-artifacts" / "dashboard"

PROBE_PARTNER = "woonbron"
PROBE = "temp-sterrenburg-14"
# gemeente-dordrecht shares one sensor with woonbron: the partner view must show it, and only it.
SHARED_OWNER = "gemeente-dordrecht"
SHARED_DEVICE = "aq-spuiboulevard"
HISTORY = timedelta(hours=3)
PORT_SWITCHES = ("dmd-core-1", "dmd-core-2", "dmd-dist-2")
LAB_SWITCH = "lab-switch"


def require_browser() -> Path:
    """Debian's chromium, or a clean skip; with MAINPORT_REQUIRE_BROWSER set, a failure."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing (scripts/bootstrap.sh installs Debian's chromium)"
    if os.environ.get("MAINPORT_REQUIRE_BROWSER"):
        pytest.fail(reason + " and MAINPORT_REQUIRE_BROWSER is set")
    pytest.skip(reason)


@dataclass
class DashboardSite:
    api: str
    data_dir: Path
    registry: Registry
    broker: Broker
    influx: InfluxClient
    operator: str
    partner: str
    children: list[Child] = field(default_factory=list)

    def get(self, path: str, token: str | None = None, **params: str) -> Any:
        resp = httpx.get(
            self.api + path,
            params=params,
            headers={"Authorization": f"Bearer {token or self.operator}"},
            timeout=30,
        )
        assert resp.status_code == 200, f"GET {path} {params}: {resp.status_code} {resp.text}"
        return resp.json()


def _partners_file(directory: Path, now: datetime) -> Path:
    """config/partners.yaml with one more maintenance window inside the simulated history, so
    the partner page has a shaded window to show. Partners, devices and ports are unchanged."""
    start = (now - timedelta(hours=2)).replace(microsecond=0)
    end = start + timedelta(minutes=20)
    text = PARTNERS_FILE.read_text().rstrip("\n") + "\n"
    before = yaml.safe_load(text).get("maintenance") or []
    if not before:
        text += "maintenance:\n"
    text += (
        f"  - partner: {PROBE_PARTNER}\n"
        f"    start: {start.isoformat().replace('+00:00', 'Z')}\n"
        f"    end: {end.isoformat().replace('+00:00', 'Z')}\n"
        "    reason: dashboard test window\n"
    )
    after = yaml.safe_load(text)["maintenance"]
    assert len(after) == len(before) + 1, "maintenance is no longer the last key of partners.yaml"
    # Switches for the collector's health table (no collector runs here: the tests publish its
    # `_collector` reports). LAB_SWITCH has no partner ports, so its being unreachable leaves
    # every partner's link uptime as it was.
    text += "switches:\n" + "".join(
        f"  - {{id: {sw}, address: 127.0.2.{i + 10}, credentials: {sw}}}\n"
        for i, sw in enumerate((*PORT_SWITCHES, LAB_SWITCH))
    )
    path = directory / "partners.yaml"
    path.write_text(text)
    return path


def _scenario(**fields: Any) -> Scenario:
    base: dict[str, Any] = {
        "name": "dashboard",
        "seed": 7,
        "payload_format": "mixed",
        "ports": True,
        "faults": [
            # The probe belongs to the test: the simulator only keeps its connection.
            {"kind": "silent", "device": f"{PROBE_PARTNER}/{PROBE}", "at": 0, "for": "30d"},
            {"kind": "malformed", "fraction": 0.03, "targets": [f"{PROBE_PARTNER}/*"]},
        ],
    }
    base.update(fields)
    return Scenario.model_validate(base)


HISTORY_FAULTS = [
    {"kind": "disconnect", "device": "woonbron/heat-crabbehof-02", "at": "20m", "for": "12m"},
    {
        "kind": "silent",
        "device": "bouwbedrijf-drechtsteden/site-vibration-1",
        "at": "40m",
        "for": "15m",
    },
    {"kind": "offline", "device": "woonbron/temp-sterrenburg-12", "at": "70m", "for": "10m"},
    {"kind": "port_down", "port": "dmd-core-1/xe-0-0-2", "at": "90m", "for": "12m"},
]


@contextmanager
def dashboard_site(
    root: Path, broker: Broker, influxd: Influx, registry: Registry
) -> Iterator[DashboardSite]:
    influx = influxd.client(f"dash_{uuid.uuid4().hex[:12]}")
    ensure_schema(influx, "400d")
    data_dir = root / "var"
    now = datetime.now(UTC)
    partners_file = _partners_file(root, now)
    site_registry = load_registry(partners_file)
    GrantLog(control_engine(data_dir)).add(
        site_registry,
        SHARED_OWNER,
        PROBE_PARTNER,
        [SHARED_DEVICE],
        "dashboard test",
        purpose="dashboard tests",
    )
    tokens = TokenStore(control_engine(data_dir))
    api_port = free_port()
    env = stack_env(
        broker,
        influx,
        data_dir,
        MAINPORT_PARTNERS_FILE=str(partners_file),
        MAINPORT_API_PORT=str(api_port),
        MAINPORT_INGEST_METRICS_PORT=str(free_port()),
    )
    site = DashboardSite(
        api=f"http://127.0.0.1:{api_port}",
        data_dir=data_dir,
        registry=registry,
        broker=broker,
        influx=influx,
        operator=tokens.issue(OPERATOR, label="dashboard test"),
        partner=tokens.issue(PARTNER, PROBE_PARTNER, label="dashboard test"),
    )
    stop = threading.Event()
    runner: threading.Thread | None = None
    try:
        # As `mainport up` runs them: the ingest, the deriver (uptime spans and traffic buckets
        # for the analytics API) and the API.
        for name in ("ingest", "derive", "api"):
            child = Child(
                name,
                [sys.executable, "-m", "mainport", name],
                log_file=root / f"{name}.log",
                env=env,
            )
            child.start()
            site.children.append(child)
        wait_for(
            lambda: bool(influx.query('SELECT last("connected") FROM "ingest_link"')[0]),
            60,
            "the ingest subscribed",
        )
        wait_for(lambda: httpx.get(f"{site.api}/readyz").status_code == 200, 60, "API ready")
        logins = {
            scope: (scope, broker.passwords[scope])
            for scope in (NETWORK_ACCOUNT, *(p.id for p in registry.partners))
        }
        # Three hours of history as fast as the broker takes it, then the network in real time.
        history = _scenario(
            start=(now - HISTORY).isoformat(timespec="seconds").replace("+00:00", "Z"),
            duration=HISTORY.total_seconds(),
            speed="max",
            faults=[*_scenario().model_dump(by_alias=True)["faults"], *HISTORY_FAULTS],
        )
        Simulation(history, registry, broker.host, broker.port, logins, client_prefix="hist").run(
            threading.Event()
        )
        live = Simulation(
            _scenario(speed=1.0), registry, broker.host, broker.port, logins, client_prefix="live"
        )
        runner = threading.Thread(target=live.run, args=(stop,), name="simulator", daemon=True)
        runner.start()

        def every_simulated_device_online() -> bool:
            partners = site.get("/api/v1/partners")
            online = sum(p["devices_online"] for p in partners)
            total = sum(len(p.devices) for p in registry.partners)
            return len(partners) == len(registry.partners) and online >= total - 1

        wait_for(every_simulated_device_online, 90, "every simulated device online")
        yield site
    finally:
        stop.set()
        if runner is not None:
            runner.join(15)
        for child in reversed(site.children):
            child.stop()
        influx.query(f'DROP DATABASE "{influx.db}"', db=False)
        influx.close()
        _clear_retained(broker)


def _clear_retained(broker: Broker) -> None:
    """Leave no retained status behind for later tests sharing the session's broker."""
    clear_retained(broker.host, broker.port, broker.passwords)


def save_screenshot(png: bytes, name: str) -> Path:
    """Into var/test-artifacts/dashboard/, and also into $MAINPORT_SCREENSHOTS_DIR when set
    (`MAINPORT_SCREENSHOTS_DIR=docs/screenshots` refreshes the pictures of docs/dashboard.md)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(png)
    extra = os.environ.get("MAINPORT_SCREENSHOTS_DIR")
    if extra:
        target = Path(extra)
        target = target if target.is_absolute() else REPO / target
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / name)
    return path


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wait_until(check: Any, timeout_s: float, what: str) -> None:
    """`wait_for` for checks that raise AssertionError while not yet true."""

    def attempt() -> bool:
        try:
            check()
        except AssertionError:
            return False
        return True

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if attempt():
            return
        time.sleep(0.5)
    check()  # once more, letting its AssertionError say what differs
    raise AssertionError(f"timed out waiting for {what}")


def demo_partners() -> dict[str, str]:
    data = yaml.safe_load((REPO / "config" / "partners.yaml").read_text())
    return {p["id"]: p["name"] for p in data["partners"]}


class Console:
    """Console errors and uncaught exceptions of one page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} at {msg.location}")
