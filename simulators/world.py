"""A scenario resolved against the registry: the devices, ports and fault timelines to simulate.

Everything here is plain data in integer epoch milliseconds, derived deterministically from the
scenario, the registry and the start time. Problems that need the registry to see (an unknown
device, two faults of one device that overlap) are reported with the scenario's line numbers.
"""

from __future__ import annotations

import fnmatch
import itertools
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from domain.registry import Port, Registry

# `_line_of` is the registry loader's own node lookup; reusing it keeps every config error
# in the same "file:line: field: problem" shape.
from domain.yaml_model import _line_of
from simulators.scenario import (
    DEVICE_REASONS,
    PORT_REASONS,
    ClockSkew,
    CounterReset,
    Disconnect,
    Duplicates,
    Flapping,
    Malformed,
    Offline,
    PortDown,
    Scenario,
    ScenarioError,
    ScenarioFile,
    Silent,
    parse_duration,
)

HORIZON_MS = 400 * 86_400_000
"""How far faults repeat when a scenario has no end (beyond what the ingest would accept)."""
MAX_OCCURRENCES = 200_000

TsStyle = Literal["rfc3339", "s", "ms"]


@dataclass(frozen=True, slots=True)
class SimDevice:
    partner: str
    id: str
    kind: str
    interval_ms: int
    port: str | None
    """`switch/port` it sits behind (SPEC: its named port, else the partner's only one)."""
    senml: bool
    ts_style: TsStyle

    @property
    def key(self) -> str:
        return f"{self.partner}/{self.id}"

    @property
    def hash(self) -> int:
        return zlib.crc32(self.key.encode())


@dataclass(frozen=True, slots=True)
class SimPort:
    partner: str
    switch: str
    port: str
    capacity_mbps: float
    interval_ms: int

    @property
    def key(self) -> str:
        return f"{self.switch}/{self.port}"

    @property
    def target(self) -> str:
        """The name `targets` globs match: `_network/switch/port`."""
        return f"_network/{self.key}"

    @property
    def hash(self) -> int:
        return zlib.crc32(self.target.encode())


Span = tuple[int, int]


@dataclass(slots=True)
class DeviceFaults:
    outages: list[tuple[int, int, bool]] = field(default_factory=list)
    """(start, end, clean) in ms: disconnected from start until it reconnects at end."""
    silences: list[Span] = field(default_factory=list)
    """Connected but not publishing (silent faults, and its port being down)."""
    skews: list[tuple[int, int, int]] = field(default_factory=list)
    """(start, end, skew_ms): the device clock is off by skew_ms."""
    duplicate_fraction: float = 0.0
    malformed_fraction: float = 0.0
    malformed_reasons: tuple[str, ...] = ()


@dataclass(slots=True)
class PortFaults:
    downs: list[Span] = field(default_factory=list)
    resets: list[int] = field(default_factory=list)
    duplicate_fraction: float = 0.0
    malformed_fraction: float = 0.0
    malformed_reasons: tuple[str, ...] = ()


@dataclass
class World:
    scenario: Scenario
    registry: Registry
    root: str
    start_ms: int
    end_ms: int | None
    devices: list[SimDevice]
    ports: list[SimPort]
    device_faults: dict[str, DeviceFaults]
    port_faults: dict[str, PortFaults]

    def port_of(self, device: SimDevice) -> SimPort | None:
        return next((p for p in self.ports if p.key == device.port), None)


def resolve_start(scenario: Scenario, now_ms: int) -> int:
    """The scenario's start in epoch ms.

    `now` (the default) is rounded down to the second; with a duration and a speed other than
    real time it becomes now − duration, so an accelerated or backfill run ends where it began
    and never stamps messages in the future (the ingest rejects those beyond 10 minutes).
    """
    if isinstance(scenario.start, datetime):
        return int(scenario.start.timestamp() * 1000)
    now_s = now_ms // 1000 * 1000
    if scenario.start != "now":
        return now_s + int(parse_duration(scenario.start) * 1000)
    if scenario.duration is not None and scenario.speed != 1:
        return now_s - int(scenario.duration * 1000)
    return now_s


