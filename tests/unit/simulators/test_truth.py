"""Ground truth against cases computed by hand from SPEC's definitions."""

from __future__ import annotations

import io
import itertools
import zlib

import orjson
import pytest

from domain.registry import Registry, parse_registry
from domain.timestamps import format_rfc3339
from simulators.feed import FeedWriter
from simulators.models import phase_ms
from simulators.simulation import dry_run
from simulators.truth import TruthBuilder
from simulators.truth_rules import (
    Delta,
    deltas,
    down_spans,
    incidents,
    p95,
    port_down_spans,
    subtract,
)
from tests.unit.simulators.sim_support import EVERY_FAULT, START_MS, make_world, planned, published

S = START_MS
MIN = 60_000

SMALL = """
name: hand-computed
seed: 5
duration: 1h
partners: [woonbron]
faults:
  - {kind: port_down, port: dmd-dist-2/ge-0-0-7, at: 10m, for: 5m}
  - {kind: silent, device: woonbron/heat-crabbehof-01, at: 20m, for: 10m}
  - {kind: offline, device: woonbron/heat-crabbehof-01, at: 40m, for: 5m}
  - {kind: disconnect, device: woonbron/heat-crabbehof-01, at: 50m, for: 3m}
  - {kind: counter_reset, port: dmd-dist-2/ge-0-0-7, at: 35m}
"""


@pytest.fixture(scope="module")
def truth(registry: Registry) -> dict[str, object]:
    world = make_world(SMALL, registry)
    builder = TruthBuilder(world)
    for action in planned(world):
        builder.add(action)
    return builder.result(world.end_ms or 0)


def iso(ms: int) -> str:
    return format_rfc3339(ms * 1_000_000)


def test_device_down_intervals_and_causes_match_the_hand_computed_case(
    truth: dict[str, object],
) -> None:
    # heat-crabbehof-01 reports every 60 s at S + ph + k·60 s, so T = 180 s.
    ph = phase_ms(5, zlib.crc32(b"woonbron/heat-crabbehof-01"), 60_000)
    # The port (60 s samples at S + pp + k·60 s) is down from its first sample at or after
    # 10m until its first sample at or after 15m.
    pp = phase_ms(5, zlib.crc32(b"_network/dmd-dist-2/ge-0-0-7"), 60_000)
    expected = [
        # port down 10m–15m: last report S+9m+ph, down from +T until S+15m+ph; port down then
        (S + 12 * MIN + ph, S + 15 * MIN + ph, "link"),
        # silent 20m–30m: last report S+19m+ph, down from +T until the next, S+30m+ph
        (S + 22 * MIN + ph, S + 30 * MIN + ph, "timeout"),
        # clean offline at 40m (its own `offline`), back online at 45m
        (S + 40 * MIN, S + 45 * MIN, "offline"),
        # unclean at 50m: the Last Will says offline at 50m; back online at 53m
        (S + 50 * MIN, S + 53 * MIN, "offline"),
    ]
    device = next(d for d in truth["devices"] if d["device"] == "heat-crabbehof-01")  # type: ignore[attr-defined]

    assert [(i["start"], i["end"], i["cause"]) for i in device["incidents"]] == [
        (iso(a), iso(b), cause) for a, b, cause in expected
    ]
    assert device["downtime_s"] == 180 + 480 + 300 + 180
    assert device["monitored_s"] == 3600  # from its `online` at S to the end
    assert device["uptime_pct"] == pytest.approx(100 * (1 - 1140 / 3600))
    assert {i["subject"] for i in device["incidents"]} == {"heat-crabbehof-01"}
    port = truth["ports"][0]  # type: ignore[index]
    # A port's own incidents are named `switch/port`, as the API names them; `offline` is
    # the held-down cause (its `down` samples), the SPEC's word for the device case.
    assert [(i["subject"], i["start"], i["end"], i["cause"]) for i in port["incidents"]] == [
        ("dmd-dist-2/ge-0-0-7", iso(S + 10 * MIN + pp), iso(S + 15 * MIN + pp), "offline")
    ]
    assert port["downtime_s"] == 300


