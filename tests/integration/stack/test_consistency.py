"""The platform against the simulator's ground truth, end to end through real processes.

`mainport simulate` backfills three hours of three partners with every fault kind
(simulators/scenarios/consistency.yaml) into a real Mosquitto; `mainport ingest`, `mainport
derive` and `mainport api` run as child processes. The API's uptime, incidents and usage must
then equal what the simulator's independent ground truth (simulators/truth.py) says the same
messages imply under SPEC's definitions: uptime within 0.01 percentage points, incidents and
byte counts exact.

The window lies a few hours in the past (the ingest accepts timestamps up to a year old) and
holds a maintenance window, placed through the test's own copy of config/partners.yaml that
the simulator and every process share, so unknown time is exercised whatever today's date.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from access.broker import INGEST_ACCOUNT, NETWORK_ACCOUNT, AccountStore, write_broker_files
from access.tokens import OPERATOR, TokenStore
from core.processes import Child, free_port
from domain.registry import load_registry
from mainport.services import BrokerConfig, start_broker
from tests.conftest import PARTNERS_FILE, REPO, control_engine, wait_for
from tests.integration.access_common import start_api
from tests.integration.conftest import Influx
from tests.integration.stack.consistency_support import (
    api_incidents,
    api_subjects,
    close_pct,
    delivered,
    derived_up_to_date,
    ingest_acked,
    iso,
    truth_incidents,
    truth_subjects,
    write_partners,
)
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

SCENARIO = REPO / "simulators" / "scenarios" / "consistency.yaml"
PARTNERS = ["woonbron", "gemeente-dordrecht", "waterschap-hollandse-delta"]
MIN_MS = 60_000
DURATION_MS = 180 * MIN_MS
MAINTENANCE_MS = (80 * MIN_MS, 110 * MIN_MS)
"""Offsets from the start; the scenario's faults are placed around this window."""


