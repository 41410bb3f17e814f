"""access/ on the control-plane database, on SQLite and PostgreSQL: API tokens, broker logins and
grants — hashes only, every change audited without a secret, nothing lost when two processes
write at once, and a grant that reaches its end date revoked by itself exactly once."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from access.grants import GrantLog
from access.logins import AccountStore, verifies
from access.tokens import OPERATOR, PARTNER, TokenStore
from controlplane import audit
from controlplane.db import open_database
from controlplane.tables import api_tokens, grants, mqtt_logins
from domain.grants import EXPIRED_BY, AlreadyRevoked, GrantError
from domain.registry import Registry
from tests.conftest import REPO
from tests.integration.access_common import A, B, C

SENSOR = "aq-spuiboulevard"
OTHER_SENSOR = "aq-merwekade"


@pytest.fixture
def engine(control_db: str) -> Iterator[Engine]:
    engine = open_database(control_db)
    yield engine
    engine.dispose()


def _audit(engine: Engine) -> list[audit.AuditEntry]:
    with engine.connect() as conn:
        return list(reversed(audit.entries(conn)))  # oldest first


# --- tokens --------------------------------------------------------------------------------


def test_tokens_authenticate_to_their_principal_until_revoked_or_expired(engine: Engine) -> None:
    store = TokenStore(engine, actor="cli:ops")
    operator = store.issue(OPERATOR, label="ops laptop")
    partner = store.issue(PARTNER, A, label="portal")
    short = store.issue(PARTNER, B, expires_at=datetime.now(UTC) + timedelta(hours=1))
    api = TokenStore(engine)  # another process's view: reads on each call

    found = {t: api.authenticate(t) for t in (operator, partner, short)}
    assert [(p.role, p.partner) for p in found.values() if p] == [
        (OPERATOR, None),
        (PARTNER, A),
        (PARTNER, B),
    ]
    assert api.authenticate(operator[:-1] + ("A" if operator[-1] != "A" else "B")) is None
    assert api.authenticate("xx" + operator[2:]) is None
    assert api.authenticate(f"mp_000000000000_{operator.split('_', 2)[2]}") is None
    for garbage in ("", "mp", "mp__", "Bearer x", "mp_only-two", "_ _ _"):
        assert api.authenticate(garbage) is None

    with engine.begin() as conn:  # its expiry comes
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.partner == B)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert api.authenticate(short) is None
    token_id = operator.split("_", 2)[1]
    assert store.revoke(token_id)
    assert not store.revoke(token_id)  # already revoked
    assert api.authenticate(operator) is None
    assert api.authenticate(partner) is not None
    assert sorted(r.label for r in api.records()) == ["", "portal"]
    assert api.record(token_id) is None


def test_only_a_sha256_of_a_token_is_stored_and_the_audit_holds_neither(engine: Engine) -> None:
    store = TokenStore(engine, actor="cli:ops")
    token = store.issue(PARTNER, A, label="portal")
    _, token_id, secret = token.split("_", 2)
    store.revoke(token_id)

    with engine.connect() as conn:
        row = conn.execute(select(api_tokens)).one()
    assert row.sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps([str(v) for v in row])
    entries = _audit(engine)
    assert [(e.action, e.entity, e.entity_id, e.actor, e.partner) for e in entries] == [
        ("create", "token", token_id, "cli:ops", A),
        ("revoke", "token", token_id, "cli:ops", A),
    ]
    text = json.dumps([(e.before, e.after) for e in entries])
    assert secret not in text and row.sha256 not in text


def test_token_requests_that_make_no_sense_are_refused_and_store_nothing(engine: Engine) -> None:
    store = TokenStore(engine)
    for role, partner in ((PARTNER, None), (OPERATOR, A), ("admin", None)):
        with pytest.raises(ValueError):
            store.issue(role, partner)
    assert store.records() == [] and _audit(engine) == []


# --- broker logins -------------------------------------------------------------------------


def test_logins_keep_hashes_only_rotate_revoke_and_drop_runtime(engine: Engine) -> None:
    store = AccountStore(engine, actor="cli:ops")
    old = store.issue(A)
    new = store.issue(A)  # rotates
    store.issue(A, label="gw")
    store.issue_device(A, "heat-1")
    store.issue(A, label="sim", runtime=True)
    store.issue("_ingest", label="up", runtime=True)
    with pytest.raises(ValueError, match="not a device id"):
        store.issue_device(A, "Heat 1")

    accounts = {a.username: a for a in store.load()}
    assert verifies(accounts[A].password_hash, new)
    assert not verifies(accounts[A].password_hash, old)
    assert (accounts[f"{A}.heat-1"].scope, accounts[f"{A}.heat-1"].device) == (A, "heat-1")
    store.drop_runtime()
    assert store.revoke(f"{A}.gw") and not store.revoke(f"{A}.gw")
    assert [a.username for a in store.load()] == [A, f"{A}.heat-1"]

    entries = [e for e in _audit(engine) if e.entity_id == A]
    assert [e.action for e in entries] == ["create", "rotate"]
    with engine.connect() as conn:
        hashes = list(conn.execute(select(mqtt_logins.c.password_hash)).scalars())
    text = json.dumps([(e.before, e.after) for e in _audit(engine)])
    assert not any(h in text for h in hashes) and new not in text and old not in text
    assert {e.actor for e in _audit(engine)} == {"cli:ops"}
    assert {e.partner for e in _audit(engine) if e.entity_id.startswith("_")} == {None}


def test_a_service_password_from_the_environment_is_written_only_when_it_changed(
    engine: Engine,
) -> None:
    store = AccountStore(engine)
    assert store.set_password("_ingest", "_ingest", "from-the-env")
    assert not store.set_password("_ingest", "_ingest", "from-the-env")  # compose rerun
    assert store.set_password("_ingest", "_ingest", "rotated")
    [login] = store.load()
    assert verifies(login.password_hash, "rotated")
    assert [e.action for e in _audit(engine)] == ["create", "rotate"]


WRITER = """
import sys
from access.logins import AccountStore
from access.tokens import OPERATOR, TokenStore
from controlplane.db import open_database
engine = open_database(sys.argv[1])
logins, tokens = AccountStore(engine), TokenStore(engine)
for n in range(int(sys.argv[3])):
    logins.issue("woonbron", label=f"{sys.argv[2]}-{n}")
    print(tokens.issue(OPERATOR, label=f"{sys.argv[2]}-{n}"))
