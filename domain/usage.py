"""Fibre usage: counter samples → deltas → bytes per window and the 95th percentile (SPEC "Usage").

Pure functions over numpy arrays; no I/O. Counters are unsigned 64-bit, so they live in uint64
arrays (int64 cannot hold 2^64 − 1) and totals are returned as Python ints. Every delta belongs to
the later sample's time `t2`: a window or a 5-minute bucket counts it when it holds `t2`.

The batch functions come first. The scalar `counter_delta`, `is_glitch` and `bucket_start_ns`
state the same rules for one pair of samples, for code that sums buckets as data arrives; the
tests hold the two forms to the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from domain.timestamps import NS_PER_S

BUCKET_S = 300
BUCKET_NS = BUCKET_S * NS_PER_S
U64_MAX = 2**64 - 1

Times = NDArray[np.int64] | Sequence[int]
Counter = NDArray[np.uint64] | Sequence[int]

# Rates are compared in float64 first; those this close to the capacity are decided again in
# exact rational arithmetic, so a port driven at exactly its capacity is never a glitch.
_NEAR = 1e-9


Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class Glitch:
    """A dropped delta of one direction: its rate is above the port's capacity, so it is not
    billed. The other direction's delta of the same pair is judged on its own (SPEC)."""

    t1_ns: int
    t2_ns: int
    direction: Direction
    octets: int
    rate_bps: float


@dataclass(frozen=True, slots=True)
class Deltas:
    """One direction's valid deltas of one port, each stamped with its `t2` (ascending)."""

    t2_ns: NDArray[np.int64]
    octets: NDArray[np.uint64]
    resets: NDArray[np.bool_]
    """Which deltas follow a reset of this counter (the delta is then the new value)."""


@dataclass(frozen=True, slots=True)
class PortDeltas:
    """A port's valid deltas in both directions, and the glitches left out (for audit)."""

    inbound: Deltas
    outbound: Deltas
    glitches: tuple[Glitch, ...]


@dataclass(frozen=True, slots=True)
class Buckets:
    """Epoch-aligned 5-minute buckets that hold at least one valid delta, in time order."""

    start_ns: NDArray[np.int64]
    octets: NDArray[np.uint64]

    @property
    def rates_bps(self) -> NDArray[np.float64]:
        """8·octets/300 per bucket, in bits per second."""
        return self.octets.astype(np.float64) * 8.0 / float(BUCKET_S)


@dataclass(frozen=True, slots=True)
class P95:
    """A 95th percentile with what it was taken from, so a bill can be audited."""

    bps: float | None
    """None when no bucket of the window holds a valid delta."""
    bucket_start_ns: int | None
    """The bucket whose rate it is."""
    index: int | None
    """Its index among the `n` rates sorted ascending: ceil(0.95·n) − 1."""
    buckets: Buckets


def counter_delta(old: int, new: int) -> int:
    """Octets between two readings of a counter: new − old, or new after a reset (new < old)."""
    return new - old if new >= old else new


def is_glitch(octets: int, t1_ns: int, t2_ns: int, capacity_mbps: float) -> bool:
    """Whether 8·octets/(t2 − t1) exceeds the capacity, decided exactly (no float rounding)."""
    if t2_ns <= t1_ns:
        raise ValueError("a delta needs t1 < t2")
    rate = Fraction(8 * octets * NS_PER_S, t2_ns - t1_ns)
    return rate > Fraction(capacity_mbps) * 1_000_000


def bucket_start_ns(t_ns: int) -> int:
    """Start of the epoch-aligned 5-minute bucket holding `t_ns`."""
    return t_ns // BUCKET_NS * BUCKET_NS


