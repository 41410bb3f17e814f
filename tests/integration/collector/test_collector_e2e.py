"""End to end: snmpsim agents → the collector → Mosquitto → `mainport ingest` → InfluxDB → the
deriver → `mainport api`. Bytes, p95 and link uptime from the API equal the truth computed from
the values the agents served; an agent stopped mid-run gives unknown time, not downtime.

The collector's polls are driven by the test (the same `poll` the service runs, published by the
same `MqttPublisher`), so the values served change between polls at known points.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from access.broker import NETWORK_ACCOUNT
from access.tokens import OPERATOR, PARTNER, TokenStore
from collector.poller import Outgoing, SwitchPoller
from collector.service import MqttPublisher, PollResult, poll, pollers
from core.processes import Child
from derive.deriver import Deriver
from domain.intervals import Interval
from domain.registry import parse_registry
from domain.spans import unreachable_spans
from domain.switches import CommunityV2c
from domain.timestamps import format_rfc3339
from domain.uptime import Availability, link_availability, partner_uptime_pct, timeout_ns
from domain.usage import bucket_octets, p95, port_deltas, window_octets
from tests.conftest import control_engine, wait_for
from tests.integration.access_common import start_api
from tests.integration.collector.snmp_agents import Interface, SnmpSim, switch_records
from tests.integration.conftest import Broker, stack_env
from timeseries.client import InfluxClient

LAB = "lab"
STEP_S = 0.4


def registry_text(port_a: int, port_b: int) -> str:
    return f"""
partners:
  - id: {LAB}
    name: Lab
    ports:
      - {{switch: sim-a, port: xe-0-0-1, capacity_mbps: 1000, interval_s: 1}}
      - {{switch: sim-a, port: xe-0-0-2, capacity_mbps: 1000, interval_s: 1}}
      - {{switch: sim-b, port: ge-0-0-1, capacity_mbps: 100, interval_s: 1}}
switches:
  - {{id: sim-a, address: "127.0.0.1:{port_a}", credentials: sim-a, timeout_s: 0.3, retries: 0}}
  - {{id: sim-b, address: "127.0.0.1:{port_b}", credentials: sim-b, timeout_s: 0.3, retries: 0}}