"""


def test_two_processes_issuing_at_once_lose_no_login_and_no_token(
    control_db: str, engine: Engine
) -> None:
    per_process = 15
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, control_db, name, str(per_process)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    issued = [w.communicate(timeout=120)[0].split() for w in writers]
    assert [w.returncode for w in writers] == [0, 0]

    names = {a.username for a in AccountStore(engine).load()}
    assert names == {f"woonbron.p{p}-{n}" for p in (1, 2) for n in range(per_process)}
    tokens = TokenStore(engine)
    assert all(tokens.authenticate(t) is not None for batch in issued for t in batch)
    assert len(tokens.records()) == 2 * per_process
    assert len([e for e in _audit(engine) if e.action == "create"]) == 4 * per_process


# --- grants --------------------------------------------------------------------------------


def test_grants_are_recorded_with_purpose_end_and_history_in_the_audit(
    engine: Engine, registry: Registry
) -> None:
    log = GrantLog(engine)
    ends = datetime.now(UTC) + timedelta(days=30)
    (grant,), _ = log.add(
        registry, A, B, [SENSOR], "cli:ops", "pilot", purpose=" dust limits ", ends_at=ends
    )
    again, existing = log.add(registry, A, B, [SENSOR, OTHER_SENSOR], "cli:ops", purpose="more")
    assert [g.device for g in again] == [OTHER_SENSOR] and existing == [grant]
    assert (grant.purpose, grant.note) == ("dust limits", "pilot")
    assert grant.ends_at is not None and grant.ends_at.startswith(ends.strftime("%Y-%m-%dT%H:%M"))
    revoked = log.revoke(grant.id, f"partner {A} (API token abc)")
    with pytest.raises(AlreadyRevoked):
        log.revoke(grant.id, "again")

    assert [g.id for g in log.active()] == [again[0].id]
    assert [(e["event"], e["id"], e["by"]) for e in log.events()] == [
        ("grant", grant.id, "cli:ops"),
        ("grant", again[0].id, "cli:ops"),
        ("revoke", grant.id, f"partner {A} (API token abc)"),
    ]
    entries = [e for e in _audit(engine) if e.entity == "grant"]
    assert [(e.action, e.entity_id, e.actor, e.partner) for e in entries] == [
        ("create", grant.id, "cli:ops", A),
        ("create", again[0].id, "cli:ops", A),
        ("revoke", grant.id, f"partner {A} (API token abc)", A),
    ]
    assert entries[-1].after is not None
    assert entries[-1].after["revoked_at"] == revoked.revoked_at


def test_a_bad_grant_request_records_nothing(engine: Engine, registry: Registry) -> None:
    log = GrantLog(engine)
    past = datetime.now(UTC) - timedelta(seconds=1)
    for devices, purpose, ends in (
        ([SENSOR, "not-registered"], "x", None),
        ([SENSOR], "", None),
        ([SENSOR], "   ", None),
        ([SENSOR], "x", past),
        ([], "x", None),
    ):
        with pytest.raises(GrantError):
            log.add(registry, A, B, devices, "cli:ops", purpose=purpose, ends_at=ends)
    assert log.grants() == [] and _audit(engine) == []


def test_a_grant_past_its_end_reads_as_revoked_and_is_revoked_once_by_one_of_many(
    engine: Engine, control_db: str, registry: Registry
) -> None:
    log = GrantLog(engine)
    (ending,), _ = log.add(
        registry,
        A,
        B,
        [SENSOR],
        "cli:ops",
        purpose="one day",
        ends_at=datetime.now(UTC) + timedelta(days=1),
    )
    (lasting,), _ = log.add(registry, A, C, [SENSOR], "cli:ops", purpose="for good")
    assert log.expire_due() == []
    ended_at = datetime.now(UTC) - timedelta(milliseconds=10)
    with engine.begin() as conn:  # its end comes
        conn.execute(update(grants).where(grants.c.id == ending.id).values(ends_at=ended_at))

    # The API's view changes at once, before any job ran.
    [seen] = [g for g in log.grants() if g.id == ending.id]
    assert (seen.active, seen.revoked_by) == (False, EXPIRED_BY)
    assert [g.id for g in log.active()] == [lasting.id]

    # Several API replicas run the job at once: exactly one revokes it.
    engines = [open_database(control_db) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            won = list(pool.map(lambda e: GrantLog(e).expire_due(), engines))
    finally:
        for other in engines:
            other.dispose()
    assert sorted(len(w) for w in won) == [0, 0, 0, 1]
    assert log.expire_due() == []
    revokes = [e for e in _audit(engine) if e.action == "revoke"]
    assert [(e.entity, e.entity_id, e.actor, e.partner) for e in revokes] == [
        ("grant", ending.id, EXPIRED_BY, A)
    ]
    with engine.connect() as conn:
        row = conn.execute(select(grants).where(grants.c.id == ending.id)).one()
    assert (row.revoked_by, row.revoked_at) == (EXPIRED_BY, row.ends_at)
