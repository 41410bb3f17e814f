"""The deriver judges a silence with the `T` in force at the observation it follows, read from
the live registry's history (issue 13): lowering an interval needs no `--rebuild`."""

from __future__ import annotations

from controlplane.snapshot import Snapshot
from derive.deriver import Deriver
from domain.registry import Registry
from domain.registry_history import ALWAYS, DeviceTerms, RegistryHistory, Timeline
from domain.uptime import timeout_ns

CHANGE_NS = 1_000 * 10**9


class Source:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def current(self) -> Snapshot:
        return self.snapshot

    def on_change(self, listener: object) -> None:
        return None

    def refresh(self) -> bool:
        return False

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def test_the_timeout_follows_the_interval_in_force_at_each_time(registry: Registry) -> None:
    partner = registry.partners[0]
    device = partner.devices[0].id
    base = RegistryHistory.of_registry(registry)
    devices = dict(base.devices)
    devices[(partner.id, device)] = Timeline(
        (ALWAYS, CHANGE_NS), (DeviceTerms(300), DeviceTerms(60))
    )
    history = RegistryHistory(devices, base.ports, base.kinds)
    source = Source(Snapshot(1, registry, history))
    deriver = Deriver(None, source, grace_factor=3.0)  # type: ignore[arg-type]

    changed = deriver._timeout(("device", partner.id, device))
    assert callable(changed)
    assert changed(CHANGE_NS - 1) == timeout_ns(300, 3.0)
    assert changed(CHANGE_NS) == timeout_ns(60, 3.0)
    # A device whose interval never changed keeps its one T; an unknown one the default.
    other = partner.devices[1]
    assert deriver._timeout(("device", partner.id, other.id)) == timeout_ns(other.interval_s, 3.0)
    assert deriver._timeout(("device", partner.id, "unlisted")) == timeout_ns(60, 3.0)