"""


class Run:
    """Both simulated switches, what they serve, and every message the collector published."""

    def __init__(self, root: Path) -> None:
        self.a = SnmpSim(root / "a")
        self.b = SnmpSim(root / "b")
        self.a_ports = [Interface("xe-0/0/1", 10**9, 5 * 10**8), Interface("xe-0/0/2", 0, 0)]
        # 32-bit only, about to wrap
        self.b_ports = [Interface("ge-0/0/1", 2**32 - 50_000, 1_000, hc=False, speed_mbps=100)]
        self.uptime = {"a": 10_000, "b": 20_000}
        self.sent = {"xe-0-0-1": [0, 0], "xe-0-0-2": [0, 0], "ge-0-0-1": [0, 0]}
        """Octets that crossed each port (in, out) after its first poll: what must be billed."""
        self.messages: list[Outgoing] = []

    def serve(self) -> None:
        self.a.serve("sim-a", switch_records(self.uptime["a"], self.a_ports))
        self.b.serve("sim-b", switch_records(self.uptime["b"], self.b_ports))

    def traffic(self, port: Interface, name: str, octets_in: int, octets_out: int) -> None:
        port.in_octets += octets_in
        port.out_octets += octets_out
        self.sent[name][0] += octets_in
        self.sent[name][1] += octets_out


def poll_all(chosen: list[SwitchPoller], publish: MqttPublisher, run: Run) -> list[PollResult]:
    async def go() -> list[PollResult]:
        engine = SnmpEngine()
        try:
            credential = {
                s: CommunityV2c.model_validate({"version": "2c", "community": s})
                for s in ("sim-a", "sim-b")
            }
            return list(
                await asyncio.gather(*(poll(engine, p, credential[p.switch.id]) for p in chosen))
            )
        finally:
            engine.close_dispatcher()

    results = asyncio.run(go())
    for r in results:
        publish(r.messages)
        run.messages += r.messages
    return results


def test_agent_to_api_bytes_p95_and_link_uptime_equal_the_served_truth(
    broker: Broker,
    influx_db: InfluxClient,
    spawn: Callable[..., Child],
    tmp_path: Path,
) -> None:
    run = Run(tmp_path)
    text = registry_text(run.a.port, run.b.port)
    partners = tmp_path / "partners.yaml"
    partners.write_text(text)
    registry = parse_registry(text)
    env = stack_env(broker, influx_db, tmp_path / "var", MAINPORT_PARTNERS_FILE=str(partners))
    spawn("ingest", ["ingest"], env)
    wait_for(
        lambda: bool(influx_db.query('SELECT last("connected") FROM "ingest_link"')[0]),
        60,
        "the ingest subscribed",
    )
    run.a.data_dir.mkdir(parents=True)
    run.b.data_dir.mkdir(parents=True)
    run.serve()
    run.a.start("sim-a")
    run.b.start("sim-b")
    publisher = MqttPublisher(
        broker.host, broker.port, NETWORK_ACCOUNT, broker.passwords[NETWORK_ACCOUNT]
    )
    chosen = pollers(registry, "mainport")
    xe1, xe2 = run.a_ports
    (ge1,) = run.b_ports
    try:
        for step in range(24):
            if step:
                run.uptime["a"] += int(STEP_S * 100)
                run.uptime["b"] += int(STEP_S * 100)
                run.traffic(xe1, "xe-0-0-1", 3_000_000 + step, 1_000_000)
                if step != 21:
                    run.traffic(ge1, "ge-0-0-1", 20_000, 700)  # wraps the 32-bit counter soon
            xe2.up = not 4 <= step < 8  # a real link outage on sim-a
            if step == 10:
                run.b.stop()  # sim-b's agent gone for 8 polls (> 3·interval): unknown time
            if step == 18:
                run.b.start("sim-b")
            if step == 21:  # sim-b reboots: uptime back, its counter restarts from zero
                run.uptime["b"] = 100
                ge1.in_octets, ge1.out_octets = 0, 0
                run.traffic(ge1, "ge-0-0-1", 4_000, 300)
            run.serve()
            results = poll_all(chosen, publisher, run)
            assert all(r.reachable for r in results) == (not 10 <= step < 18), step
            time.sleep(STEP_S)
    finally:
        publisher.close()
        run.a.stop()
        run.b.stop()

    counters = [m for m in run.messages if m.topic.endswith("/counters")]
    wait_for(
        lambda: (
            _count(influx_db, "counters") == len(counters)
            and _count(influx_db, "collector") == len(run.messages) - len(counters)
        ),
        60,
        "every published message stored",
    )
    Deriver(influx_db, registry, grace_factor=3.0).rebuild()

    docs = [(m.topic.split("/"), orjson.loads(m.payload)) for m in run.messages]
    times = [d["ts"] * 1_000_000 for _, d in docs]
    start, end = min(times), max(times) + 1_000_000
    samples: dict[str, list[tuple[int, int, int, bool]]] = {}
    reports: dict[str, list[tuple[int, bool]]] = {}
    for parts, d in docs:
        ts = d["ts"] * 1_000_000
        if parts[-1] == "counters":
            samples.setdefault(parts[3], []).append(
                (ts, d["in_octets"], d["out_octets"], d["oper_status"] == "up")
            )
        else:
            reports.setdefault(parts[2], []).append((ts, d["reachable"]))

    # Bytes: the published counters' deltas are exactly the octets the agents saw cross.
    capacity = {"xe-0-0-1": 1000, "xe-0-0-2": 1000, "ge-0-0-1": 100}
    deltas = {
        p: port_deltas(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], capacity[p]
        )
        for p, rows in samples.items()
    }
    for p, d in deltas.items():
        got = [window_octets([d.inbound], start, end), window_octets([d.outbound], start, end)]
        assert got == run.sent[p], p

    tokens = TokenStore(control_engine(tmp_path / "var"))
    token, partner_token = tokens.issue(OPERATOR), tokens.issue(PARTNER, LAB)
    child, base = start_api({**env, "MAINPORT_DATA_DIR": str(tmp_path / "var")}, tmp_path / "log")
    auth = {"Authorization": f"Bearer {token}"}
    window = {"start": format_rfc3339(start), "end": format_rfc3339(end)}
    try:
        usage = httpx.get(f"{base}/api/v1/partners/{LAB}/usage", params=window, headers=auth)
        assert usage.status_code == 200, usage.text
        body = usage.json()
        assert body["bytes_in"] == sum(s[0] for s in run.sent.values())
        assert body["bytes_out"] == sum(s[1] for s in run.sent.values())
        want_p95 = p95(bucket_octets([d.inbound for d in deltas.values()], start, end))
        assert body["p95_in_bps"] == pytest.approx(want_p95.bps)

        uptime = httpx.get(f"{base}/api/v1/partners/{LAB}/uptime", params=window, headers=auth)
        assert uptime.status_code == 200, uptime.text
        up = uptime.json()
        blind = {
            sw: [Interval(a, b) for a, b in unreachable_spans(r, start, end)]
            for sw, r in reports.items()
        }
        assert blind["sim-b"] and not blind.get("sim-a")

        def availability(port: str, switch: str, unknown: bool) -> Availability:
            rows = samples[port]
            return link_availability(
                [r[0] for r in rows],
                [r[3] for r in rows],
                timeout_ns=timeout_ns(1),
                start_ns=start,
                end_ns=end,
                now_ns=time.time_ns(),
                unknown=blind.get(switch, []) if unknown else [],
            )

        where = {"xe-0-0-1": "sim-a", "xe-0-0-2": "sim-a", "ge-0-0-1": "sim-b"}
        truth = [availability(p, sw, True) for p, sw in where.items()]
        blamed = [availability(p, sw, False) for p, sw in where.items()]
        assert up["link_uptime_pct"] == pytest.approx(partner_uptime_pct(truth), abs=1e-9)
        blamed_pct, truth_pct = partner_uptime_pct(blamed), partner_uptime_pct(truth)
        assert blamed_pct is not None and truth_pct is not None
        assert blamed_pct < truth_pct  # without the collector's reports the outage would count
        links = {i["subject"] for i in up["incidents"]}
        assert "sim-a/xe-0-0-2" in links and "sim-b/ge-0-0-1" not in links

        health = httpx.get(f"{base}/api/v1/network/switches", headers=auth)
        assert health.status_code == 200, health.text
        by_id = {s["switch"]: s for s in health.json()}
        assert by_id["sim-a"]["reachable"] is True and by_id["sim-b"]["reachable"] is True
        assert by_id["sim-b"]["ports"] == 1 and by_id["sim-a"]["latency_s"] > 0
        forbidden = httpx.get(
            f"{base}/api/v1/network/switches",
            headers={"Authorization": f"Bearer {partner_token}"},
        )
        assert forbidden.status_code == 403
    finally:
        child.stop()
    assert os.environ.get("MAINPORT_DATA_DIR") != str(tmp_path)  # nothing leaked into ours


def _count(influx: InfluxClient, measurement: str) -> int:
    field = "reachable" if measurement == "collector" else "in_octets"
    series = influx.query(f'SELECT count("{field}") FROM "{measurement}"')[0]  # noqa: S608
    return int(series[0].values[0][1]) if series else 0
