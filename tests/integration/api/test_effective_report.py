"""Effective times in figures (issue 13): a past month's report does not change when today's
registry does. Two days of November (tests/integration/api/analytics_history.py) go through
the ingest's writer and the deriver into InfluxDB; a live `mainport api` on the control-plane
database answers the report, uptime and usage for November; then, with the API running, a
fibre port moves to another partner and a device's interval changes, both in force from now.
November's answers stay the same byte for byte, without a restart and without
`mainport derive --rebuild`, while the registry in force now shows both changes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, insert

from access.tokens import OPERATOR, PARTNER, TokenStore
from controlplane.db import open_database, utcnow, write_tx
from controlplane.registry_store import seed
from controlplane.tables import device_terms, port_terms
from core.processes import free_port
from core.settings import Settings
from derive.deriver import Deriver
from domain.registry import Registry, load_registry
from tests.conftest import PARTNERS_FILE, control_engine, wait_for
from tests.integration.access_common import start_api
from tests.integration.api.analytics_history import PARTNER_ID, SWITCH, make_history
from tests.integration.conftest import Influx
from tests.integration.raw_store import Store
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

pytestmark = pytest.mark.integration

MOVED_PORT = "xe-0-0-1"
KEPT_PORT = "xe-0-0-2"
NEW_OWNER = "woonbron"
SLOWER = "footfall-voorstraat"  # 300 s in the file: T = 900 s judged its November silences
NOVEMBER = {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}


@pytest.fixture
def influx(influxd: Influx, registry: Registry) -> Iterator[InfluxClient]:
    client = InfluxClient(influxd.url, f"test_{uuid.uuid4().hex[:12]}", timeout_s=60)
    ensure_schema(client, "INF")
    yield client
    client.query(f'DROP DATABASE "{client.db}"', db=False)
    client.close()


def derive_history(client: InfluxClient, registry: Registry, spool: Path) -> None:
    store = Store(client, spool)
    deriver = Deriver(client, registry, grace_factor=3.0, lag_s=5.0)
    lines = make_history().lines
    for k in range(0, len(lines), 2000):
        store.put(lines[k : k + 2000])
        while deriver.step():
            pass
    store.writer.stop()


def device_now(conn: Connection, device: str, at: datetime, interval_s: int, port: str) -> None:
    """New terms for one of the partner's devices from `at` (what `device set` writes)."""
    conn.execute(
        insert(device_terms).values(
            partner_id=PARTNER_ID,
            device_id=device,
            effective_from=at,
            interval_s=interval_s,
            port=port,
            retired=False,
            recorded_at=at,
        )
    )


def november(http: httpx.Client, operator: dict[str, str]) -> list[bytes]:
    """Every November figure of the partner that loses the port and of the one that gains it."""
    answers = [
        http.get("/api/v1/report", params={"month": "2026-11"}, headers=operator),
        http.get(
            "/api/v1/report",
            params={"month": "2026-11"},
            headers={**operator, "Accept": "text/csv"},
        ),
    ]
    for partner in (PARTNER_ID, NEW_OWNER):
        for figure in ("uptime", "usage"):
            answers.append(
                http.get(f"/api/v1/partners/{partner}/{figure}", params=NOVEMBER, headers=operator)
            )
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return [answer.content for answer in answers]


def test_last_months_report_is_unchanged_when_a_port_moves_and_an_interval_changes_today(
    control_db: str, influx: InfluxClient, registry: Registry, tmp_path: Path
) -> None:
    derive_history(influx, registry, tmp_path / "spool")
    engine = open_database(control_db)
    seed(engine, load_registry(PARTNERS_FILE), at=utcnow() - timedelta(days=60), actor="test")
    settings = Settings(partners_file=PARTNERS_FILE, data_dir=tmp_path / "var")
    tokens = TokenStore(control_engine(settings.data_dir, control_db))
    operator = {"Authorization": f"Bearer {tokens.issue(OPERATOR)}"}
    partner_token = tokens.issue(PARTNER, PARTNER_ID)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE),
        MAINPORT_DATA_DIR=str(settings.data_dir),
        MAINPORT_DATABASE_URL=control_db,
        MAINPORT_INFLUX_URL=influx.url,
        MAINPORT_INFLUX_DB=influx.db,
        MAINPORT_MQTT_PORT=str(free_port()),  # nothing there: these endpoints need no broker
        PYTHONUNBUFFERED="1",
    )
    child, base = start_api(env, tmp_path / "log")
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            before = november(http, operator)
            now = utcnow()
            with write_tx(engine) as (conn, _version):
                conn.execute(
                    insert(port_terms).values(
                        switch=SWITCH,
                        port=MOVED_PORT,
                        effective_from=now,
                        partner_id=NEW_OWNER,
                        capacity_mbps=10_000.0,
                        interval_s=60,
                        retired=False,
                        recorded_at=now,
                    )
                )
                # The devices behind the moved port now sit behind the partner's other one.
                for device in ("aq-spuiboulevard", "aq-merwekade", "noise-grotekerk"):
                    device_now(conn, device, now, 60, KEPT_PORT)
                device_now(conn, SLOWER, now, 60, KEPT_PORT)  # 300 s → 60 s

            def moved() -> bool:
                own = http.get(f"/api/v1/partners/{NEW_OWNER}/usage", headers=operator).json()
                return (SWITCH, MOVED_PORT) in [(p["switch"], p["port"]) for p in own["ports"]]

            wait_for(moved, what="the API running with the port moved")
            mine = http.get(  # since the move: the partner's own port only
                f"/api/v1/partners/{PARTNER_ID}/usage",
                params={"start": now.isoformat()},
                headers={"Authorization": f"Bearer {partner_token}"},
            ).json()
            assert [p["port"] for p in mine["ports"]] == [KEPT_PORT]
            after = november(http, operator)
    finally:
        child.stop()
        engine.dispose()
    assert after == before
