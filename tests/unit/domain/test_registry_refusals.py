"""domain.registry: every partners file it refuses, one row per case, each checked for where the
error points (file, line and field path) and the reason it gives."""

from __future__ import annotations

from textwrap import dedent

import pytest

from domain.registry import RegistryError, parse_registry


def refusal(text: str) -> str:
    """The RegistryError message for `text`, read as the file `p.yaml`."""
    with pytest.raises(RegistryError) as info:
        parse_registry(dedent(text), "p.yaml")
    return str(info.value)


def _partner_id(slug: str) -> str:
    return f"partners:\n  - id: '{slug}'\n    name: A\n"


SLUG_PATTERN = "String should match pattern '^[a-z0-9][a-z0-9-]{1,31}$'"

# (the partners file, where the message starts: "file:line: field path: ", what it says)
REFUSALS = [
    # --- field rules -------------------------------------------------------------------------
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
          - id: Beta_Corp
            name: B
        """,
        "p.yaml:4: partners.1.id: ",
        SLUG_PATTERN,
        id="bad partner slug",
    ),
    *(
        pytest.param(_partner_id(slug), "p.yaml:2: partners.0.id: ", SLUG_PATTERN, id=f"id {slug}")
        for slug in ["a", "-alpha", "alpha_", "x" * 33, "ALPHA"]
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
            devices:
              - id: ok-1
              - id: -starts-with-dash
        """,
        "p.yaml:6: partners.0.devices.1.id: ",
        "String should match pattern",
        id="bad device id",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
            devices:
              - {id: d1, intervl_s: 30}
        """,
        "p.yaml:5: partners.0.devices.0.intervl_s: ",
        "Extra inputs are not permitted",
        id="unknown extra key",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
        maintenence: []
        """,
        "p.yaml:4: maintenence: ",
        "Extra inputs are not permitted",
        id="unknown top-level key",
    ),
    # --- contradictions ----------------------------------------------------------------------
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
          - id: alpha
            name: B
        """,
        "p.yaml:4: partners.1.id: ",
        "duplicate partner id: 'alpha'",
        id="duplicate partner id",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
            devices:
              - {id: d1}
              - {id: d1}
        """,
        "p.yaml:6: partners.0.devices.1.id: ",
        "duplicate device id in partner 'alpha': 'd1'",
        id="duplicate device id within a partner",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
            devices:
              - {id: d1, port: xe-9}
            ports:
              - {switch: sw-1, port: xe-1, capacity_mbps: 10}
        """,
        "p.yaml:5: partners.0.devices.0.port: ",
        "device 'd1' sits behind port 'xe-9'",
        id="device behind a port its partner lacks",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
            devices:
              - {id: d1, port: xe-1}
            ports:
              - {switch: sw-1, port: xe-1, capacity_mbps: 10}
              - {switch: sw-2, port: xe-1, capacity_mbps: 10}
        """,
        "p.yaml:5: partners.0.devices.0.port: ",
        "port 'xe-1' exists on several of partner 'alpha''s switches (sw-1, sw-2)",
        id="device port name shared by two of its partner's switches",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
            ports:
              - {switch: sw-1, port: xe-1, capacity_mbps: 10}
          - id: beta
            name: B
            ports:
              - {switch: sw-1, port: xe-1, capacity_mbps: 10}
        """,
        "p.yaml:9: partners.1.ports.0",
        "switch port 'sw-1/xe-1' already belongs to partner 'alpha'",
        id="switch port assigned to two partners",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
        maintenance:
          - partner: gamma
            start: 2026-11-20T02:00:00Z
            end: 2026-11-20T03:00:00Z
        """,
        "p.yaml:5: maintenance.0.partner: ",
        "maintenance names unknown partner 'gamma'",
        id="maintenance naming an unknown partner",
    ),
    # --- maintenance times -------------------------------------------------------------------
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
        maintenance:
          - partner: alpha
            start: 2026-11-20T04:00:00Z
            end: 2026-11-20T03:00:00Z
        """,
        "p.yaml:5: maintenance.0: ",
        "end must be after start",
        id="maintenance ending before it starts",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
        maintenance:
          - partner: "*"
            start: 2026-11-20T04:00:00Z
            end: 2026-11-20T04:00:00Z
        """,
        "p.yaml:5: maintenance.0: ",
        "end must be after start",
        id="maintenance of zero length",
    ),
    pytest.param(
        """\
        partners:
          - id: alpha
            name: A
        maintenance:
          - partner: alpha
            start: 2026-11-20T02:00:00
            end: 2026-11-20T03:00:00Z
        """,
        "p.yaml:5: maintenance.0: ",
        "time zone",
        id="maintenance time without a time zone",
    ),
    # --- the file's shape --------------------------------------------------------------------
    pytest.param("partners: [\n  - {id: a\n", "p.yaml: not valid YAML: ", "line 2", id="not YAML"),
    *(
        pytest.param(text, "p.yaml: expected a mapping", "at the top", id=f"top level {name}")
        for name, text in [
            ("a list", "- alpha\n- beta\n"),
            ("a string", "just a string\n"),
            ("empty", ""),
            ("a number", "42\n"),
        ]
    ),
    pytest.param("partners: 3\n", "p.yaml:1: partners: ", "valid tuple", id="partners not a list"),
    pytest.param(
        "maintenance: []\n", "p.yaml:1: partners: ", "Field required", id="partners missing"
    ),
]


@pytest.mark.parametrize(("text", "where", "reason"), REFUSALS)
def test_a_bad_partners_file_is_refused_naming_where_and_why(
    text: str, where: str, reason: str
) -> None:
    message = refusal(text)

    assert message.startswith(where), message
    assert reason in message, message


def test_every_problem_is_reported_one_per_line() -> None:
    message = refusal(
        """\
        partners:
          - id: Alpha
            name: A
            ports:
              - {switch: sw-1, port: xe-1, capacity_mbps: 0}
        """
    )

    lines = message.splitlines()
    assert lines[0].startswith("p.yaml:2: partners.0.id: ")
    assert lines[1].startswith("p.yaml:5: partners.0.ports.0.capacity_mbps: ")
