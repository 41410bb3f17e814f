"""The control-plane schema on both databases: migrations up from empty, run concurrently, and the
snapshot a process reads (controlplane/snapshot.py) reflecting effective times."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, inspect

from controlplane import audit
from controlplane.db import current_version, make_engine, open_database, upgrade, write_tx
from controlplane.registry_store import seed
from controlplane.snapshot import RegistrySource, load_snapshot
from controlplane.tables import device_terms, devices, metadata, partners, port_terms, ports
from domain.registry import Registry

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_migrations_create_every_table_and_run_concurrently(control_db: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: upgrade(control_db), range(4)))
    engine = make_engine(control_db)
    try:
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert current_version(conn) == 0
    finally:
        engine.dispose()


def test_snapshot_uses_the_terms_in_force(control_db: str) -> None:
    engine = open_database(control_db)
    moved = T0 + timedelta(days=10)
    with write_tx(engine) as (conn, version):
        for pid in ("alpha", "beta"):
            conn.execute(
                insert(partners).values(id=pid, name=pid.title(), budgets={}, created_at=T0)
            )
        conn.execute(insert(ports).values(switch="sw-1", port="p1", created_at=T0))
        conn.execute(
            insert(port_terms),
            [
                {
                    "switch": "sw-1",
                    "port": "p1",
                    "effective_from": T0,
                    "partner_id": "alpha",
                    "capacity_mbps": 100.0,
                    "interval_s": 60,
                    "retired": False,
                    "recorded_at": T0,
                },
                {
                    "switch": "sw-1",
                    "port": "p1",
                    "effective_from": moved,
                    "partner_id": "beta",
                    "capacity_mbps": 1000.0,
                    "interval_s": 60,
                    "retired": False,
                    "recorded_at": T0,
                },
            ],
        )
        conn.execute(
            insert(devices).values(partner_id="alpha", id="d1", kind="meter", created_at=T0)
        )
        conn.execute(
            insert(device_terms),
            [
                {
                    "partner_id": "alpha",
                    "device_id": "d1",
                    "effective_from": T0,
                    "interval_s": 60,
                    "retired": False,
                    "recorded_at": T0,
                },
                {
                    "partner_id": "alpha",
                    "device_id": "d1",
                    "effective_from": moved,
                    "interval_s": 300,
                    "retired": True,
                    "recorded_at": T0,
                },
            ],
        )
    assert version == 1
    with engine.connect() as conn:
        before = load_snapshot(conn, T0 + timedelta(days=1))
        after = load_snapshot(conn, moved + timedelta(days=1))
    assert before.registry.port_owner[("sw-1", "p1")].id == "alpha"
    assert [d.id for d in before.registry.by_id["alpha"].devices] == ["d1"]
    assert after.registry.port_owner[("sw-1", "p1")].id == "beta"
    assert after.registry.by_id["alpha"].devices == ()
    moved_ns = int(moved.timestamp()) * 10**9
    assert after.history.owner_at(("sw-1", "p1"), moved_ns - 1) == "alpha"
    assert after.history.owner_at(("sw-1", "p1"), moved_ns) == "beta"
    assert after.history.is_retired("alpha", "d1", moved_ns)

    source = RegistrySource(engine, poll_s=0.05)
    assert not source.refresh()
    with write_tx(engine) as (conn, _):
        conn.execute(insert(partners).values(id="gamma", name="Gamma", budgets={}, created_at=T0))
    assert source.refresh()
    assert source.current().registry.partner("gamma") is not None
    engine.dispose()


def test_seed_writes_the_partners_file_once(control_db: str, registry: Registry) -> None:
    engine = open_database(control_db)
    assert seed(engine, registry, at=T0, actor="test")
    assert not seed(engine, registry, at=T0, actor="test")
    with engine.connect() as conn:
        snapshot = load_snapshot(conn, T0 + timedelta(hours=1))
        assert snapshot.version == 1
        assert snapshot.registry == registry.canonical()
        logged = audit.entries(conn, limit=100_000)
    creates = {(e.entity, e.entity_id) for e in logged}
    assert ("partner", registry.partners[0].id) in creates
    assert len(logged) == len(creates)
    engine.dispose()