@dataclass(frozen=True)
class Run:
    """The finished run: the simulator's truth, and the API to hold against it."""

    truth: dict[str, Any]
    api: httpx.Client
    start: str
    end: str
    maintenance: tuple[str, str]
    influx: InfluxClient

    def get(self, path: str, **params: str) -> Any:
        resp = self.api.get(path, params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def uptime(self, partner: str) -> Any:
        return self.get(f"/api/v1/partners/{partner}/uptime", start=self.start, end=self.end)

    def usage(self, partner: str, **params: str) -> Any:
        return self.get(f"/api/v1/partners/{partner}/usage", **{"start": self.start, **params})

    def truth_of(self, partner: str) -> dict[str, Any]:
        return next(p for p in self.truth["partners"] if p["partner"] == partner)


def _stop(children: list[Child]) -> None:
    for child in reversed(children):
        child.stop()


@pytest.fixture(scope="module")
def run(influxd: Influx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The whole run: services up, the scenario simulated, everything ingested and derived."""
    root = tmp_path_factory.mktemp("consistency")
    data_dir, logs = root / "var", root / "log"
    # Whole seconds, three hours ending an hour ago: well inside the ingest's window, and
    # nothing of it cut off by `now`.
    start_ms = (int(time.time()) - 4 * 3600) * 1000
    end_ms = start_ms + DURATION_MS
    maintenance = (start_ms + MAINTENANCE_MS[0], start_ms + MAINTENANCE_MS[1])
    partners_file = root / "partners.yaml"
    write_partners(PARTNERS_FILE, partners_file, *maintenance)
    registry = load_registry(partners_file)

    accounts = AccountStore(control_engine(data_dir))
    passwords = {s: accounts.issue(s) for s in (INGEST_ACCOUNT, NETWORK_ACCOUNT, *PARTNERS)}
    # One login per partner for all its simulated devices: client ids not bound (test_up runs
    # the simulator on device logins against a bound broker).
    cfg = BrokerConfig("127.0.0.1", free_port(), data_dir / "mosquitto", bind_client_ids=False)
    write_broker_files(accounts, registry, "mainport", cfg.directory)
    influx = InfluxClient(influxd.url, f"test_{uuid.uuid4().hex[:12]}", timeout_s=60)
    ensure_schema(influx, "INF")
    token = TokenStore(control_engine(data_dir)).issue(OPERATOR)
    metrics_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_PARTNERS_FILE=str(partners_file),
        MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_MQTT_HOST=cfg.host,
        MAINPORT_MQTT_PORT=str(cfg.port),
        MAINPORT_MQTT_TLS_PORT="0",
        MAINPORT_MQTT_PASSWORD=passwords[INGEST_ACCOUNT],
        MAINPORT_INFLUX_URL=influxd.url,
        MAINPORT_INFLUX_DB=influx.db,
        MAINPORT_INGEST_GROUP=f"g{uuid.uuid4().hex[:8]}",
        MAINPORT_INGEST_CLIENT_ID=f"ingest-{uuid.uuid4().hex[:8]}",
        MAINPORT_INGEST_BATCH_AGE_MS="50",
        MAINPORT_INGEST_METRICS_PORT=str(metrics_port),
        MAINPORT_DERIVE_LAG_S="2",
        MAINPORT_DERIVE_POLL_S="0.2",
        MAINPORT_SIM_CREDENTIALS=json.dumps(
            {s: [s, pw] for s, pw in passwords.items() if s != INGEST_ACCOUNT}
        ),
        PYTHONUNBUFFERED="1",
    )

    def child(name: str, *args: str) -> Child:
        c = Child(
            name, [sys.executable, "-m", "mainport", *args], log_file=logs / f"{name}.log", env=env
        )
        c.start()
        children.append(c)
        return c

    children: list[Child] = []
    api: Child | None = None
    try:
        children.append(start_broker(cfg, logs))
        ingest = child("ingest", "ingest")
        derive = child("derive", "derive")
        api, base = start_api(env, logs)

        def ingest_subscribed() -> bool:
            # It records its broker link right after subscribing; no message is missed after.
            return bool(influx.query('SELECT last("connected") FROM "ingest_link"')[0])

        wait_for(ingest_subscribed, 60, "the ingest subscribed")
        truth_file = root / "truth.json"
        sim = child(
            "simulate",
            "simulate",
            str(SCENARIO),
            "--speed",
            "max",
            "--start",
            iso(start_ms),
            "--duration",
            f"{DURATION_MS // 1000}s",
            "--truth",
            str(truth_file),
            "--client-prefix",
            "consistency",
        )
        wait_for(lambda: sim.exit_code() is not None, 90, "the simulator to finish")
        assert sim.exit_code() == 0, sim.tail()
        truth = json.loads(truth_file.read_text())
        expected = delivered(truth)
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        try:
            wait_for(lambda: ingest_acked(metrics) >= expected, 60, f"{expected} messages acked")
        except AssertionError:
            got = ingest_acked(metrics)
            raise AssertionError(f"acked {got} of {expected}:\n{ingest.tail()}") from None
        try:
            wait_for(lambda: derived_up_to_date(influx), 60, "the deriver to catch up")
        except AssertionError:
            raise AssertionError(f"the deriver fell behind:\n{derive.tail()}") from None
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            yield Run(
                truth,
                http,
                iso(start_ms),
                iso(end_ms),
                (iso(maintenance[0]), iso(maintenance[1])),
                influx,
            )
    finally:
        if api is not None:
            api.stop()
        _stop(children)
        influx.query(f'DROP DATABASE "{influx.db}"', db=False)
        influx.close()


@pytest.mark.parametrize("partner", PARTNERS)
def test_uptime_equals_the_ground_truth(run: Run, partner: str) -> None:
    got, want = run.uptime(partner), run.truth_of(partner)

    assert close_pct(got["uptime_pct"], want["uptime_pct"]), (got["uptime_pct"], want)
    assert close_pct(got["link_uptime_pct"], want["link_uptime_pct"])
    ours, theirs = api_subjects(got), truth_subjects(run.truth, partner)
    assert ours.keys() == theirs.keys()
    for subject, figures in theirs.items():
        assert close_pct(ours[subject].uptime_pct, figures.uptime_pct), subject
        assert (ours[subject].downtime_s, ours[subject].incidents) == (
            figures.downtime_s,
            figures.incidents,
        ), subject


@pytest.mark.parametrize("partner", PARTNERS)
def test_incidents_equal_the_ground_truth(run: Run, partner: str) -> None:
    got = api_incidents(run.uptime(partner))

    assert got == truth_incidents(run.truth, partner, run.end)


def test_the_run_exercises_every_fault_and_the_maintenance_window(run: Run) -> None:
    """Guards the scenario: agreement on empty lists would prove nothing."""
    truth = run.truth
    incidents = {
        (d["device"], i["start"], i["end"], i["cause"])
        for d in truth["devices"]
        for i in d["incidents"]
    }
    assert {cause for *_, cause in incidents} == {"offline", "timeout", "link"}
    lo, hi = run.maintenance
    # An outage across the maintenance window is cut at both its ends (two incidents) …
    assert any(d == "heat-crabbehof-01" and end == lo for d, _, end, _ in incidents)
    assert any(d == "heat-crabbehof-01" and start == hi for d, start, _, _ in incidents)
    # … outages that began inside it resume at its end, their causes read there …
    assert any(
        d == "temp-sterrenburg-12" and s == hi and c == "timeout" for d, s, _, c in incidents
    )
    assert any(d == "level-oude-maas" and s == hi and c == "link" for d, s, _, c in incidents)
    # … and those wholly inside it leave no trace.
    ports = {f"{p['switch']}/{p['port']}": p for p in truth["ports"]}
    assert not any(  # dropped 85m–95m, its Last Will inside the window
        d == "heat-crabbehof-02" and {lo, hi} & {s, e} for d, s, e, _ in incidents
    )
    assert ports["dmd-core-2/xe-0-1-2"]["incidents"] == []  # down 85m–95m
    assert any(end is None for _, _, end, _ in incidents)  # still down when the run ended
    assert sum(bool(p["resets"]) for p in ports.values()) == 2
    assert all(p["duplicates"] > 0 and p["rejected"] for p in truth["partners"])
    # Only the maintenance window is unknown time: the ingest was connected throughout.
    for partner in PARTNERS:
        assert run.uptime(partner)["unknown"] == [{"start": lo, "end": hi, "reason": "maintenance"}]


@pytest.mark.parametrize("partner", PARTNERS)
def test_usage_equals_the_ground_truth(run: Run, partner: str) -> None:
    got = run.usage(partner, end=run.end, samples="true")
    want = run.truth_of(partner)

    assert (got["messages"], got["mqtt_bytes"]) == (want["messages"], want["mqtt_bytes"])
    assert (got["bytes_in"], got["bytes_out"]) == (want["bytes_in"], want["bytes_out"])
    ports = {(p["switch"], p["port"]): (p["bytes_in"], p["bytes_out"]) for p in got["ports"]}
    assert ports == {
        (p["switch"], p["port"]): (p["bytes_in"], p["bytes_out"])
        for p in run.truth["ports"]
        if p["partner"] == partner
    }
    assert (got["p95_in_bps"], got["p95_out_bps"]) == (want["p95_in_bps"], want["p95_out_bps"])
    assert got["p95"]["buckets"] == want["p95_buckets"]


@pytest.mark.parametrize("partner", PARTNERS)
def test_rejected_messages_equal_the_ground_truth_per_reason(run: Run, partner: str) -> None:
    # A dead letter counts at the payload's own ts when that is valid, else when it was received
    # (ingest/points.py): in this backfill the latter is after the scenario's window, so ask up
    # to now.
    got = run.usage(partner)["rejected"]
    letters = run.get(f"/api/v1/partners/{partner}/rejected", start=run.start, limit="1000")
    want = run.truth_of(partner)["rejected"]

    assert got == sum(want.values())
    assert Counter(letter["reason"] for letter in letters) == want


def test_the_network_collectors_rejected_messages_are_counted_apart(run: Run) -> None:
    series = run.influx.query(
        'SELECT count("bytes") FROM "rejected" WHERE "partner" = \'_network\' GROUP BY "reason"'
    )[0]
    got = {s.tags["reason"]: int(s.values[0][1]) for s in series}

    assert got == run.truth_of("_network")["rejected"]