def port_deltas(
    times_ns: Times, in_octets: Counter, out_octets: Counter, capacity_mbps: float
) -> PortDeltas:
    """The deltas between consecutive counters samples of one port (SPEC fibre deltas).

    Samples may come in any order; of two with the same time the later given wins, as in
    InfluxDB. `in_octets` and `out_octets` are two counters: a delta whose rate exceeds the
    capacity is a glitch of its own direction only, and the other direction's delta of the same
    pair stays billed (as RRDtool and MRTG judge each data source on its own).
    """
    times, inbound, outbound = _samples(times_ns, _uint64(in_octets), _uint64(out_octets))
    t1, t2 = times[:-1], times[1:]
    d_in, reset_in = _differences(inbound)
    d_out, reset_out = _differences(outbound)
    ok_in, glitches_in = _judge(t1, t2, d_in, capacity_mbps, "in")
    ok_out, glitches_out = _judge(t1, t2, d_out, capacity_mbps, "out")
    glitches = sorted(glitches_in + glitches_out, key=lambda g: (g.t2_ns, g.direction))
    return PortDeltas(
        inbound=Deltas(t2[ok_in], d_in[ok_in], reset_in[ok_in]),
        outbound=Deltas(t2[ok_out], d_out[ok_out], reset_out[ok_out]),
        glitches=tuple(glitches),
    )


def _judge(
    t1: NDArray[np.int64],
    t2: NDArray[np.int64],
    octets: NDArray[np.uint64],
    capacity_mbps: float,
    direction: Direction,
) -> tuple[NDArray[np.bool_], list[Glitch]]:
    """Which deltas of one direction are valid, and the glitches among them."""
    rates = octets.astype(np.float64) * (8.0 * NS_PER_S) / (t2 - t1).astype(np.float64)
    limit = capacity_mbps * 1e6
    glitch = rates > limit
    for i in np.flatnonzero(np.abs(rates - limit) <= _NEAR * limit).tolist():
        glitch[i] = is_glitch(int(octets[i]), int(t1[i]), int(t2[i]), capacity_mbps)
    rows = zip(*(c[glitch].tolist() for c in (t1, t2, octets, rates)), strict=True)
    return ~glitch, [Glitch(a, b, direction, o, r) for a, b, o, r in rows]


def window_octets(deltas: Iterable[Deltas], start_ns: int, end_ns: int) -> int:
    """Bytes in `[start_ns, end_ns)`: valid deltas whose t2 falls in it, summed over the given
    deltas of one direction (one port's, or all of a partner's ports for the partner's figure)."""
    return sum(_exact_sum(d.octets[_in_window(d.t2_ns, start_ns, end_ns)]) for d in deltas)


def bucket_octets(deltas: Iterable[Deltas], start_ns: int, end_ns: int) -> Buckets:
    """Per 5-minute bucket, the valid delta bytes of the given deltas whose t2 is in the window.

    Buckets are aligned to the epoch (floor(t2 / 300 s)); one without any valid delta is left
    out (unknown), while one whose deltas are all zero is a known 0. When the window does not
    start or end on a bucket boundary, its edge buckets hold only the deltas inside the window.
    """
    parts = [
        (d.t2_ns[w], d.octets[w]) for d in deltas for w in [_in_window(d.t2_ns, start_ns, end_ns)]
    ]
    times = np.concatenate([np.empty(0, np.int64), *(t for t, _ in parts)])
    octets = np.concatenate([np.empty(0, np.uint64), *(o for _, o in parts)])
    bucket = times // BUCKET_NS
    order = np.argsort(bucket, kind="stable")
    bucket, octets = bucket[order], octets[order]
    firsts = np.flatnonzero(np.concatenate([bucket[:1] == bucket[:1], bucket[1:] != bucket[:-1]]))
    return Buckets(bucket[firsts] * BUCKET_NS, _group_sums(octets, firsts))


def p95_index(n: int) -> int:
    """ceil(0.95·n) − 1, in integers so that its exactness needs no argument about rounding."""
    if n < 1:
        raise ValueError("the 95th percentile of no values is undefined")
    return (95 * n + 99) // 100 - 1


