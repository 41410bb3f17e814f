"""Grants and the broker ACL: the read-only topic a grant adds to every login of the grantee
(the grants' store: tests/integration/access/test_access_store.py; end to end:
tests/integration/access/test_grants.py and test_grant_expiry.py)."""

from __future__ import annotations

from access.broker import Account, render_acl
from domain.grants import Grant
from domain.registry import Registry

A = "gemeente-dordrecht"  # owns the air-quality sensors
B = "bouwbedrijf-drechtsteden"  # the builder the municipality may share them with
C = "woonbron"  # a third partner, who must see none of it
SENSOR = "aq-spuiboulevard"
OTHER_SENSOR = "aq-merwekade"


def _grant(gid: str = "g-000000000001", device: str = SENSOR, **kw: str) -> Grant:
    return Grant(gid, kw.get("owner", A), kw.get("grantee", B), device, "test", "2026-11-23T12:00Z")


def test_acl_gives_every_login_of_the_grantee_read_only_access_to_the_shared_topic(
    registry: Registry,
) -> None:
    accounts = [
        Account(B, B, "h", "t"),
        Account(f"{B}.gateway", B, "h", "t"),
        Account(C, C, "h", "t"),
    ]
    revoked = Grant("g-000000000002", A, C, OTHER_SENSOR, "x", "t", revoked_at="t2")
    acl = render_acl(accounts, registry, "mainport", [_grant(), revoked])
    shared = f"topic read mainport/{A}/{SENSOR}/telemetry"
    assert acl.count(shared) == 2  # B and B.gateway, read only
    assert f"{A}/{OTHER_SENSOR}" not in acl  # revoked: gone
    assert f"user {C}\ntopic readwrite mainport/{C}/#\n" in acl
