"""Event streams → the sparse records uptime is computed from (the derived storage layout).

Thirty days of a 60 s device are 43,200 observations, but its uptime depends only on a few
facts about them: the silences longer than its timeout `T`, the runs of held-down time (an
offline event until the next observation; a port's `down` samples until the next `up` one),
and its first and last observation. `derive_spans` turns a sorted stream of events into those
facts; `domain.uptime.availability_from_spans` turns them back into exactly the figures
`device_availability` / `link_availability` compute from the raw stream (the property tests
hold the two to the same answer).

The derivation is incremental: `SpanState` carries what the next chunk of a stream needs to
know about the events before it, so the deriver can process data as it arrives and recompute
any stretch in the middle when data arrives out of order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

Timeout = int | Callable[[int], int]
"""T in ns, or T as a function of the time of the observation a silence follows: the `T` in
force then (domain/registry_history.py), so a changed interval needs no re-derivation."""


def timeouts_at(timeout: Timeout, times: NDArray[np.int64]) -> NDArray[np.int64] | int:
    """`timeout` for each of `times` (an int stays an int: the common case costs nothing)."""
    if not callable(timeout):
        return timeout
    return np.fromiter((timeout(int(t)) for t in times), dtype=np.int64, count=times.size)


class Kind(IntEnum):
    """What an event does. Sorted so that at one instant observations come first: an offline
    event at the same instant as an observation is not cancelled by it (domain.liveness)."""

    OBSERVATION = 0
    """Telemetry, `online` status, a port's `up` sample: resets the silence clock and ends a
    held-down run."""
    OFFLINE = 1
    """A device's `offline` status: starts a held-down run; not an observation."""
    DOWN_SAMPLE = 2
    """A port's `down` sample: a sample (resets the silence clock) that holds the link down."""


@dataclass(frozen=True, slots=True)
class Silence:
    """Two consecutive samples/observations more than T apart; stored under `until_ns`."""

    since_ns: int
    until_ns: int


@dataclass(frozen=True, slots=True)
class Held:
    """A held-down run from its first down event to the next observation (None: still down)."""

    start_ns: int
    until_ns: int | None


@dataclass(frozen=True, slots=True)
class SpanState:
    """What a stream's later events need to know about the earlier ones."""

    last_reset_ns: int | None = None
    """The last event that resets the silence clock."""
    held_since_ns: int | None = None
    """Start of the held-down run still open at the end, if any."""
    last_ns: int | None = None
    """The last event of any kind: a later chunk must start after it."""
    first_reset_ns: int | None = None
    """The first event that resets the silence clock: monitoring starts there."""


@dataclass(frozen=True, slots=True)
class Derived:
    silences: list[Silence]
    held: list[Held]
    state: SpanState


def sort_events(
    times: Sequence[int] | NDArray[np.int64], kinds: Sequence[int] | NDArray[np.int8]
) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """Events in time order, observations first at one instant; exact repeats dropped."""
    t = np.asarray(times, dtype=np.int64)
    k = np.asarray(kinds, dtype=np.int8)
    if t.shape != k.shape:
        raise ValueError("times and kinds differ in length")
    order = np.lexsort((k, t))
    t, k = t[order], k[order]
    keep = np.ones(t.size, np.bool_)
    keep[1:] = (t[1:] != t[:-1]) | (k[1:] != k[:-1])
    return t[keep], k[keep]


