"""The broker's rights follow the live registry (issue 13): a partner added to the control-plane
database while the broker runs can publish with a login issued for it, without a restart —
the `mainport up` supervisor's wiring (mainport/broker_follow.py) on a real Mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from access.broker import apply_access
from controlplane.db import open_database, utcnow, write_tx
from controlplane.registry_store import insert_partner, seed
from controlplane.snapshot import RegistrySource
from domain.registry import Partner, Registry
from mainport.broker_follow import follow_broker
from tests.conftest import wait_for
from tests.integration.conftest import Broker, run_broker
from tests.integration.mqtt_support import subscribe

pytestmark = pytest.mark.integration

NEW = "nieuw-net"


@pytest.fixture
def own_broker(tmp_path: Path, registry: Registry) -> Iterator[Broker]:
    found, child = run_broker(tmp_path, registry, bind_client_ids=True)
    yield found
    child.stop()


def test_a_partner_added_while_the_broker_runs_can_publish_with_its_login(
    control_db: str, own_broker: Broker, registry: Registry
) -> None:
    broker = own_broker
    engine = open_database(control_db)
    seed(engine, registry, at=utcnow() - timedelta(days=1), actor="test")
    source = RegistrySource(engine, 0.1)
    notes: list[str] = []
    follow_broker(
        source,
        lambda current: apply_access(broker.store, current, "mainport", broker.directory, []),
        notes.append,
    )
    source.start()
    # A login for a partner the registry does not know yet: it logs in, but has no rights.
    password = broker.store.issue(NEW)
    broker.reload()
    broker.wait_for_login(NEW, password)
    broker.passwords[NEW] = password
    topic = f"mainport/{NEW}/d-1/telemetry"
    try:
        with contextmanager(subscribe)(
            broker.host, broker.port, broker.passwords["_ingest"]
        ) as sub:
            publisher = broker.client(NEW, client_id=NEW)
            publisher.publish(topic, b"before", qos=1).wait_for_publish(10)
            with write_tx(engine) as (conn, _version):
                insert_partner(conn, Partner(id=NEW, name="Nieuw Net"), at=utcnow(), actor="t")

            def delivered() -> bool:
                publisher.publish(topic, b"after", qos=1).wait_for_publish(10)
                return any(m[0] == topic for m in sub.messages)

            wait_for(delivered, what="the new partner's message delivered")
            assert next(m[1] for m in sub.messages if m[0] == topic) == b"after"
            publisher.disconnect()
            publisher.loop_stop()
    finally:
        source.stop()
        engine.dispose()
    assert notes == []
