"""Budgets per partner against a hostile partner's own valid login (issue 12, finding 4), through
the real Mosquitto, the real `mainport ingest` and the real InfluxDB.

B (woonbron) floods new metric names on a listed device and new device ids; C
(bouwbedrijf-drechtsteden) floods messages; A (gemeente-dordrecht) publishes as usual. Their
budgets come from the registry (a copy of config/partners.yaml with `budgets:` added), so the
per-partner override is exercised too. Before budgets, the same floods left InfluxDB with one
field key per name and one series per device id sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from core.processes import Child, free_port
from ingest.deadletters import count_store
from tests.conftest import PARTNERS_FILE, wait_for
from tests.integration.conftest import Broker, stack_env
from tests.integration.ingest.ingest_harness import BASE_MS, metric, publish
from timeseries.client import InfluxClient

pytestmark = pytest.mark.integration

A, B, C = "gemeente-dordrecht", "woonbron", "bouwbedrijf-drechtsteden"
B_DEVICE = "heat-crabbehof-01"  # listed for B
NAMES_PER_DEVICE, AUTO_DEVICES = 8, 5
NAME_FLOOD, NEW_NAMES = 40, 20  # messages, new names in each
DEVICE_FLOOD = 60
RATE_FLOOD = 200
A_MESSAGES = 20


def partners_file(directory: Path) -> Path:
    text = PARTNERS_FILE.read_text()
    own = {
        "Woonbron (woningcorporatie)": (
            f"{{metrics_per_device: {NAMES_PER_DEVICE}, auto_devices: {AUTO_DEVICES}}}"
        ),
        "Bouwcombinatie Drechtsteden": "{messages_per_s: 1}",
    }
    for name, budgets in own.items():
        text = text.replace(f"    name: {name}\n", f"    name: {name}\n    budgets: {budgets}\n")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "partners.yaml"
    path.write_text(text)
    return path


def msg(partner: str, device: str, seq: int, metrics: dict[str, float]) -> tuple[str, bytes]:
    payload = orjson.dumps({"ts": BASE_MS + seq, "metrics": metrics})
    return f"mainport/{partner}/{device}/telemetry", payload


def send(broker: Broker, partner: str, messages: list[tuple[str, bytes]]) -> None:
    publish(broker.host, broker.port, partner, broker.passwords[partner], messages)


def rejected(port: int, partner: str, reason: str) -> float:
    return metric(port, f'mainport_ingest_rejected_total{{partner="{partner}",reason="{reason}"}}')


def count(influx: InfluxClient, query: str, **params: str) -> int:
    return sum(len(series.values) for series in influx.query(query, params, epoch=None)[0])


def start_ingest(
    spawn: Callable[..., Child], broker: Broker, influx: InfluxClient, tmp: Path, group: str
) -> tuple[int, Child]:
    """An ingest on the test's registry; its metrics port and process, once connected."""
    port = free_port()
    env = stack_env(
        broker,
        influx,
        tmp / "var",
        MAINPORT_PARTNERS_FILE=str(partners_file(tmp)),
        MAINPORT_INGEST_METRICS_PORT=str(port),
        MAINPORT_INGEST_GROUP=group,
        MAINPORT_INGEST_CLIENT_ID=group + "-1",
    )
    child = spawn(f"ingest-{uuid.uuid4().hex[:6]}", ["ingest"], env)
    wait_for(
        lambda: metric(port, "mainport_ingest_broker_connected") == 1,
        what="the ingest connected",
    )
    return port, child


