"""A `RegistrySource` reads only what changed since its last read (controlplane/snapshot_reader.py):
after every kind of change, and when terms written for later take effect, what it holds is what
a whole read at that time gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, insert, update

from controlplane.db import open_database, utcnow, write_tx
from controlplane.registry_store import insert_device, insert_maintenance, insert_partner, seed
from controlplane.snapshot import RegistrySource, load_snapshot
from controlplane.tables import device_terms, partners, port_terms
from domain.registry import Device, MaintenanceWindow, Partner, Registry

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_the_incremental_reads_equal_a_whole_read_after_each_change(
    control_db: str, registry: Registry
) -> None:
    engine = open_database(control_db)
    start = utcnow() - timedelta(days=30)
    seed(engine, registry, at=start, actor="test")
    clock = Clock(utcnow())
    source = RegistrySource(engine, 0.1, clock=clock)
    a, b = registry.partners[0], registry.partners[1]
    port = a.ports[0]
    soon = clock.now + timedelta(hours=1)

    def terms(**values: object) -> dict[str, object]:
        return {"retired": False, "recorded_at": clock.now, **values}

    def move_port(c: Connection) -> None:
        """The port moves to b; a's devices behind it move to a's other port, in one change."""
        c.execute(
            insert(port_terms).values(
                switch=port.switch,
                port=port.port,
                effective_from=clock.now,
                partner_id=b.id,
                capacity_mbps=5.0,
                interval_s=30,
                **terms(),
            )
        )
        for d in a.devices:
            if d.port == port.port:
                c.execute(insert(device_terms).values(
                    partner_id=a.id, device_id=d.id, effective_from=clock.now,
                    interval_s=d.interval_s, port=a.ports[1].port, **terms(),
                ))  # fmt: skip

    changes: list[Callable[[Connection], object]] = [
        lambda c: insert_device(c, a.id, Device(id="new-1"), at=clock.now, actor="t"),
        lambda c: insert_partner(c, Partner(id="nieuw-net", name="Nieuw"), at=clock.now, actor="t"),
        move_port,
        lambda c: c.execute(  # retired, backdated
            insert(device_terms).values(
                partner_id=b.id, device_id=b.devices[0].id,
                effective_from=clock.now - timedelta(days=1), interval_s=60,
                **terms(retired=True),
            )
        ),
        lambda c: c.execute(  # an interval change for later
            insert(device_terms).values(
                partner_id=a.id, device_id="new-1", effective_from=soon, interval_s=10, **terms()
            )
        ),
        lambda c: c.execute(update(partners).where(partners.c.id == b.id).values(name="Renamed")),
        lambda c: insert_maintenance(
            c, MaintenanceWindow(partner="*", start=soon, end=soon + timedelta(hours=1)),
            at=clock.now, actor="t",
        ),
    ]  # fmt: skip
    for change in changes:
        with write_tx(engine) as (conn, _version):
            change(conn)
        clock.now += timedelta(seconds=1)
        assert source.refresh()
        with engine.connect() as conn:
            whole = load_snapshot(conn, clock.now)
        assert source.current().registry == whole.registry
        assert source.current().history == whole.history
    # Terms written for later take effect when their time comes, without a new version.
    assert source.current().registry.device(a.id, "new-1").interval_s == 60  # type: ignore[union-attr]
    clock.now = soon + timedelta(seconds=1)
    assert source.refresh()
    assert source.current().registry.device(a.id, "new-1").interval_s == 10  # type: ignore[union-attr]
    engine.dispose()
