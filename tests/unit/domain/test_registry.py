"""domain.registry: the shipped partners file, every validation rule and where its error points,
the SPEC's port-of rule, look-ups and maintenance coverage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest

from domain.registry import (
    Device,
    Partner,
    Port,
    Registry,
    RegistryError,
    load_registry,
    parse_registry,
)
from tests.conftest import PARTNERS_FILE


def parse(text: str) -> Registry:
    return parse_registry(dedent(text), "p.yaml")


# --- the shipped file --------------------------------------------------------------------


def test_shipped_partners_file_loads_five_partners() -> None:
    registry = load_registry(PARTNERS_FILE)

    assert [p.id for p in registry.partners] == [
        "gemeente-dordrecht",
        "woonbron",
        "bouwbedrijf-drechtsteden",
        "waterschap-hollandse-delta",
        "drechtsteden-datacenter",
    ]
    assert len(list(registry.devices())) == 19
    assert registry.maintenance[0].partner == "*"


def test_unreadable_partners_file_is_a_registry_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(RegistryError, match=r"nope\.yaml"):
        load_registry(missing)


def test_load_registry_names_the_path_in_field_errors(tmp_path: Path) -> None:
    path = tmp_path / "partners.yaml"
    path.write_text("partners:\n  - id: Bad\n    name: B\n", encoding="utf-8")

    with pytest.raises(RegistryError, match=r"partners\.yaml:2: partners\.0\.id:"):
        load_registry(path)


def test_device_defaults_are_generic_kind_and_sixty_seconds() -> None:
    registry = parse(
        """\
        partners:
          - id: alpha
            name: A
            devices:
              - id: d1
        """
    )

    device = registry.partners[0].devices[0]
    assert (device.kind, device.interval_s, device.port) == ("generic", 60, None)


# --- what the rules allow (every refusal: test_registry_refusals.py) -------------------------


def test_same_device_id_under_two_partners_is_allowed() -> None:
    registry = parse(
        """\
        partners:
          - {id: alpha, name: A, devices: [{id: d1}]}
          - {id: beta, name: B, devices: [{id: d1}]}
        """
    )

    assert registry.device("alpha", "d1") is not None
    assert registry.device("beta", "d1") is not None


def test_same_port_name_on_two_switches_is_two_ports() -> None:
    registry = parse(
        """\
        partners:
          - id: alpha
            name: A
            ports:
              - {switch: sw-1, port: xe-1, capacity_mbps: 10}
          - id: beta
            name: B
            ports:
              - {switch: sw-2, port: xe-1, capacity_mbps: 10}
        """
    )

    assert registry.port_owner[("sw-1", "xe-1")].id == "alpha"
    assert registry.port_owner[("sw-2", "xe-1")].id == "beta"


# --- Partner.port_of: the SPEC rule ------------------------------------------------------


def _partner(ports: int, device_port: str | None = None) -> tuple[Partner, Device]:
    device = Device(id="d1", port=device_port)
    return (
        Partner(
            id="alpha",
            name="A",
            devices=(device,),
            ports=tuple(
                Port(switch="sw-1", port=f"xe-{i}", capacity_mbps=1000) for i in range(ports)
            ),
        ),
        device,
    )


def test_device_naming_a_port_sits_behind_that_port() -> None:
    partner, device = _partner(ports=3, device_port="xe-2")

    port = partner.port_of(device)

    assert port is not None
    assert port.key == ("sw-1", "xe-2")


def test_device_without_a_port_sits_behind_the_only_port() -> None:
    partner, device = _partner(ports=1)

    port = partner.port_of(device)

    assert port is not None
    assert port.key == ("sw-1", "xe-0")


def test_device_without_a_port_sits_behind_none_when_there_are_several() -> None:
    partner, device = _partner(ports=2)

    assert partner.port_of(device) is None


def test_device_of_a_partner_without_ports_sits_behind_none() -> None:
    partner, device = _partner(ports=0)

    assert partner.port_of(device) is None


def test_shipped_devices_sit_behind_their_partners_ports() -> None:
    registry = load_registry(PARTNERS_FILE)
    dordrecht = registry.by_id["gemeente-dordrecht"]
    woonbron = registry.by_id["woonbron"]

    footfall = registry.device("gemeente-dordrecht", "footfall-voorstraat")
    heat = registry.device("woonbron", "heat-crabbehof-01")

    assert footfall is not None
    assert heat is not None
    assert dordrecht.port_of(footfall) == Port(
        switch="dmd-core-1", port="xe-0-0-2", capacity_mbps=1000
    )
    assert woonbron.port_of(heat) == Port(switch="dmd-dist-2", port="ge-0-0-7", capacity_mbps=1000)


# --- look-ups ----------------------------------------------------------------------------


@pytest.fixture
def small() -> Registry:
    return parse(
        """\
        partners:
          - id: alpha
            name: A
            devices:
              - {id: d1, kind: noise, interval_s: 30}
              - {id: d2}
            ports:
              - {switch: sw-1, port: xe-1, capacity_mbps: 10}
          - id: beta
            name: B
            devices:
              - {id: d3}
        maintenance:
          - partner: alpha
            start: 2026-11-20T02:00:00+01:00
            end: 2026-11-20T03:00:00+01:00
            reason: swap optics
          - partner: "*"
            start: 2026-11-21T02:00:00Z
            end: 2026-11-21T03:00:00Z
        """
    )


def test_device_lookup_finds_a_registered_device(small: Registry) -> None:
    device = small.device("alpha", "d1")

    assert device is not None
    assert (device.kind, device.interval_s) == ("noise", 30)


def test_device_lookup_of_an_unknown_device_is_none(small: Registry) -> None:
    assert small.device("alpha", "d9") is None


def test_device_lookup_under_the_wrong_partner_is_none(small: Registry) -> None:
    assert small.device("beta", "d1") is None


def test_device_lookup_of_an_unknown_partner_is_none(small: Registry) -> None:
    assert small.device("gamma", "d1") is None
    assert small.partner("gamma") is None


def test_devices_yields_every_device_with_its_partner(small: Registry) -> None:
    pairs = [(p.id, d.id) for p, d in small.devices()]

    assert pairs == [("alpha", "d1"), ("alpha", "d2"), ("beta", "d3")]


def test_port_owner_maps_switch_and_port_to_the_partner(small: Registry) -> None:
    assert {key: p.id for key, p in small.port_owner.items()} == {("sw-1", "xe-1"): "alpha"}


# --- maintenance -------------------------------------------------------------------------


def test_maintenance_for_a_partner_covers_that_partner_only(small: Registry) -> None:
    window = small.maintenance[0]

    assert window.covers("alpha")
    assert not window.covers("beta")


def test_network_wide_maintenance_covers_every_partner(small: Registry) -> None:
    window = small.maintenance[1]

    assert window.covers("alpha")
    assert window.covers("beta")
    assert window.covers("not-even-registered")


def test_maintenance_times_keep_their_offset(small: Registry) -> None:
    window = small.maintenance[0]

    assert window.start == datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert window.reason == "swap optics"
