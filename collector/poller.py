"""Per switch, what the collector keeps between polls and the messages one poll produces.

No I/O: `SwitchPoller.on_table` takes what `collector.snmp.read_interfaces` read and returns the
SPEC messages to publish; `on_failure` the `_collector` message of a switch that did not answer.
The counter rules themselves are in domain/snmp_counters.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson

from collector.snmp import InterfaceTable
from domain.registry import Port
from domain.snmp_counters import PortTotals, RawPort, oper_status, port_totals, rebooted
from domain.switches import Switch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class PortReading:
    """One port of one poll, for `mainport collect --once` and the tests."""

    port: str
    interface: str
    if_index: int
    in_octets: int
    out_octets: int
    oper_status: str
    high_speed_mbps: int | None
    hc: bool
    reset: bool


@dataclass(slots=True)
class SwitchPoller:
    """One switch's state between polls: its counters' running totals and sysUpTime."""

    switch: Switch
    ports: dict[str, Port]
    """The registry's ports on this switch, by port name."""
    root: str = "mainport"
    totals: dict[int, PortTotals] = field(default_factory=dict)
    uptime_ticks: int | None = None
    answered_ns: int | None = None
    reachable: bool | None = None
    speed_mismatches: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Port → (ifHighSpeed, registry capacity_mbps) where they differ."""
    unmapped: list[str] = field(default_factory=list)
    """Interfaces with a slug name that is none of the registry's ports on this switch."""

    def on_table(self, table: InterfaceTable) -> tuple[list[Outgoing], list[PortReading]]:
        """The counters messages of one poll (registry ports only) and every port read."""
        elapsed_s = (
            (table.answered_ns - self.answered_ns) / 1e9 if self.answered_ns is not None else 0.0
        )
        reboot = rebooted(self.uptime_ticks, table.uptime_ticks, elapsed_s)
        if reboot:
            log.warning("switch %s rebooted (sysUpTime went back): counters reset", self.switch.id)
        self.uptime_ticks, self.answered_ns = table.uptime_ticks, table.answered_ns
        out: list[Outgoing] = []
        readings: list[PortReading] = []
        self.unmapped = []
        self.speed_mismatches = {}
        cols = table.columns
        for index, interface in sorted(table.names.items()):
            name = self.switch.port_name(interface)
            status = cols["oper_status"].get(index)
            raw = RawPort(
                hc_in=cols["hc_in"].get(index),
                hc_out=cols["hc_out"].get(index),
                in32=cols["in32"].get(index),
                out32=cols["out32"].get(index),
                discontinuity=cols["discontinuity"].get(index),
            )
            if name is None or status is None:
                continue
            try:
                totals = port_totals(self.totals.get(index), raw, switch_rebooted=reboot)
            except ValueError as exc:
                log.warning("switch %s interface %s: %s", self.switch.id, interface, exc)
                continue
            self.totals[index] = totals
            speed = cols["high_speed"].get(index)
            reading = PortReading(
                port=name,
                interface=interface,
                if_index=index,
                in_octets=totals.in_octets,
                out_octets=totals.out_octets,
                oper_status=oper_status(status),
                high_speed_mbps=speed,
                hc=raw.hc_in is not None and raw.hc_out is not None,
                reset=totals.reset,
            )
            readings.append(reading)
            port = self.ports.get(name)
            if port is None:
                self.unmapped.append(name)
                continue
            if speed and speed != port.capacity_mbps and reading.oper_status == "up":
                self.speed_mismatches[name] = (speed, port.capacity_mbps)
            out.append(self._counters(reading, table.answered_ns))
        mismatch = {port: speed for port, (speed, _) in self.speed_mismatches.items()}
        out.append(self._collector(True, table.answered_ns, table.latency_s, None, mismatch))
        self.reachable = True
        return out, readings

    def on_failure(self, error: str, now_ns: int) -> Outgoing:
        """The switch did not answer: its ports' time is unknown from now (SPEC)."""
        if self.reachable is not False:
            log.warning("switch %s unreachable: %s", self.switch.id, error)
        self.reachable = False
        return self._collector(False, now_ns, None, error)

    def _counters(self, r: PortReading, ts_ns: int) -> Outgoing:
        doc = {
            "ts": ts_ns // 1_000_000,  # epoch milliseconds: exact, SPEC form
            "in_octets": r.in_octets,
            "out_octets": r.out_octets,
            "oper_status": r.oper_status,
        }
        topic = f"{self.root}/_network/{self.switch.id}/{r.port}/counters"
        return Outgoing(topic, orjson.dumps(doc))

    def _collector(
        self,
        reachable: bool,
        ts_ns: int,
        latency_s: float | None,
        error: str | None,
        speed_mismatch: dict[str, int] | None = None,
    ) -> Outgoing:
        """The switch's health report; `speed_mismatch` (port → ifHighSpeed, where it is not the
        registry's capacity_mbps) reaches the API and the dashboard through the ingest."""
        doc: dict[str, object] = {"ts": ts_ns // 1_000_000, "reachable": reachable}
        if latency_s is not None:
            doc["latency_s"] = round(latency_s, 6)
        if error is not None:
            doc["error"] = error[:200]
        if speed_mismatch:
            doc["speed_mismatch"] = dict(sorted(speed_mismatch.items()))
        return Outgoing(f"{self.root}/_network/{self.switch.id}/_collector", orjson.dumps(doc))
