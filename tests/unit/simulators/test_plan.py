"""The plan of a run (pure): deterministic bytes, and every fault shaped as specified."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import orjson
import pytest

from domain.messages import Counters, Rejected, Status, Telemetry, TelemetryBatch, parse_message
from domain.registry import Registry
from domain.timestamps import parse_timestamp
from simulators.feed import FeedWriter, read_feed
from simulators.plan import Connect, Disconnect, Publish
from simulators.scenario import DEVICE_REASONS, PORT_REASONS
from simulators.simulation import dry_run
from tests.unit.simulators.sim_support import EVERY_FAULT, START_MS, make_world, planned, published

MIN = 60_000


@pytest.fixture(scope="module")
def actions(registry: Registry) -> list[Connect | Publish | Disconnect]:
    return planned(make_world(EVERY_FAULT, registry))


def of(
    actions: list[Connect | Publish | Disconnect], link: str
) -> list[Connect | Publish | Disconnect]:
    return [a for a in actions if a.link == link]


def ts_ms(payload: bytes) -> int:
    doc = orjson.loads(payload)
    raw = doc["ts"] if isinstance(doc, dict) else doc[0]["bt"]
    return parse_timestamp(raw) // 1_000_000


def test_same_scenario_and_seed_give_the_same_bytes(registry: Registry, tmp_path: Path) -> None:
    files = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        world = make_world(EVERY_FAULT.replace("seed: 11", f"seed: {seed}"), registry)
        with FeedWriter(tmp_path / name) as out:
            dry_run(world, out)
        files.append((tmp_path / name).read_bytes())

    assert files[0] == files[1]
    assert files[0] != files[2]
    assert sum(1 for _ in read_feed(tmp_path / "a")) > 500


def test_messages_do_not_depend_on_the_speed(registry: Registry) -> None:
    fast = published(planned(make_world(EVERY_FAULT, registry)))
    slow = published(planned(make_world(EVERY_FAULT.replace("speed: max", "speed: 1"), registry)))

    assert [(m.topic, m.payload) for m in fast] == [(m.topic, m.payload) for m in slow]


def test_a_value_depends_on_its_time_not_on_when_the_run_started(registry: Registry) -> None:
    text = "partners: [woonbron]\nduration: 1h\nports: false\n"
    early = published(planned(make_world(text, registry)))
    late = published(planned(make_world(text, registry, START_MS + 7 * MIN)))
    by_time = {(m.topic, m.note.times): m.payload for m in early if m.note.kind == "telemetry"}

    shared = [m for m in late if (m.topic, m.note.times) in by_time]
    assert len(shared) > 50
    assert all(m.payload == by_time[(m.topic, m.note.times)] for m in shared)


@pytest.mark.parametrize("batch", [1, 10])
def test_the_ingest_judges_every_message_as_planned(registry: Registry, batch: int) -> None:
    messages = published(planned(make_world(EVERY_FAULT, registry), batch))
    kinds = {
        Telemetry: "telemetry",
        TelemetryBatch: "telemetry",
        Status: "status",
        Counters: "counters",
    }

    for m in messages:
        parsed = parse_message(m.topic, m.payload, m.t_ms * 1_000_000)
        if isinstance(parsed, Rejected):
            assert parsed.reason == m.note.reject, (m.topic, m.payload[:80])
            continue
        assert m.note.reject is None, (m.topic, m.payload[:80])
        assert kinds[type(parsed)] == m.note.kind
        items = parsed.items if isinstance(parsed, TelemetryBatch) else (parsed,)
        assert tuple(i.ts_ns // 1_000_000 for i in items) == m.note.times
        assert all(i.ts_from_device for i in items)


def test_malformed_payloads_cover_every_reason_the_acl_lets_through(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    reasons = {m.note.reject for m in published(actions) if m.note.reject}

    assert reasons == set(DEVICE_REASONS) | set(PORT_REASONS)


def test_clean_offline_says_offline_disconnects_and_comes_back(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    seq = [
        a
        for a in of(actions, "woonbron/heat-crabbehof-01")
        if 9 * MIN < a.t_ms - START_MS <= 15 * MIN
    ]
    kinds = [type(a).__name__ for a in seq]

    assert kinds[-4:] == ["Publish", "Disconnect", "Connect", "Publish"]
    offline, gone, back, online = seq[-4:]
    assert (
        isinstance(offline, Publish)
        and isinstance(gone, Disconnect)
        and isinstance(online, Publish)
    )
    assert orjson.loads(offline.payload)["state"] == "offline" and offline.retain
    assert gone.clean and gone.will is None
    assert (offline.t_ms, back.t_ms) == (START_MS + 10 * MIN, START_MS + 15 * MIN)
    assert orjson.loads(online.payload)["state"] == "online" and online.retain
    own = of(actions, "woonbron/heat-crabbehof-01")
    assert [a for a in own if offline.t_ms <= a.t_ms < back.t_ms] == [offline, gone]


def test_unclean_disconnect_leaves_the_offline_to_the_last_will(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    own = of(actions, "woonbron/heat-crabbehof-02")
    connects = [a for a in own if isinstance(a, Connect)]
    drops = [a for a in own if isinstance(a, Disconnect)]

    assert len(drops) == 1 and not drops[0].clean and drops[0].will is not None
    will = drops[0].will
    assert connects[0].will == (will.topic, will.payload)  # set when it connected
    assert orjson.loads(will.payload)["state"] == "offline"
    assert ts_ms(will.payload) == START_MS + 10 * MIN
    assert not [a for a in own if isinstance(a, Publish) and a.payload == will.payload]
    assert connects[1].t_ms == START_MS + 15 * MIN
    assert connects[1].will == (will.topic, b"offline")  # nothing planned: a plain will


def test_a_silent_device_publishes_nothing_but_stays_connected(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    own = of(actions, "woonbron/temp-sterrenburg-12")

    assert [a for a in own if START_MS + 20 * MIN <= a.t_ms < START_MS + 35 * MIN] == []
    assert [type(a).__name__ for a in own].count("Connect") == 1
    assert not [a for a in own if isinstance(a, Disconnect)]
    assert any(a.t_ms >= START_MS + 35 * MIN for a in own)


def test_flapping_drops_and_returns_every_period(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    own = of(actions, "woonbron/temp-sterrenburg-14")
    drops = [a.t_ms - START_MS for a in own if isinstance(a, Disconnect)]
    returns = [a.t_ms - START_MS for a in own if isinstance(a, Connect)][1:]

    assert drops == [m * MIN for m in (30, 35, 40, 45)]
    assert returns == [m * MIN for m in (31, 36, 41, 46)]
    assert all(isinstance(a, Disconnect) and not a.clean for a in own if isinstance(a, Disconnect))


def test_a_port_down_reports_down_carries_nothing_and_silences_its_devices(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    samples = [
        (m.t_ms, orjson.loads(m.payload))
        for m in published(actions)
        if m.topic.endswith("xe-0-0-2/counters") and not m.note.reject and not m.note.duplicate
    ]
    inside = [(t, d) for t, d in samples if START_MS + 40 * MIN <= t < START_MS + 50 * MIN]
    outside = [d for t, d in samples if not START_MS + 40 * MIN <= t < START_MS + 50 * MIN]

    assert len(inside) >= 8 and all(d["oper_status"] == "down" for _, d in inside)
    assert all(d["oper_status"] == "up" for d in outside)
    assert len({(d["in_octets"], d["out_octets"]) for _, d in inside[1:]}) == 1  # frozen
    for device in ("footfall-voorstraat", "parking-weeskinderendijk"):
        own = of(actions, f"gemeente-dordrecht/{device}")
        assert not [a for a in own if START_MS + 40 * MIN <= a.t_ms < START_MS + 50 * MIN]
    other = of(actions, "gemeente-dordrecht/aq-spuiboulevard")
    assert [a for a in other if START_MS + 40 * MIN <= a.t_ms < START_MS + 50 * MIN]


def test_a_counter_reset_restarts_the_counters_from_zero(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    samples = [
        (m.t_ms, orjson.loads(m.payload)["in_octets"])
        for m in published(actions)
        if m.topic.endswith("xe-0-0-1/counters") and not m.note.reject and not m.note.duplicate
    ]
    drops = [(t1, v1, t2, v2) for (t1, v1), (t2, v2) in itertools.pairwise(samples) if v2 < v1]

    assert len(drops) == 1
    t1, _, t2, value = drops[0]
    assert t1 < START_MS + 25 * MIN <= t2
    capacity_bytes_per_ms = 10_000 * 1e6 / 8 / 1000
    assert 0 < value <= capacity_bytes_per_ms * (t2 - (START_MS + 25 * MIN))


def test_clock_skew_shifts_the_device_timestamps(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    telemetry = [
        (a.t_ms, ts_ms(a.payload))
        for a in of(actions, "gemeente-dordrecht/aq-spuiboulevard")
        if isinstance(a, Publish) and a.note.kind == "telemetry" and not a.note.reject
    ]

    assert {ts - t for t, ts in telemetry if t < START_MS + 30 * MIN} == {0}
    assert {ts - t for t, ts in telemetry if t >= START_MS + 30 * MIN} == {90_000}


def test_duplicates_are_the_same_message_twice(
    actions: list[Connect | Publish | Disconnect],
) -> None:
    messages = published(actions)
    dups = [i for i, m in enumerate(messages) if m.note.duplicate]

    assert 10 <= len(dups) <= 80
    assert all(
        (messages[i - 1].topic, messages[i - 1].payload) == (messages[i].topic, messages[i].payload)
        for i in dups
    )
    assert not [m for m in messages if m.note.duplicate and m.topic.startswith("mainport/woonbron")]


def test_a_batch_packs_the_same_samples_into_fewer_senml_messages(registry: Registry) -> None:
    text = "partners: [woonbron]\nduration: 2h\nports: false\n"
    single = [
        m for m in published(planned(make_world(text, registry))) if m.note.kind == "telemetry"
    ]
    packed = [
        m for m in published(planned(make_world(text, registry), 10)) if m.note.kind == "telemetry"
    ]

    assert sorted(t for m in single for t in m.note.times) == sorted(
        t for m in packed for t in m.note.times
    )
    assert len(packed) < len(single) / 8
    assert all(m.payload.startswith(b'[{"bn"') for m in packed)


def test_a_dry_run_needs_an_end(registry: Registry) -> None:
    from simulators.simulation import SimulationError

    with pytest.raises(SimulationError, match="needs a duration"):
        dry_run(make_world("partners: [woonbron]\n", registry), FeedWriter(io.BytesIO()))
