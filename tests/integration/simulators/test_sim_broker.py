"""The simulator against the real broker: what subscribers see is exactly the plan, faults
included (Last Wills fired by the broker itself), for a whole fleet in one process."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulators.feed import read_feed
from simulators.plan import Action, Connect, Disconnect, Publish
from simulators.simulation import Simulation
from tests.conftest import PARTNERS_FILE
from tests.integration.conftest import Broker
from tests.integration.mqtt_support import Message, Subscriber
from tests.unit.simulators.sim_support import EVERY_FAULT, START_MS, make_world, published

# Retained statuses left on the session broker are cleared after the module (conftest).
pytestmark = pytest.mark.usefixtures("no_retained_leftovers")


def credentials(broker: Broker) -> dict[str, tuple[str, str]]:
    return {scope: (scope, pw) for scope, pw in broker.passwords.items() if scope != "_ingest"}


def run(broker: Broker, text: str, prefix: str) -> tuple[list[Action], Simulation]:
    journal: list[Action] = []
    sim = Simulation(
        make_world(text, broker.registry).scenario,
        broker.registry,
        broker.host,
        broker.port,
        credentials(broker),
        start_ms=START_MS,
        client_prefix=prefix,
        journal=journal.append,
    )
    stats = sim.run(threading.Event())
    assert stats.completed and stats.errors == {}
    return journal, sim


def per_topic(messages: list[Message]) -> dict[str, list[tuple[bytes, bool]]]:
    out: dict[str, list[tuple[bytes, bool]]] = defaultdict(list)
    for topic, payload, retain in messages:
        out[topic].append((payload, retain))
    return out


def test_every_fault_reaches_the_broker_as_planned(broker: Broker, subscriber: Subscriber) -> None:
    journal, sim = run(broker, EVERY_FAULT, "faults")
    expected = [(m.topic, m.payload, m.retain) for m in published(journal)]
    got = subscriber.wait_for(len(expected))
    got = subscriber.settle(0.5)

    # Exactly the planned messages, byte for byte, each topic in order (across connections
    # the broker may interleave).
    assert per_topic(got) == per_topic(expected)
    assert sorted(got) == sorted(expected)

    def status_of(device: str) -> list[tuple[str, bool]]:
        topic = f"mainport/{device}/status"
        return [
            (orjson.loads(p)["state"], r) for t, p, r in got if t == topic and p.startswith(b"{")
        ]

    # Unclean disconnect: the `offline` came from the broker (the Last Will, retained) —
    # no client ever published it.
    drop = next(a for a in journal if isinstance(a, Disconnect) and not a.clean)
    assert drop.will is not None
    assert (drop.will.topic, drop.will.payload, True) in got
    sent_by_clients = {(a.topic, a.payload) for a in journal if isinstance(a, Publish)}
    assert (drop.will.topic, drop.will.payload) not in sent_by_clients
    assert status_of("woonbron/heat-crabbehof-02") == [
        ("online", True),
        ("offline", True),
        ("online", True),
    ]

    # Clean offline: the device said it itself, and DISCONNECT kept the broker from firing
    # its will (a plain `offline`).
    assert status_of("woonbron/heat-crabbehof-01") == [
        ("online", True),
        ("offline", True),
        ("online", True),
    ]
    assert ("mainport/woonbron/heat-crabbehof-01/status", b"offline", True) not in got

    # Flapping: four wills, five onlines.
    assert [s for s, _ in status_of("woonbron/temp-sterrenburg-14")] == ["online"] + [
        "offline",
        "online",
    ] * 4

    # Silent: nothing published for 15 minutes, yet one connection throughout (no will, no
    # new `online`, one connection in the broker's log).
    silent = [t for t, p, _ in got if "temp-sterrenburg-12" in t]
    assert status_of("woonbron/temp-sterrenburg-12") == [("online", True)]
    assert len(silent) > 1
    links = sim.fleet.links if sim.fleet else {}
    assert (
        links["woonbron/temp-sterrenburg-12"].connections,
        links["woonbron/temp-sterrenburg-12"].lost,
    ) == (1, 0)
    assert links["woonbron/temp-sterrenburg-14"].connections == 5

    # Port down, counter reset: as the collector published them.
    def samples(port: str) -> list[dict[str, Any]]:
        docs = [orjson.loads(p) for t, p, _ in got if t.endswith(f"{port}/counters")]
        return [d for d in docs if isinstance(d["in_octets"], int) and d["in_octets"] >= 0]

    assert {c["oper_status"] for c in samples("xe-0-0-2")} == {"up", "down"}
    octets = [c["in_octets"] for c in samples("xe-0-0-1")]
    assert sum(1 for a, b in itertools.pairwise(octets) if b < a) == 1


def test_malformed_payloads_reach_the_broker_and_are_rejected_for_their_reason(
    broker: Broker, subscriber: Subscriber
) -> None:
    from domain.messages import Rejected, parse_message

    text = EVERY_FAULT.replace("name: every-fault", "name: malformed")
    journal, _ = run(broker, text, "malformed")
    planned_bad = [m for m in published(journal) if m.note.reject]
    got = subscriber.wait_for(len(published(journal)))
    when = {(m.topic, m.payload): m.t_ms for m in planned_bad}

    reasons = []
    for topic, payload, _ in got:
        if (topic, payload) in when:
            verdict = parse_message(topic, payload, when[(topic, payload)] * 1_000_000)
            assert isinstance(verdict, Rejected)
            reasons.append(verdict.reason)
    assert sorted(reasons) == sorted(m.note.reject for m in planned_bad if m.note.reject)
    assert len(set(reasons)) == 17


def test_a_thousand_devices_in_one_process_each_with_its_own_last_will(
    broker: Broker, subscriber: Subscriber
) -> None:
    text = (
        "name: thousand\nduration: 3m\nspeed: max\nports: false\n"
        "partners: [woonbron]\n"
        "devices:\n  - {partner: woonbron, count: 1000, id: 'meter-{n:04d}', kind: energy-meter}\n"
        "faults:\n"
        + "".join(
            f"  - {{kind: disconnect, device: woonbron/meter-{n:04d}, at: 90s, for: 10m}}\n"
            for n in range(1, 1001, 100)
        )
    )
    threads = threading.active_count()
    journal, sim = run(broker, text, "k")

    assert threading.active_count() == threads  # no thread per client
    connects = [a for a in journal if isinstance(a, Connect)]
    assert len({a.link for a in connects}) == 1004
    got = subscriber.wait_for(len(published(journal)))
    online = [t for t, p, _ in got if t.endswith("/status") and b'"online"' in p]
    wills = [t for t, p, r in got if t.endswith("/status") and b'"offline"' in p and r]
    assert len(set(online)) == 1004
    assert sorted(wills) == sorted(
        f"mainport/woonbron/meter-{n:04d}/status" for n in range(1, 1001, 100)
    )
    assert sim.stats.connects == 1004


def test_the_cli_dry_run_is_deterministic_and_writes_the_truth(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(EVERY_FAULT)
    env = {"MAINPORT_PARTNERS_FILE": str(PARTNERS_FILE), "PATH": "/usr/bin:/bin"}

    def simulate(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "mainport",
                "simulate",
                str(scenario),
                "--dry-run",
                "--start",
                "2026-01-01T00:00:00Z",
                "--out",
                str(tmp_path / name),
                *extra,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = simulate("a.gz", "--truth", str(tmp_path / "truth.json"))
    second = simulate("b.gz")
    third = simulate("c.gz", "--seed", "12")

    assert (first.returncode, second.returncode, third.returncode) == (0, 0, 0), first.stderr
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert (tmp_path / "a.gz").read_bytes() != (tmp_path / "c.gz").read_bytes()
    records = list(read_feed(tmp_path / "a.gz"))
    assert "wrote" in first.stderr and f"{len(records)} messages" in first.stderr
    truth = orjson.loads((tmp_path / "truth.json").read_bytes())
    assert truth["format"] == "mainport-truth" and truth["start"] == "2026-01-01T00:00:00Z"
    assert len(truth["devices"]) == 9 and len(truth["ports"]) == 3


def test_the_cli_names_a_bad_scenario_line(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "name: x\nfaults:\n  - {kind: silent, device: nope/nope, at: 1m, for: 1m}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mainport", "simulate", str(scenario), "--dry-run", "--out", "-"],
        env={"MAINPORT_PARTNERS_FILE": str(PARTNERS_FILE), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert f"{scenario}:3: faults.0.device: unknown device 'nope/nope'" in result.stderr


def test_catch_up_publishes_the_past_at_once_then_keeps_to_the_clock(broker: Broker) -> None:
    """How `mainport up --simulate` goes live where its history backfill ended: real time
    whose start lies in the past sends that past as fast as the broker acks, then waits."""
    from simulators.scenario import parse_scenario
    from simulators.simulation import SimulationError
    from tests.conftest import wait_for

    source = parse_scenario("name: catch-up\npartners: [woonbron]\nports: false\n", "t.yaml")
    now_ms = int(time.time() * 1000)
    journal: list[Action] = []
    sim = Simulation(
        source,
        broker.registry,
        broker.host,
        broker.port,
        credentials(broker),
        start_ms=now_ms - 30 * 60_000,
        client_prefix="catchup",
        journal=journal.append,
        catch_up=True,
    )
    stop = threading.Event()
    runner = threading.Thread(target=sim.run, args=(stop,), daemon=True)
    runner.start()
    try:
        # Half an hour of 60 s and 120 s samples: the last ones lie within 2 minutes of now.
        wait_for(
            lambda: sum(isinstance(a, Publish) for a in journal) >= 4 * 20, 30, "the past sent"
        )
        wait_for(lambda: max(a.t_ms for a in journal) >= now_ms - 120_000, 30, "up to now")
    finally:
        stop.set()
        runner.join(15)
    assert max(a.t_ms for a in journal) <= time.time() * 1000  # never ahead of the clock
    with pytest.raises(SimulationError, match="real time"):
        Simulation(
            source.scenario.model_copy(update={"speed": "max", "duration": 60.0}),
            broker.registry,
            broker.host,
            broker.port,
            credentials(broker),
            catch_up=True,
        )
