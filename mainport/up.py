"""`mainport up`: the whole local stack in the foreground.

Order: broker and InfluxDB first (waiting until each answers), then the schema, then ingest,
the deriver,
API and, with --simulate, the simulators. Ctrl-C or SIGTERM stops the children in reverse
order and exits 0. A crashed child is reported with the tail of its log and restarted with
backoff; one that keeps crashing stops the stack with exit code 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from access.broker import (
    INGEST_ACCOUNT,
    NETWORK_ACCOUNT,
    AccountStore,
    account_username,
    write_broker_files,
)
from access.grants import GrantLog
from core.influx_logins import InfluxUser, Role, ensure_logins
from core.processes import Child, free_port, port_in_use
from core.settings import Settings
from domain.registry import Registry
from mainport.services import BrokerConfig, InfluxConfig, TlsListener, start_broker, start_influxd
from timeseries.client import InfluxClient, StoreError
from timeseries.schema import ensure_schema
from timeseries.users import ensure_admin, ensure_users

MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0


class StackError(RuntimeError):
    """A one-line reason the stack cannot start."""


# Settings that carry InfluxDB passwords: never inherited by a child, which gets its own login.
_INFLUX_SECRETS = (
    "MAINPORT_INFLUX_USERNAME",
    "MAINPORT_INFLUX_PASSWORD",
    "MAINPORT_INFLUX_ADMIN_",
    "MAINPORT_INFLUX_WRITER_",
    "MAINPORT_INFLUX_DERIVER_",
    "MAINPORT_INFLUX_READER_",
)


def _influx_env(user: InfluxUser) -> dict[str, str]:
    return {"MAINPORT_INFLUX_USERNAME": user.username, "MAINPORT_INFLUX_PASSWORD": user.password}


def setup_influx(settings: Settings, logins: Mapping[Role, InfluxUser]) -> None:
    """As InfluxDB's admin (created if InfluxDB has no user yet): the database and retention
    policies, then the writer, deriver and reader users with their privileges. Idempotent."""
    admin = logins["admin"]
    ensure_admin(settings.influx_url, admin, settings.influx_timeout_s)
    client = InfluxClient(
        settings.influx_url,
        settings.influx_db,
        username=admin.username,
        password=admin.password,
        timeout_s=settings.influx_timeout_s,
    )
    try:
        ensure_schema(client, settings.influx_raw_retention)
    finally:
        client.close()
    ensure_users(settings.influx_url, settings.influx_db, admin, logins, settings.influx_timeout_s)


def say(text: str) -> None:
    print(f"mainport: {text}", file=sys.stderr, flush=True)


def influx_endpoint(settings: Settings) -> tuple[str, int]:
    parts = urlsplit(settings.influx_url)
    return parts.hostname or "127.0.0.1", parts.port or 8086


def check_ports(settings: Settings) -> None:
    influx_host, influx_port = influx_endpoint(settings)
    for what, env, host, port in (
        ("MQTT", "MAINPORT_MQTT_PORT", settings.mqtt_host, settings.mqtt_port),
        (
            "MQTT over TLS",
            "MAINPORT_MQTT_TLS_PORT",
            settings.mqtt_tls_host or settings.mqtt_host,
            settings.mqtt_tls_port,
        ),
        ("InfluxDB", "MAINPORT_INFLUX_URL", influx_host, influx_port),
        ("API", "MAINPORT_API_PORT", settings.api_host, settings.api_port),
    ):
        if port and port_in_use(host, port):
            raise StackError(
                f"port {port} ({what}) is already in use on {host}; "
                f"stop what holds it or choose another with {env}"
            )


def broker_tls(settings: Settings) -> TlsListener | None:
    """The TLS listener: the operator's certificate, else a local CA's (made on first use)."""
    if not settings.mqtt_tls_port:
        return None
    port, host = settings.mqtt_tls_port, settings.mqtt_tls_host
    if settings.mqtt_tls_certfile is not None and settings.mqtt_tls_keyfile is not None:
        return TlsListener(port, settings.mqtt_tls_certfile, settings.mqtt_tls_keyfile, host)
    from access.tls import ensure_local_tls

    files = ensure_local_tls(settings.tls_dir, [settings.mqtt_host, host or ""])
    return TlsListener(port, files.cert, files.key, host)


@dataclass
class Supervised:
    child: Child
    restarts: list[float] = field(default_factory=list)


@dataclass
class Stack:
    settings: Settings
    registry: Registry
    simulate: bool = False
    scenario: Path | None = None
    children: list[Supervised] = field(default_factory=list)
    stop_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def broker_dir(self) -> Path:
        return self.settings.data_dir / "mosquitto"

    def run(self) -> int:
        check_ports(self.settings)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self._start_all()
        except (StackError, RuntimeError, TimeoutError, FileNotFoundError, StoreError) as exc:
            say(f"could not start: {exc}")
            self._stop_all()
            return 1
        code = self._supervise()
        self._stop_all()
        say("stopped")
        return code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stop_requested.is_set():
            say(f"{signal.Signals(signum).name}: stopping the stack")
        self.stop_requested.set()

    def _start_all(self) -> None:
        s = self.settings
        log_dir = s.log_dir
        store = AccountStore(s.credentials_file)
        # Fresh passwords for our own children every run; only hashes reach the disk.
        store.drop_runtime()
        # A labelled login (`_ingest.up`), so an `_ingest` password an operator issued survives.
        secrets_env = {
            "MAINPORT_MQTT_USERNAME": account_username(INGEST_ACCOUNT, "up"),
            "MAINPORT_MQTT_PASSWORD": store.issue(INGEST_ACCOUNT, label="up", runtime=True),
        }
        sim_credentials: dict[str, tuple[str, str]] = {}
        if self.simulate:
            sim_credentials[NETWORK_ACCOUNT] = (
                account_username(NETWORK_ACCOUNT, "sim"),
                store.issue(NETWORK_ACCOUNT, label="sim", runtime=True),
            )
            for partner in self.registry.partners:
                sim_credentials[partner.id] = (
                    account_username(partner.id, "sim"),
                    store.issue(partner.id, label="sim", runtime=True),
                )
        # The SNMP collector, when the registry has switches and their secrets are in place
        # (without them `mainport collect` refuses to start), with its own `_network` login.
        collect = bool(self.registry.switches) and s.snmp_credentials_path.exists()
        collector_env = (
            {
                "MAINPORT_COLLECTOR_MQTT_USERNAME": account_username(NETWORK_ACCOUNT, "collector"),
                "MAINPORT_COLLECTOR_MQTT_PASSWORD": store.issue(
                    NETWORK_ACCOUNT, label="collector", runtime=True
                ),
                "MAINPORT_COLLECTOR_METRICS_PORT": str(free_port()),
            }
            if collect
            else {}
        )
        grants = GrantLog(s.grants_file).active()
        write_broker_files(store, self.registry, s.mqtt_root, self.broker_dir, grants)

        tls = broker_tls(s)
        broker = start_broker(
            BrokerConfig(s.mqtt_host, s.mqtt_port, self.broker_dir, tls=tls), log_dir
        )
        self.children.append(Supervised(broker))
        tls_note = f", TLS on {tls.port}" if tls else ""
        say(f"broker up on {s.mqtt_host}:{s.mqtt_port}{tls_note} (pid {broker.pid})")
        # InfluxDB with authentication: generated logins on first start (0600 under
        # secrets/), unless the operator configured all four (MAINPORT_INFLUX_<ROLE>_*).
        logins = s.influx_users() or ensure_logins(s.influx_logins_file)
        influx_host, influx_port = influx_endpoint(s)
        influxd = start_influxd(
            InfluxConfig(influx_host, influx_port, s.data_dir / "influxdb"), log_dir
        )
        self.children.append(Supervised(influxd))
        say(f"InfluxDB up on {s.influx_url} (pid {influxd.pid}), authentication on")
        setup_influx(s, logins)

        metrics_port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(_INFLUX_SECRETS)},
            **secrets_env,
            "MAINPORT_INGEST_METRICS_PORT": str(metrics_port),
            "PYTHONUNBUFFERED": "1",
        }
        # Each child logs in to InfluxDB as its own role, with only that role's password.
        self._spawn("ingest", ["ingest"], {**env, **_influx_env(logins["writer"])})
        self._spawn("derive", ["derive"], {**env, **_influx_env(logins["deriver"])})
        self._spawn("api", ["api"], {**env, **_influx_env(logins["reader"])})
        if collect:
            self._spawn("collector", ["collect"], {**env, **collector_env})
        elif self.registry.switches:
            say(f"collector not started: no SNMP credentials at {s.snmp_credentials_path}")
        if self.simulate:
            scenario = (
                self.scenario or Path(__file__).parent.parent / "simulators/scenarios/demo.yaml"
            )
            sim_env = {**env, "MAINPORT_SIM_CREDENTIALS": json.dumps(sim_credentials)}
            self._spawn("simulator", ["simulate", str(scenario)], sim_env)
        say(
            f"Mainport is up: API and dashboard on http://{s.api_host}:{s.api_port}/ — "
            "get a token with `mainport token issue --operator`; Ctrl-C stops everything"
        )

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        child = Child(
            name,
            [sys.executable, "-m", "mainport", *args],
            log_file=self.settings.log_dir / f"{name}.log",
            env=env,
            echo=lambda text: print(text, file=sys.stderr, flush=True),
        )
        child.start()
        self.children.append(Supervised(child))
        say(f"{name} started (pid {child.pid})")

    def _supervise(self) -> int:
        while not self.stop_requested.wait(0.5):
            for sup in self.children:
                if sup.child.running():
                    continue
                now = time.monotonic()
                sup.restarts = [t for t in sup.restarts if now - t < RESTART_WINDOW_S]
                say(
                    f"{sup.child.name} (pid {sup.child.pid}) exited with code "
                    f"{sup.child.exit_code()}; last log lines:\n{sup.child.tail()}"
                )
                if len(sup.restarts) >= MAX_RESTARTS:
                    say(f"{sup.child.name} crashed {MAX_RESTARTS} times in 5 minutes; giving up")
                    return 1
                sup.restarts.append(now)
                if self.stop_requested.wait(min(30.0, 2 ** len(sup.restarts) / 2)):
                    break
                sup.child.start()
                say(f"{sup.child.name} restarted (pid {sup.child.pid})")
        return 0

    def _stop_all(self) -> None:
        for sup in reversed(self.children):
            if sup.child.running():
                code = sup.child.stop(timeout_s=15)
                # uvicorn re-raises the SIGTERM it handled, so -15 is a clean stop too.
                how = "" if code in (0, -signal.SIGTERM) else f" (exit code {code})"
                say(f"{sup.child.name} (pid {sup.child.pid}) stopped{how}")
        AccountStore(self.settings.credentials_file).drop_runtime()
