"""What was in force when: the registry's attributes that change figures, over time.

A port's partner, capacity and interval, and a device's port and interval, are recorded with the
time they take effect (controlplane/tables.py `*_terms`). Figures for a window use, at each moment,
the terms in force then, so moving a port today leaves last month's report as it was, and a
changed interval judges earlier silences with the earlier `T` (no rebuild).

Before an entity's first recorded change its first terms apply: data that arrived before the
entity was registered (an auto-registered device, a demo's backfilled week) is judged as the
entity was first described. `None` terms mean retired from then on. Pure, no I/O.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from domain.registry import Registry

T = TypeVar("T")

ALWAYS = -(2**63)
"""The effective time of terms that were always in force (a registry read from a file)."""

DeviceKey = tuple[str, str]
"""(partner, device)"""
PortKey = tuple[str, str]
"""(switch, port)"""


@dataclass(frozen=True, slots=True)
class DeviceTerms:
    interval_s: int
    port: str | None = None
    switch: str | None = None


@dataclass(frozen=True, slots=True)
class PortTerms:
    partner: str
    capacity_mbps: float
    interval_s: int


@dataclass(frozen=True, slots=True)
class Timeline(Generic[T]):
    """Terms from each `since_ns` (ascending, distinct) until the next; `None`: retired."""

    since_ns: tuple[int, ...]
    terms: tuple[T | None, ...]

    def __post_init__(self) -> None:
        if not self.since_ns or len(self.since_ns) != len(self.terms):
            raise ValueError("a timeline needs one terms per effective time, at least one")
        if any(b <= a for a, b in zip(self.since_ns, self.since_ns[1:], strict=False)):
            raise ValueError("effective times must ascend strictly")

    def at(self, t_ns: int) -> T | None:
        """The terms in force at `t_ns` (the first ones before the first change)."""
        return self.terms[max(bisect_right(self.since_ns, t_ns) - 1, 0)]

    def pieces(self, start_ns: int, end_ns: int) -> list[tuple[int, int, T]]:
        """`[lo, hi)` pieces of `[start_ns, end_ns)` with the terms in force; retired time left
        out. The first terms reach back before the first change."""
        out: list[tuple[int, int, T]] = []
        first = max(bisect_right(self.since_ns, start_ns) - 1, 0)
        for i in range(first, len(self.since_ns)):
            lo = start_ns if i == first else max(self.since_ns[i], start_ns)
            hi = self.since_ns[i + 1] if i + 1 < len(self.since_ns) else end_ns
            hi = min(hi, end_ns)
            if lo >= end_ns:
                break
            terms = self.terms[i]
            if terms is not None and lo < hi:
                out.append((lo, hi, terms))
        return out

    def changes_within(self, start_ns: int, end_ns: int) -> bool:
        return any(start_ns < t < end_ns for t in self.since_ns)

    @classmethod
    def constant(cls, terms: T) -> Timeline[T]:
        return cls((ALWAYS,), (terms,))


@dataclass(frozen=True, slots=True)
class RegistryHistory:
    devices: Mapping[DeviceKey, Timeline[DeviceTerms]] = field(default_factory=dict)
    ports: Mapping[PortKey, Timeline[PortTerms]] = field(default_factory=dict)

    def device_at(self, partner: str, device: str, t_ns: int) -> DeviceTerms | None:
        timeline = self.devices.get((partner, device))
        return None if timeline is None else timeline.at(t_ns)

    def port_at(self, key: PortKey, t_ns: int) -> PortTerms | None:
        timeline = self.ports.get(key)
        return None if timeline is None else timeline.at(t_ns)

    def owner_at(self, key: PortKey, t_ns: int) -> str | None:
        terms = self.port_at(key, t_ns)
        return None if terms is None else terms.partner

    def is_retired(self, partner: str, device: str, t_ns: int) -> bool:
        """Registered once and retired at `t_ns` (an unknown device is not retired)."""
        timeline = self.devices.get((partner, device))
        return timeline is not None and timeline.at(t_ns) is None

    def ports_of(
        self, partner: str, start_ns: int, end_ns: int
    ) -> dict[PortKey, list[tuple[int, int, PortTerms]]]:
        """The partner's ports in the window, each with the pieces of time it was the partner's."""
        out: dict[PortKey, list[tuple[int, int, PortTerms]]] = {}
        for key, timeline in self.ports.items():
            mine = [p for p in timeline.pieces(start_ns, end_ns) if p[2].partner == partner]
            if mine:
                out[key] = mine
        return out

    def devices_of(
        self, partner: str, start_ns: int, end_ns: int
    ) -> dict[str, list[tuple[int, int, DeviceTerms]]]:
        """The partner's devices registered (not retired) at some time in the window."""
        out: dict[str, list[tuple[int, int, DeviceTerms]]] = {}
        for (owner, device), timeline in self.devices.items():
            if owner == partner and (pieces := timeline.pieces(start_ns, end_ns)):
                out[device] = pieces
        return out

    @classmethod
    def of_registry(cls, registry: Registry) -> RegistryHistory:
        """A registry with no recorded changes (a file): its terms were always in force."""
        devices = {
            (p.id, d.id): Timeline.constant(DeviceTerms(d.interval_s, d.port, d.switch))
            for p, d in registry.devices()
        }
        ports = {
            port.key: Timeline.constant(PortTerms(p.id, port.capacity_mbps, port.interval_s))
            for p in registry.partners
            for port in p.ports
        }
        return cls(devices, ports)
