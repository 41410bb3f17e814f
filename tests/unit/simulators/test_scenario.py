"""Scenario files: strict validation whose errors name the line and the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.registry import Registry
from simulators.scenario import Scenario, ScenarioError, parse_duration, parse_scenario
from simulators.world import build_world, resolve_start

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def world_errors(text: str, registry: Registry) -> str:
    with pytest.raises(ScenarioError) as info:
        build_world(parse_scenario(text, "s.yaml"), registry, "mainport", START_MS)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("2d", 172_800.0),
        ("-30d", -2_592_000.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("1w", 604_800.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "1h 2", True, None, "1h-2m"])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_bad_field_is_reported_with_its_line() -> None:
    text = "name: x\nseed: 1\nspeed: fast\nfaults:\n  - {kind: silent, device: a/b, at: 1m}\n"

    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    message = str(info.value)
    assert "s.yaml:3: speed" in message
    assert "s.yaml:5: faults.0.silent.for: Field required" in message


def test_an_unknown_fault_kind_names_the_choices() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario("faults:\n  - {kind: meltdown, device: a/b}\n", "s.yaml")
    assert "s.yaml:2: faults.0" in str(info.value)
    assert "'offline'" in str(info.value) and "'port_down'" in str(info.value)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (
            "{kind: flapping, device: a/b, at: 0, for: 1h, period: 1m, down: 2m}",
            "down must be shorter than period",
        ),
        ("{kind: offline, device: a/b, at: 0, for: 1h, every: 30m}", "every must be longer"),
        ("{kind: clock_skew, device: a/b, at: 0, skew: 20m}", "the ingest accepts up to 10m"),
        (
            "{kind: malformed, fraction: 0.1, reasons: [unknown_partner]}",
            "the broker ACL keeps a partner's login",
        ),
        ("{kind: malformed, fraction: 0.1, reasons: [nonsense]}", "unknown reason 'nonsense'"),
        ("{kind: duplicates, fraction: 1.5}", "less than or equal to 1"),
    ],
)
def test_fault_rules(fault: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"name: x\nfaults:\n  - {fault}\n", "s.yaml")
    assert "s.yaml:3: faults.0" in str(info.value)
    assert problem in str(info.value)


def test_unknown_devices_ports_and_partners_are_named_with_their_lines(
    registry: Registry,
) -> None:
    message = world_errors(
        "partners: [woonbron, nobody]\n"
        "devices:\n"
        "  - {partner: woonbron, count: 2, id: 'm-{n}', port: xe-9}\n"
        "faults:\n"
        "  - {kind: silent, device: woonbron/nope, at: 1m, for: 1m}\n"
        "  - {kind: counter_reset, port: dmd-core-1/xe-0-0-1, at: 1m}\n"
        "  - {kind: duplicates, fraction: 0.1, targets: ['waterschap*/*']}\n",
        registry,
    )

    assert "s.yaml:1: partners.1: unknown partner 'nobody'" in message
    assert "s.yaml:3: devices.0.port: 'xe-9' is not one of woonbron's ports" in message
    assert "s.yaml:5: faults.0.device: unknown device 'woonbron/nope'" in message
    assert "s.yaml:6: faults.1.port: unknown port 'dmd-core-1/xe-0-0-1'" in message
    assert "s.yaml:7: faults.2.targets: ['waterschap*/*'] match no simulated device" in message


def test_overlapping_faults_of_one_device_are_refused_naming_both(registry: Registry) -> None:
    message = world_errors(
        "partners: [woonbron]\n"
        "faults:\n"
        "  - {kind: port_down, port: dmd-dist-2/ge-0-0-7, at: 10m, for: 10m}\n"
        "  - {kind: offline, device: woonbron/heat-crabbehof-01, at: 15m, for: 1m}\n",
        registry,
    )

    assert message == (
        "s.yaml:4: faults.1: overlaps faults.0 (s.yaml:3) for device woonbron/heat-crabbehof-01"
    )


def test_generated_devices_sit_behind_the_partners_only_port(registry: Registry) -> None:
    text = "partners: [woonbron]\ndevices:\n  - {partner: woonbron, count: 3, id: 'm-{n:02d}'}\n"

    world = build_world(parse_scenario(text), registry, "mainport", START_MS)
    generated = [d for d in world.devices if d.id.startswith("m-")]
    assert [d.id for d in generated] == ["m-01", "m-02", "m-03"]
    assert {d.port for d in generated} == {"dmd-dist-2/ge-0-0-7"}
    assert [p.key for p in world.ports] == ["dmd-dist-2/ge-0-0-7"]


def test_a_generated_id_pattern_must_give_distinct_valid_ids() -> None:
    for pattern, problem in (("same", "gives the same id"), ("-{n}", "not a device id")):
        with pytest.raises(ScenarioError, match=problem):
            parse_scenario(f"devices:\n  - {{partner: p, count: 2, id: '{pattern}'}}\n")


def test_start_now_backfills_up_to_now_when_fast() -> None:
    now = START_MS + 234

    assert resolve_start(Scenario(), now) == START_MS
    assert resolve_start(Scenario(duration=3600, speed="max"), now) == START_MS - 3_600_000
    assert resolve_start(Scenario(duration=3600, speed=1), now) == START_MS
    assert resolve_start(Scenario(start="-1d"), now) == START_MS - 86_400_000
    fixed = datetime(2025, 6, 1, tzinfo=UTC)
    assert resolve_start(Scenario(start=fixed), now) == int(fixed.timestamp() * 1000)
