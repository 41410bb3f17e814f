"""Alerts end to end: devices and a fibre port publish through a real broker, a real ingest and
deriver write InfluxDB, `mainport alert` evaluates and notifies a signed webhook and a real
Alertmanager (which routes to the test's own webhook). Asserted: what each receiver got —
count, content, order firing → resolved — through a restart of the evaluator in the middle,
a maintenance window and an ingest outage."""

from __future__ import annotations

import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from controlplane.alert_tables import alert_deliveries
from controlplane.db import open_database, write_tx
from controlplane.registry_store import insert_maintenance, seed
from core.processes import Child
from domain.registry import MaintenanceWindow, Registry, parse_registry
from tests.conftest import wait_for
from tests.integration.alert.receivers import HttpSink, start_alertmanager, start_sink
from tests.integration.conftest import Broker, run_broker, stack_env
from timeseries.client import InfluxClient

REGISTRY_YAML = """
partners:
  - id: acme
    name: Acme
    sla_target_pct: 99.5
    devices:
      - {id: l0, interval_s: 1, port: p1}
      - {id: l1, interval_s: 1, port: p1}
      - {id: l2, interval_s: 1, port: p1}
      - {id: l3, interval_s: 1, port: p1}
      - {id: l4, interval_s: 1, port: p1}
      - {id: solo, interval_s: 1, port: p2}
      - {id: quiet, interval_s: 1, port: p2}
      - {id: flappy, interval_s: 1, port: p2}
    ports:
      - {switch: sw1, port: p1, capacity_mbps: 1000, interval_s: 1}
      - {switch: sw1, port: p2, capacity_mbps: 1000, interval_s: 1}
  - id: beta
    name: Beta
    devices:
      - {id: b1, interval_s: 1}
"""
LINKED = ["l0", "l1", "l2", "l3", "l4"]
DEVICES = {"acme": [*LINKED, "solo", "quiet", "flappy"], "beta": ["b1"]}
CLEAR_S = 4


@dataclass
class Feed:
    """Publishes every live device's telemetry and both ports' counters every 0.3 s."""

    broker: Broker
    alive: set[tuple[str, str]] = field(default_factory=set)
    port_up: dict[str, bool] = field(default_factory=lambda: {"p1": True, "p2": True})
    stop: threading.Event = field(default_factory=threading.Event)
    clients: dict[str, mqtt.Client] = field(default_factory=dict)

    def start(self) -> None:
        for scope in ("acme", "beta", "_network"):
            self.clients[scope] = self.broker.client(scope)
        self.alive = {(p, d) for p, devices in DEVICES.items() for d in devices}
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        octets = 0
        while not self.stop.wait(0.3):
            octets += 1000
            for partner, device in sorted(self.alive):
                body = json.dumps({"metrics": {"v": 1.0}})
                self.clients[partner].publish(f"mainport/{partner}/{device}/telemetry", body, 1)
            for port, up in self.port_up.items():
                body = json.dumps(
                    {"in_octets": octets, "out_octets": octets,
                     "oper_status": "up" if up else "down"}
                )  # fmt: skip
                self.clients["_network"].publish(f"mainport/_network/sw1/{port}/counters", body, 1)

    def status(self, partner: str, device: str, online: bool) -> None:
        topic = f"mainport/{partner}/{device}/status"
        self.clients[partner].publish(
            topic, "online" if online else "offline", 1
        ).wait_for_publish()
        if online:
            self.alive.add((partner, device))
        else:
            self.alive.discard((partner, device))

    def close(self) -> None:
        self.stop.set()
        for client in self.clients.values():
            client.loop_stop()
            client.disconnect()


@dataclass
class Stack:
    env: dict[str, str]
    db_url: str
    sink: HttpSink
    secret: str
    feed: Feed
    spawn: Callable[[str, list[str], dict[str, str]], Child]
    influx: InfluxClient
    children: dict[str, Child] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> Child:
        self.children[name] = self.spawn(f"{name}-{len(self.children)}", args, self.env)
        return self.children[name]

    def hooks(self) -> list[dict[str, Any]]:
        """The signed webhook's notifications, each signature checked."""
        found = []
        for r in self.sink.on("/hook"):
            sig = r.headers.get("X-Mainport-Signature", "")
            want = "sha256=" + hmac.new(self.secret.encode(), r.body, "sha256").hexdigest()
            assert hmac.compare_digest(sig, want), "webhook signature does not verify"
            found.append(r.json())
        return found

    def by_key(self, kind: str, subject: str) -> list[dict[str, Any]]:
        return [m for m in self.hooks() if m["kind"] == kind and m["subject"] == subject]

    def am_statuses(self, alert_id: str) -> list[str]:
        """What Alertmanager routed for one alert id: firing / resolved, in order, repeats cut."""
        seen: list[str] = []
        for r in self.sink.on("/am"):
            for a in r.json()["alerts"]:
                if a["labels"].get("alert_id") == alert_id and (
                    not seen or seen[-1] != a["status"]
                ):
                    seen.append(a["status"])
        return seen