def test_port_bytes_are_the_sum_of_deltas_with_the_reset_counting_from_zero(
    registry: Registry, truth: dict[str, object]
) -> None:
    world = make_world(SMALL, registry)
    samples = [
        orjson.loads(m.payload) for m in published(planned(world)) if m.topic.endswith("/counters")
    ]
    by_hand = 0
    for old, new in itertools.pairwise(samples):
        by_hand += (
            new["in_octets"] - old["in_octets"]
            if new["in_octets"] >= old["in_octets"]
            else new["in_octets"]
        )
    port = truth["ports"][0]  # type: ignore[index]

    assert port["bytes_in"] == by_hand > 0
    assert len(port["resets"]) == 1 and port["glitches"] == []
    partner = truth["partners"][0]  # type: ignore[index]
    assert (partner["partner"], partner["bytes_in"]) == ("woonbron", by_hand)
    assert partner["p95_buckets"] == 12


def test_partner_usage_counts_messages_once_and_rejections_by_reason(registry: Registry) -> None:
    text = SMALL + (
        "  - {kind: duplicates, fraction: 0.3, targets: [woonbron/temp-sterrenburg-12]}\n"
        "  - {kind: malformed, fraction: 0.3, reasons: [malformed_json, bad_status],\n"
        "     targets: [woonbron/temp-sterrenburg-14]}\n"
    )
    world = make_world(text, registry)
    builder = TruthBuilder(world)
    actions = planned(world)
    for action in actions:
        builder.add(action)
    partner = builder.result(world.end_ms or 0)["partners"][0]
    messages = published(actions)
    valid = [
        m
        for m in messages
        if not m.note.reject and not m.note.duplicate and m.note.kind != "counters"
    ]

    assert partner["messages"] == len(valid)
    assert partner["mqtt_bytes"] == sum(len(m.payload) for m in valid)
    assert partner["duplicates"] == sum(1 for m in messages if m.note.duplicate) > 0
    bad = [m.note.reject for m in messages if m.note.reject]
    assert partner["rejected"] == {r: bad.count(r) for r in ("bad_status", "malformed_json")}


def test_every_delivered_message_is_in_exactly_one_count(registry: Registry) -> None:
    world = make_world(EVERY_FAULT, registry)
    builder = TruthBuilder(world)
    actions = planned(world)
    for action in actions:
        builder.add(action)
    truth = builder.result(world.end_ms or 0)
    partners = truth["partners"]
    counted = sum(
        p.get("messages", 0) + p["duplicates"] + sum(p["rejected"].values()) for p in partners
    )

    assert counted + sum(p["samples"] for p in truth["ports"]) == len(published(actions))
    network = next(p for p in partners if p["partner"] == "_network")
    assert network["duplicates"] > 0 and network["rejected"]


def test_down_spans_follow_the_spec() -> None:
    # observations every 60 s with a hole; T = 180 s; window ends at 1000 s
    obs = [0, 60, 120, 500, 560]
    assert down_spans([t * 1000 for t in obs], [], 180_000, 1_000_000) == [
        (300_000, 500_000),  # 120 + T until 500
        (740_000, 1_000_000),  # silence at the end: 560 + T until the end
    ]
    # an offline event holds until the next observation, even within T
    assert down_spans([0, 60_000, 90_000], [70_000], 180_000, 200_000) == [(70_000, 90_000)]
    # offline before the first observation is not monitored time
    assert down_spans([50_000], [10_000], 180_000, 100_000) == []


def test_incident_causes_prefer_the_link() -> None:
    spans = [(100, 200), (300, 400), (500, 600)]
    got = incidents(spans, [(100, 120), (300, 350)], [(90, 150)], 600)

    assert [(i.start, i.end, i.cause) for i in got] == [
        (100, 200, "link"),
        (300, 400, "offline"),
        (500, None, "timeout"),
    ]


