"""collector.poller: one poll's interface table → the SPEC messages (plain data in, no agent)."""

from __future__ import annotations

import orjson

from collector.poller import SwitchPoller
from collector.snmp import InterfaceTable
from domain.registry import Port
from domain.switches import Switch

S = 10**9
SWITCH = Switch.model_validate({"id": "core-1", "address": "127.0.2.1", "credentials": "c"})
PORTS = {"xe-0-0-1": Port(switch="core-1", port="xe-0-0-1", capacity_mbps=10_000)}


def table(ticks: int, at_s: int, in32: int, hc: int | None = None, oper: int = 1) -> InterfaceTable:
    columns: dict[str, dict[int, int]] = {
        "oper_status": {1: oper, 2: 1},
        "in32": {1: in32, 2: 1},
        "out32": {1: 9, 2: 1},
        "hc_in": {} if hc is None else {1: hc},
        "hc_out": {} if hc is None else {1: 9},
        "high_speed": {1: 1000, 2: 1000},
        "discontinuity": {},
    }
    return InterfaceTable(ticks, at_s * S, 0.01, 1, {1: "xe-0/0/1", 2: "mgmt0"}, columns)


def docs(poller: SwitchPoller, t: InterfaceTable) -> dict[str, dict[str, object]]:
    messages, _ = poller.on_table(t)
    return {m.topic: orjson.loads(m.payload) for m in messages}


TOPIC = "mainport/_network/core-1/xe-0-0-1/counters"


def test_registry_ports_are_published_stamped_when_the_agent_answered() -> None:
    poller = SwitchPoller(SWITCH, PORTS)
    out = docs(poller, table(100, 1_790_000_000, 5))
    assert out[TOPIC] == {
        "ts": 1_790_000_000_000,
        "in_octets": 5,
        "out_octets": 9,
        "oper_status": "up",
    }
    report = out["mainport/_network/core-1/_collector"]
    assert report["reachable"] is True
    assert poller.unmapped == ["mgmt0"]  # read, not a registry port: not published
    assert poller.speed_mismatches == {"xe-0-0-1": (1000, 10_000)}
    # The report carries it too, so the API and the dashboard show it (not only /metrics).
    assert report["speed_mismatch"] == {"xe-0-0-1": 1000}


def test_a_report_without_mismatch_carries_none() -> None:
    ports = {"xe-0-0-1": Port(switch="core-1", port="xe-0-0-1", capacity_mbps=1000)}
    out = docs(SwitchPoller(SWITCH, ports), table(100, 1_790_000_000, 5))
    assert "speed_mismatch" not in out["mainport/_network/core-1/_collector"]


def test_wrap_then_reboot_then_unreachable() -> None:
    poller = SwitchPoller(SWITCH, PORTS)
    docs(poller, table(100, 0, 2**32 - 10))
    assert docs(poller, table(6100, 60, 20))[TOPIC]["in_octets"] == 2**32 + 20
    assert docs(poller, table(50, 120, 7, oper=2))[TOPIC] | {"ts": 0} == {
        "ts": 0,
        "in_octets": 7,  # restarted: the platform sees a reset
        "out_octets": 9,
        "oper_status": "down",
    }
    gone = poller.on_failure("No SNMP response received before timeout", 180 * S)
    assert orjson.loads(gone.payload) == {
        "ts": 180_000,
        "reachable": False,
        "error": "No SNMP response received before timeout",
    }
