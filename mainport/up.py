"""`mainport up`: the whole local stack in the foreground.

Order: broker and InfluxDB first (waiting until each answers), then the schema, then ingest,
the deriver, API and, with --simulate, the simulators — on a fresh data dir after a backfill
of the demo's past (`mainport.demo_history`). Ctrl-C or SIGTERM stops the children in reverse
order and exits 0. A crashed child is reported with the tail of its log and restarted with
backoff; one that keeps crashing stops the stack with exit code 1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

import httpx
from sqlalchemy import Engine

from access.broker import (
    ALERT_ACCOUNT,
    INGEST_ACCOUNT,
    NETWORK_ACCOUNT,
    RETAIN_ACCOUNT,
    AccountStore,
    account_username,
    sync_broker,
    write_broker_files,
)
from access.grants import GrantLog
from access.store import control_plane
from controlplane.live import LiveRegistry, open_registry
from core.influx_logins import ensure_logins
from core.processes import Child, free_port
from core.settings import Settings
from domain.registry import Registry
from mainport import demo_history
from mainport.broker_follow import follow_broker
from mainport.influx_watchdog import InfluxWatchdog
from mainport.influx_watchdog import observe as watch_observe
from mainport.preparation import (
    DEMO_SCENARIO,
    INFLUX_SECRETS,
    StackError,
    broker_tls,
    check_ports,
    influx_client,
    influx_endpoint,
    influx_env,
    setup_influx,
    simulator_logins,
)
from mainport.registry_start import prepare_control_plane
from mainport.services import BrokerConfig, InfluxConfig, start_broker, start_influxd
from timeseries.client import InfluxClient, StoreError

MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0
INGEST_READY_TIMEOUT_S = 60.0
WATCH_INFLUX_EVERY_S = 5.0


def _loss_note(child: Child) -> str:
    """What a crashed broker may have cost (docs/failures.md): said where the restart is."""
    if child.name != "mosquitto":
        return ""
    return (
        "; QoS 1 messages it acknowledged since its last save (at most 10,000 queued) may be "
        "lost: the ingest reports the restart in the platform health"
    )


def say(text: str) -> None:
    print(f"mainport: {text}", file=sys.stderr, flush=True)


@dataclass
class Supervised:
    child: Child
    restarts: list[float] = field(default_factory=list)
    on_exit: Callable[[int | None], None] | None = None
    """For a one-shot child (the history backfill): called once when it ends, not restarted."""


@dataclass
class Stack:
    settings: Settings
    registry: Registry
    simulate: bool = False
    scenario: Path | None = None
    history_s: float | None = demo_history.DEFAULT_HISTORY_S
    """With --simulate, how much past to backfill on a fresh data dir; None: none."""
    children: list[Supervised] = field(default_factory=list)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    influx_watch: tuple[Child, int] | None = None
    influx_watchdog: InfluxWatchdog = field(default_factory=lambda: InfluxWatchdog(0))
    registry_source: LiveRegistry | None = None
    registry_engine: Engine | None = None

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
        # Logins and grants from the control-plane database (the data dir's former files are
        # imported on its first start: access/store.py).
        store = AccountStore(control_plane(s))
        # Fresh passwords for our own children every run; only hashes reach the disk.
        store.drop_runtime()
        # A labelled login (`_ingest.up`), so an `_ingest` password an operator issued survives.
        secrets_env = {
            "MAINPORT_MQTT_USERNAME": account_username(INGEST_ACCOUNT, "up"),
            "MAINPORT_MQTT_PASSWORD": store.issue(INGEST_ACCOUNT, label="up", runtime=True),
            "MAINPORT_RETAIN_USERNAME": account_username(RETAIN_ACCOUNT, "up"),
            "MAINPORT_RETAIN_PASSWORD": store.issue(RETAIN_ACCOUNT, label="up", runtime=True),
        }
        # The alert evaluator's own login: publishes only on {root}/{partner}/_alerts.
        alert_env = {
            "MAINPORT_ALERT_MQTT_USERNAME": account_username(ALERT_ACCOUNT, "up"),
            "MAINPORT_ALERT_MQTT_PASSWORD": store.issue(ALERT_ACCOUNT, label="up", runtime=True),
        }
        sim_credentials: dict[str, tuple[str, str]] = {}
        if self.simulate:
            sim_credentials = simulator_logins(
                store, self.registry, self.scenario_file, self.settings.mqtt_root
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
        grants = GrantLog(store.engine).active()
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
        influxd = start_influxd(InfluxConfig(influx_host, influx_port, s.influx_dir), log_dir)
        self.children.append(Supervised(influxd))
        say(f"InfluxDB up on {s.influx_url} (pid {influxd.pid}), authentication on")
        setup_influx(s, logins)
        history: demo_history.Decision | None = None
        if self.simulate:
            client = influx_client(s, logins["reader"])
            try:
                history = self._history(client)
            finally:
                client.close()

        metrics_port = free_port()
        self.influx_watch = (influxd, metrics_port)
        self.influx_watchdog = InfluxWatchdog(s.disk_min_free_bytes, s.influx_restart_after_s)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(INFLUX_SECRETS)},
            **secrets_env,
            "MAINPORT_INGEST_METRICS_PORT": str(metrics_port),
            "PYTHONUNBUFFERED": "1",
        }
        seed_from = s.partners_file
        if history is not None and history.plan is not None:
            # The platform sees the history's maintenance window (module docstring).
            seed_from = demo_history.partners_with_windows(
                s.partners_file, history.plan.maintenance, self.history_dir / "partners.yaml"
            )
        # Before the children: the database seeded (database source) or the file applied (file
        # source), from the history's partners file on a demo's start so its maintenance window
        # is in it; then the broker following it. The children read the database only.
        say(prepare_control_plane(s, seed_from))
        self._follow_registry(seed_from)
        # Each child logs in to InfluxDB as its own role, with only that role's password.
        self._spawn("ingest", ["ingest"], {**env, **influx_env(logins["writer"])})
        self._spawn("retain-guard", ["retain-guard"], env)
        self._spawn("derive", ["derive"], {**env, **influx_env(logins["deriver"])})
        self._spawn("api", ["api"], {**env, **influx_env(logins["reader"])})
        self._spawn("alert", ["alert"], {**env, **alert_env, **influx_env(logins["reader"])})
        if collect:
            self._spawn("collector", ["collect"], {**env, **collector_env})
        elif self.registry.switches:
            say(f"collector not started: no SNMP credentials at {s.snmp_credentials_path}")
        if self.simulate:
            sim_env = {**env, "MAINPORT_SIM_CREDENTIALS": json.dumps(sim_credentials)}
            if history is not None and history.backfill and history.plan is not None:
                self._backfill(history.plan, sim_env, metrics_port)
            else:
                self._spawn("simulator", ["simulate", str(self.scenario_file)], sim_env)
        say(
            f"Mainport is up: API and dashboard on http://{s.api_host}:{s.api_port}/ — "
            "get a token with `mainport token issue --operator`; Ctrl-C stops everything"
        )

    @property
    def scenario_file(self) -> Path:
        return self.scenario or DEMO_SCENARIO

    @property
    def history_dir(self) -> Path:
        return self.settings.data_dir / "demo"

    def _history(self, client: InfluxClient) -> demo_history.Decision | None:
        """Whether this start backfills the demo's past. Without a backfill (--no-history, a
        scenario not in real time) a past backfilled before keeps its maintenance window."""
        state_file = self.history_dir / "history.json"
        from simulators.scenario import ScenarioError, load_scenario

        try:
            real_time = load_scenario(self.scenario_file).speed == 1
            if self.history_s is None or not real_time:
                plan = demo_history.load_plan(state_file)
                why = "--no-history" if self.history_s is None else "not a real-time scenario"
                say(f"no demo history backfill ({why})")
                return demo_history.Decision(plan, False, why)
            decision = demo_history.decide(
                state_file,
                self.history_s,
                int(time.time() * 1000),
                lambda: demo_history.has_raw_data(client),
            )
        except (ScenarioError, demo_history.HistoryError) as exc:
            raise StackError(str(exc)) from None
        say(decision.note)
        return decision

    def _backfill(
        self, plan: demo_history.HistoryPlan, sim_env: dict[str, str], metrics_port: int
    ) -> None:
        """The history as fast as the platform takes it, then the network live from where it
        ended (`--catch-up`: no gap between the two)."""
        if not self._ingest_subscribed(metrics_port):
            if self.stop_requested.is_set():
                return
            say("the ingest is not connected yet; backfilling anyway (the broker queues for it)")
        state_file = self.history_dir / "history.json"
        began = time.monotonic()
        live = ["simulate", str(self.scenario_file), "--catch-up"]
        live += ["--start", demo_history.rfc3339(plan.end_ms)]

        def finished(code: int | None) -> None:
            took = time.monotonic() - began
            if code == 0 and not self.stop_requested.is_set():
                demo_history.save_plan(state_file, replace(plan, completed=True))
                say(f"demo history backfilled in {took:.0f} s; going live")
            else:
                say(
                    f"demo history backfill ended with code {code} after {took:.0f} s; "
                    "going live, and the next start resumes it"
                )
            if not self.stop_requested.is_set():
                self._spawn("simulator", live, sim_env)

        backfill = [
            "simulate",
            str(self.scenario_file),
            "--speed",
            "max",
            "--start",
            demo_history.rfc3339(plan.start_ms),
            "--duration",
            f"{plan.duration_s:.0f}s",
            "--client-prefix",
            "history",
            "--batch",
            str(demo_history.HISTORY_BATCH),
        ]
        self._spawn("history", backfill, sim_env, on_exit=finished)

    def _ingest_subscribed(self, metrics_port: int) -> bool:
        """Wait until the ingest holds its subscription: on a fresh broker, what is published
        before it first subscribes reaches nobody."""
        deadline = time.monotonic() + INGEST_READY_TIMEOUT_S
        url = f"http://127.0.0.1:{metrics_port}/"
        while not self.stop_requested.wait(0.2):
            try:
                text = httpx.get(url, timeout=1.0).text
            except httpx.HTTPError:
                text = ""
            if re.search(r"^mainport_ingest_broker_connected 1", text, re.MULTILINE):
                return True
            if time.monotonic() > deadline:
                return False
        return False

    def _spawn(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        on_exit: Callable[[int | None], None] | None = None,
    ) -> None:
        child = Child(
            name,
            [sys.executable, "-m", "mainport", *args],
            log_file=self.settings.log_dir / f"{name}.log",
            env=env,
            echo=lambda text: print(text, file=sys.stderr, flush=True),
        )
        child.start()
        self.children.append(Supervised(child, on_exit=on_exit))
        say(f"{name} started (pid {child.pid})")

    def _supervise(self) -> int:
        watched_at = 0.0
        while not self.stop_requested.wait(0.5):
            if time.monotonic() - watched_at >= WATCH_INFLUX_EVERY_S:
                watched_at = time.monotonic()
                self._watch_influx()
            for sup in list(self.children):
                if sup.child.running():
                    continue
                if sup.on_exit is not None:
                    self.children.remove(sup)
                    sup.child.stop()  # reaps it and ends its log pump
                    sup.on_exit(sup.child.exit_code())
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
                say(f"{sup.child.name} restarted (pid {sup.child.pid}){_loss_note(sup.child)}")
        return 0

    def _watch_influx(self) -> None:
        """Restart an influxd that answers but stays stuck refusing writes (a full disk that
        has room again); a crashed one the loop in _supervise restarts."""
        if self.influx_watch is None:
            return
        influxd, metrics_port = self.influx_watch
        if not influxd.running():
            return
        seen = watch_observe(self.settings.influx_url, metrics_port, self.settings.influx_dir)
        if self.influx_watchdog.observe(seen):
            say(f"{self.influx_watchdog.reason}: restarting influxd (pid {influxd.pid})")
            influxd.stop(timeout_s=30)
            influxd.start()
            say(f"influxd restarted (pid {influxd.pid})")

    def _follow_registry(self, partners_file: Path) -> None:
        """The broker's rights follow the registry (a partner added or retired): this process
        holds the broker's admin login, so it applies them, within `registry_poll_s` of the
        commit; the ingest and API need no broker rights beyond their own.

        The registry is prepared (seeded or applied: mainport/registry_start.py) before."""
        s = self.settings
        seeding = s.model_copy(update={"partners_file": partners_file})
        self.registry_engine, self.registry_source = open_registry(seeding, start=False)
        follow_broker(self.registry_source, lambda registry: sync_broker(s, registry), say)
        self.registry_source.start()

    def _stop_all(self) -> None:
        if self.registry_source is not None:
            self.registry_source.stop()
        if self.registry_engine is not None:
            self.registry_engine.dispose()
        for sup in reversed(self.children):
            if sup.child.running():
                code = sup.child.stop(timeout_s=15)
                # uvicorn re-raises the SIGTERM it handled, so -15 is a clean stop too.
                how = "" if code in (0, -signal.SIGTERM) else f" (exit code {code})"
                say(f"{sup.child.name} (pid {sup.child.pid}) stopped{how}")
        AccountStore(control_plane(self.settings)).drop_runtime()
