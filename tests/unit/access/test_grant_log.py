"""access.grants and the broker ACL: the append-only grant log on disk, and the read-only topic a
grant adds to every login of the grantee (end to end: tests/integration/access/test_grants.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from access.broker import Account, render_acl
from access.grants import GrantLog, GrantLogError
from domain.grants import AlreadyRevoked, Grant, GrantError
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


def test_the_grant_log_is_append_only_and_names_who_did_what_when(
    tmp_path: Path, registry: Registry
) -> None:
    log = GrantLog(tmp_path / "audit.jsonl")
    (grant,), _ = log.add(registry, A, B, [SENSOR], "operator (CLI, user ops)", "pilot")
    before = log.path.read_text()
    log.revoke(grant.id, f"partner {A} (API token abc)")

    after = log.path.read_text()
    assert after.startswith(before)  # appended, nothing rewritten
    events = [json.loads(line) for line in after.splitlines()]
    assert [(e["event"], e["by"], e["owner"], e["grantee"], e["device"]) for e in events] == [
        ("grant", "operator (CLI, user ops)", A, B, SENSOR),
        ("revoke", f"partner {A} (API token abc)", A, B, SENSOR),
    ]
    assert all(e["at"].endswith("Z") for e in events)
    with pytest.raises(AlreadyRevoked):
        log.revoke(grant.id, "again")


def test_granting_the_same_device_twice_records_it_once(tmp_path: Path, registry: Registry) -> None:
    log = GrantLog(tmp_path / "audit.jsonl")
    created, _ = log.add(registry, A, B, [SENSOR, SENSOR], "x")
    again, existing = log.add(registry, A, B, [SENSOR, OTHER_SENSOR], "x")
    assert len(created) == 1
    assert [g.device for g in again] == [OTHER_SENSOR]
    assert existing == created
    assert len(log.events()) == 2


def test_one_bad_device_in_a_request_records_nothing(tmp_path: Path, registry: Registry) -> None:
    log = GrantLog(tmp_path / "audit.jsonl")
    with pytest.raises(GrantError):
        log.add(registry, A, B, [SENSOR, "not-registered"], "x")
    assert log.events() == []


def test_a_damaged_grant_log_is_refused_not_skipped(tmp_path: Path, registry: Registry) -> None:
    log = GrantLog(tmp_path / "audit.jsonl")
    log.add(registry, A, B, [SENSOR], "x")
    with log.path.open("a") as handle:
        handle.write('{"event": "revoke", "id": \n')
    with pytest.raises(GrantLogError, match=":2: not JSON"):
        log.active()
