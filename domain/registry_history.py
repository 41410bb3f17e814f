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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from domain.registry import Device, Partner, Port, Registry

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
    kinds: Mapping[DeviceKey, str] = field(default_factory=dict)
    """A device's kind (not a term: it never changes a figure), retired devices included."""
    partner_devices: Mapping[str, tuple[str, ...]] | None = None
    partner_ports: Mapping[str, tuple[PortKey, ...]] | None = None
    """Indexes (optional): per partner, its device ids and the ports it ever had, so a window's
    figures look at the partner's own entries, not at every one of a large registry."""

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
        keys = self.ports if self.partner_ports is None else self.partner_ports.get(partner, ())
        for key in keys:
            timeline = self.ports[key]
            mine = [p for p in timeline.pieces(start_ns, end_ns) if p[2].partner == partner]
            if mine:
                out[key] = mine
        return out

    def devices_of(
        self, partner: str, start_ns: int, end_ns: int
    ) -> dict[str, list[tuple[int, int, DeviceTerms]]]:
        """The partner's devices registered (not retired) at some time in the window."""
        out: dict[str, list[tuple[int, int, DeviceTerms]]] = {}
        if self.partner_devices is not None:
            keys = [(partner, d) for d in self.partner_devices.get(partner, ())]
        else:
            keys = [k for k in self.devices if k[0] == partner]
        for key in keys:
            if pieces := self.devices[key].pieces(start_ns, end_ns):
                out[key[1]] = pieces
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
        kinds = {(p.id, d.id): d.kind for p, d in registry.devices()}
        return cls(devices, ports, kinds)

    def interval_at(self, key: tuple[str, str, str]) -> Callable[[int], int] | int | None:
        """The `interval_s` of a deriver subject `(kind, partner, subject)` at any time: an int
        when it never changed (the usual case, cheap), a function of the time when it did, None
        when the subject was never registered."""
        kind, _partner, subject = key
        timeline: Timeline[DeviceTerms] | Timeline[PortTerms] | None
        if kind == "port":
            switch, _, port = subject.partition("/")
            timeline = self.ports.get((switch, port))
        else:
            timeline = self.devices.get((_partner, subject))
        if timeline is None:
            return None
        return interval_of(timeline)


def interval_of(
    timeline: Timeline[DeviceTerms] | Timeline[PortTerms],
) -> Callable[[int], int] | int:
    """A timeline's `interval_s` at any time: an int when it is the same throughout. Retired
    time keeps the last interval in force (a retired device's late data is judged as before)."""
    intervals: list[int] = []
    for terms in timeline.terms:
        intervals.append(terms.interval_s if terms is not None else (intervals or [0])[-1])
    if intervals[0] == 0:  # retired from its first terms: nothing better than the next ones
        intervals[0] = next((i for i in intervals if i), 60)
        intervals = [i or intervals[0] for i in intervals]
    if len(set(intervals)) == 1:
        return intervals[0]
    since = timeline.since_ns

    def at(t_ns: int) -> int:
        return intervals[max(bisect_right(since, t_ns) - 1, 0)]

    return at


def partner_over(partner: Partner, history: RegistryHistory, start_ns: int, end_ns: int) -> Partner:
    """`partner` as figures for `[start_ns, end_ns)` must see it: with the ports and devices it
    had at some time in the window (retired and moved-away ones included, later ones left out),
    each with the last terms it had there. Unchanged (the same object) when nothing of the
    partner changed, so figures of an unchanged registry are exactly what they were."""
    own_ports = history.ports_of(partner.id, start_ns, end_ns)
    own_devices = history.devices_of(partner.id, start_ns, end_ns)
    ports = [
        Port(
            switch=k[0],
            port=k[1],
            capacity_mbps=p[-1][2].capacity_mbps,
            interval_s=p[-1][2].interval_s,
        )
        for k, p in sorted(own_ports.items())
    ]
    names = {p.port for p in ports}
    devices = []
    for device_id, pieces in sorted(own_devices.items()):
        terms = pieces[-1][2]
        port = terms.port if terms.port in names else None
        devices.append(
            Device(
                id=device_id,
                kind=history.kinds.get((partner.id, device_id), "generic"),
                interval_s=terms.interval_s,
                port=port,
                switch=terms.switch if port is not None else None,
            )
        )
    if {p.key: p for p in ports} == {p.key: p for p in partner.ports} and {
        d.id: d for d in devices
    } == {d.id: d for d in partner.devices}:
        return partner
    # Ports and devices were each valid when in force; together (a device behind a port moved
    # away meanwhile) they need not be: no validation, the names were checked when written.
    return partner.model_construct(
        **{**dict(partner), "ports": tuple(ports), "devices": tuple(devices)}
    )
