"""Where the deriver reads when it recomputes a stretch, and which records that stretch decides.

For a touched stretch `[lo, hi]` of one subject, `context_queries` finds the last observation
(a port: `up` sample) before it and the first after it; `stretch` turns those into the
`Ranges` to read and to decide; `read_queries` reads the raw events there and the derived
records already in place. The InfluxQL is built from constants; every value is bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from domain.spans import Kind, sort_events
from domain.usage import BUCKET_NS
from timeseries.client import ParamValue, Series, Statements
from timeseries.derived import DELTAS, HELD, SILENCE, SINCE, TRAFFIC, UNTIL, SubjectKey
from timeseries.schema import DERIVED_RP, RAW_RP

FAR_FUTURE_NS = 2**62
"""Upper bound for "everything after": InfluxDB refuses times near int64's end."""


@dataclass(frozen=True, slots=True)
class Ranges:
    """Where one subject's recomputation reads and which record keys it decides."""

    r0: int | None
    """The last observation (a port: `up` sample) before the touched stretch."""
    r1: int | None
    """The first after it."""
    span_lo: int
    span_hi: int
    buckets_lo: int
    buckets_hi: int
    read_lo: int
    read_hi: int

    @property
    def to_the_end(self) -> bool:
        return self.r1 is None

    def silence_key(self, t: int) -> bool:
        return (self.r0 is None or t > self.r0) and (self.r1 is None or t <= self.r1)

    def held_key(self, t: int) -> bool:
        # A run starting at r1 itself (an offline event at that instant) ends after r1, out of
        # this stretch's reach: its record stays as it is.
        return (self.r0 is None or t >= self.r0) and (self.r1 is None or t < self.r1)


def where_subject(key: SubjectKey) -> tuple[str, dict[str, ParamValue]]:
    if key[0] == "device":
        return '"partner" = $p AND "device" = $d', {"p": key[1], "d": key[2]}
    switch, _, port = key[2].partition("/")
    return '"switch" = $s AND "port" = $x', {"s": switch, "x": port}


def context_queries(q: Statements, key: SubjectKey, lo: int, hi: int) -> list[int]:
    where, params = where_subject(key)
    if key[0] == "device":
        t = f'FROM "{RAW_RP}"."telemetry" WHERE {where}'
        s = f'FROM "{RAW_RP}"."status" WHERE {where} AND "online" = 1'
        return [
            q.add(f"SELECT * {t} AND time < $t ORDER BY time DESC LIMIT 1", t=lo, **params),
            q.add(f'SELECT "online" {s} AND time < $t ORDER BY time DESC LIMIT 1', t=lo, **params),
            q.add(f"SELECT * {t} AND time > $t ORDER BY time ASC LIMIT 1", t=hi, **params),
            q.add(f'SELECT "online" {s} AND time > $t ORDER BY time ASC LIMIT 1', t=hi, **params),
        ]
    c = f'SELECT "up" FROM "{RAW_RP}"."counters" WHERE {where}'
    bucket = lo // BUCKET_NS * BUCKET_NS
    return [
        q.add(f'{c} AND "up" = 1 AND time < $t ORDER BY time DESC LIMIT 1', t=lo, **params),
        q.add(f'{c} AND "up" = 1 AND time > $t ORDER BY time ASC LIMIT 1', t=hi, **params),
        q.add(f"{c} AND time < $t ORDER BY time DESC LIMIT 1", t=bucket, **params),
        q.add(f"{c} AND time > $t ORDER BY time ASC LIMIT 1", t=hi, **params),
    ]


def stretch(key: SubjectKey, lo: int, hi: int, found: list[int | None]) -> Ranges:
    if key[0] == "device":
        before = [t for t in found[:2] if t is not None]
        after = [t for t in found[2:] if t is not None]
        r0 = max(before) if before else None
        r1 = min(after) if after else None
        span_lo, span_hi = r0 or 0, r1 or FAR_FUTURE_NS
        return Ranges(r0, r1, span_lo, span_hi, 0, 0, span_lo, span_hi)
    r0, r1, prev, nxt = found
    buckets_lo = lo // BUCKET_NS * BUCKET_NS
    last = nxt if nxt is not None else hi
    buckets_hi = (last // BUCKET_NS + 1) * BUCKET_NS
    span_lo, span_hi = r0 or 0, r1 or FAR_FUTURE_NS
    read_lo = min(span_lo, prev if prev is not None else buckets_lo)
    return Ranges(
        r0, r1, span_lo, span_hi, buckets_lo, buckets_hi, read_lo, max(span_hi, buckets_hi)
    )


def read_queries(q: Statements, key: SubjectKey, r: Ranges) -> list[int]:
    where, params = where_subject(key)
    span = {"a": r.span_lo, "b": r.span_hi}
    derived = '"kind" = $k AND "partner" = $dp AND "subject" = $ds'
    dparams: dict[str, ParamValue] = {"k": key[0], "dp": key[1], "ds": key[2]}
    idx = []
    if key[0] == "device":
        idx.append(
            q.add(
                f'SELECT * FROM "{RAW_RP}"."telemetry" WHERE {where} AND time >= $a AND time <= $b',
                **span,
                **params,
            )
        )
        idx.append(
            q.add(
                f'SELECT "online" FROM "{RAW_RP}"."status" WHERE {where} '
                "AND time >= $a AND time <= $b",
                **span,
                **params,
            )
        )
    else:
        idx.append(
            q.add(
                f'SELECT "in_octets", "out_octets", "up" FROM "{RAW_RP}"."counters" '
                f"WHERE {where} AND time >= $a AND time <= $b",
                a=r.read_lo,
                b=r.read_hi,
                **params,
            )
        )
        idx.append(
            q.add(
                f'SELECT "{DELTAS}" FROM "{DERIVED_RP}"."{TRAFFIC}" WHERE "subject" = $ds '
                "AND time >= $a AND time < $b",
                a=r.buckets_lo,
                b=r.buckets_hi,
                ds=key[2],
            )
        )
    idx.append(
        q.add(
            f'SELECT "{SINCE}" FROM "{DERIVED_RP}"."{SILENCE}" WHERE {derived} '
            "AND time >= $a AND time <= $b",
            **span,
            **dparams,
        )
    )
    idx.append(
        q.add(
            f'SELECT "{UNTIL}" FROM "{DERIVED_RP}"."{HELD}" WHERE {derived} '
            "AND time >= $a AND time <= $b",
            **span,
            **dparams,
        )
    )
    return idx


def device_events(obs: list[int], off: list[int]) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    return sort_events([*obs, *off], [Kind.OBSERVATION] * len(obs) + [Kind.OFFLINE] * len(off))


def times_of(series: Series) -> list[int]:
    return [int(v[0]) for v in series.values]


def first_time(series: list[Series]) -> int | None:
    for s in series:
        if s.values:
            return int(s.values[0][0])
    return None
