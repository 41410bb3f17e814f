"""Real Mosquitto and influxd for the integration tests: Debian binaries, free loopback ports,
temp dirs.

Started once per session through the same code `mainport up` uses, and stopped by PID.
Each test that writes data gets its own database, so tests do not see each other's points.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from access.broker import (
    INGEST_ACCOUNT,
    NETWORK_ACCOUNT,
    AccountStore,
    apply_access,
    write_broker_files,
)
from core.processes import Child, free_port
from domain.registry import Registry
from mainport.services import BrokerConfig, InfluxConfig, start_broker, start_influxd
from tests.conftest import PARTNERS_FILE, control_engine, wait_for
from tests.integration.mqtt_support import Subscriber, clear_retained, subscribe
from tests.integration.postgres_support import Postgres, start_postgres
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

RELOAD_TIMEOUT_S = 10.0
"""How long a reloaded broker may take to answer as its new files say: a generous bound on a
busy machine, never a wait of its own (the check returns as soon as the answer is right)."""


@dataclass
class Broker:
    host: str
    port: int
    directory: Path
    store: AccountStore
    registry: Registry
    passwords: dict[str, str] = field(default_factory=dict)

    def login(self, username: str | None, password: str | None) -> str:
        """The broker's answer to one MQTT v5 login: "Success", "Not authorized", …"""
        done = threading.Event()
        result: list[str] = []
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if username is not None:
            client.username_pw_set(username, password)

        def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
            result.append(str(rc))
            done.set()

        client.on_connect = on_connect
        client.connect(self.host, self.port)
        client.loop_start()
        done.wait(5)
        client.disconnect()
        client.loop_stop()
        return result[0] if result else "no answer"

    def reload(self) -> None:
        """Apply the store to the running broker: passwords by SIGHUP, rights through the
        dynamic-security plugin (access.broker.apply_access)."""
        assert apply_access(self.store, self.registry, "mainport", self.directory, [])

    def wait_for_login(self, username: str, password: str, answer: str = "Success") -> None:
        """Block until the broker gives `answer` to this login: a reload has been applied once a
        newly issued login gets in, or a revoked one is refused."""
        wait_for(
            lambda: self.login(username, password) == answer,
            RELOAD_TIMEOUT_S,
            f"the reloaded broker to answer {answer!r} to {username}",
        )

    def issue(self, scope: str, label: str | None = None, *, device: str | None = None) -> str:
        """Issue (or rotate) a login's password and apply it to the running broker; the login
        is `scope`, `scope.label`, or the device login `scope.device`. Returns once the new
        password logs in."""
        if device is not None:
            password = self.store.issue_device(scope, device)
        else:
            password = self.store.issue(scope, label=label)
        self.reload()
        username = f"{scope}.{device or label}" if device or label else scope
        self.wait_for_login(username, password)
        self.passwords[username] = password
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


def run_broker(root: Path, registry: Registry, *, bind_client_ids: bool) -> tuple[Broker, Child]:
    """A broker with a login for every partner and service (see `broker`)."""
    store = AccountStore(control_engine(root))
    passwords = {scope: store.issue(scope) for scope in (INGEST_ACCOUNT, NETWORK_ACCOUNT)}
    passwords.update({p.id: store.issue(p.id) for p in registry.partners})
    cfg = BrokerConfig("127.0.0.1", free_port(), root / "broker", bind_client_ids=bind_client_ids)
    write_broker_files(store, registry, "mainport", cfg.directory)
    child = start_broker(cfg, root / "log")
    return Broker(cfg.host, cfg.port, cfg.directory, store, registry, passwords), child


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Iterator[Broker]:
    """The broker the components' own tests share. Its rights are the production ones, but
    client ids are not bound to logins: these tests open many connections with one login (a
    simulated fleet per partner, an ingest and a watcher). The access tests use
    `bound_broker`, configured exactly as `mainport up` and compose configure theirs."""
    found, child = run_broker(tmp_path_factory.mktemp("mosquitto"), registry, bind_client_ids=False)
    yield found
    child.stop()


@pytest.fixture(scope="module")
def bound_broker(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Iterator[Broker]:
    """A broker as in production: every client id is its login's username."""
    found, child = run_broker(tmp_path_factory.mktemp("bound"), registry, bind_client_ids=True)
    yield found
    child.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx]:
    root = tmp_path_factory.mktemp("influxd")
    cfg = InfluxConfig("127.0.0.1", free_port(), root / "influxdb", auth=False)
    child = start_influxd(cfg, root / "log")
    yield Influx(cfg.url)
    child.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL cluster per session; each test takes a fresh database from it."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def control_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty control-plane database, once on SQLite and once on PostgreSQL: every
    test that takes it runs against both (SPEC: SQLite by default, PostgreSQL for several hosts)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'control' / 'mainport.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.new_database()


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


# --- for the modules that publish through the session broker (simulators, record/replay) ------


@pytest.fixture(scope="module")
def no_retained_leftovers(broker: Broker) -> Iterator[None]:
    """Such a module leaves retained statuses on the session's broker; later tests (an ingest
    subscribing to everything) must not inherit them. Used with `pytest.mark.usefixtures`."""
    yield
    clear_retained(broker.host, broker.port, broker.passwords)


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Subscriber]:
    """Everything published under the root, as the ingest's account sees it."""
    yield from subscribe(broker.host, broker.port, broker.passwords["_ingest"])
