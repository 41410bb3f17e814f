"""One SNMP poll of one switch's interface table, through pysnmp's asyncio API.

Why pysnmp (the maintained 7.x line): pure Python, so `pip install` is all it needs (easysnmp
needs Net-SNMP's headers to build, and its maintained forks lag Python releases); its asyncio
engine keeps hundreds of switches in flight in one process without a thread or a subprocess each
(Net-SNMP's `snmpbulkwalk` would be one process per switch per round, plus parsing its text);
and it speaks SNMPv3 USM authPriv (SHA/AES) itself. bench/collect.py measures it against a bare
`snmpbulkwalk` of the same agents.

A poll is one GETBULK walk of the IF-MIB columns the collector needs, all columns in each
request (`max_repetitions` rows at a time), with `sysUpTime.0` as the non-repeater: one round
trip per `max_repetitions` interfaces. The time stamped on the answer is when the last response
arrived (the agent's answer time, as the SPEC counters message wants).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    usmAesCfb128Protocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from domain.switches import CommunityV2c, Credential, NameColumn, Switch

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3)
IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
NAME_COLUMNS: dict[NameColumn, tuple[int, ...]] = {
    "ifDescr": (*IF_TABLE, 2),
    "ifName": (*IFX_TABLE, 1),
    "ifAlias": (*IFX_TABLE, 18),
}
COLUMNS: dict[str, tuple[int, ...]] = {
    "oper_status": (*IF_TABLE, 8),
    "in32": (*IF_TABLE, 10),
    "out32": (*IF_TABLE, 16),
    "hc_in": (*IFX_TABLE, 6),
    "hc_out": (*IFX_TABLE, 10),
    "high_speed": (*IFX_TABLE, 15),
    "discontinuity": (*IFX_TABLE, 19),
}
MAX_REPETITIONS = 25
MAX_REQUESTS = 400
"""A walk longer than this many requests is an agent looping (a broken lexicographic order)."""


class SnmpError(Exception):
    """The switch did not answer (timeout after retries) or refused the request."""


@dataclass(slots=True)
class InterfaceTable:
    """What one poll read: sysUpTime and, per ifIndex, the columns the agent has."""

    uptime_ticks: int
    answered_ns: int
    latency_s: float
    requests: int
    names: dict[int, str] = field(default_factory=dict)
    columns: dict[str, dict[int, int]] = field(default_factory=dict)


def security(credential: Credential) -> CommunityData | UsmUserData:
    """pysnmp's auth data for a credential: v2c community, or v3 USM authPriv SHA/AES-128."""
    if isinstance(credential, CommunityV2c):
        # v2c where a switch offers nothing better; the README recommends v3 authPriv.
        return CommunityData(credential.community.get_secret_value(), mpModel=1)  # noqa: S508
    return UsmUserData(
        credential.user,
        credential.auth_key.get_secret_value(),
        credential.priv_key.get_secret_value(),
        authProtocol=usmHMACSHAAuthProtocol,
        privProtocol=usmAesCfb128Protocol,
    )


async def read_interfaces(
    engine: SnmpEngine, switch: Switch, credential: Credential
) -> InterfaceTable:
    """Walk the interface table of one switch with GETBULK; raises SnmpError."""
    auth = security(credential)
    try:
        target = await UdpTransportTarget.create(
            (switch.host, switch.udp_port), timeout=switch.timeout_s, retries=switch.retries
        )
    except Exception as exc:  # pysnmp raises its own error for an unresolvable host
        raise SnmpError(f"address {switch.address}: {exc}") from exc
    wanted = {"name": NAME_COLUMNS[switch.port_names], **COLUMNS}
    cursor = dict(wanted)
    table = InterfaceTable(0, 0, 0.0, 0, {}, {k: {} for k in COLUMNS})
    started = time.perf_counter()
    while cursor:
        if table.requests >= MAX_REQUESTS:
            raise SnmpError(f"the agent's table walk did not end after {MAX_REQUESTS} requests")
        names = list(cursor)
        rows = await _bulk(engine, auth, target, [SYS_UPTIME, *cursor.values()])
        table.requests += 1
        table.answered_ns = time.time_ns()
        uptime, *repeated = rows
        table.uptime_ticks = _uptime(uptime)
        width = len(names)
        done: set[str] = set()
        for i, (oid, value) in enumerate(repeated):
            name = names[i % width]
            if name in done:
                continue
            prefix = wanted[name]
            if isinstance(value, EndOfMibView | NoSuchObject | NoSuchInstance) or (
                oid[: len(prefix)] != prefix or len(oid) != len(prefix) + 1
            ):
                done.add(name)
                continue
            if oid <= cursor[name]:  # not past where we asked from: a broken agent
                raise SnmpError(f"the agent answered {oid} after {cursor[name]} (not increasing)")
            cursor[name] = oid
            index = oid[-1]
            if name == "name":
                table.names[index] = bytes(value).decode("utf-8", "replace")
            else:
                table.columns[name][index] = int(value)
        # A column is finished when it left its subtree; the others continue from their last
        # OID (also when the agent sent fewer rows than asked, to fit its message size).
        for name in done:
            cursor.pop(name, None)
    table.latency_s = time.perf_counter() - started
    return table


async def _bulk(
    engine: SnmpEngine, auth: Any, target: Any, oids: list[tuple[int, ...]]
) -> list[tuple[tuple[int, ...], Any]]:
    error_indication, error_status, error_index, var_binds = await bulk_cmd(
        engine,
        auth,
        target,
        ContextData(),
        1,
        MAX_REPETITIONS,
        *(ObjectType(ObjectIdentity(oid)) for oid in oids),
        lookupMib=False,
    )
    if error_indication:
        raise SnmpError(str(error_indication))
    if error_status:
        raise SnmpError(f"{error_status.prettyPrint()} at varbind {int(error_index)}")
    return [(tuple(oid), value) for oid, value in var_binds]


def _uptime(binding: tuple[tuple[int, ...], Any]) -> int:
    oid, value = binding
    if oid != (*SYS_UPTIME, 0) or isinstance(value, EndOfMibView | NoSuchObject | NoSuchInstance):
        raise SnmpError("the agent has no sysUpTime.0")
    return int(value)
