"""The collector against real SNMP agents, no mocks: Debian's snmpd serving this machine's own
interfaces over v2c and v3 authPriv (SHA/AES), and snmpsim serving recorded switch data that the
test changes between polls: many ports, a 32-bit-only port that wraps, a reboot, a down port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from collector.poller import SwitchPoller
from collector.service import PollResult, poll
from collector.snmp import SnmpError, read_interfaces
from domain.registry import Port
from domain.switches import CommunityV2c, Credential, Switch, UsmV3
from tests.integration.collector.snmp_agents import (
    COMMUNITY,
    V3_AUTH,
    V3_PRIV,
    V3_USER,
    Interface,
    Snmpd,
    SnmpSim,
    switch_records,
)


@pytest.fixture
def snmpsim(tmp_path: Path) -> Iterator[SnmpSim]:
    """Not started: snmpsim finds its data files when it starts, so the test serves first."""
    sim = SnmpSim(tmp_path / "snmpsim")
    sim.data_dir.mkdir(parents=True)
    yield sim
    sim.stop()


def v2c(community: str) -> CommunityV2c:
    return CommunityV2c.model_validate({"version": "2c", "community": community})


V3 = UsmV3.model_validate(
    {"version": "3", "user": V3_USER, "auth_key": V3_AUTH, "priv_key": V3_PRIV}
)


def switch(port: int, **extra: object) -> Switch:
    return Switch.model_validate(
        {"id": "sw-test", "address": f"127.0.0.1:{port}", "credentials": "x", **extra}
    )


def read(sw: Switch, credential: Credential) -> dict[str, dict[int, int]] | str:
    async def go() -> dict[str, dict[int, int]] | str:
        engine = SnmpEngine()
        try:
            table = await read_interfaces(engine, sw, credential)
        except SnmpError as exc:
            return str(exc)
        finally:
            engine.close_dispatcher()
        return {"names": {k: hash(v) for k, v in table.names.items()}, **table.columns}

    return asyncio.run(go())


def test_snmpd_serves_this_machines_interfaces_over_v2c_and_v3_alike(snmpd: Snmpd) -> None:
    sw = switch(snmpd.port, timeout_s=2, retries=1)
    by_v2c, by_v3 = read(sw, v2c(COMMUNITY)), read(sw, V3)
    assert isinstance(by_v2c, dict) and isinstance(by_v3, dict), (by_v2c, by_v3)
    assert by_v2c["names"] == by_v3["names"] and by_v2c["names"]  # lo at least
    assert set(by_v2c["hc_in"]) == set(by_v2c["names"]), "Net-SNMP offers HC counters"
    for index, value in by_v2c["hc_in"].items():
        assert by_v3["hc_in"][index] >= value  # counters only grow between the two reads


def test_wrong_community_or_v3_keys_are_an_unreachable_switch_not_data(snmpd: Snmpd) -> None:
    sw = switch(snmpd.port, timeout_s=0.3, retries=0)
    assert isinstance(read(sw, v2c("not-the-community")), str)
    wrong = V3.model_copy(update={"priv_key": V3.auth_key})
    assert isinstance(read(sw, wrong), str)


def run_poll(poller: SwitchPoller, credential: Credential) -> PollResult:
    async def go() -> PollResult:
        engine = SnmpEngine()
        try:
            return await poll(engine, poller, credential)
        finally:
            engine.close_dispatcher()

    return asyncio.run(go())


def published(result: PollResult) -> dict[str, dict[str, object]]:
    return {m.topic: orjson.loads(m.payload) for m in result.messages}


def test_snmpsim_switch_wraps_reboots_and_down_ports_reach_the_spec_messages(
    snmpsim: SnmpSim,
) -> None:
    ports = [Interface(f"xe-0/0/{k}", 10**12 + k, 2 * 10**12 + k) for k in range(48)]
    wrap = Interface("ge-0/1/0", 2**32 - 1000, 5, hc=False, speed_mbps=100)
    down = Interface("ge-0/1/1", 7, 7, up=False)
    interfaces = [*ports, wrap, down]
    registry_ports = {
        n: Port(switch="sw-test", port=n, capacity_mbps=1000)
        for n in [*(f"xe-0-0-{k}" for k in range(48)), "ge-0-1-0", "ge-0-1-1"]
    }
    poller = SwitchPoller(switch(snmpsim.port, timeout_s=2, retries=1), registry_ports)
    credential = v2c("sw-test")
    topic = "mainport/_network/sw-test/{}/counters"

    snmpsim.serve("sw-test", switch_records(100_000, interfaces))
    snmpsim.start("sw-test")
    first = published(run_poll(poller, credential))
    assert len(first) == 51  # 50 ports + the _collector report
    assert first["mainport/_network/sw-test/_collector"]["reachable"] is True
    assert first[topic.format("xe-0-0-7")]["in_octets"] == 10**12 + 7
    assert first[topic.format("ge-0-1-1")]["oper_status"] == "down"
    assert first[topic.format("ge-0-1-0")]["in_octets"] == 2**32 - 1000
    assert poller.speed_mismatches == {"ge-0-1-0": (100, 1000)}

    # 3,000 octets later the 32-bit counter wrapped: the running total goes on past 2^32.
    wrap.in_octets += 3000
    ports[7].in_octets += 10**9
    snmpsim.serve("sw-test", switch_records(106_000, interfaces))
    second = published(run_poll(poller, credential))
    assert second[topic.format("ge-0-1-0")]["in_octets"] == 2**32 + 2000
    assert second[topic.format("xe-0-0-7")]["in_octets"] == 10**12 + 7 + 10**9

    # A reboot: sysUpTime back, counters from zero; the published counters go down (a reset).
    for i in interfaces:
        i.in_octets, i.out_octets = 100, 200
    snmpsim.serve("sw-test", switch_records(50, interfaces))
    third = published(run_poll(poller, credential))
    assert third[topic.format("ge-0-1-0")]["in_octets"] == 100
    assert third[topic.format("xe-0-0-7")]["out_octets"] == 200

    snmpsim.stop()
    gone = run_poll(poller, credential)
    assert not gone.reachable
    assert published(gone) == {
        "mainport/_network/sw-test/_collector": {
            "ts": published(gone)["mainport/_network/sw-test/_collector"]["ts"],
            "reachable": False,
            "error": gone.error,
        }
    }
