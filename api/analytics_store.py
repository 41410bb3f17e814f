"""Reads the derived records (timeseries/schema.py) for one partner and window, in one or two
round trips, and hands them over as plain data for `domain` to compute with.

Every value goes in as a bound `$parameter`; the query text is built from constants only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from domain.spans import Held, LinkRecord, Silence
from domain.timestamps import HOUR_NS
from domain.usage import (
    BUCKET_NS,
    Buckets,
    bucket_octets,
    port_deltas,
    ranks_above_p95,
    window_octets,
)
from timeseries.client import AsyncInfluxClient, ParamValue, Series, Statements
from timeseries.integers import as_uint64
from timeseries.schema import DERIVED_RP, RAW_RP

_BY_SUBJECT = 'GROUP BY "kind", "subject"'
_TOMBSTONE_SLACK = 5
"""Records read past a window edge, in case the first few were emptied (see the deriver)."""


@dataclass(slots=True)
class SubjectRecords:
    """What the window needs of one device or port."""

    first: int | None = None
    last: int | None = None
    silences: list[Silence] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UptimeRecords:
    subjects: dict[tuple[str, str], SubjectRecords]
    """(kind, subject) → records; devices seen in the data included."""
    link_records: list[LinkRecord]


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


def _subjects(partner: str, ports: list[str]) -> tuple[str, dict[str, ParamValue]]:
    """Where-clause for the partner's devices and its registered ports."""
    params: dict[str, ParamValue] = {"p": partner}
    port_terms = []
    for k, subject in enumerate(ports):
        params[f"port{k}"] = subject
        port_terms.append(f'"subject" = $port{k}')
    devices = '("kind" = \'device\' AND "partner" = $p)'
    if not port_terms:
        return devices, params
    return f"({devices} OR (\"kind\" = 'port' AND ({' OR '.join(port_terms)})))", params


