"""Reads what the ingest stored of the SNMP collector's `_collector` reports (timeseries/schema.py
`collector`): per switch, the spans it could not reach the switch (unknown time for the switch's
ports, SPEC link uptime) and its last report (health, `GET /api/v1/network/switches`).

The collector reports every poll, so a month holds ~43,200 reports per switch; the spans are
read as transitions only (InfluxQL `difference()` in a subquery, non-zero), plus the state at the
window's start. Every value goes in as a bound `$parameter`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.intervals import Interval
from domain.spans import unreachable_spans
from timeseries.client import AsyncInfluxClient, Statements
from timeseries.schema import COLLECTOR_MEASUREMENT, RAW_RP

_FROM = f'FROM "{RAW_RP}"."{COLLECTOR_MEASUREMENT}" WHERE "switch" = $sw'


async def unreachable_by_switch(
    influx: AsyncInfluxClient, switches: Iterable[str], start_ns: int, hi_ns: int
) -> dict[str, list[Interval]]:
    """Per switch, when the collector could not reach it within `[start_ns, hi_ns)`."""
    names = sorted(set(switches))
    if not names:
        return {}
    b = Statements()
    asked = []
    for sw in names:
        before = b.add(f'SELECT last("reachable") {_FROM} AND time < $s', sw=sw, s=start_ns)
        first = b.add(
            f'SELECT first("reachable") {_FROM} AND time >= $s AND time < $hi',
            sw=sw,
            s=start_ns,
            hi=hi_ns,
        )
        changes = b.add(
            'SELECT "d" FROM (SELECT difference("reachable") AS "d" '
            f'{_FROM} AND time >= $s AND time < $hi) WHERE "d" <> 0',
            sw=sw,
            s=start_ns,
            hi=hi_ns,
        )
        asked.append((sw, before, first, changes))
    res = await b.run_async(influx)
    out: dict[str, list[Interval]] = {}
    for sw, before, first, changes in asked:
        reports = [
            (int(v[0]), bool(v[1])) for i in (before, first) for s in res[i] for v in s.values
        ]
        reports += [(int(v[0]), int(v[1]) > 0) for s in res[changes] for v in s.values]
        spans = unreachable_spans(reports, start_ns, hi_ns)
        if spans:
            out[sw] = [Interval(a, b) for a, b in spans]
    return out


@dataclass(frozen=True, slots=True)
class SwitchHealth:
    switch: str
    last_report_ns: int | None
    reachable: bool | None
    latency_s: float | None
    error: str | None
    last_reachable_ns: int | None
    last_counters_ns: int | None
    speed_mismatch: tuple[tuple[str, int], ...] = ()
    """(port, ifHighSpeed Mbit/s) differing from the registry's capacity, at the last good poll."""


async def switch_health(influx: AsyncInfluxClient, switches: Iterable[str]) -> list[SwitchHealth]:
    """Each switch's last collector report, its last good poll and its ports' last sample."""
    names = sorted(set(switches))
    b = Statements()
    asked = []
    for sw in names:
        last = b.add(
            f'SELECT "reachable", "latency_s", "error" {_FROM} ORDER BY time DESC LIMIT 1', sw=sw
        )
        good = b.add(
            f'SELECT "reachable", "speed_mismatch" {_FROM} AND "reachable" = 1 '
            "ORDER BY time DESC LIMIT 1",
            sw=sw,
        )
        counters = b.add(
            f'SELECT last("up") FROM "{RAW_RP}"."counters" WHERE "switch" = $sw', sw=sw
        )
        asked.append((sw, last, good, counters))
    res = await b.run_async(influx) if names else []
    out = []
    for sw, last, good, counters in asked:
        row = next((r for s in res[last] for r in s.records()), None)
        good_row = next((r for s in res[good] for r in s.records()), None)
        counters_t = next((int(v[0]) for s in res[counters] for v in s.values), None)
        out.append(
            SwitchHealth(
                switch=sw,
                last_report_ns=int(row["time"]) if row else None,
                reachable=bool(row["reachable"]) if row else None,
                latency_s=row.get("latency_s") if row else None,
                error=row.get("error") if row else None,
                last_reachable_ns=int(good_row["time"]) if good_row else None,
                last_counters_ns=counters_t,
                speed_mismatch=_speed_mismatch(
                    good_row.get("speed_mismatch") if good_row else None
                ),
            )
        )
    return out


def _speed_mismatch(stored: object) -> tuple[tuple[str, int], ...]:
    """The ingest's "port=Mbit/s,..." (ingest/points.py) back into pairs."""
    if not isinstance(stored, str) or not stored:
        return ()
    pairs = (item.partition("=") for item in stored.split(","))
    return tuple((port, int(mbps)) for port, _, mbps in pairs if mbps.isdigit())