def build_world(source: ScenarioFile, registry: Registry, root: str, start_ms: int) -> World:
    """Resolve a scenario; raises ScenarioError naming file:line for every problem found."""
    sc = source.scenario
    problems: list[str] = []

    def where(*loc: str | int) -> str:
        line = _line_of(source.node, loc)
        return f"{source.source}:{line}" if line else source.source

    wanted = set(registry.by_id) if sc.partners is None else set(sc.partners)
    for i, partner_id in enumerate(sc.partners or ()):
        if registry.partner(partner_id) is None:
            problems.append(f"{where('partners', i)}: partners.{i}: unknown partner {partner_id!r}")
    devices: list[SimDevice] = []
    for partner, device in registry.devices():
        if partner.id in wanted:
            port = partner.port_of(device)
            devices.append(_device(sc, partner.id, device.id, device.kind, device.interval_s, port))
    known = {d.key for d in devices}
    for i, gen in enumerate(sc.devices):
        owner = registry.partner(gen.partner)
        if owner is None or owner.id not in wanted:
            problems.append(
                f"{where('devices', i, 'partner')}: devices.{i}.partner: "
                f"{gen.partner!r} is not a simulated partner"
            )
            continue
        names = {p.port: p for p in owner.ports}
        if gen.port is not None and gen.port not in names:
            problems.append(
                f"{where('devices', i, 'port')}: devices.{i}.port: {gen.port!r} is not one of "
                f"{owner.id}'s ports {sorted(names)}"
            )
            continue
        port = names[gen.port] if gen.port else (owner.ports[0] if len(names) == 1 else None)
        for n in range(1, gen.count + 1):
            dev = _device(sc, owner.id, gen.id.format(n=n), gen.kind, gen.interval_s, port)
            if dev.key in known:
                problems.append(f"{where('devices', i, 'id')}: devices.{i}.id: {dev.key} exists")
                break
            known.add(dev.key)
            devices.append(dev)
    ports = [
        SimPort(p.id, port.switch, port.port, port.capacity_mbps, port.interval_s * 1000)
        for p in registry.partners
        if p.id in wanted and sc.ports
        for port in p.ports
    ]
    end_ms = None if sc.duration is None else start_ms + int(sc.duration * 1000)
    world = World(sc, registry, root, start_ms, end_ms, devices, ports, {}, {})
    world.device_faults = {d.key: DeviceFaults() for d in devices}
    world.port_faults = {p.key: PortFaults() for p in ports}
    _apply_faults(world, where, problems)
    if problems:
        raise ScenarioError("\n".join(problems))
    return world


def _device(
    sc: Scenario, partner: str, device_id: str, kind: str, interval_s: int, port: Port | None
) -> SimDevice:
    key_hash = zlib.crc32(f"{partner}/{device_id}".encode())
    senml = sc.payload_format == "senml" or (sc.payload_format == "mixed" and key_hash % 2 == 1)
    style: TsStyle = ("rfc3339", "s", "ms")[(key_hash >> 1) % 3]
    port_key = f"{port.switch}/{port.port}" if port is not None else None
    return SimDevice(partner, device_id, kind, interval_s * 1000, port_key, senml, style)