def test_floods_from_one_partner_are_refused_past_its_budgets_and_others_unaffected(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}"
    port, _ = start_ingest(spawn, broker, influx_db, tmp_path, group)

    names = [
        msg(B, B_DEVICE, k, {"power_kw": 1.0} | {f"n{k}_{j}": 1.0 for j in range(NEW_NAMES)})
        for k in range(NAME_FLOOD)
    ]
    devices = [msg(B, f"flood-{k:04d}", k, {"power_kw": 1.0}) for k in range(DEVICE_FLOOD)]
    burst = [msg(C, "site-noise-1", k, {"db": 50.0}) for k in range(RATE_FLOOD)]
    own = [msg(A, "aq-merwekade", k, {"pm25": float(k)}) for k in range(A_MESSAGES)]
    send(broker, B, names + devices)
    flood_began = time.monotonic()
    send(broker, C, burst)
    send(broker, A, own)
    total = NAME_FLOOD + DEVICE_FLOOD + RATE_FLOOD + A_MESSAGES
    wait_for(
        lambda: metric(port, "mainport_ingest_received_total") >= total,
        what=f"{total} messages received",
    )
    flood_s = time.monotonic() - flood_began
    expected_letters = {
        (B, "too_many_metric_names"): NAME_FLOOD,
        (B, "too_many_devices"): DEVICE_FLOOD - AUTO_DEVICES,
    }
    wait_for(
        lambda: all(count_store(influx_db).get(k) == n for k, n in expected_letters.items()),
        what="the dead letters stored",
    )

    # Refused past the budget, each with its reason, counted per partner and reason.
    assert rejected(port, B, "too_many_metric_names") == NAME_FLOOD
    assert rejected(port, B, "too_many_devices") == DEVICE_FLOOD - AUTO_DEVICES
    # C's bucket holds 60 messages (60 s of 1/s) and refills at 1/s while the flood lasts.
    c_accepted = RATE_FLOOD - rejected(port, C, "rate_limited")
    assert 60 <= c_accepted <= 60 + flood_s + 1
    assert metric(port, f'mainport_ingest_budget_auto_devices{{partner="{B}"}}') == AUTO_DEVICES
    # A flood leaves at most one rate_limited dead letter a second, not one per message.
    assert 1 <= count_store(influx_db).get((C, "rate_limited"), 0) <= 30

    # InfluxDB holds no more than the budgets allow for B.
    b_fields = 'SELECT last(*) FROM "telemetry" WHERE "partner" = $p AND "device" = $d'
    [[series]] = influx_db.query(b_fields, {"p": B, "d": B_DEVICE})
    assert sum(v is not None for v in series.values[0][1:]) == NAMES_PER_DEVICE
    b_devices = 'SHOW TAG VALUES FROM "telemetry" WITH KEY = "device" WHERE "partner" = $p'
    assert count(influx_db, b_devices, p=B) == 1 + AUTO_DEVICES
    fields = {s.name: s.values[0][0] for s in influx_db.query("SHOW FIELD KEY CARDINALITY")[0]}
    assert fields["telemetry"] == NAMES_PER_DEVICE + 2  # B's 8, C's db, A's pm25
    assert count(influx_db, 'SHOW SERIES WHERE "partner" = $p', p=B) <= 3 * (1 + AUTO_DEVICES)
    # The known metric beside the refused names was kept in every message.
    power = 'SELECT count("power_kw") FROM "telemetry" WHERE "device" = $d'
    assert influx_db.query(power, {"d": B_DEVICE})[0][0].values[0][1] == NAME_FLOOD

    # A's own data is all there, untouched by B's and C's floods.
    a_points = influx_db.query(
        'SELECT "pm25" FROM "telemetry" WHERE "partner" = $p', {"p": A}, epoch=None
    )[0][0].values
    assert [row[1] for row in a_points] == [float(k) for k in range(A_MESSAGES)]
    assert not any(partner == A for partner, _ in count_store(influx_db))


def test_a_restarted_ingest_starts_from_what_influxdb_holds(
    broker: Broker, influx_db: InfluxClient, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}"
    _, child = start_ingest(spawn, broker, influx_db, tmp_path, group)
    first = [msg(B, f"auto-{k}", k, {"power_kw": 1.0}) for k in range(AUTO_DEVICES)]
    first.append(msg(B, B_DEVICE, 99, {f"m{j}": 1.0 for j in range(NAMES_PER_DEVICE)}))
    send(broker, B, first)
    wait_for(
        lambda: count(influx_db, 'SHOW TAG VALUES FROM "messages" WITH KEY = "device"') == 6,
        what="B's devices stored",
    )
    child.stop()

    port, _ = start_ingest(spawn, broker, influx_db, tmp_path / "again", group)
    again = [msg(B, f"late-{k}", k, {"power_kw": 1.0}) for k in range(3)]
    again.append(msg(B, B_DEVICE, 100, {"m0": 2.0, "brand_new": 1.0}))
    again.append(msg(B, "auto-0", 101, {"power_kw": 2.0}))
    send(broker, B, again)
    wait_for(
        lambda: metric(port, "mainport_ingest_received_total") >= len(again),
        what="the second ingest received B's messages",
    )
    assert rejected(port, B, "too_many_devices") == 3
    assert rejected(port, B, "too_many_metric_names") == 1
    assert metric(port, f'mainport_ingest_budget_auto_devices{{partner="{B}"}}') == AUTO_DEVICES
    wait_for(
        lambda: count_store(influx_db).get((B, "too_many_metric_names")) == 1,
        what="the dead letter stored",
    )
    assert count(influx_db, 'SHOW TAG VALUES FROM "messages" WITH KEY = "device"') == 6
