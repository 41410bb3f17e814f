"""domain.switches and the registry's `switches:`: strict checking with file:line errors, port
name mapping from IF-MIB names to registry slugs, the credentials file's form, and the spans a
switch was unreachable (domain.spans.unreachable_spans)."""

from __future__ import annotations

from textwrap import dedent

import pytest

from domain.registry import RegistryError, parse_registry
from domain.spans import unreachable_spans
from domain.switches import (
    CommunityV2c,
    CredentialsError,
    Switch,
    UsmV3,
    parse_credentials,
    port_slug,
)

BASE = """\
partners:
  - id: lab
    name: Lab
    ports:
      - {switch: core-1, port: xe-0-0-1, capacity_mbps: 1000}
switches:
"""


def refused(switches: str) -> str:
    with pytest.raises(RegistryError) as info:
        parse_registry(BASE + dedent(switches), "p.yaml")
    return str(info.value)


def test_a_switch_with_defaults() -> None:
    reg = parse_registry(BASE + "  - {id: core-1, address: 127.0.2.1, credentials: core}\n")
    (sw,) = reg.switches
    assert (sw.host, sw.udp_port, sw.interval_s, sw.port_names) == ("127.0.2.1", 161, 60, "ifName")
    assert [p.port for p in reg.ports_of_switch("core-1")] == ["xe-0-0-1"]


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [("sw.example.net:1161", "sw.example.net", 1161), ("[2001:db8::7]:162", "2001:db8::7", 162)],
)
def test_addresses_with_ports(address: str, host: str, port: int) -> None:
    sw = Switch.model_validate({"id": "core-1", "address": address, "credentials": "c"})
    assert (sw.host, sw.udp_port) == (host, port)


def test_bad_switch_fields_are_refused_naming_file_line_and_field() -> None:
    message = refused(
        """\
          - {id: core-1, address: "host:99999", credentials: c}
          - {id: core-2, address: h, credentials: c, port_names: ifIndex, community: public}
        """
    )
    assert "p.yaml:7: switches.0.address" in message and "99999" in message
    assert "p.yaml:8: switches.1.port_names" in message
    assert "p.yaml:8: switches.1.community: Extra inputs are not permitted" in message


def test_duplicate_switch_ids_are_refused() -> None:
    message = refused(
        """\
          - {id: core-1, address: a, credentials: c}
          - {id: core-1, address: b, credentials: c}
        """
    )
    assert "duplicate switch id: 'core-1'" in message and "p.yaml:8" in message


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("xe-0/0/1", "xe-0-0-1"),
        ("GigabitEthernet1/0/7", "gigabitethernet1-0-7"),
        ("  Port 12 (uplink) ", "port-12-uplink"),
        ("/", None),
        ("x" * 40, None),
    ],
)
def test_interface_names_become_registry_port_slugs(name: str, slug: str | None) -> None:
    assert port_slug(name) == slug


def test_an_explicit_port_map_wins() -> None:
    sw = Switch.model_validate(
        {"id": "core-1", "address": "a", "credentials": "c", "port_map": {"Te1/1": "uplink-a"}}
    )
    assert sw.port_name("Te1/1") == "uplink-a" and sw.port_name("Te1/2") == "te1-2"


def test_credentials_file_v2c_and_v3_and_its_refusals() -> None:
    creds = parse_credentials(
        dedent(
            """\
            credentials:
              lab: {version: "2c", community: s3cret}
              core: {version: "3", user: mp, auth_key: authauth, priv_key: privpriv}
            """
        ),
        "snmp.yaml",
    ).credentials
    assert isinstance(creds["lab"], CommunityV2c) and isinstance(creds["core"], UsmV3)
    assert "s3cret" not in repr(creds)  # secrets never in logs
    with pytest.raises(CredentialsError, match=r"snmp.yaml:2: credentials.core.3.auth_key"):
        parse_credentials(
            'credentials:\n  core: {version: "3", user: mp, auth_key: short, priv_key: privpriv}\n',
            "snmp.yaml",
        )


def test_unreachable_spans_run_from_false_to_the_next_true() -> None:
    reports = [(10, True), (20, False), (25, False), (40, True), (50, False)]
    assert unreachable_spans(reports, 0, 100) == [(20, 40), (50, 100)]
    assert unreachable_spans(reports, 30, 60) == [(30, 40), (50, 60)]
    assert unreachable_spans([(5, False)], 30, 60) == [(30, 60)]  # still down from before
    assert unreachable_spans([], 0, 10) == []
