"""SPEC's definitions, written for the ground truth (simulators/truth.py): down spans of a
device or port, incidents with their root cause, counter deltas with resets and glitches, p95.

Deliberately written apart from `domain/uptime.py` and `domain/usage.py` (plain Python over
lists of millisecond spans, not their numpy interval algebra): two implementations of one
definition that agree are evidence; one checked against itself is not.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from simulators.world import Span


@dataclass(frozen=True, slots=True)
class Incident:
    start: int
    end: int | None
    """None while still down at the end of the window."""
    cause: str


def merge(spans: list[Span]) -> list[Span]:
    """Union of intervals as sorted, disjoint, non-empty spans (touching ones joined)."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def overlap(spans: list[Span], lo: int, hi: int) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in spans)


def subtract(spans: list[Span], removed: list[Span]) -> list[Span]:
    """`spans` without `removed` (both merged): what is left of each span, piece by piece."""
    out: list[Span] = []
    for a, b in spans:
        for ra, rb in removed:
            if rb <= a or ra >= b:
                continue
            if ra > a:
                out.append((a, ra))
            a = max(a, rb)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


def covers(spans: list[Span], t: int) -> bool:
    """Whether `t` lies in one of the half-open spans."""
    return any(a <= t < b for a, b in spans)


def silence_spans(times: list[int], timeout: int, end: int) -> list[Span]:
    """From m + T until the next time, for every time m followed by more than T of silence
    (the silence at the end of the window included)."""
    obs = np.unique(np.asarray(times, dtype=np.int64))
    if len(obs) == 0:
        return []
    nxt = np.append(obs[1:], end)
    gaps = np.nonzero(nxt - obs > timeout)[0]
    return merge([(int(obs[i]) + timeout, min(int(nxt[i]), end)) for i in gaps])


def held_spans(observations: list[int], offline: list[int], end: int) -> list[Span]:
    """From each offline event until the next observation strictly after it (or the end);
    events before the first observation are before monitoring began."""
    obs = np.unique(np.asarray(observations, dtype=np.int64))
    if len(obs) == 0:
        return []
    spans = []
    for f in offline:
        if f < obs[0] or f >= end:
            continue
        i = int(np.searchsorted(obs, f, side="right"))
        spans.append((f, min(int(obs[i]), end) if i < len(obs) else end))
    return merge(spans)


def down_spans(observations: list[int], offline: list[int], timeout: int, end: int) -> list[Span]:
    """SPEC device uptime: down from an offline event until the next observation, and from
    m + T until the next observation after every silence longer than T (also at the end)."""
    return merge(held_spans(observations, offline, end) + silence_spans(observations, timeout, end))


def incidents(
    counted: list[Span],
    held: list[Span],
    link_down: list[Span],
    end: int,
    held_cause: str = "offline",
) -> list[Incident]:
    """One incident per maximal stretch of counted down time (down time outside unknown time),
    with one root cause read at its start: `link` when the device's port was down then,
    `held_cause` when an offline event (a port's `down` sample) holds it down, else `timeout`.
    A stretch that starts where unknown time ends is read there too."""
    out = []
    for a, b in counted:
        if covers(link_down, a):
            cause = "link"
        elif covers(held, a):
            cause = held_cause
        else:
            cause = "timeout"
        out.append(Incident(a, None if b >= end else b, cause))
    return out


def port_held_spans(samples: list[tuple[int, bool]], end: int) -> list[Span]:
    """SPEC link uptime: down from a `down` sample until the next `up` one."""
    spans: list[Span] = []
    down_since: int | None = None
    for t, up in samples:
        if not up and down_since is None:
            down_since = t
        elif up and down_since is not None:
            spans.append((down_since, min(t, end)))
            down_since = None
    if down_since is not None:
        spans.append((down_since, end))
    return merge(spans)


def port_down_spans(samples: list[tuple[int, bool]], timeout: int, end: int) -> list[Span]:
    """SPEC link uptime: down from a `down` sample until the next `up` one, and on silence."""
    times = [t for t, _ in samples]
    return merge(port_held_spans(samples, end) + silence_spans(times, timeout, end))


@dataclass(frozen=True, slots=True)
class Delta:
    t1: int
    t2: int
    bytes_in: int
    bytes_out: int
    reset: bool
    glitch_in: bool
    glitch_out: bool

    @property
    def glitch(self) -> bool:
        """Whether either direction's delta of this pair is dropped."""
        return self.glitch_in or self.glitch_out

    @property
    def billed_in(self) -> int:
        return 0 if self.glitch_in else self.bytes_in

    @property
    def billed_out(self) -> int:
        return 0 if self.glitch_out else self.bytes_out


def deltas(samples: list[tuple[int, int, int]], capacity_mbps: float) -> list[Delta]:
    """SPEC fibre usage: new − old, or new after a decrease (a reset); a delta whose rate
    8·delta/(t2 − t1) exceeds the capacity is a glitch (dropped, not billed), judged per
    direction: a glitch in `in` leaves the `out` delta of the same pair billed."""
    out = []
    for (t1, in1, out1), (t2, in2, out2) in itertools.pairwise(samples):
        d_in = in2 - in1 if in2 >= in1 else in2
        d_out = out2 - out1 if out2 >= out1 else out2
        # Exactly (no float rounding): 8·delta / ((t2 − t1) ms / 1000) > capacity · 10^6.
        limit = Fraction(capacity_mbps) * 1_000_000 * (t2 - t1) / 1000
        reset = in2 < in1 or out2 < out1
        out.append(Delta(t1, t2, d_in, d_out, reset, 8 * d_in > limit, 8 * d_out > limit))
    return out


def p95(rates: list[float]) -> float | None:
    """The rate at index ceil(0.95·n) − 1 of the ascending rates (SPEC billing)."""
    if not rates:
        return None
    ordered = sorted(rates)
    return float(ordered[math.ceil(0.95 * len(ordered)) - 1])