def derive_spans(
    times: NDArray[np.int64],
    kinds: NDArray[np.int8],
    timeout_ns: Timeout,
    state: SpanState | None = None,
) -> Derived:
    """The silences and held-down runs of a chunk of events (sorted by `sort_events`), given
    the state after the events before it. A silence needs its later end, so the one between
    the previous chunk and this one is reported here; a run still open is reported with
    `until_ns` None and reported again, closed, by the chunk that ends it."""
    before = state or SpanState()
    if times.size and before.last_ns is not None and int(times[0]) <= before.last_ns:
        raise ValueError("a chunk must start after the events already derived")
    is_reset = kinds != Kind.OFFLINE
    resets = times[is_reset]
    if before.last_reset_ns is not None:
        resets = np.concatenate([[before.last_reset_ns], resets])
    gap = np.flatnonzero(resets[1:] - resets[:-1] > timeouts_at(timeout_ns, resets[:-1]))
    silences = [
        Silence(a, b) for a, b in zip(resets[gap].tolist(), resets[gap + 1].tolist(), strict=True)
    ]

    observations = times[kinds == Kind.OBSERVATION]
    downs = times[kinds != Kind.OBSERVATION]
    starts: list[int] = []
    ends: list[int | None] = []
    if before.held_since_ns is not None:  # every observation here is later than it
        starts.append(before.held_since_ns)
        ends.append(int(observations[0]) if observations.size else None)
    ending = np.searchsorted(observations, downs, side="right")
    for down, i in zip(downs.tolist(), ending.tolist(), strict=True):
        end = int(observations[i]) if i < observations.size else None
        if ends and ends[-1] == end:
            continue  # still inside the run that the same observation ends
        starts.append(down)
        ends.append(end)
    held = [Held(s, e) for s, e in zip(starts, ends, strict=True)]

    after = SpanState(
        last_reset_ns=int(resets[-1]) if resets.size else None,
        held_since_ns=held[-1].start_ns if held and held[-1].until_ns is None else None,
        last_ns=int(times[-1]) if times.size else before.last_ns,
        first_reset_ns=(
            before.first_reset_ns
            if before.first_reset_ns is not None
            else (int(times[is_reset][0]) if bool(is_reset.any()) else None)
        ),
    )
    return Derived(silences, held, after)


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """One `ingest_link` transition: an ingest client got or lost its broker connection."""

    client: str
    time_ns: int
    connected: bool


def platform_gaps(
    records: Sequence[LinkRecord], start_ns: int, end_ns: int
) -> list[tuple[int, int]]:
    """When Mainport could not receive, within `[start_ns, end_ns)`: no ingest client was
    connected, after the first record ever (before it the platform did not exist yet, and
    history loaded since is judged on its own).

    `records` must hold, per client, its last record before `start_ns` (if any) and all in the
    window. A client that died without a word (kill -9) still counts as connected: the broker
    keeps its messages, so nothing of the partners' data is missed.
    """
    if not records:
        return []
    events = sorted(records, key=lambda r: (r.time_ns, r.connected))
    began = events[0].time_ns
    state: dict[str, bool] = {}
    gaps: list[tuple[int, int]] = []
    gap_since: int | None = None
    for rec in events:
        state[rec.client] = rec.connected
        receiving = any(state.values())
        if not receiving and gap_since is None:
            gap_since = rec.time_ns
        elif receiving and gap_since is not None:
            gaps.append((gap_since, rec.time_ns))
            gap_since = None
    if gap_since is not None:
        gaps.append((gap_since, end_ns))
    lo = max(start_ns, began)
    return [(max(a, lo), min(b, end_ns)) for a, b in gaps if min(b, end_ns) > max(a, lo)]


def unreachable_spans(
    reports: Sequence[tuple[int, bool]], start_ns: int, end_ns: int
) -> list[tuple[int, int]]:
    """When the SNMP collector could not reach a switch, within `[start_ns, end_ns)`: from each
    `reachable: false` report until the next `true` one (or `end_ns`). SPEC: that time is
    unknown for the switch's ports, neither up nor down.

    `reports` (time, reachable) must hold the last report before `start_ns` (if any) and all in
    the window; repeats of one state change nothing.
    """
    spans: list[tuple[int, int]] = []
    since: int | None = None
    for t, reachable in sorted(reports):
        if not reachable and since is None:
            since = t
        elif reachable and since is not None:
            spans.append((since, t))
            since = None
    if since is not None:
        spans.append((since, end_ns))
    return [
        (max(a, start_ns), min(b, end_ns)) for a, b in spans if min(b, end_ns) > max(a, start_ns)
    ]