def p95(buckets: Buckets) -> P95:
    """SPEC bandwidth billing: the bucket rates sorted ascending, the one at ceil(0.95·n) − 1."""
    n = buckets.octets.size
    if n == 0:
        return P95(None, None, None, buckets)
    index = p95_index(n)
    # Sorting the exact byte sums orders the rates the same way, without float ties.
    pick = int(np.argsort(buckets.octets, kind="stable")[index])
    return P95(float(buckets.rates_bps[pick]), int(buckets.start_ns[pick]), index, buckets)


def ranks_above_p95(n: int) -> int:
    """How many of n rates lie above the p95 one: n − 1 − p95_index(n); never decreases as n
    grows, so the bound for the largest possible n of a window holds for every n."""
    return n - 1 - p95_index(n)


def p95_from_largest(n: int, largest: Buckets) -> P95:
    """`p95` over n buckets when only the largest ones are at hand: at least
    `ranks_above_p95(n) + 1` of them (reading the top 5 % of a month costs less than reading it
    all). The rate is the same as `p95`'s; among buckets of equal rate the one named may differ.
    `buckets` of the answer holds only the buckets given."""
    if n == 0:
        return P95(None, None, None, largest)
    rank = ranks_above_p95(n)
    size = largest.octets.size
    if size <= rank:
        raise ValueError(f"{size} of the largest buckets given; p95 of {n} needs {rank + 1}")
    order = np.lexsort((largest.start_ns, largest.octets))  # ascending, as p95 sorts them
    pick = int(order[size - 1 - rank])
    return P95(float(largest.rates_bps[pick]), int(largest.start_ns[pick]), p95_index(n), largest)


def _samples(
    times_ns: Times, inbound: NDArray[np.uint64], outbound: NDArray[np.uint64]
) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.uint64]]:
    times = np.asarray(times_ns, dtype=np.int64)
    if not times.shape == inbound.shape == outbound.shape:
        raise ValueError("times, in_octets and out_octets differ in length")
    order = np.argsort(times, kind="stable")
    times = times[order]
    last_of_instant = np.ones(times.size, np.bool_)
    last_of_instant[:-1] = times[1:] != times[:-1]
    keep = order[last_of_instant]
    return times[last_of_instant], inbound[keep], outbound[keep]


def _differences(values: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], NDArray[np.bool_]]:
    """Per consecutive pair: the delta (new − old, or new after a reset) and whether it reset."""
    old, new = values[:-1], values[1:]
    reset = new < old
    octets = new.copy()
    np.subtract(new, old, out=octets, where=~reset)  # uint64 never wraps where new >= old
    return octets, reset


def _uint64(counter: Counter) -> NDArray[np.uint64]:
    if isinstance(counter, np.ndarray):
        if counter.dtype != np.uint64:
            raise TypeError(f"counter arrays must be uint64, not {counter.dtype}")
        return counter
    # From Python ints: numpy refuses negatives and values above 2^64 − 1 instead of wrapping.
    return np.array(counter, dtype=np.uint64)


def _in_window(times: NDArray[np.int64], start_ns: int, end_ns: int) -> slice:
    lo, hi = np.searchsorted(times, [start_ns, end_ns], side="left").tolist()
    return slice(lo, hi)


def _exact_sum(octets: NDArray[np.uint64]) -> int:
    """The sum as a Python int: in uint64 when it provably fits, else with Python ints."""
    if octets.size == 0:
        return 0
    if int(octets.max()) * octets.size <= U64_MAX:
        return int(octets.sum(dtype=np.uint64))
    return sum(octets.tolist())


def _group_sums(octets: NDArray[np.uint64], firsts: NDArray[np.intp]) -> NDArray[np.uint64]:
    """Sums of the runs starting at `firsts`; refuses (OverflowError) a sum beyond uint64."""
    if octets.size == 0:
        return np.empty(0, np.uint64)
    if int(octets.max()) * octets.size <= U64_MAX:
        return np.add.reduceat(octets, firsts).astype(np.uint64)
    bounds = [*firsts.tolist(), octets.size]
    values = octets.tolist()
    return np.array([sum(values[a:b]) for a, b in pairwise(bounds)], dtype=np.uint64)