async def uptime_records(
    influx: AsyncInfluxClient, partner: str, ports: list[str], start_ns: int, hi_ns: int
) -> UptimeRecords:
    where, params = _subjects(partner, ports)
    d = DERIVED_RP
    b = Statements()
    marks = b.add(
        f'SELECT "first", "last" FROM "{d}"."marks" WHERE {where} {_BY_SUBJECT}', **params
    )
    inside = b.add(
        f'SELECT "since" FROM "{d}"."silence" WHERE {where} AND time > $s AND time <= $hi '
        f"{_BY_SUBJECT}",
        s=start_ns,
        hi=hi_ns,
        **params,
    )
    spanning = b.add(
        f'SELECT "since" FROM "{d}"."silence" WHERE {where} AND time > $hi '
        f"{_BY_SUBJECT} ORDER BY time ASC LIMIT {_TOMBSTONE_SLACK}",
        hi=hi_ns,
        **params,
    )
    runs = b.add(
        f'SELECT "until" FROM "{d}"."held" WHERE {where} AND time >= $s AND time < $hi '
        f"{_BY_SUBJECT}",
        s=start_ns,
        hi=hi_ns,
        **params,
    )
    run_before = b.add(
        f'SELECT "until" FROM "{d}"."held" WHERE {where} AND time < $s '
        f"{_BY_SUBJECT} ORDER BY time DESC LIMIT {_TOMBSTONE_SLACK}",
        s=start_ns,
        **params,
    )
    link = f'FROM "{RAW_RP}"."ingest_link"'
    link_before = b.add(
        f'SELECT last("connected") {link} WHERE time < $s GROUP BY "client"', s=start_ns
    )
    link_first = b.add(
        f'SELECT first("connected") {link} WHERE time >= $s AND time < $hi GROUP BY "client"',
        s=start_ns,
        hi=hi_ns,
    )
    link_lost = b.add(
        f'SELECT "connected" {link} WHERE "connected" = 0 AND time >= $s AND time < $hi '
        'GROUP BY "client"',
        s=start_ns,
        hi=hi_ns,
    )
    res = await b.run_async(influx)
    subjects: dict[tuple[str, str], SubjectRecords] = defaultdict(SubjectRecords)
    for s in res[marks]:
        rec = s.records()[-1]
        entry = subjects[_key(s)]
        entry.first, entry.last = rec["first"] or None, rec["last"] or None
    for s in res[inside]:
        subjects[_key(s)].silences += [
            Silence(int(v[1]), int(v[0])) for v in s.values if int(v[1]) != int(v[0])
        ]
    for s in res[spanning]:
        real = [v for v in s.values if int(v[1]) != int(v[0])]
        if real:
            subjects[_key(s)].silences.append(Silence(int(real[0][1]), int(real[0][0])))
    for s in res[runs]:
        subjects[_key(s)].held += [_held(v) for v in s.values if int(v[1]) != int(v[0])]
    for s in res[run_before]:
        real = [v for v in s.values if int(v[1]) != int(v[0])]
        if real:
            subjects[_key(s)].held.append(_held(real[0]))
    links = [
        _link(s, v) for i in (link_before, link_first, link_lost) for s in res[i] for v in s.values
    ]
    follow = Statements()
    for s in res[link_lost]:
        for v in s.values:
            follow.add(
                f'SELECT first("connected") {link} WHERE "client" = $c AND "connected" = 1 '
                "AND time > $t AND time < $hi",
                c=s.tags.get("client", ""),
                t=int(v[0]),
                hi=hi_ns,
            )
    clients = [s.tags.get("client", "") for s in res[link_lost] for _ in s.values]
    for client, found in zip(clients, await follow.run_async(influx), strict=True):
        links += [LinkRecord(client, int(v[0]), True) for s in found for v in s.values]
    return UptimeRecords(dict(subjects), sorted(set(links), key=lambda r: r.time_ns))


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
    b = Statements()
    p = {"p": partner}
    full_lo, full_hi = _inner(start_ns, hi_ns, HOUR_NS)
    edges = _edges(start_ns, hi_ns, full_lo, full_hi)
    act = b.add(
        f'SELECT sum("messages"), sum("bytes") FROM "{DERIVED_RP}"."activity" '
        'WHERE "partner" = $p AND time >= $a AND time < $b',
        a=full_lo,
        b=full_hi,
        **p,
    )
    rej = b.add(
        f'SELECT sum("rejected") FROM "{DERIVED_RP}"."rejections" '
        'WHERE "partner" = $p AND time >= $a AND time < $b',
        a=full_lo,
        b=full_hi,
        **p,
    )
    raw_msgs = [
        b.add(
            f'SELECT count("bytes"), sum("bytes") FROM "{RAW_RP}"."messages" '
            'WHERE "partner" = $p AND time >= $a AND time < $b',
            a=x,
            b=y,
            **p,
        )
        for x, y in edges
    ]
    raw_rej = [
        b.add(
            f'SELECT count("bytes") FROM "{RAW_RP}"."rejected" '
            'WHERE "partner" = $p AND time >= $a AND time < $b',
            a=x,
            b=y,
            **p,
        )
        for x, y in edges
    ]
    names = sorted(ports)
    bucket_lo, bucket_hi = _inner(start_ns, hi_ns, BUCKET_NS)
    port_edges = _edges(start_ns, hi_ns, bucket_lo, bucket_hi)
    port_terms = " OR ".join(f'"subject" = $port{k}' for k in range(len(names)))
    port_params: dict[str, ParamValue] = {f"port{k}": n for k, n in enumerate(names)}
    traffic = f'FROM "{DERIVED_RP}"."traffic" WHERE ({port_terms}) AND time >= $a AND time < $b'
    raw_edges: list[tuple[str, int, int, int, int]] = []
    stored = (
        f'FROM "{DERIVED_RP}"."partner_traffic" '
        'WHERE "partner" = $p AND "deltas" > 0 AND time >= $a AND time < $b'
    )
    window: dict[str, ParamValue] = {"a": bucket_lo, "b": bucket_hi, **p}
    # Enough of the largest buckets for p95 at the most buckets this window can hold.
    top = ranks_above_p95((bucket_hi - bucket_lo) // BUCKET_NS + len(port_edges)) + 1
    if names:
        if samples:
            every_q = b.add(f'SELECT "in_octets", "out_octets" {stored}', **window)
        else:
            count_q = b.add(f'SELECT count("deltas") {stored}', **window)
            top_in_q = b.add(f'SELECT top("in_octets", {top}) {stored}', **window)
            top_out_q = b.add(f'SELECT top("out_octets", {top}) {stored}', **window)
        per_port_q = b.add(
            f'SELECT sum("in_octets"), sum("out_octets") {traffic} GROUP BY "subject"',
            a=bucket_lo,
            b=bucket_hi,
            **port_params,
        )
        for name in names:
            switch, _, port = name.partition("/")
            c = f'FROM "{RAW_RP}"."counters" WHERE "switch" = $sw AND "port" = $pt'
            for x, y in port_edges:
                prev = b.add(
                    f'SELECT "in_octets", "out_octets" {c} AND time < $a '
                    "ORDER BY time DESC LIMIT 1",
                    a=x,
                    sw=switch,
                    pt=port,
                )
                rows = b.add(
                    f'SELECT "in_octets", "out_octets" {c} AND time >= $a AND time < $b',
                    a=x,
                    b=y,
                    sw=switch,
                    pt=port,
                )
                raw_edges.append((name, x, y, prev, rows))
    res = await b.run_async(influx)
    messages, mqtt_bytes = _sums(res[act], 2)
    (rejected,) = _sums(res[rej], 1)
    for i in raw_msgs:
        count, size = _sums(res[i], 2)
        messages, mqtt_bytes = messages + count, mqtt_bytes + size
    for i in raw_rej:
        rejected += _sums(res[i], 1)[0]

    in_times: list[int] = []
    ins: list[int] = []
    out_times: list[int] = []
    outs: list[int] = []
    count = 0
    port_usage = {n: [0, 0] for n in names}
    if names:
        if samples:
            every = [v for s in res[every_q] for v in s.values]
            count = len(every)
            in_times = out_times = [int(v[0]) for v in every]
            ins, outs = [int(v[1]) for v in every], [int(v[2]) for v in every]
        else:
            count = _sums(res[count_q], 1)[0]
            in_times = [int(v[0]) for s in res[top_in_q] for v in s.values]
            ins = [int(v[1]) for s in res[top_in_q] for v in s.values]
            out_times = [int(v[0]) for s in res[top_out_q] for v in s.values]
            outs = [int(v[1]) for s in res[top_out_q] for v in s.values]
        for s in res[per_port_q]:
            for _, i, o in s.values:
                usage = port_usage[s.tags["subject"]]
                usage[0] += int(i or 0)
                usage[1] += int(o or 0)
    edges_in: list[Buckets] = []
    edges_out: list[Buckets] = []
    for name, x, y, prev, rows in raw_edges:
        readings = [v for i in (prev, rows) for s in res[i] for v in s.values]
        if len(readings) < 2:
            continue
        readings.sort(key=lambda v: int(v[0]))
        d = port_deltas(
            [int(v[0]) for v in readings],
            [as_uint64(int(v[1])) for v in readings],
            [as_uint64(int(v[2])) for v in readings],
            ports[name],
        )
        port_usage[name][0] += window_octets([d.inbound], x, y)
        port_usage[name][1] += window_octets([d.outbound], x, y)
        edges_in.append(bucket_octets([d.inbound], x, y))
        edges_out.append(bucket_octets([d.outbound], x, y))
    # The edge buckets of all ports, summed per bucket: whole buckets of the partner's own.
    edge_in, edge_out = _merged(edges_in), _merged(edges_out)
    return UsageRecords(
        messages=messages,
        mqtt_bytes=mqtt_bytes,
        rejected=rejected,
        ports={n: PortUsage(*v) for n, v in port_usage.items()},
        buckets=count + int(edge_in.octets.size),
        inbound=_merged([_buckets(in_times, ins), edge_in]),
        outbound=_merged([_buckets(out_times, outs), edge_out]),
        complete=samples,
    )


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


def _key(series: Series) -> tuple[str, str]:
    return (series.tags.get("kind", ""), series.tags.get("subject", ""))


def _held(v: list[Any]) -> Held:
    until = int(v[1])
    return Held(int(v[0]), None if until == 0 else until)


def _link(series: Series, v: list[Any]) -> LinkRecord:
    return LinkRecord(series.tags.get("client", ""), int(v[0]), bool(v[1]))


async def rejected_rows(
    influx: AsyncInfluxClient, partner: str, start_ns: int, end_ns: int, limit: int
) -> list[Series]:
    """The partner's dead letters in the window, newest first."""
    q = (
        'SELECT "reason", "topic", "excerpt", "detail", "bytes" '
        f'FROM "{RAW_RP}"."rejected" WHERE "partner" = $p AND time >= $s AND time < $e '
        "ORDER BY time DESC LIMIT $limit"
    )
    params: dict[str, ParamValue] = {"p": partner, "s": start_ns, "e": end_ns, "limit": limit}
    return (await influx.query(q, params))[0]
