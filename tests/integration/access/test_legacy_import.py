"""Upgrading a site: the `var/` the file-based code wrote (tokens, broker logins, the grant log)
is brought into the control-plane database on the first start of the new code, on SQLite and
PostgreSQL, and nothing is lost — every token still authenticates with its secret, every login
still logs in to a real broker with its password, every grant is there with its history — while
the old files are kept as `*.migrated`. The `var/` is made by the old code itself
(legacy_writers.py, copied from commit 002279b)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from access.broker import AccountStore, write_broker_files
from access.grants import GrantLog, time_text
from access.store import open_access_database
from access.tokens import OPERATOR, PARTNER
from controlplane import audit
from core.processes import free_port
from core.settings import Settings
from domain.grants import NOT_RECORDED, shown_purpose
from domain.registry import Registry
from mainport.services import BrokerConfig, start_broker
from tests.conftest import PARTNERS_FILE
from tests.integration.access.legacy_writers import (
    LegacyAccountStore,
    LegacyGrantLog,
    LegacyTokenStore,
)
from tests.integration.access_common import A, B, C, Session, bearer, start_api
from tests.integration.conftest import Influx

SENSOR = "aq-spuiboulevard"
OTHER_SENSOR = "aq-merwekade"


def _old_site(data_dir: Path) -> dict[str, object]:
    """What the old code leaves under `data_dir`, and the secrets it handed out."""
    tokens = LegacyTokenStore(data_dir / "secrets" / "api-tokens.json")
    in_a_month = datetime.now(UTC) + timedelta(days=30)
    live_tokens = {
        "operator": tokens.issue(OPERATOR, label="ops laptop"),
        A: tokens.issue(PARTNER, A, label="portal", expires_at=in_a_month),
        B: tokens.issue(PARTNER, B),
    }
    revoked_token = tokens.issue(PARTNER, C)
    assert tokens.revoke(revoked_token.split("_", 2)[1])

    logins = LegacyAccountStore(data_dir / "secrets" / "mqtt-credentials.json")
    passwords = {scope: logins.issue(scope) for scope in (A, B, C, "_ingest", "_network")}
    passwords[f"{A}.gw"] = logins.issue(A, label="gw")
    passwords[f"{A}.{SENSOR}"] = logins.issue_device(A, SENSOR)
    revoked_password = logins.issue(B, label="old")
    assert logins.revoke(f"{B}.old")

    grants = LegacyGrantLog(data_dir / "grants" / "audit.jsonl")
    grants.add(A, B, SENSOR, "operator (CLI, user ops)", "pilot")
    taken_back = grants.add(A, C, OTHER_SENSOR, f"partner {A} (API token 0123456789ab)")
    grants.revoke(taken_back, f"partner {A} (API token 0123456789ab)")
    grants.add(A, B, OTHER_SENSOR, f"partner {A} (API token 0123456789ab)")
    return {
        "tokens": live_tokens,
        "revoked_token": revoked_token,
        "passwords": passwords,
        "revoked_password": revoked_password,
        "grants": grants.grants(),
        "events": grants.events(),
    }


def test_a_var_from_the_file_based_code_loses_no_token_login_or_grant(
    control_db: str, tmp_path: Path, influxd: Influx, registry: Registry
) -> None:
    data_dir = tmp_path / "var"
    old = _old_site(data_dir)
    files = [
        data_dir / "secrets" / "api-tokens.json",
        data_dir / "secrets" / "mqtt-credentials.json",
        data_dir / "grants" / "audit.jsonl",
    ]
    contents = {path: path.read_bytes() for path in files}

    # The new code's first start: the API, on this database.
    env = {
        "MAINPORT_PARTNERS_FILE": str(PARTNERS_FILE),
        "MAINPORT_DATA_DIR": str(data_dir),
        "MAINPORT_DATABASE_URL": control_db,
        "MAINPORT_INFLUX_URL": influxd.url,
        "MAINPORT_MQTT_PORT": str(free_port()),  # no broker: grants are not changed here
        "MAINPORT_MQTT_TLS_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    api, base = start_api(env, tmp_path / "log")
    try:
        tokens: dict[str, str] = old["tokens"]  # type: ignore[assignment]
        for who, token in tokens.items():
            answer = httpx.get(f"{base}/api/v1/grants", headers=bearer(token))
            assert answer.status_code == 200, (who, answer.text)
        refused = httpx.get(f"{base}/api/v1/grants", headers=bearer(str(old["revoked_token"])))
        assert refused.status_code == 401
        listed = httpx.get(
            f"{base}/api/v1/grants", params={"all": "true"}, headers=bearer(tokens["operator"])
        ).json()
    finally:
        api.stop()

    # The old files are kept, renamed, byte for byte.
    for path in files:
        assert not path.exists()
        assert path.with_name(path.name + ".migrated").read_bytes() == contents[path]

    # Every grant, active and revoked, with its history and its original times.
    old_grants = {g.id: g for g in old["grants"]}  # type: ignore[attr-defined]
    assert {g["id"]: g["purpose"] for g in listed} == dict.fromkeys(old_grants, "")
    for view in listed:
        was = old_grants[view["id"]]
        assert (view["owner"], view["grantee"], view["device"], view["note"]) == (
            was.owner,
            was.grantee,
            was.device,
            was.note,
        )
        assert (view["granted_by"], view["granted_at"]) == (was.granted_by, was.granted_at)
        assert (view["revoked_by"], view["revoked_at"]) == (was.revoked_by, was.revoked_at)
        assert view["active"] == was.active and view["ends_at"] is None
    settings = Settings(data_dir=data_dir, database_url=control_db)
    engine = open_access_database(control_db, settings)  # a second start imports nothing more
    try:
        log = GrantLog(engine)
        keys = ("at", "event", "id", "owner", "grantee", "device", "by")
        old_events: list[dict[str, str]] = old["events"]  # type: ignore[assignment]
        assert [{k: e[k] for k in keys} for e in log.events()] == [
            {k: e[k] for k in keys} for e in old_events
        ]
        with engine.connect() as conn:
            history = [e for e in reversed(audit.entries(conn)) if e.entity == "grant"]
        assert [(time_text(e.at), e.action, e.entity_id, e.actor) for e in history] == [
            (e["at"], "create" if e["event"] == "grant" else "revoke", e["id"], e["by"])
            for e in old_events
        ]
        assert {shown_purpose(g) for g in log.grants()} == {NOT_RECORDED}
        _every_login_still_logs_in(engine, tmp_path, registry, old)
    finally:
        engine.dispose()


def _every_login_still_logs_in(
    engine: Engine, tmp_path: Path, registry: Registry, old: dict[str, object]
) -> None:
    """The broker's files rendered from the imported logins and grants, on a real broker."""
    store = AccountStore(engine)
    passwords: dict[str, str] = old["passwords"]  # type: ignore[assignment]
    assert sorted(a.username for a in store.load()) == sorted(passwords)
    cfg = BrokerConfig("127.0.0.1", free_port(), tmp_path / "mosquitto")
    grants = GrantLog(engine).active()
    write_broker_files(store, registry, "mainport", cfg.directory, grants)
    broker = start_broker(cfg, tmp_path / "log")
    sessions: dict[str, Session] = {}
    try:
        for username, password in passwords.items():
            sessions[username] = Session(cfg.host, cfg.port, username, password, client_id=username)
            assert sessions[username].connect() == "Success", username
        refused = Session(cfg.host, cfg.port, f"{B}.old", str(old["revoked_password"]))
        sessions["refused"] = refused
        assert refused.connect() != "Success"
        assert sessions[B].subscribe(f"mainport/{A}/{SENSOR}/telemetry") == "Granted QoS 1"
        assert sessions[C].subscribe(f"mainport/{A}/{OTHER_SENSOR}/telemetry") == "Not authorized"
    finally:
        for session in sessions.values():
            session.close()
        broker.stop()


@pytest.mark.parametrize("damage", ["{not json", '{"tokens": [{"id": "x"}]}'])
def test_a_damaged_former_file_stops_the_start_naming_it_and_is_left_in_place(
    control_db: str, tmp_path: Path, damage: str
) -> None:
    from access.legacy_files import LegacyStateError

    data_dir = tmp_path / "var"
    path = data_dir / "secrets" / "api-tokens.json"
    path.parent.mkdir(parents=True)
    path.write_text(damage)
    settings = Settings(data_dir=data_dir, database_url=control_db)
    with pytest.raises(LegacyStateError, match=r"api-tokens\.json"):
        open_access_database(control_db, settings)
    assert path.read_text() == damage