def test_a_cause_is_read_where_the_counted_stretch_starts() -> None:
    # Down 100–400 (held by an offline event 100–250, then silence); unknown 150–300.
    counted = subtract([(100, 400)], [(150, 300)])
    assert counted == [(100, 150), (300, 400)]
    # After the unknown time the offline event no longer holds: it is a timeout there …
    assert [i.cause for i in incidents(counted, [(100, 250)], [], 1000)] == [
        "offline",
        "timeout",
    ]
    # … while a run still held at 300 stays `offline`, and a port down at 300 makes it `link`.
    assert [i.cause for i in incidents(counted, [(100, 350)], [], 1000)] == [
        "offline",
        "offline",
    ]
    assert [i.cause for i in incidents(counted, [(100, 350)], [(300, 320)], 1000)] == [
        "offline",
        "link",
    ]


def test_subtract_keeps_what_lies_outside_the_removed_spans() -> None:
    removed = [(10, 20), (30, 40)]
    assert subtract([(0, 50)], removed) == [(0, 10), (20, 30), (40, 50)]
    assert subtract([(12, 18), (22, 28), (35, 45)], removed) == [(22, 28), (40, 45)]
    assert subtract([(0, 10), (20, 30)], removed) == [(0, 10), (20, 30)]  # touching only
    assert subtract([(5, 15)], []) == [(5, 15)]


def test_port_down_spans_from_down_samples_and_silence() -> None:
    samples = [(0, True), (60, False), (120, False), (180, True), (600, True)]

    assert port_down_spans(samples, 180, 700) == [(60, 180), (360, 600)]


def test_a_port_driven_at_exactly_its_capacity_is_not_a_glitch() -> None:
    # 1 Mbps for 3 ms is 375 bytes; a float rate of 8·375/0.003 is not exactly 1e6.
    assert deltas([(0, 0, 0), (3, 375, 0)], 1.0)[0].glitch is False
    assert deltas([(0, 0, 0), (3, 376, 0)], 1.0)[0].glitch is True


def test_deltas_resets_and_glitches() -> None:
    # 1 Mbps port: at most 125,000 bytes per second
    samples = [(0, 1_000, 5), (10_000, 501_000, 10), (20_000, 400, 20), (30_000, 9_000_000, 30)]

    assert deltas(samples, 1.0) == [
        Delta(0, 10_000, 500_000, 5, reset=False, glitch_in=False, glitch_out=False),
        # a decrease: the new value
        Delta(10_000, 20_000, 400, 10, reset=True, glitch_in=False, glitch_out=False),
        # 7.2 Mbps > 1 Mbps inbound; the outbound delta of the same pair stays billed
        Delta(20_000, 30_000, 8_999_600, 10, reset=False, glitch_in=True, glitch_out=False),
    ]
    assert [(d.billed_in, d.billed_out) for d in deltas(samples, 1.0)] == [
        (500_000, 5),
        (400, 10),
        (0, 10),
    ]


def test_p95_takes_the_value_at_ceil_095_n_minus_1() -> None:
    assert p95([]) is None
    assert p95([5.0]) == 5.0
    assert p95([float(i) for i in range(1, 21)]) == 19.0  # n=20: index 18
    assert p95([float(i) for i in range(1, 22)]) == 20.0  # n=21: index ceil(19.95)-1 = 19


def test_maintenance_time_is_unknown_not_down() -> None:
    registry = parse_registry(
        "partners:\n"
        "  - id: woonbron\n    name: W\n"
        "    devices: [{id: m-1, interval_s: 60}]\n"
        "maintenance:\n"
        "  - {partner: '*', start: 2026-01-01T00:10:00Z, end: 2026-01-01T00:40:00Z}\n"
    )
    text = (
        "duration: 1h\nports: false\n"
        "faults:\n  - {kind: silent, device: woonbron/m-1, at: 20m, for: 30m}\n"
    )
    world = make_world(text, registry)
    builder = TruthBuilder(world)
    for action in planned(world):
        builder.add(action)
    device = builder.result(world.end_ms or 0)["devices"][0]
    ph = phase_ms(1, zlib.crc32(b"woonbron/m-1"), 60_000)

    # down S+22m+ph .. S+50m+ph; of that, S+40m .. S+50m+ph lies outside maintenance
    assert device["unknown_s"] == 1800
    assert device["downtime_s"] == (10 * MIN + ph) / 1000
    assert device["uptime_pct"] == pytest.approx(100 * (1 - (600 + ph / 1000) / 1800))
    # The incident is what is left outside it, its cause read where that begins.
    assert [(i["start"], i["end"], i["cause"]) for i in device["incidents"]] == [
        (iso(S + 40 * MIN), iso(S + 50 * MIN + ph), "timeout")
    ]


