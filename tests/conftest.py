"""Real Mosquitto and influxd for the tests: Debian binaries, free loopback ports, temp dirs.

Started once per session through the same code `mainport up` uses, and stopped by PID.
Each test that writes data gets its own database, so tests do not see each other's points.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from access.broker import (
    INGEST_ACCOUNT,
    NETWORK_ACCOUNT,
    AccountStore,
    write_broker_files,
)
from core.processes import Child, free_port
from domain.registry import Registry, load_registry
from mainport.services import BrokerConfig, InfluxConfig, start_broker, start_influxd
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

if TYPE_CHECKING:
    from tests.sim_support import Subscriber

REPO = Path(__file__).resolve().parent.parent
PARTNERS_FILE = REPO / "config" / "partners.yaml"


@dataclass
class Broker:
    host: str
    port: int
    directory: Path
    store: AccountStore
    registry: Registry
    passwords: dict[str, str] = field(default_factory=dict)

    def issue(self, scope: str) -> str:
        """Issue (or rotate) an account's password and reload the running broker."""
        password = self.store.issue(scope)
        write_broker_files(self.store, self.registry, "mainport", self.directory)
        os.kill(int((self.directory / "mosquitto.pid").read_text()), 1)  # SIGHUP
        time.sleep(0.3)
        self.passwords[scope] = password
        return password

    def client(self, scope: str, client_id: str = "", **kwargs: object) -> mqtt.Client:
        """A connected, looping paho client logged in as `scope`."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, **kwargs)  # type: ignore[arg-type]
        client.username_pw_set(scope, self.passwords[scope])
        client.connect(self.host, self.port)
        client.loop_start()
        return client


@dataclass
class Influx:
    url: str

    def client(self, db: str) -> InfluxClient:
        return InfluxClient(self.url, db)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(PARTNERS_FILE)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Iterator[Broker]:
    root = tmp_path_factory.mktemp("mosquitto")
    store = AccountStore(root / "accounts.json")
    passwords = {scope: store.issue(scope) for scope in (INGEST_ACCOUNT, NETWORK_ACCOUNT)}
    passwords.update({p.id: store.issue(p.id) for p in registry.partners})
    cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker")
    write_broker_files(store, registry, "mainport", cfg.directory)
    child = start_broker(cfg, root / "log")
    yield Broker(cfg.host, cfg.port, cfg.directory, store, registry, passwords)
    child.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx]:
    root = tmp_path_factory.mktemp("influxd")
    cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb")
    child = start_influxd(cfg, root / "log")
    yield Influx(cfg.url)
    child.stop()


@pytest.fixture
def influx_db(influxd: Influx) -> Iterator[InfluxClient]:
    """A fresh database with the platform's schema, dropped after the test."""
    client = influxd.client(f"test_{uuid.uuid4().hex[:12]}")
    ensure_schema(client, "400d")
    yield client
    client.query(f'DROP DATABASE "{client.db}"', db=False)
    client.close()


def stack_env(broker: Broker, influx: InfluxClient, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a `mainport` child process pointed at the test services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        {
            "MAINPORT_PARTNERS_FILE": str(PARTNERS_FILE),
            "MAINPORT_DATA_DIR": str(data_dir),
            "MAINPORT_MQTT_HOST": broker.host,
            "MAINPORT_MQTT_PORT": str(broker.port),
            "MAINPORT_MQTT_PASSWORD": broker.passwords[INGEST_ACCOUNT],
            "MAINPORT_INFLUX_URL": influx.url,
            "MAINPORT_INFLUX_DB": influx.db,
            "MAINPORT_INGEST_GROUP": f"g{uuid.uuid4().hex[:8]}",
            "MAINPORT_INGEST_CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}",
            "MAINPORT_INGEST_BATCH_AGE_MS": "50",
            # The load tests publish tens of thousands of messages a second as one partner, far
            # past the default rate budget (domain/budgets.py); the budget tests set their own.
            "MAINPORT_INGEST_BUDGET_MESSAGES_PER_S": "1000000",
            "MAINPORT_INGEST_BUDGET_BYTES_PER_S": str(10 * 1024**3),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start `mainport <args>` as a child process; every one is stopped by PID afterwards."""
    children: list[Child] = []

    def start(name: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(
            name,
            [sys.executable, "-m", "mainport", *args],
            log_file=tmp_path / f"{name}.log",
            env=env,
        )
        child.start()
        children.append(child)
        return child

    yield start
    for child in reversed(children):
        child.stop()


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll until `check()`; a behavioural deadline, generous for a noisy 2-core machine."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# --- for the modules that publish through the session broker (simulators, record/replay) ------


@pytest.fixture(scope="module")
def no_retained_leftovers(broker: Broker) -> Iterator[None]:
    """Such a module leaves retained statuses on the session's broker; later tests (an ingest
    subscribing to everything) must not inherit them. Used with `pytest.mark.usefixtures`."""
    from tests.sim_support import clear_retained

    yield
    clear_retained(broker.host, broker.port, broker.passwords)


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    """Everything published under the root, as the ingest's account sees it."""
    from tests.sim_support import subscribe

    yield from subscribe(broker.host, broker.port, broker.passwords["_ingest"])
