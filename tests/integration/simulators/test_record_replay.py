"""Record and replay through the real broker and the real CLI: what was recorded replays to the
same topics and payloads in the same order; a damaged file is reported by line and the good
lines still replay."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from core.processes import Child
from domain.timestamps import parse_timestamp
from simulators.feed import Damaged, FeedWriter, Record, read_feed
from simulators.plan import plan
from simulators.replay import Replayer
from simulators.simulation import Simulation
from tests.conftest import PARTNERS_FILE, wait_for
from tests.integration.conftest import Broker
from tests.integration.mqtt_support import Message, Subscriber
from tests.unit.simulators.sim_support import EVERY_FAULT, START_MS, make_world, published

# Retained statuses left on the session broker are cleared after the module (conftest).
pytestmark = pytest.mark.usefixtures("no_retained_leftovers")


def cli_env(broker: Broker, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    sims = {scope: [scope, pw] for scope, pw in broker.passwords.items() if scope != "_ingest"}
    env.update(
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE),
        MAINPORT_MQTT_HOST=broker.host,
        MAINPORT_MQTT_PORT=str(broker.port),
        MAINPORT_SIM_CREDENTIALS=json.dumps(sims),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def replay(broker: Broker, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mainport", "replay", str(path), *args],
        env=cli_env(broker),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def as_messages(records: list[Record | Damaged]) -> list[Message]:
    return [(r.topic, r.payload, r.retain) for r in records if isinstance(r, Record)]


def per_topic(messages: list[Message]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for topic, payload, _ in messages:
        out[topic].append(payload)
    return out


def test_record_then_replay_gives_the_same_topics_and_payloads_in_the_same_order(
    broker: Broker,
    subscriber: Subscriber,
    spawn: Callable[..., Child],
    tmp_path: Path,
) -> None:
    sim = Simulation(
        make_world(EVERY_FAULT, broker.registry).scenario,
        broker.registry,
        broker.host,
        broker.port,
        {s: (s, p) for s, p in broker.passwords.items() if s != "_ingest"},
        start_ms=START_MS,
        client_prefix="rec",
    )
    expected = [(m.topic, m.payload, m.retain) for m in published(list(plan(sim.world)))]
    feed = tmp_path / "feed.jsonl.gz"
    env = cli_env(broker, MAINPORT_MQTT_PASSWORD=broker.passwords["_ingest"])
    recorder = spawn("record", ["record", "--out", str(feed), "--count", str(len(expected))], env)
    wait_for(lambda: "recording" in recorder.tail(), 30, "the recorder to subscribe")

    assert sim.run(threading.Event()).completed
    wait_for(lambda: not recorder.running(), 30, "the recorder to stop after its count")
    assert recorder.exit_code() == 0, recorder.tail()

    recorded = list(read_feed(feed))
    assert all(isinstance(r, Record) and r.qos == 1 for r in recorded)
    # What the broker delivered: every planned message (wills with their retain flag), each
    # topic in order; receive times in order.
    assert per_topic(as_messages(recorded)) == per_topic(expected)
    assert sorted(as_messages(recorded)) == sorted(expected)
    times = [r.t for r in recorded if isinstance(r, Record)]
    assert times == sorted(times)

    got_before = len(subscriber.settle(0.3))
    result = replay(broker, feed, "--speed", "max", "--strict-order")
    assert result.returncode == 0, result.stderr
    assert f"replayed {len(expected):,} messages" in result.stderr
    assert "0 damaged lines; 0 errors" in result.stderr
    got = subscriber.wait_for(got_before + len(expected))[got_before:]
    assert got == as_messages(recorded)  # the same order, globally

    result = replay(broker, feed, "--speed", "max")
    assert result.returncode == 0, result.stderr
    again = subscriber.wait_for(got_before + 2 * len(expected))[got_before + len(expected) :]
    assert per_topic(again) == per_topic(as_messages(recorded))
    assert sorted(again) == sorted(as_messages(recorded))


def write_damaged_feed(path: Path, good: list[Message]) -> list[int]:
    """A feed with damaged lines among the good ones and a truncated end; returns the numbers
    of the damaged lines."""
    lines = [orjson.dumps({"format": "mainport-feed", "version": 1})]
    damaged: list[int] = []
    for i, (topic, payload, retain) in enumerate(good):
        if i in (3, 7, 8):
            lines.append(
                [b'{"t": 1, "topic": "a/b"', b"{}", b'{"t":1,"topic":"x","payload":"!!"}'][i % 3]
            )
            damaged.append(len(lines))
        lines.append(
            orjson.dumps(
                {
                    "t": 1000.0 + i,
                    "topic": topic,
                    "qos": 1,
                    "retain": retain,
                    "payload": base64.b64encode(payload).decode(),
                }
            )
        )
    data = gzip.compress(b"\n".join(lines) + b"\n" + b'{"t": 5000, "topic": "late"' * 400)
    path.write_bytes(data[:-40])  # cut inside the compressed stream
    return damaged


def test_a_damaged_feed_is_reported_by_line_and_the_good_lines_still_replay(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    good = [
        ("mainport/woonbron/heat-crabbehof-01/telemetry", f'{{"n":{i}}}'.encode(), False)
        for i in range(12)
    ]
    good += [("mainport/_network/dmd-core-1/xe-0-0-1/counters", b"{}", False)]
    feed = tmp_path / "damaged.gz"
    damaged = write_damaged_feed(feed, good)

    result = replay(broker, feed, "--speed", "max", "--strict-order")

    assert result.returncode == 2
    reported = [line for line in result.stderr.splitlines() if ": skipped: " in line]
    assert [re.search(r":(\d+): skipped", line)[1] for line in reported[:3]] == [  # type: ignore[index]
        str(n) for n in damaged
    ]
    assert "not JSON" in reported[0] and "missing field 't'" in reported[1]
    assert "not valid base64" in reported[2]
    assert "truncated" in reported[3]
    assert "replayed 13 messages" in result.stderr and "4 damaged lines" in result.stderr
    assert subscriber.wait_for(13) == good


def test_replay_without_credentials_for_a_scope_counts_errors_and_goes_on(
    broker: Broker, subscriber: Subscriber, tmp_path: Path
) -> None:
    feed = tmp_path / "f.gz"
    with FeedWriter(feed) as out:
        out.write(1.0, "mainport/woonbron/x/telemetry", b"1", 1, False)
        out.write(2.0, "mainport/nobody/x/telemetry", b"2", 1, False)
        out.write(3.0, "elsewhere", b"3", 0, False)
        out.write(4.0, "mainport/woonbron/x/telemetry", b"4", 0, False)
    creds = {"woonbron": ("woonbron", broker.passwords["woonbron"])}

    stats = Replayer(broker.host, broker.port, creds).run(feed)

    assert stats.messages == 2
    assert dict(stats.errors) == {
        "no credentials for scope 'nobody'": 1,
        "no credentials for scope ''": 1,
    }
    assert [p for _, p, _ in subscriber.wait_for(2)] == [b"1", b"4"]


def test_replay_keeps_the_original_spacing_scaled(broker: Broker, tmp_path: Path) -> None:
    feed = tmp_path / "spaced.gz"
    with FeedWriter(feed) as out:
        for i in range(5):
            out.write(100.0 + 0.5 * i, "mainport/woonbron/x/telemetry", b"%d" % i, 1, False)
    creds = {"woonbron": ("woonbron", broker.passwords["woonbron"])}

    began = time.monotonic()
    stats = Replayer(broker.host, broker.port, creds, speed=4.0).run(feed)

    # 2 s of recording at 4x cannot be done in less than 0.5 s (a lower bound only).
    assert time.monotonic() - began >= 0.5
    assert stats.messages == 5


def test_the_recorder_needs_a_password(broker: Broker, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mainport", "record", "--out", str(tmp_path / "x.gz")],
        env=cli_env(broker),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "MAINPORT_MQTT_PASSWORD" in result.stderr


# --- pure ---------------------------------------------------------------------------------


def test_rebased_replay_lands_now(broker: Broker, subscriber: Subscriber, tmp_path: Path) -> None:
    feed = tmp_path / "old.gz"
    with FeedWriter(feed) as out:
        out.write(
            1767225600.0,
            "mainport/woonbron/x/telemetry",
            b'{"ts":1767225600000,"metrics":{"a":1}}',
            1,
            False,
        )
    before = time.time()

    result = replay(broker, feed, "--speed", "max", "--rebase-time")

    assert result.returncode == 0, result.stderr
    ((_, payload, _),) = subscriber.wait_for(1)
    ts = parse_timestamp(orjson.loads(payload)["ts"]) / 1e9
    assert before - 1 <= ts <= time.time() + 1
