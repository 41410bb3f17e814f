"""The registry's difference (controlplane/registry_diff.py), pure: what a file adds, changes
and retires against a recorded state, and what it may not bring back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controlplane.registry_diff import ABSENT, State, device_form, diff, partner_form, port_form
from controlplane.registry_errors import ConflictingChange
from domain.registry import Registry

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def recorded(registry: Registry) -> State:
    """The state a control plane holds after applying `registry`."""
    state = State()
    for p in registry.partners:
        state.partners[p.id] = partner_form(p)
        for port in p.ports:
            state.ports[port.key] = port_form(p.id, port)
            state.port_known[port.key] = None
        for d in p.devices:
            state.devices[(p.id, d.id)] = device_form(d)
            state.device_known[(p.id, d.id)] = None
    for s in registry.switches:
        state.switches[s.id] = s.model_dump(mode="json")
    for i, w in enumerate(registry.maintenance):
        state.windows[i + 1] = {
            "partner": w.partner,
            "start": w.start,
            "end": w.end,
            "reason": w.reason,
        }
    return state


def test_the_same_registry_differs_in_nothing(registry: Registry) -> None:
    assert not diff(recorded(registry), registry)


def test_from_empty_everything_is_added(registry: Registry) -> None:
    changes = diff(State(), registry)
    assert changes.count("add") == len(changes.changes) > 0
    assert changes.changes[0].line().startswith("+ partner ")


def test_a_moved_port_is_a_change_of_partner_and_omissions_retire(registry: Registry) -> None:
    body = registry.model_dump(mode="json")
    woonbron = next(p for p in body["partners"] if p["id"] == "woonbron")
    builder = next(p for p in body["partners"] if p["id"] == "bouwbedrijf-drechtsteden")
    builder["ports"].append(woonbron["ports"].pop())
    woonbron["devices"].pop()
    edited = Registry.model_validate(body)
    lines = diff(recorded(registry), edited).lines()
    assert "~ port dmd-dist-2/ge-0-0-7: partner woonbron → bouwbedrijf-drechtsteden" in lines
    assert f"- device woonbron/temp-sterrenburg-14 ({ABSENT})" in lines
    assert not any(line.startswith("- port") for line in lines)


def test_auto_registered_devices_are_not_retired_by_a_file(registry: Registry) -> None:
    state = recorded(registry)
    state.devices[("woonbron", "auto-1")] = {
        "kind": "generic",
        "interval_s": 60,
        "port": None,
        "switch": None,
    }
    state.auto_devices.add(("woonbron", "auto-1"))
    assert not diff(state, registry)


def test_a_retired_id_cannot_come_back(registry: Registry) -> None:
    state = recorded(registry)
    del state.devices[("woonbron", "heat-crabbehof-01")]
    state.device_known[("woonbron", "heat-crabbehof-01")] = T0
    with pytest.raises(ConflictingChange, match="never reused") as refused:
        diff(state, registry)
    assert refused.value.loc[0] == "partners" and refused.value.loc[-1] == "id"
