"""Reads a partner's usage in a window (messages, bytes, dead letters, port traffic and the
5-minute buckets p95 is taken from) from the derived records (timeseries/derived.py), with
raw data only for the ragged edges of the window, in one round trip.

`usage_records` plans its statements (which statement answers what: `_CountsPlan`,
`_TrafficPlan`), runs them in one request, then decodes each part. Every value goes in as a
bound `$parameter`; the query text is built from constants only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from domain.timestamps import HOUR_NS
from domain.usage import (
    BUCKET_NS,
    Buckets,
    bucket_octets,
    port_deltas,
    ranks_above_p95,
    window_octets,
)
from timeseries import derived
from timeseries.client import AsyncInfluxClient, ParamValue, Series, Statements
from timeseries.integers import as_uint64
from timeseries.schema import DERIVED_RP, RAW_RP


@dataclass(frozen=True, slots=True)
class PortUsage:
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True, slots=True)
class UsageRecords:
    messages: int
    mqtt_bytes: int
    rejected: int
    ports: dict[str, PortUsage]
    """`switch/port` → bytes in the window."""
    buckets: int
    """n: the partner's 5-minute buckets in the window that hold a valid delta."""
    inbound: Buckets
    outbound: Buckets
    """Those buckets (summed over the partner's ports): all of them when `complete`, else only
    the largest, enough for p95 (`domain.usage.p95_from_largest`)."""
    complete: bool


_ACTIVITY = f'"{DERIVED_RP}"."{derived.ACTIVITY}"'
_REJECTIONS = f'"{DERIVED_RP}"."{derived.REJECTIONS}"'
_TRAFFIC = f'"{DERIVED_RP}"."{derived.TRAFFIC}"'
_PARTNER_TRAFFIC = f'"{DERIVED_RP}"."{derived.PARTNER_TRAFFIC}"'
_IN, _OUT = derived.IN_OCTETS, derived.OUT_OCTETS


@dataclass(frozen=True, slots=True)
class _CountsPlan:
    """Statements for the messages, bytes and dead letters: the stored hours inside the
    window, raw points at its ragged edges."""

    activity: int
    rejections: int
    raw_messages: list[int]
    raw_rejected: list[int]


@dataclass(frozen=True, slots=True)
class _EdgeReads:
    """One port's raw counters around a ragged window edge `[lo, hi)`."""

    port: str
    lo_ns: int
    hi_ns: int
    before: int
    """The last reading before `lo` (a delta needs its start)."""
    inside: int


@dataclass(frozen=True, slots=True)
class _TrafficPlan:
    """Statements for the partner's traffic: its stored 5-minute buckets (every one, or the
    count and the largest), per-port sums, and raw counters at the window's ragged edges."""

    every: int | None
    count: int | None
    top_in: int | None
    top_out: int | None
    per_port: int
    edges: list[_EdgeReads]


async def usage_records(
    influx: AsyncInfluxClient,
    partner: str,
    ports: dict[str, float],
    start_ns: int,
    hi_ns: int,
    *,
    samples: bool = False,
) -> UsageRecords:
    """`ports`: the partner's `switch/port` → capacity in Mbit/s. `samples`: read every
    bucket (to list them), not only the largest."""
    q = Statements()
    counts_plan = _plan_counts(q, partner, start_ns, hi_ns)
    traffic_plan = _plan_traffic(q, partner, sorted(ports), start_ns, hi_ns, samples=samples)
    res = await q.run_async(influx)
    messages, mqtt_bytes, rejected = _counts(res, counts_plan)
    count, stored_in, stored_out = _stored_buckets(res, traffic_plan)
    port_usage = _port_sums(res, traffic_plan, sorted(ports))
    # The edge buckets of all ports, summed per bucket: whole buckets of the partner's own.
    edge_in, edge_out = _edge_buckets(res, traffic_plan, ports, port_usage)
    return UsageRecords(
        messages=messages,
        mqtt_bytes=mqtt_bytes,
        rejected=rejected,
        ports={name: PortUsage(*octets) for name, octets in port_usage.items()},
        buckets=count + int(edge_in.octets.size),
        inbound=_merged([stored_in, edge_in]),
        outbound=_merged([stored_out, edge_out]),
        complete=samples,
    )