def _apply_faults(world: World, where: _Where, problems: list[str]) -> None:
    devices = {d.key: d for d in world.devices}
    ports = {p.key: p for p in world.ports}
    # Per device: (start, end, fault index) of everything that stops its telemetry, to refuse
    # overlaps: "offline during a port outage" has no single meaning worth guessing.
    busy: dict[str, list[tuple[int, int, int]]] = {key: [] for key in devices}
    for i, fault in enumerate(world.scenario.faults):
        if isinstance(fault, Duplicates | Malformed):
            _apply_fraction(world, i, fault, where, problems)
            continue
        if isinstance(fault, PortDown | CounterReset):
            port = ports.get(fault.port)
            if port is None:
                problems.append(
                    f"{where('faults', i, 'port')}: faults.{i}.port: unknown port {fault.port!r}"
                    f" (simulated: {', '.join(sorted(ports)) or 'none'})"
                )
                continue
            pf = world.port_faults[port.key]
            if isinstance(fault, CounterReset):
                pf.resets.extend(a for a, _ in _occurrences(world, fault.at, 0, fault.every))
                pf.resets.sort()
                continue
            for a, b in _occurrences(world, fault.at, fault.for_, fault.every):
                pf.downs.append((a, b))
                for dev in world.devices:
                    if dev.port == port.key:
                        world.device_faults[dev.key].silences.append((a, b))
                        busy[dev.key].append((a, b, i))
            continue
        found = devices.get(fault.device)
        if found is None:
            problems.append(
                f"{where('faults', i, 'device')}: faults.{i}.device: unknown device "
                f"{fault.device!r} (expected partner/device of a simulated device)"
            )
            continue
        dev = found
        df = world.device_faults[dev.key]
        if isinstance(fault, ClockSkew):
            for_s = fault.for_ if fault.for_ is not None else HORIZON_MS / 1000
            for a, b in _occurrences(world, fault.at, for_s, None):
                df.skews.append((a, b, int(fault.skew * 1000)))
            continue
        for a, b in _occurrences(world, fault.at, fault.for_, fault.every):
            if isinstance(fault, Flapping):
                step, down = int(fault.period * 1000), int(fault.down * 1000)
                for s in range(a, b, step):
                    df.outages.append((s, min(s + down, b), fault.clean))
            elif isinstance(fault, Offline | Disconnect):
                df.outages.append((a, b, isinstance(fault, Offline)))
            elif isinstance(fault, Silent):
                df.silences.append((a, b))
            busy[dev.key].append((a, b, i))
    for key, spans in busy.items():
        spans.sort()
        for (_, b1, i1), (a2, _, i2) in itertools.pairwise(spans):
            if a2 < b1:
                first, second = sorted((i1, i2))
                problems.append(
                    f"{where('faults', second)}: faults.{second}: overlaps faults.{first} "
                    f"({where('faults', first)}) for device {key}"
                )
                break
    for df in world.device_faults.values():
        df.outages.sort()
        df.silences.sort()
        df.skews.sort()
    for pf in world.port_faults.values():
        pf.downs.sort()


class _Where(Protocol):
    def __call__(self, *loc: str | int) -> str: ...


def _apply_fraction(
    world: World, i: int, fault: Duplicates | Malformed, where: _Where, problems: list[str]
) -> None:
    def apply(faults: DeviceFaults | PortFaults, possible: Collection[str]) -> None:
        if isinstance(fault, Duplicates):
            faults.duplicate_fraction = max(faults.duplicate_fraction, fault.fraction)
            return
        reasons = tuple(r for r in fault.reason_list if r in possible)
        if reasons:  # a reason this kind of subject cannot produce is left to the others
            faults.malformed_fraction = max(faults.malformed_fraction, fault.fraction)
            faults.malformed_reasons = _union(faults.malformed_reasons, reasons)

    matched = 0
    for dev in world.devices:
        if _matches(dev.key, fault.targets):
            matched += 1
            apply(world.device_faults[dev.key], DEVICE_REASONS)
    for port in world.ports:
        if _matches(port.target, fault.targets):
            matched += 1
            apply(world.port_faults[port.key], PORT_REASONS)
    if matched == 0:
        problems.append(
            f"{where('faults', i, 'targets')}: faults.{i}.targets: {list(fault.targets)} match "
            "no simulated device (partner/device) or port (_network/switch/port)"
        )


def _matches(name: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, glob) for glob in globs)


def _union(have: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
    return have + tuple(r for r in more if r not in have)


def _occurrences(
    world: World, at: float | datetime, for_s: float, every: float | None
) -> Iterator[Span]:
    """(start, end) ms of each occurrence within the scenario (up to a horizon if endless)."""
    first = (
        int(at.timestamp() * 1000) if isinstance(at, datetime) else world.start_ms + int(at * 1000)
    )
    end = world.end_ms if world.end_ms is not None else world.start_ms + HORIZON_MS
    length = int(for_s * 1000)
    step = int(every * 1000) if every is not None else 0
    for n in range(MAX_OCCURRENCES):
        a = first + n * step
        if a >= end or (n > 0 and step == 0):
            return
        yield a, a + length
