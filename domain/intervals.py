"""Interval algebra over half-open `[start, end)` spans of int epoch nanoseconds.

`Interval` is the public value; inside the algebra a set of spans travels as a pair of int64
arrays (`Spans`: starts, ends) so that tens of thousands of spans are handled without a Python
loop per span. `merge` turns any spans into sorted, disjoint ones; the other array functions
take merged spans where they say so. Used by domain/uptime.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Spans = tuple[NDArray[np.int64], NDArray[np.int64]]
"""(starts, ends) of a set of spans."""


@dataclass(frozen=True, slots=True)
class Interval:
    """The half-open time span `[start_ns, end_ns)`."""

    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if self.end_ns < self.start_ns:
            raise ValueError(f"interval ends ({self.end_ns}) before it starts ({self.start_ns})")

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """The union as sorted, disjoint intervals; touching ones become one, empty ones vanish."""
    return from_arrays(merge(as_arrays(intervals)))


def clip_intervals(intervals: Iterable[Interval], start_ns: int, end_ns: int) -> list[Interval]:
    """The union, restricted to `[start_ns, end_ns)`."""
    return from_arrays(merge(clip(as_arrays(intervals), start_ns, end_ns)))


def subtract_intervals(
    intervals: Iterable[Interval], removed: Iterable[Interval]
) -> list[Interval]:
    """The union of `intervals` without the union of `removed`."""
    return from_arrays(subtract(merge(as_arrays(intervals)), merge(as_arrays(removed))))


def total_ns(intervals: Iterable[Interval]) -> int:
    """Time covered by the union (overlaps counted once)."""
    starts, ends = merge(as_arrays(intervals))
    return int((ends - starts).sum())


def as_arrays(intervals: Iterable[Interval]) -> Spans:
    spans = [(i.start_ns, i.end_ns) for i in intervals]
    if not spans:
        return empty()
    pairs = np.array(spans, dtype=np.int64)
    return pairs[:, 0], pairs[:, 1]


def from_arrays(spans: Spans) -> list[Interval]:
    return [Interval(s, e) for s, e in zip(spans[0].tolist(), spans[1].tolist(), strict=True)]


def pairs(spans: list[tuple[int, int]]) -> Spans:
    if not spans:
        return empty()
    pairs = np.array(spans, dtype=np.int64)
    return pairs[:, 0], pairs[:, 1]


def empty() -> Spans:
    return np.empty(0, np.int64), np.empty(0, np.int64)


def clip(spans: Spans, lo: int, hi: int) -> Spans:
    return np.maximum(spans[0], lo), np.minimum(spans[1], hi)


def merge(spans: Spans) -> Spans:
    """Union of possibly overlapping, unsorted spans; empty ones dropped, touching ones joined."""
    keep = spans[0] < spans[1]
    starts, ends = spans[0][keep], spans[1][keep]
    if starts.size == 0:
        return empty()
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    opens = np.flatnonzero(np.concatenate([[True], starts[1:] > reach[:-1]]))
    closes = np.append(opens[1:] - 1, starts.size - 1)
    return starts[opens], reach[closes]


def subtract(kept: Spans, removed: Spans) -> Spans:
    """`kept` ∖ `removed`, both merged. A sweep over all boundaries: `kept` adds 1 inside it,
    `removed` adds 2, so the level is exactly 1 where kept time is not removed."""
    if kept[0].size == 0 or removed[0].size == 0:
        return kept
    at = np.concatenate([kept[0], kept[1], removed[0], removed[1]])
    n, m = kept[0].size, removed[0].size
    step = np.concatenate([np.full(n, 1), np.full(n, -1), np.full(m, 2), np.full(m, -2)])
    order = np.lexsort((step, at))  # at one instant, ends (negative steps) come first
    at, level = at[order], np.cumsum(step[order])
    keep = (level[:-1] == 1) & (at[1:] > at[:-1])
    return merge((at[:-1][keep], at[1:][keep]))


def covered(spans: Spans, times: NDArray[np.int64]) -> NDArray[np.bool_]:
    """For each time, whether it lies inside one of the merged `spans`."""
    if spans[0].size == 0:
        return np.zeros(times.shape, np.bool_)
    idx = np.searchsorted(spans[0], times, side="right") - 1
    return (idx >= 0) & (times < spans[1][np.maximum(idx, 0)])
