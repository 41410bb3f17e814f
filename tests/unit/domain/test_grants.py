"""domain.grants, the rules on plain data: which device may be shared with whom, how the grant
log replays, and what a grant opens (end to end: tests/integration/access/test_grants.py)."""

from __future__ import annotations

from textwrap import dedent

import pytest

from domain.grants import (
    NOT_RECORDED,
    Grant,
    GrantError,
    check_grant,
    check_purpose,
    replay,
    shared_topics,
    shown_purpose,
)
from domain.registry import Registry, parse_registry

A = "gemeente-dordrecht"  # owns the air-quality sensors
B = "bouwbedrijf-drechtsteden"  # the builder the municipality may share them with
SENSOR = "aq-spuiboulevard"
OTHER_SENSOR = "aq-merwekade"


def _grant(gid: str = "g-000000000001", device: str = SENSOR, **kw: str) -> Grant:
    return Grant(gid, kw.get("owner", A), kw.get("grantee", B), device, "test", "2026-11-23T12:00Z")


def test_replay_applies_revocations(registry: Registry) -> None:
    events = [
        {
            "event": "grant",
            "id": "g-1",
            "owner": A,
            "grantee": B,
            "device": SENSOR,
            "by": "x",
            "at": "t1",
        },
        {"event": "revoke", "id": "g-1", "by": "y", "at": "t2"},
    ]
    (grant,) = replay(events)
    assert (grant.active, grant.revoked_by, grant.revoked_at) == (False, "y", "t2")


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ([{"event": "revoke", "id": "g-1", "by": "y", "at": "t"}], "revokes unknown grant"),
        ([{"event": "grant", "id": "g-1", "owner": A}], "without 'grantee'"),
        ([{"event": "regrant", "id": "g-1"}], "unknown event"),
    ],
)
def test_replay_refuses_a_log_it_cannot_read_fully(
    events: list[dict[str, str]], problem: str
) -> None:
    # Skipping a line could skip a revocation and hand access back: refuse instead.
    with pytest.raises(GrantError, match=problem):
        replay(events)


@pytest.mark.parametrize(
    ("owner", "grantee", "device", "problem"),
    [
        (A, A, SENSOR, "already reads its own"),
        (A, "nobody-here", SENSOR, "unknown grantee"),
        (A, B, "hall-a-temp", "not a registered device of gemeente-dordrecht"),
        (B, A, SENSOR, "not a registered device of bouwbedrijf-drechtsteden"),
        ("nobody-here", B, SENSOR, "unknown partner"),
    ],
)
def test_only_a_registered_device_of_the_owner_can_be_shared_with_another_partner(
    registry: Registry, owner: str, grantee: str, device: str, problem: str
) -> None:
    with pytest.raises(GrantError, match=problem):
        check_grant(registry, owner, grantee, device)


def test_a_grant_on_a_device_no_longer_registered_opens_nothing() -> None:
    registry = parse_registry(
        dedent(
            f"""\
            partners:
              - {{id: {A}, name: A, devices: [{{id: {OTHER_SENSOR}}}]}}
              - {{id: {B}, name: B}}
            """
        )
    )
    assert shared_topics([_grant()], registry, "mainport") == {}


def test_a_purpose_is_required_stripped_printable_and_bounded() -> None:
    assert check_purpose("  dust limits during the works ") == "dust limits during the works"
    for bad in ("", "   ", "line\nbreak", "x" * 501):
        with pytest.raises(GrantError, match="purpose"):
            check_purpose(bad)


def test_a_grant_from_before_purposes_shows_it_was_not_recorded() -> None:
    assert shown_purpose(_grant()) == NOT_RECORDED
