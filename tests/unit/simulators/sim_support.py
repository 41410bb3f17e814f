"""Pure helpers shared by the simulator tests: a world from scenario text, and what a dry run
plans and publishes (the broker side is in tests/integration/mqtt_support.py)."""

from __future__ import annotations

import io

from domain.registry import Registry
from simulators.feed import FeedWriter
from simulators.plan import Action, Publish, messages_of
from simulators.scenario import parse_scenario
from simulators.simulation import dry_run
from simulators.world import World, build_world

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def make_world(text: str, registry: Registry, start_ms: int = START_MS) -> World:
    return build_world(parse_scenario(text, "test.yaml"), registry, "mainport", start_ms)


def planned(world: World, batch: int = 1) -> list[Action]:
    actions: list[Action] = []
    dry_run(world, FeedWriter(io.BytesIO()), batch=batch, journal=actions.append)
    return actions


def published(actions: list[Action]) -> list[Publish]:
    """What subscribers receive: publishes and fired wills, in plan order."""
    return [m for a in actions if (m := messages_of(a)) is not None]


EVERY_FAULT = """
name: every-fault
seed: 11
duration: 1h
speed: max
partners: [woonbron, gemeente-dordrecht]
faults:
  - {kind: offline, device: woonbron/heat-crabbehof-01, at: 10m, for: 5m}
  - {kind: disconnect, device: woonbron/heat-crabbehof-02, at: 10m, for: 5m}
  - {kind: silent, device: woonbron/temp-sterrenburg-12, at: 20m, for: 15m}
  - {kind: flapping, device: woonbron/temp-sterrenburg-14, at: 30m, for: 20m, period: 5m, down: 1m}
  - {kind: port_down, port: dmd-core-1/xe-0-0-2, at: 40m, for: 10m}
  - {kind: counter_reset, port: dmd-core-1/xe-0-0-1, at: 25m}
  - {kind: clock_skew, device: gemeente-dordrecht/aq-spuiboulevard, at: 30m, skew: 90s}
  - {kind: duplicates, fraction: 0.05, targets: ['gemeente-dordrecht/*', '_network/*']}
  - {kind: malformed, fraction: 0.25,
     targets: [gemeente-dordrecht/noise-grotekerk, gemeente-dordrecht/aq-merwekade, '_network/*']}
"""
"""One hour of two partners with every kind of fault, for the plan and the broker tests."""