def _plan_counts(q: Statements, partner: str, start_ns: int, hi_ns: int) -> _CountsPlan:
    hours_lo, hours_hi = _inner(start_ns, hi_ns, HOUR_NS)
    edges = _edges(start_ns, hi_ns, hours_lo, hours_hi)
    in_window = 'WHERE "partner" = $p AND time >= $a AND time < $b'
    hours: dict[str, ParamValue] = {"p": partner, "a": hours_lo, "b": hours_hi}
    return _CountsPlan(
        activity=q.add(
            f'SELECT sum("{derived.MESSAGES}"), sum("{derived.BYTES}") FROM {_ACTIVITY} '
            + in_window,
            **hours,
        ),
        rejections=q.add(
            f'SELECT sum("{derived.REJECTED}") FROM {_REJECTIONS} ' + in_window, **hours
        ),
        raw_messages=[
            q.add(
                f'SELECT count("bytes"), sum("bytes") FROM "{RAW_RP}"."messages" ' + in_window,
                p=partner,
                a=lo,
                b=hi,
            )
            for lo, hi in edges
        ],
        raw_rejected=[
            q.add(
                f'SELECT count("bytes") FROM "{RAW_RP}"."rejected" ' + in_window,
                p=partner,
                a=lo,
                b=hi,
            )
            for lo, hi in edges
        ],
    )