@pytest.fixture
def stack(
    tmp_path: Path,
    influx_db: InfluxClient,
    spawn: Callable[[str, list[str], dict[str, str]], Child],
) -> Iterator[Stack]:
    registry: Registry = parse_registry(REGISTRY_YAML)
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(REGISTRY_YAML)
    broker, broker_child = run_broker(tmp_path / "broker", registry, bind_client_ids=False)
    sink, server = start_sink()
    am_url, am_child = start_alertmanager(tmp_path, sink.url("/am"))
    db_url = f"sqlite:///{tmp_path / 'control' / 'mainport.db'}"
    seed(open_database(db_url), registry, at=datetime.now(UTC) - timedelta(days=1), actor="test")
    env = stack_env(
        broker, influx_db, tmp_path / "data",
        MAINPORT_PARTNERS_FILE=str(partners_file),
        MAINPORT_DATABASE_URL=db_url,
        MAINPORT_DERIVE_POLL_S="0.2",
        MAINPORT_ALERT_EVAL_S="0.3",
        MAINPORT_ALERT_CLEAR_S=str(CLEAR_S),
        MAINPORT_ALERT_ALERTMANAGER_URL=am_url,
        MAINPORT_ALERT_ALERTMANAGER_RESEND_S="2",
        MAINPORT_REGISTRY_POLL_S="0.2",
    )  # fmt: skip
    add = ["alerts", "receiver", "add", "webhook", sink.url("/hook")]
    added = subprocess.run(
        [sys.executable, "-m", "mainport", *add],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    secret = added.stdout.strip()
    assert len(secret) >= 32 and secret not in added.stderr
    feed = Feed(broker)
    s = Stack(env, db_url, sink, secret, feed, spawn, influx_db)
    s.start("ingest", ["ingest"])
    s.start("derive", ["derive"])
    feed.start()
    yield s
    feed.close()
    for child in s.children.values():
        child.stop()
    am_child.stop()
    server.shutdown()
    server.server_close()
    broker_child.stop()


def _monitored(influx: InfluxClient) -> int:
    (series,) = influx.query('SELECT "last" FROM "derived"."marks" GROUP BY "subject"')
    return len(series)


def test_alerts_end_to_end(stack: Stack) -> None:
    # Every device and both ports monitored, nothing wrong: nothing fires.
    wait_for(lambda: _monitored(stack.influx) == 11, 60, "every subject derived")
    alert = stack.start("alert", ["alert"])
    time.sleep(3)
    assert stack.hooks() == [], "a clean stack fired"

    # Four faults at once: an offline event, a silence, a port down with five devices behind
    # it, a flapping device.
    stack.feed.status("acme", "solo", online=False)
    stack.feed.alive.discard(("acme", "quiet"))
    stack.feed.port_up["p1"] = False
    for device in LINKED:
        stack.feed.alive.discard(("acme", device))
    flapping = threading.Event()

    def flap() -> None:
        while not flapping.is_set():
            stack.feed.status("acme", "flappy", online=False)
            flapping.wait(1.0)
            stack.feed.status("acme", "flappy", online=True)
            flapping.wait(1.0)

    threading.Thread(target=flap, daemon=True).start()
    wait_for(
        lambda: (
            {(m["kind"], m["subject"]) for m in stack.hooks()}
            >= {("device", "solo"), ("device", "quiet"), ("link", "sw1/p1"), ("device", "flappy")}
        ),
        60,
        "four firings",
    )
    time.sleep(4)  # flapping goes on: it must not page again
    (link,) = stack.by_key("link", "sw1/p1")
    assert link["event"] == "firing" and link["devices"] == LINKED and link["cause"] == "link"
    assert not [m for m in stack.hooks() if m["subject"] in LINKED], (
        "a device behind the link paged"
    )
    (solo,) = stack.by_key("device", "solo")
    assert solo["cause"] == "offline"
    (quiet,) = stack.by_key("device", "quiet")
    assert quiet["cause"] == "timeout"
    assert len(stack.by_key("device", "flappy")) == 1

    # The evaluator stops in the middle; everything recovers while it is away.
    alert.stop()
    flapping.set()
    stack.feed.status("acme", "solo", online=True)
    stack.feed.status("acme", "flappy", online=True)
    stack.feed.alive.add(("acme", "quiet"))
    stack.feed.port_up["p1"] = True
    stack.feed.alive.update(("acme", d) for d in LINKED)
    time.sleep(2)
    stack.start("alert", ["alert"])
    keys = [("device", "solo"), ("device", "quiet"), ("link", "sw1/p1"), ("device", "flappy")]
    wait_for(lambda: all(len(stack.by_key(*k)) == 2 for k in keys), 60, "every resolve, once")
    for key in keys:
        firing, resolved = stack.by_key(*key)
        assert (firing["event"], resolved["event"]) == ("firing", "resolved"), key
        assert firing["id"] == resolved["id"] and resolved["resolved"] is not None
    # Alertmanager got the same alerts, labelled, and routed firing → resolved.
    wait_for(
        lambda: all(stack.am_statuses(stack.by_key(*k)[0]["id"]) == ["firing", "resolved"]
                    for k in keys),
        60, "Alertmanager's routed firing and resolved",
    )  # fmt: skip
    labels = next(
        a["labels"] for r in stack.sink.on("/am") for a in r.json()["alerts"]
        if a["labels"].get("alert_id") == link["id"]
    )  # fmt: skip
    assert labels["partner"] == "acme" and labels["port"] == "sw1/p1"
    assert labels["cause"] == "link" and labels["severity"] == "critical"

    # The outbox: each notification delivered once per receiver.
    with open_database(stack.db_url).connect() as conn:
        rows = list(conn.execute(select(alert_deliveries)))
    assert all(r.delivered_ns is not None for r in rows)
    assert len({(r.alert_id, r.seq, r.receiver) for r in rows}) == len(rows)

    # A silence across a maintenance window: recorded suppressed, fires at the window's end.
    now = datetime.now(UTC)
    window = MaintenanceWindow(
        partner="beta", start=now - timedelta(seconds=1), end=now + timedelta(seconds=12)
    )
    with write_tx(open_database(stack.db_url)) as (conn, _):
        insert_maintenance(conn, window, at=now, actor="test")
    time.sleep(1)
    stack.feed.alive.discard(("beta", "b1"))
    wait_for(lambda: _suppressed(stack, "b1"), 30, "the suppression recorded")
    assert stack.by_key("device", "b1") == []
    wait_for(lambda: len(stack.by_key("device", "b1")) == 1, 60, "b1 firing at the window end")
    (b1,) = stack.by_key("device", "b1")
    assert b1["since"] >= window.end.isoformat().replace("+00:00", "")[:19]
    stack.feed.alive.add(("beta", "b1"))
    wait_for(lambda: len(stack.by_key("device", "b1")) == 2, 60, "b1 resolved")


def _suppressed(stack: Stack, device: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "mainport", "alerts", "--state", "suppressed", "--json"],
        env=stack.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return any(r["subject"] == device for r in rows)


def test_an_ingest_outage_is_one_platform_alert_and_no_partner_alert(stack: Stack) -> None:
    wait_for(lambda: _monitored(stack.influx) == 11, 60, "every subject derived")
    stack.start("alert", ["alert"])
    time.sleep(2)
    stack.children["ingest"].stop()  # devices go on publishing; nobody receives
    wait_for(lambda: stack.by_key("platform", "ingest_down") != [], 90, "the platform alert")
    time.sleep(2)
    stack.start("ingest", ["ingest"])
    wait_for(lambda: len(stack.by_key("platform", "ingest_down")) == 2, 90, "its resolve")
    time.sleep(CLEAR_S + 2)  # what the restarted ingest brings in must not page either
    kinds = [(m["kind"], m["subject"], m["event"]) for m in stack.hooks()]
    assert kinds == [
        ("platform", "ingest_down", "firing"),
        ("platform", "ingest_down", "resolved"),
    ]
