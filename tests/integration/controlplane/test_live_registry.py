"""A registry change reaches a running ingest without a restart (issue 13, "live everywhere"),
through the real Mosquitto, the real `mainport ingest` and InfluxDB, on SQLite and PostgreSQL.

The ingest reads its registry from the control-plane database (controlplane/live.py): a device
listed while it runs is accepted from then on (its partner has no budget for unlisted devices,
so before that it is refused), and once retired its later messages are refused with reason
`retired_device` while one timed before the retirement is still the device's own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, insert

from controlplane.db import open_database, utcnow, write_tx
from controlplane.registry_store import insert_device, seed
from controlplane.tables import device_terms
from core.processes import Child, free_port
from domain.registry import Device, load_registry
from ingest.deadletters import count_store
from tests.conftest import PARTNERS_FILE, wait_for
from tests.integration.conftest import Broker, stack_env
from tests.integration.ingest.ingest_harness import metric, publish
from timeseries.client import InfluxClient

pytestmark = pytest.mark.integration

PARTNER = "woonbron"
NEW = "meter-live-01"


def partners_file(directory: Path) -> Path:
    """config/partners.yaml with no budget for unlisted devices at woonbron."""
    text = PARTNERS_FILE.read_text().replace(
        "    name: Woonbron (woningcorporatie)\n",
        "    name: Woonbron (woningcorporatie)\n    budgets: {auto_devices: 0}\n",
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "partners.yaml"
    path.write_text(text)
    return path


def retire_device(engine: Engine, partner: str, device: str, at: datetime) -> None:
    """What the store's `device retire` writes: terms that say retired from `at`."""
    with write_tx(engine) as (conn, _version):
        conn.execute(
            insert(device_terms).values(
                partner_id=partner,
                device_id=device,
                effective_from=at,
                interval_s=60,
                retired=True,
                recorded_at=utcnow(),
            )
        )


def message(device: str, ts: datetime) -> tuple[str, bytes]:
    payload = orjson.dumps({"ts": int(ts.timestamp() * 1000), "metrics": {"kwh": 1.0}})
    return f"mainport/{PARTNER}/{device}/telemetry", payload


def counted(port: int, kind: str, **labels: str) -> float:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return metric(port, f"mainport_ingest_{kind}_total{{{inner}}}")


def test_a_device_listed_or_retired_while_the_ingest_runs_applies_without_restart(
    control_db: str,
    broker: Broker,
    influx_db: InfluxClient,
    spawn: Callable[..., Child],
    tmp_path: Path,
) -> None:
    registry_file = partners_file(tmp_path)
    engine = open_database(control_db)
    seed(engine, load_registry(registry_file), at=utcnow() - timedelta(days=1), actor="test")
    port = free_port()
    group = f"g{uuid.uuid4().hex[:8]}"
    env = stack_env(
        broker,
        influx_db,
        tmp_path / "var",
        MAINPORT_PARTNERS_FILE=str(registry_file),
        MAINPORT_DATABASE_URL=control_db,
        MAINPORT_INGEST_METRICS_PORT=str(port),
        MAINPORT_INGEST_GROUP=group,
        MAINPORT_INGEST_CLIENT_ID=group + "-1",
    )
    spawn("ingest", ["ingest"], env)
    wait_for(lambda: metric(port, "mainport_ingest_broker_connected") == 1, what="connected")
    password = broker.passwords[PARTNER]

    # Unlisted, with no budget for unlisted devices: refused.
    publish(broker.host, broker.port, PARTNER, password, [message(NEW, datetime.now(UTC))])
    wait_for(
        lambda: counted(port, "rejected", partner=PARTNER, reason="too_many_devices") == 1,
        what="the unlisted device refused",
    )
    accepted_before = counted(port, "accepted", partner=PARTNER)

    # Listed while the ingest runs: accepted from then on, no restart.
    with write_tx(engine) as (conn, _version):
        insert_device(conn, PARTNER, Device(id=NEW, kind="meter"), at=utcnow(), actor="test")
    listed = time.monotonic()

    def accepted_now() -> bool:
        publish(broker.host, broker.port, PARTNER, password, [message(NEW, datetime.now(UTC))])
        return counted(port, "accepted", partner=PARTNER) > accepted_before

    wait_for(accepted_now, what="the listed device accepted")
    listed_s = time.monotonic() - listed
    refused = counted(port, "rejected", partner=PARTNER, reason="too_many_devices")

    # Retired while the ingest runs: its later messages are refused as retired_device.
    retired_at = utcnow()
    retire_device(engine, PARTNER, NEW, retired_at)

    def refused_as_retired() -> bool:
        publish(broker.host, broker.port, PARTNER, password, [message(NEW, datetime.now(UTC))])
        return counted(port, "rejected", partner=PARTNER, reason="retired_device") >= 1

    wait_for(refused_as_retired, what="the retired device refused")
    # A message timed before the retirement (a late delivery) is still the device's own.
    accepted = counted(port, "accepted", partner=PARTNER)
    late = message(NEW, retired_at - timedelta(seconds=30))
    publish(broker.host, broker.port, PARTNER, password, [late])
    wait_for(
        lambda: counted(port, "accepted", partner=PARTNER) == accepted + 1,
        what="the late message from before the retirement accepted",
    )
    # Dead-lettered like every other rejection, and nothing else was refused meanwhile.
    wait_for(
        lambda: count_store(influx_db).get((PARTNER, "retired_device"), 0) >= 1,
        what="the retired_device dead letter stored",
    )
    assert counted(port, "rejected", partner=PARTNER, reason="too_many_devices") == refused
    print(f"listed device accepted {listed_s:.2f} s after the commit")
    engine.dispose()
