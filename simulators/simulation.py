"""Running a scenario: its plan executed against a broker in real time, accelerated, or as fast
as the broker takes it (backfill); or written to a feed file without a broker (dry run).

Time modes. Simulated time t maps to wall time `wall0 + (t − start) / speed`; at `max` every
action is due at once and only the bound on unacknowledged messages paces the run. Payload
timestamps are always the planned simulated times, so the messages do not depend on the speed
(or on how busy the machine is): the same scenario, seed and start give the same bytes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from domain.registry import Registry
from simulators import payloads
from simulators.feed import FeedWriter
from simulators.fleet import Fleet
from simulators.plan import COLLECTOR, Action, Connect, Disconnect, Publish, messages_of, plan
from simulators.scenario import Scenario, ScenarioFile
from simulators.truth import TruthBuilder
from simulators.world import World, build_world, resolve_start

log = logging.getLogger(__name__)

Credentials = Mapping[str, tuple[str, str]]
"""Scope (partner id or `_network`) → (username, password)."""

MAX_PENDING = 2_000
"""Unacknowledged QoS 1 messages over all connections before a fast run waits for acks."""
MAX_PENDING_PER_LINK = 50
"""…and on one connection (paho slows down badly with hundreds in flight on one)."""
LOG_EVERY_S = 300.0
"""A progress line in the log this often when no progress bar is shown (the demo)."""


class SimulationError(RuntimeError):
    """The run cannot start; the message says why."""


def credentials_from_json(text: str) -> dict[str, tuple[str, str]]:
    """`{"scope": ["username", "password"], ...}` as MAINPORT_SIM_CREDENTIALS carries it. A key
    may also be one device's link, `partner/device`, for that device's own login: a broker that
    binds client ids to logins holds one connection per login."""
    try:
        doc = json.loads(text)
        return {str(scope): (str(pair[0]), str(pair[1])) for scope, pair in doc.items()}
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise SimulationError(
            'credentials must be a JSON object {"scope": ["username", "password"], ...}'
        ) from exc


@dataclass
class RunStats:
    actions: int = 0
    messages: int = 0
    connects: int = 0
    drops: int = 0
    started_ms: int = 0
    ended_ms: int = 0
    elapsed_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    completed: bool = False

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0


def make_world(
    scenario: Scenario | ScenarioFile, registry: Registry, root: str, start_ms: int | None = None
) -> World:
    source = (
        scenario
        if isinstance(scenario, ScenarioFile)
        else ScenarioFile(scenario, "<scenario>", None)
    )
    start = (
        start_ms
        if start_ms is not None
        else resolve_start(source.scenario, int(time.time() * 1000))
    )
    return build_world(source, registry, root, start)


def dry_run(
    world: World,
    out: FeedWriter,
    *,
    batch: int = 1,
    truth: TruthBuilder | None = None,
    journal: Callable[[Action], None] | None = None,
) -> RunStats:
    """Write every message the run would cause (wills included) to a feed, no broker needed."""
    if world.end_ms is None:
        raise SimulationError("a dry run needs a duration (scenario `duration` or --duration)")
    stats = RunStats(started_ms=world.start_ms)
    began = time.monotonic()
    for action in plan(world, batch):
        stats.actions += 1
        msg = messages_of(action)
        if msg is not None:
            out.write(msg.t_ms / 1000, msg.topic, msg.payload, 1, msg.retain)
            stats.messages += 1
        if truth is not None:
            truth.add(action)
        if journal is not None:
            journal(action)
    stats.elapsed_s = time.monotonic() - began
    stats.ended_ms = world.end_ms
    stats.completed = True
    return stats


class Simulation:
    """A scenario against a live broker: one MQTT connection per device, one for the network
    collector, all in this thread (`simulators.fleet`)."""

    def __init__(
        self,
        scenario: Scenario | ScenarioFile,
        registry: Registry,
        host: str,
        port: int,
        credentials: Credentials,
        root: str = "mainport",
        *,
        start_ms: int | None = None,
        batch: int = 1,
        max_rate: float | None = None,
        client_prefix: str = "sim",
        truth: TruthBuilder | None = None,
        journal: Callable[[Action], None] | None = None,
        progress: Callable[[RunStats, int], None] | None = None,
        catch_up: bool = False,
    ) -> None:
        self.world = make_world(scenario, registry, root, start_ms)
        self.host, self.port = host, port
        self.credentials = credentials
        self.batch = batch
        self.max_rate = max_rate
        self.client_prefix = client_prefix
        self.truth = truth
        self.journal = journal
        self.progress = progress
        self.stats = RunStats(started_ms=self.world.start_ms)
        self.fleet: Fleet | None = None
        self._wall0 = time.monotonic()
        speed = self.world.scenario.speed
        self.speed: float | None = None if speed == "max" else float(speed)
        if self.speed is None and self.world.end_ms is None:
            raise SimulationError("--speed max (backfill) needs a duration")
        if catch_up and self.speed != 1:
            raise SimulationError("--catch-up is for real time (--speed 1)")
        self.catch_up = catch_up
        scopes = {d.partner for d in self.world.devices if d.key not in credentials} | (
            {COLLECTOR} if self.world.ports else set()
        )
        missing = sorted(scopes - set(credentials))
        if missing:
            raise SimulationError(f"no credentials for {', '.join(missing)}")

    def sim_now(self) -> int:
        if self.speed is None:
            return self.stats.ended_ms
        return self.world.start_ms + int((time.monotonic() - self._wall0) * self.speed * 1000)

    def run(self, stop: threading.Event) -> RunStats:
        world, stats = self.world, self.stats
        fleet = Fleet(
            self.host,
            self.port,
            keepalive_s=world.scenario.keepalive_s,
            inflight=MAX_PENDING_PER_LINK,
            on_reconnect=lambda key: self._announce(fleet, key),
        )
        self.fleet = fleet
        began = time.monotonic()
        self._wall0 = began - self._behind_s()
        next_slot = began
        last_report = last_log = began
        log.info(
            "simulating %d devices and %d ports from %s at %s",
            len(world.devices),
            len(world.ports),
            payloads.rfc3339_ms(world.start_ms),
            "max speed" if self.speed is None else f"{self.speed:g}x",
        )
        try:
            for action in plan(world, self.batch):
                due = self._due(action.t_ms)
                if self.max_rate is not None and isinstance(action, Publish):
                    due = max(due, next_slot)
                    next_slot = due + 1 / self.max_rate
                if not self._wait(fleet, action, due, stop):
                    break
                self._execute(fleet, action)
                stats.ended_ms = action.t_ms
                now = time.monotonic()
                if now - last_report >= 0.5:
                    last_report = now
                    stats.elapsed_s = now - began
                    stats.errors = dict(fleet.errors)
                    if self.progress is not None:
                        self.progress(stats, stats.ended_ms)
                    elif now - last_log >= LOG_EVERY_S:
                        last_log = now
                        up = sum(1 for link in fleet.links.values() if link.connected)
                        log.info(
                            "at %s: %d messages, %d of %d connections up%s",
                            payloads.rfc3339_ms(stats.ended_ms),
                            stats.messages,
                            up,
                            len(fleet.links),
                            f"; errors {stats.errors}" if stats.errors else "",
                        )
            else:
                stats.completed = True
                fleet.flush(60)
            if not stats.completed and self.speed is not None:
                stats.ended_ms = max(stats.ended_ms, min(self.sim_now(), world.end_ms or 2**62))
        finally:
            fleet.close_all()
            stats.elapsed_s = time.monotonic() - began
            stats.errors = dict(fleet.errors)
        if stats.completed and world.end_ms is not None:
            stats.ended_ms = world.end_ms
        log.info(
            "simulated until %s: %d messages in %.1f s (%.0f msg/s)%s",
            payloads.rfc3339_ms(stats.ended_ms),
            stats.messages,
            stats.elapsed_s,
            stats.rate,
            f"; errors {stats.errors}" if stats.errors else "",
        )
        return stats

    def _behind_s(self) -> float:
        """With catch-up, how far the start lies in the past: simulated time is then the wall
        clock, so what lies before now is due at once (paced by acks, like a backfill) and the
        rest comes in real time. Used to go live right where a backfill ended, without a gap."""
        if not self.catch_up:
            return 0.0
        return max(0.0, time.time() - self.world.start_ms / 1000)

    def _due(self, t_ms: int) -> float:
        if self.speed is None:
            return 0.0
        return self._wall0 + (t_ms - self.world.start_ms) / 1000 / self.speed

    def _wait(self, fleet: Fleet, action: Action, due: float, stop: threading.Event) -> bool:
        """Service the connections until the action is due and there is room in flight."""
        link = action.link
        while not stop.is_set():
            now = time.monotonic()
            if due > now:
                fleet.service(min(due - now, 0.25))
                continue
            if fleet.pending >= MAX_PENDING or fleet.pending_of(link) >= MAX_PENDING_PER_LINK:
                fleet.service(0.005)
                continue
            return True
        return False

    def _execute(self, fleet: Fleet, action: Action) -> None:
        stats = self.stats
        stats.actions += 1
        if isinstance(action, Publish):
            if fleet.publish(action.link, action.topic, action.payload, 1, action.retain):
                stats.messages += 1
            if stats.actions % 64 == 0:
                fleet.service(0)  # read acks as we go rather than in bursts
        elif isinstance(action, Connect):
            stats.connects += 1
            client_id = f"{self.client_prefix}-{action.link.replace('/', '-')}"
            login = self.credentials.get(action.link) or self.credentials[action.scope]
            fleet.open(action.link, client_id, login, action.will)
        elif isinstance(action, Disconnect):
            if action.clean:
                fleet.close(action.link)
            else:
                stats.drops += 1
                fleet.drop(action.link)
                stats.messages += 1  # the broker publishes the will for it
        if self.truth is not None:
            self.truth.add(action)
        if self.journal is not None:
            self.journal(action)

    def _announce(self, fleet: Fleet, key: str) -> None:
        """After an unplanned reconnect (e.g. the broker restarted) a device says `online`
        again, as real ones do on every connect. Not part of the plan or the truth."""
        device = next((d for d in self.world.devices if d.key == key), None)
        if device is not None:
            topic = f"{self.world.root}/{device.partner}/{device.id}/status"
            payload = payloads.status(True, self.sim_now(), device.ts_style)
            fleet.publish(key, topic, payload, 1, True)