def _plan_traffic(
    q: Statements, partner: str, names: list[str], start_ns: int, hi_ns: int, *, samples: bool
) -> _TrafficPlan | None:
    """None when the partner has no ports."""
    if not names:
        return None
    buckets_lo, buckets_hi = _inner(start_ns, hi_ns, BUCKET_NS)
    port_edges = _edges(start_ns, hi_ns, buckets_lo, buckets_hi)
    stored = (
        f'FROM {_PARTNER_TRAFFIC} WHERE "partner" = $p AND "{derived.DELTAS}" > 0 '
        "AND time >= $a AND time < $b"
    )
    window: dict[str, ParamValue] = {"a": buckets_lo, "b": buckets_hi, "p": partner}
    # Enough of the largest buckets for p95 at the most buckets this window can hold.
    top = ranks_above_p95((buckets_hi - buckets_lo) // BUCKET_NS + len(port_edges)) + 1
    every = count = top_in = top_out = None
    if samples:
        every = q.add(f'SELECT "{_IN}", "{_OUT}" {stored}', **window)
    else:
        count = q.add(f'SELECT count("{derived.DELTAS}") {stored}', **window)
        top_in = q.add(f'SELECT top("{_IN}", {top}) {stored}', **window)
        top_out = q.add(f'SELECT top("{_OUT}", {top}) {stored}', **window)
    port_terms = " OR ".join(f'"subject" = $port{k}' for k in range(len(names)))
    port_params: dict[str, ParamValue] = {f"port{k}": name for k, name in enumerate(names)}
    per_port = q.add(
        f'SELECT sum("{_IN}"), sum("{_OUT}") FROM {_TRAFFIC} WHERE ({port_terms}) '
        'AND time >= $a AND time < $b GROUP BY "subject"',
        a=buckets_lo,
        b=buckets_hi,
        **port_params,
    )
    edges = []
    for name in names:
        switch, _, port = name.partition("/")
        counters = f'FROM "{RAW_RP}"."counters" WHERE "switch" = $sw AND "port" = $pt'
        for lo, hi in port_edges:
            before = q.add(
                f'SELECT "in_octets", "out_octets" {counters} AND time < $a '
                "ORDER BY time DESC LIMIT 1",
                a=lo,
                sw=switch,
                pt=port,
            )
            inside = q.add(
                f'SELECT "in_octets", "out_octets" {counters} AND time >= $a AND time < $b',
                a=lo,
                b=hi,
                sw=switch,
                pt=port,
            )
            edges.append(_EdgeReads(name, lo, hi, before, inside))
    return _TrafficPlan(every, count, top_in, top_out, per_port, edges)


def _counts(res: list[list[Series]], plan: _CountsPlan) -> tuple[int, int, int]:
    """(messages, MQTT bytes, dead letters) in the window."""
    messages, mqtt_bytes = _sums(res[plan.activity], 2)
    (rejected,) = _sums(res[plan.rejections], 1)
    for i in plan.raw_messages:
        count, size = _sums(res[i], 2)
        messages, mqtt_bytes = messages + count, mqtt_bytes + size
    for i in plan.raw_rejected:
        rejected += _sums(res[i], 1)[0]
    return messages, mqtt_bytes, rejected


def _stored_buckets(
    res: list[list[Series]], plan: _TrafficPlan | None
) -> tuple[int, Buckets, Buckets]:
    """How many stored buckets hold a delta, and the inbound and outbound ones read."""
    if plan is None:
        return 0, _buckets([], []), _buckets([], [])
    if plan.every is not None:
        every = [row for series in res[plan.every] for row in series.values]
        times = [int(row[0]) for row in every]
        inbound = _buckets(times, [int(row[1]) for row in every])
        return len(every), inbound, _buckets(times, [int(row[2]) for row in every])
    assert plan.count is not None and plan.top_in is not None and plan.top_out is not None
    largest_in = [row for series in res[plan.top_in] for row in series.values]
    largest_out = [row for series in res[plan.top_out] for row in series.values]
    return (
        _sums(res[plan.count], 1)[0],
        _buckets([int(row[0]) for row in largest_in], [int(row[1]) for row in largest_in]),
        _buckets([int(row[0]) for row in largest_out], [int(row[1]) for row in largest_out]),
    )


def _port_sums(
    res: list[list[Series]], plan: _TrafficPlan | None, names: list[str]
) -> dict[str, list[int]]:
    """Per port, [bytes in, bytes out] of its stored buckets in the window."""
    if plan is None:
        return {}
    usage = {name: [0, 0] for name in names}
    for series in res[plan.per_port]:
        for _, octets_in, octets_out in series.values:
            port = usage[series.tags["subject"]]
            port[0] += int(octets_in or 0)
            port[1] += int(octets_out or 0)
    return usage


def _edge_buckets(
    res: list[list[Series]],
    plan: _TrafficPlan | None,
    capacities: dict[str, float],
    port_usage: dict[str, list[int]],
) -> tuple[Buckets, Buckets]:
    """The partner's inbound and outbound buckets at the ragged edges, from raw counters;
    adds each port's edge bytes to `port_usage`."""
    edges_in: list[Buckets] = []
    edges_out: list[Buckets] = []
    for edge in plan.edges if plan is not None else []:
        readings = [
            row for i in (edge.before, edge.inside) for series in res[i] for row in series.values
        ]
        if len(readings) < 2:
            continue
        readings.sort(key=lambda row: int(row[0]))
        deltas = port_deltas(
            [int(row[0]) for row in readings],
            [as_uint64(int(row[1])) for row in readings],
            [as_uint64(int(row[2])) for row in readings],
            capacities[edge.port],
        )
        port_usage[edge.port][0] += window_octets([deltas.inbound], edge.lo_ns, edge.hi_ns)
        port_usage[edge.port][1] += window_octets([deltas.outbound], edge.lo_ns, edge.hi_ns)
        edges_in.append(bucket_octets([deltas.inbound], edge.lo_ns, edge.hi_ns))
        edges_out.append(bucket_octets([deltas.outbound], edge.lo_ns, edge.hi_ns))
    return _merged(edges_in), _merged(edges_out)


def _buckets(starts: list[int], octets: list[int]) -> Buckets:
    order = sorted(range(len(starts)), key=starts.__getitem__)
    return Buckets(
        np.array([starts[i] for i in order], dtype=np.int64),
        np.array([octets[i] for i in order], dtype=np.uint64),
    )


def _merged(parts: Iterable[Buckets]) -> Buckets:
    """One bucket per start, octets summed (edges of several ports; stored and edge buckets
    never share a start)."""
    total: dict[int, int] = defaultdict(int)
    for part in parts:
        for t, o in zip(part.start_ns.tolist(), part.octets.tolist(), strict=True):
            total[t] += o
    keys = sorted(total)
    return _buckets(keys, [total[k] for k in keys])


def _inner(start_ns: int, hi_ns: int, unit: int) -> tuple[int, int]:
    """The whole units inside [start, hi); (x, x) when there are none."""
    lo = -(-start_ns // unit) * unit
    hi = hi_ns // unit * unit
    return (lo, hi) if lo < hi else (hi_ns, hi_ns)


def _edges(start_ns: int, hi_ns: int, lo: int, hi: int) -> list[tuple[int, int]]:
    if lo >= hi:
        return [(start_ns, hi_ns)] if start_ns < hi_ns else []
    return [(x, y) for x, y in ((start_ns, lo), (hi, hi_ns)) if x < y]


def _sums(series: list[Series], n: int) -> tuple[int, ...]:
    for s in series:
        if s.values:
            return tuple(int(v or 0) for v in s.values[0][1 : 1 + n])
    return (0,) * n
