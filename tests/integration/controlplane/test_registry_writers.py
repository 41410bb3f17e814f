"""Two processes writing the registry at once, on both databases: no lost update, no id given
twice, one version per write. Each process is a real Python process with its own engine (as
two API or CLI processes are); they start together and race on the same partner."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import func, select

from controlplane import registry_ops as ops
from controlplane.db import current_version, open_database
from controlplane.registry_store import apply
from controlplane.tables import audit, devices
from domain.registry import Registry
from tests.conftest import REPO

WRITER = """
import json, sys, time
from controlplane.db import make_engine
from controlplane import registry_ops as ops
from controlplane.registry_errors import ConflictingChange
url, name, go = sys.argv[1], sys.argv[2], float(sys.argv[3])
engine = make_engine(url)
while time.time() < go:
    time.sleep(0.001)
done = {"own": 0, "contested": 0, "quota": 0, "refused": 0}
for i in range(15):
    ops.add_device(engine, "woonbron", {"id": f"{name}-{i}"}, actor=name)
    done["own"] += 1
    try:
        ops.add_device(engine, "woonbron", {"id": f"both-{i}"}, actor=name)
        done["contested"] += 1
    except ConflictingChange:
        done["refused"] += 1
    try:
        ops.add_device(
            engine, "gemeente-dordrecht", {"id": f"self-{name}-{i}"}, actor=name, self_service=True
        )
        done["quota"] += 1
    except ConflictingChange:
        done["refused"] += 1
print(json.dumps(done))
"""


def test_two_processes_writing_at_once(control_db: str, registry: Registry) -> None:
    engine = open_database(control_db)
    try:
        apply(engine, registry, actor="test", at=datetime.now(UTC))
        dordrecht = len(registry.by_id["gemeente-dordrecht"].devices)
        ops.set_partner(
            engine, "gemeente-dordrecht", {"device_quota": dordrecht + 12}, actor="test"
        )
        with engine.connect() as conn:
            start_version = current_version(conn)
            start_audit = conn.execute(select(func.count()).select_from(audit)).scalar_one()
        go = datetime.now(UTC).timestamp() + 2.0  # both connected and waiting by then
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, control_db, name, str(go)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("one", "two")
        ]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            results.append(json.loads(out))

        own = sum(r["own"] for r in results)
        contested = sum(r["contested"] for r in results)
        quota = sum(r["quota"] for r in results)
        assert own == 30
        assert contested == 15  # each contested id given exactly once
        assert quota == 12  # the quota read inside each transaction: never exceeded
        writes = own + contested + quota
        with engine.connect() as conn:
            ids = conn.execute(select(devices.c.partner_id, devices.c.id)).all()
            assert len(ids) == len(set(ids))
            assert sum(1 for p, d in ids if d.startswith("both-")) == 15
            assert sum(1 for p, d in ids if p == "gemeente-dordrecht") == dordrecht + 12
            # One version per committed write, none lost; refused writes bumped nothing.
            assert current_version(conn) == start_version + writes
            logged = conn.execute(select(func.count()).select_from(audit)).scalar_one()
            assert logged == start_audit + writes
    finally:
        engine.dispose()
