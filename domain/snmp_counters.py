"""SNMP interface counters → the 64-bit counters the SPEC's counters message carries.

Pure logic, no I/O: what the collector (collector/) keeps per port between polls, so the platform
sees the truth of SPEC "Usage":
- IF-MIB's 64-bit `ifHCInOctets`/`ifHCOutOctets` are sent as read;
- a port with only the 32-bit `ifInOctets`/`ifOutOctets` gets a 64-bit running total: each wrap
  (a 32-bit value lower than the one before) adds 2^32, because a wrap is not a reset;
- a reboot (`sysUpTime` went back, or the port's `ifCounterDiscontinuityTime` changed) restarts
  the running total from the new raw value, so the published counter goes down and the platform
  counts a reset (delta = the new value).

A 32-bit counter that wraps more than once between two polls cannot be told from one that
wrapped once (at 1 Gbit/s it wraps every 34 s): that is why HC counters are preferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WRAP32 = 2**32
U64 = 2**64
TICKS_PER_S = 100
"""sysUpTime is TimeTicks: hundredths of a second, a 32-bit value (wraps after ~497 days)."""

Width = Literal[32, 64]


@dataclass(frozen=True, slots=True)
class Running:
    """One direction of one port: the last raw value read and the total published for it."""

    width: Width
    raw: int
    total: int


@dataclass(frozen=True, slots=True)
class RawPort:
    """One port's counters as the agent answered in one poll (None: the agent has no such
    object for this port)."""

    hc_in: int | None
    hc_out: int | None
    in32: int | None
    out32: int | None
    discontinuity: int | None = None


@dataclass(frozen=True, slots=True)
class PortTotals:
    """What the collector keeps per port between polls, and publishes (`in_octets`, ...)."""

    inbound: Running
    outbound: Running
    discontinuity: int | None
    reset: bool
    """Whether this poll restarted the totals (a reboot or a discontinuity)."""

    @property
    def in_octets(self) -> int:
        return self.inbound.total

    @property
    def out_octets(self) -> int:
        return self.outbound.total


def advance(prev: Running | None, raw: int, width: Width, *, restart: bool = False) -> Running:
    """The running total after one more reading of a counter.

    64-bit counters are their own total. A 32-bit one adds its increase, or across a wrap
    `raw + 2^32 − previous raw`. A first reading, a change of width (the agent stopped or
    started offering HC counters) or `restart` (a reboot) starts again from the raw value.
    """
    if not 0 <= raw < (WRAP32 if width == 32 else U64):
        raise ValueError(f"a {width}-bit counter cannot read {raw}")
    if width == 64 or prev is None or restart or prev.width != width:
        return Running(width, raw, raw)
    step = raw - prev.raw if raw >= prev.raw else raw + WRAP32 - prev.raw
    return Running(32, raw, (prev.total + step) % U64)


def rebooted(prev_uptime: int | None, uptime: int, elapsed_s: float) -> bool:
    """Whether `sysUpTime` went back between two polls `elapsed_s` apart (a reboot).

    sysUpTime itself wraps after 2^32 ticks (~497 days): a lower value that the elapsed time
    explains as a wrap is not a reboot.
    """
    if prev_uptime is None or uptime >= prev_uptime:
        return False
    expected = (prev_uptime + round(elapsed_s * TICKS_PER_S)) % WRAP32
    slack = max(10 * TICKS_PER_S, round(elapsed_s * TICKS_PER_S * 0.1))
    wrapped = prev_uptime + elapsed_s * TICKS_PER_S >= WRAP32 - slack
    return not (wrapped and abs(uptime - expected) <= slack)


def port_totals(prev: PortTotals | None, raw: RawPort, *, switch_rebooted: bool) -> PortTotals:
    """The totals to publish for one port after one poll (see the module docstring).

    Raises ValueError when the agent gave neither the HC nor the 32-bit counter of a direction.
    """
    discontinuity = raw.discontinuity
    changed = (
        prev is not None
        and discontinuity is not None
        and prev.discontinuity is not None
        and discontinuity != prev.discontinuity
    )
    restart = switch_rebooted or changed
    inbound = _direction(prev.inbound if prev else None, raw.hc_in, raw.in32, restart, "in")
    outbound = _direction(prev.outbound if prev else None, raw.hc_out, raw.out32, restart, "out")
    return PortTotals(inbound, outbound, discontinuity, reset=prev is not None and restart)


def _direction(
    prev: Running | None, hc: int | None, c32: int | None, restart: bool, name: str
) -> Running:
    if hc is not None:
        return advance(prev, hc, 64, restart=restart)
    if c32 is not None:
        return advance(prev, c32, 32, restart=restart)
    raise ValueError(f"the agent gave no {name} octets counter (HC or 32-bit) for this port")


OPER_STATUS = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}


def oper_status(value: int) -> Literal["up", "down"]:
    """IF-MIB ifOperStatus → SPEC: only `up(1)` carries traffic; every other state (down,
    testing, dormant, notPresent, lowerLayerDown, unknown) is the link down for the partner."""
    return "up" if value == 1 else "down"