MAINTAINED = (
    "partners:\n"
    "  - id: woonbron\n    name: W\n"
    "    devices: [{id: m-1, port: p1}, {id: m-2, port: p1}, {id: m-3, port: p2}]\n"
    "    ports: [{switch: sw, port: p1, capacity_mbps: 1000},\n"
    "            {switch: sw, port: p2, capacity_mbps: 1000}]\n"
    "maintenance:\n"
    "  - {partner: woonbron, start: 2026-01-01T00:20:00Z, end: 2026-01-01T00:30:00Z}\n"
)


def test_an_outage_across_maintenance_is_two_incidents_and_one_inside_it_none() -> None:
    text = (
        "duration: 1h\n"
        "faults:\n"
        "  - {kind: offline, device: woonbron/m-1, at: 15m, for: 25m}\n"
        "  - {kind: disconnect, device: woonbron/m-2, at: 22m, for: 5m}\n"
        "  - {kind: port_down, port: sw/p2, at: 25m, for: 15m}\n"
    )
    world = make_world(text, parse_registry(MAINTAINED))
    builder = TruthBuilder(world)
    for action in planned(world):
        builder.add(action)
    truth = builder.result(world.end_ms or 0)
    devices = {d["device"]: d for d in truth["devices"]}
    pp = phase_ms(1, zlib.crc32(b"_network/sw/p2"), 60_000)

    # m-1 offline 15m–40m: before the window and after it, still held by its offline event.
    assert [(i["start"], i["end"], i["cause"]) for i in devices["m-1"]["incidents"]] == [
        (iso(S + 15 * MIN), iso(S + 20 * MIN), "offline"),
        (iso(S + 30 * MIN), iso(S + 40 * MIN), "offline"),
    ]
    assert devices["m-1"]["downtime_s"] == 900
    # m-2 dropped 22m–27m, inside the window: no incident, no downtime.
    assert (devices["m-2"]["incidents"], devices["m-2"]["downtime_s"]) == ([], 0)
    # m-3 sits behind the port, down from its first `down` sample after 25m until 40m: what
    # is left after the window starts at 30m, where the port is down too.
    m3 = devices["m-3"]["incidents"]
    assert [(i["start"], i["cause"]) for i in m3] == [(iso(S + 30 * MIN), "link")]
    port = truth["ports"][1]
    assert [(i["start"], i["end"], i["cause"]) for i in port["incidents"]] == [
        (iso(S + 30 * MIN), iso(S + 40 * MIN + pp), "offline")
    ]
    assert port["downtime_s"] == (10 * MIN + pp) / 1000


def test_the_truth_of_a_run_is_json(registry: Registry) -> None:
    world = make_world(SMALL, registry)
    builder = TruthBuilder(world)
    dry_run(world, FeedWriter(io.BytesIO()), truth=builder)
    doc = orjson.loads(orjson.dumps(builder.result(world.end_ms or 0)))

    assert doc["format"] == "mainport-truth" and doc["version"] == 1
    assert doc["start"] == "2026-01-01T00:00:00Z" and doc["end"] == "2026-01-01T01:00:00Z"
    assert {d["device"] for d in doc["devices"]} == {
        "heat-crabbehof-01",
        "heat-crabbehof-02",
        "temp-sterrenburg-12",
        "temp-sterrenburg-14",
    }
