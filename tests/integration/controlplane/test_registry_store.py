"""Writing the registry on both databases: `apply` of a whole file (from empty, twice, dry run,
export round trip, what the file leaves out), entity changes with effective times, retirement
and ids never reused, and what `mainport up` does with each source of truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from controlplane import audit
from controlplane import registry_network_ops as net
from controlplane import registry_ops as ops
from controlplane.db import current_version, open_database
from controlplane.registry_errors import ConflictingChange, InvalidChange, UnknownEntity
from controlplane.registry_store import apply, export, prepare_registry, seed
from controlplane.snapshot import load_snapshot
from controlplane.tables import audit as audit_table
from controlplane.tables import device_terms, port_terms
from domain.registry import Registry, parse_registry
from domain.registry_yaml import dump_registry

T0 = datetime(2026, 11, 1, tzinfo=UTC)
P = "gemeente-dordrecht"
W = "woonbron"


@pytest.fixture
def engine(control_db: str) -> Iterator[Engine]:
    e = open_database(control_db)
    yield e
    e.dispose()


def version(engine: Engine) -> int:
    with engine.connect() as conn:
        return current_version(conn)


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_table)).scalar_one())


def entity_count(registry: Registry) -> int:
    return (
        len(registry.partners)
        + sum(len(p.devices) + len(p.ports) for p in registry.partners)
        + len(registry.maintenance)
        + len(registry.switches)
    )


def test_apply_from_empty_is_the_file_and_twice_changes_nothing(
    engine: Engine, registry: Registry
) -> None:
    planned = apply(engine, registry, actor="test", at=T0, dry_run=True)
    assert planned.count("add") == entity_count(registry)
    assert version(engine) == 0 and audit_count(engine) == 0  # the dry run wrote nothing

    done = apply(engine, registry, actor="test", at=T0)
    assert done.lines() == planned.lines()
    assert version(engine) == 1  # one transaction
    assert audit_count(engine) == entity_count(registry)
    assert export(engine, T0 + timedelta(hours=1)) == registry.canonical()

    again = apply(engine, registry, actor="test", at=T0 + timedelta(hours=1))
    assert not again and again.summary() == "no changes"
    assert version(engine) == 1 and audit_count(engine) == entity_count(registry)


def test_seeded_then_applied_is_already_equal(engine: Engine, registry: Registry) -> None:
    assert seed(engine, registry, at=T0, actor="test")
    assert not apply(engine, registry, actor="test", at=T0 + timedelta(minutes=1))


def test_export_then_apply_round_trip(engine: Engine, registry: Registry) -> None:
    apply(engine, registry, actor="test", at=T0)
    ops.add_device(engine, W, {"id": "extra-1", "kind": "meter"}, actor="test")
    text = dump_registry(export(engine))
    assert "password" not in text and "community" not in text
    assert not apply(engine, parse_registry(text), actor="test", at=datetime.now(UTC))


def test_apply_changes_and_retires_what_the_file_leaves_out(
    engine: Engine, registry: Registry
) -> None:
    apply(engine, registry, actor="test", at=T0)
    body = registry.model_dump()
    partners = [p for p in body["partners"] if p["id"] != "bouwbedrijf-drechtsteden"]
    dordrecht = next(p for p in partners if p["id"] == P)
    dordrecht["devices"][0]["interval_s"] = 300
    changed_id = dordrecht["devices"][0]["id"]
    edited = Registry.model_validate({**body, "partners": partners})
    at = T0 + timedelta(days=1)
    changes = apply(engine, edited, actor="test", at=at)
    lines = changes.lines()
    assert f"~ device {P}/{changed_id}: interval_s 60 → 300" in lines
    assert "- partner bouwbedrijf-drechtsteden (absent from the file)" in lines
    assert any(line.startswith("- device bouwbedrijf-drechtsteden/") for line in lines)
    assert any(line.startswith("- port dmd-dist-2/ge-0-0-12") for line in lines)
    with engine.connect() as conn:
        before = load_snapshot(conn, at - timedelta(seconds=1))
        after = load_snapshot(conn, at + timedelta(seconds=1))
    assert before.registry.device(P, changed_id).interval_s == 60  # type: ignore[union-attr]
    assert after.registry.device(P, changed_id).interval_s == 300  # type: ignore[union-attr]
    assert after.registry.partner("bouwbedrijf-drechtsteden") is None
    retired_ns = int(at.timestamp()) * 10**9
    assert after.history.is_retired("bouwbedrijf-drechtsteden", "site-noise-1", retired_ns)
    assert not after.history.is_retired("bouwbedrijf-drechtsteden", "site-noise-1", retired_ns - 1)

    # The retired partner's id comes back in the file: refused, naming where.
    with pytest.raises(ConflictingChange, match="never reused") as refused:
        apply(engine, registry, actor="test", at=at + timedelta(days=1))
    assert refused.value.loc[0] == "partners"


def test_effective_times_are_written_as_asked(engine: Engine, registry: Registry) -> None:
    apply(engine, registry, actor="test", at=T0)
    device = registry.by_id[W].devices[0].id
    past, future = T0 + timedelta(days=2), datetime.now(UTC) + timedelta(days=30)
    ops.set_device(engine, W, device, {"interval_s": 120}, actor="test", effective=past)
    ops.set_device(engine, W, device, {"interval_s": 600}, actor="test", effective=future)
    with engine.connect() as conn:
        rows = conn.execute(
            select(device_terms.c.effective_from, device_terms.c.interval_s)
            .where(device_terms.c.device_id == device)
            .order_by(device_terms.c.effective_from)
        ).all()
        now = load_snapshot(conn, datetime.now(UTC)).registry
    assert [(r.effective_from, r.interval_s) for r in rows] == [
        (T0, 60),
        (past, 120),
        (future, 600),
    ]
    assert now.device(W, device).interval_s == 120  # type: ignore[union-attr]
    # A change may not slip in before the latest recorded one (the timeline grows at its end).
    with pytest.raises(ConflictingChange, match="after it") as refused:
        ops.set_device(engine, W, device, {"interval_s": 30}, actor="test", effective=past)
    assert refused.value.field == "effective_from"

    port = registry.by_id[W].ports[0]
    moved = T0 + timedelta(days=10)
    net.set_port(engine, port.switch, port.port, {"partner": P}, actor="test", effective=moved)
    with engine.connect() as conn:
        owners = conn.execute(
            select(port_terms.c.effective_from, port_terms.c.partner_id)
            .where(port_terms.c.port == port.port)
            .order_by(port_terms.c.effective_from)
        ).all()
        history = load_snapshot(conn, datetime.now(UTC)).history
    assert [(r.effective_from, r.partner_id) for r in owners] == [(T0, W), (moved, P)]
    moved_ns = int(moved.timestamp()) * 10**9
    assert history.owner_at(port.key, moved_ns - 1) == W
    assert history.owner_at(port.key, moved_ns) == P


def test_retire_keeps_history_and_ids_are_never_reused(engine: Engine, registry: Registry) -> None:
    apply(engine, registry, actor="test", at=T0)
    ops.add_device(engine, W, {"id": "meter-9", "kind": "meter"}, actor="ops")
    with pytest.raises(ConflictingChange, match="already exists"):
        ops.add_device(engine, W, {"id": "meter-9"}, actor="ops")
    retired_from = datetime.now(UTC) + timedelta(seconds=1)
    ops.retire_device(engine, W, "meter-9", actor="ops", effective=retired_from)
    with pytest.raises(ConflictingChange, match="ids are never reused"):
        ops.add_device(engine, W, {"id": "meter-9"}, actor="ops")
    with engine.connect() as conn:
        terms = conn.execute(
            select(device_terms.c.retired).where(device_terms.c.device_id == "meter-9")
        ).all()
        logged = audit.entries(conn, partner=W, limit=5)
    assert [t.retired for t in terms] == [False, True]
    assert (logged[0].action, logged[0].entity_id, logged[0].actor) == (
        "retire",
        f"{W}/meter-9",
        "ops",
    )
    assert logged[0].before is not None and logged[0].before["kind"] == "meter"

    ops.retire_partner(engine, "bouwbedrijf-drechtsteden", actor="ops")
    with pytest.raises(ConflictingChange, match="ids are never reused"):
        ops.add_partner(engine, {"id": "bouwbedrijf-drechtsteden", "name": "Again"}, actor="ops")
    port = registry.by_id["bouwbedrijf-drechtsteden"].ports[0]
    with pytest.raises(ConflictingChange, match="ids are never reused"):
        net.add_port(
            engine,
            {"switch": port.switch, "port": port.port, "partner": W, "capacity_mbps": 10},
            actor="ops",
        )


def test_refusals_name_the_field(engine: Engine, registry: Registry) -> None:
    apply(engine, registry, actor="test", at=T0)
    with pytest.raises(InvalidChange) as bad_port:
        ops.add_device(engine, P, {"id": "x-1", "port": "nope"}, actor="t")
    assert bad_port.value.field == "port" and "not one of" in bad_port.value.reason
    with pytest.raises(InvalidChange) as bad_interval:
        ops.add_device(engine, P, {"id": "x-1", "interval_s": 0}, actor="t")
    assert bad_interval.value.field == "interval_s"
    with pytest.raises(UnknownEntity):
        ops.add_device(engine, "nobody-here", {"id": "x-1"}, actor="t")
    carrying = registry.by_id[P].ports[0]
    with pytest.raises(InvalidChange, match="still carries devices"):
        net.set_port(engine, carrying.switch, carrying.port, {"partner": W}, actor="t")
    with pytest.raises(UnknownEntity):
        net.add_maintenance(
            engine,
            {"partner": "nobody-here", "start": T0, "end": T0 + timedelta(hours=1)},
            actor="t",
        )
    with pytest.raises(InvalidChange) as backwards:
        net.add_maintenance(
            engine, {"partner": "*", "start": T0, "end": T0 - timedelta(hours=1)}, actor="t"
        )
    assert "end must be after start" in backwards.value.reason
    assert version(engine) == 1  # refusals changed nothing


def test_maintenance_plan_move_cancel(engine: Engine, registry: Registry) -> None:
    apply(engine, registry, actor="test", at=T0)
    start = datetime.now(UTC) + timedelta(days=3)
    window = net.add_maintenance(
        engine, {"partner": W, "start": start, "end": start + timedelta(hours=2)}, actor="t"
    )
    net.set_maintenance(engine, window, {"reason": "splice"}, actor="t")
    with engine.connect() as conn:
        planned = load_snapshot(conn, datetime.now(UTC)).registry.maintenance
    assert any(w.partner == W and w.reason == "splice" for w in planned)
    net.retire_maintenance(engine, window, actor="t")
    with engine.connect() as conn:
        planned = load_snapshot(conn, datetime.now(UTC)).registry.maintenance
        logged = audit.entries(conn, partner=W, limit=3)
    assert not any(w.partner == W for w in planned)
    assert [e.action for e in logged] == ["retire", "update", "create"]


def test_prepare_registry_by_source_of_truth(
    engine: Engine, registry: Registry, tmp_path: Path
) -> None:
    from tests.conftest import PARTNERS_FILE

    assert "seeded" in prepare_registry(
        engine, source="database", partners_file=PARTNERS_FILE, actor="up"
    )
    ops.add_device(engine, W, {"id": "kept-1"}, actor="ops")
    # Database source: a restart never undoes a change.
    prepare_registry(engine, source="database", partners_file=PARTNERS_FILE, actor="up")
    assert export(engine).device(W, "kept-1") is not None
    # File source: the file is applied at every start, so what it does not list is retired.
    said = prepare_registry(engine, source="file", partners_file=PARTNERS_FILE, actor="up")
    assert "1 to retire" in said
    assert export(engine).device(W, "kept-1") is None


def test_switches_add_set_retire(engine: Engine, registry: Registry) -> None:
    apply(engine, registry, actor="test", at=T0)
    spec = {"id": "dmd-edge-9", "address": "127.0.0.1:16100", "credentials": "edge"}
    net.add_switch(engine, spec, actor="t")
    (changed,) = net.set_switch(engine, "dmd-edge-9", {"interval_s": 30}, actor="t")
    assert changed.fields() == {"interval_s": (60, 30)}
    with pytest.raises(InvalidChange) as bad:
        net.set_switch(engine, "dmd-edge-9", {"address": "not a host:99999"}, actor="t")
    assert bad.value.field == "address"
    assert export(engine).switches[-1].interval_s == 30
    net.retire_switch(engine, "dmd-edge-9", actor="t")
    assert all(s.id != "dmd-edge-9" for s in export(engine).switches)
    with pytest.raises(ConflictingChange, match="never reused"):
        net.add_switch(engine, spec, actor="t")
