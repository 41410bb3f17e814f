"""The derived records answer exactly what the raw events answer (domain.spans + uptime)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.intervals import Interval
from domain.spans import (
    Held,
    Kind,
    LinkRecord,
    Silence,
    SpanState,
    derive_spans,
    platform_gaps,
    sort_events,
)
from domain.uptime import (
    Availability,
    availability_from_spans,
    device_availability,
    link_availability,
)

T = 30
OBS, OFF = Kind.OBSERVATION, Kind.OFFLINE


def derive_in_chunks(
    times: list[int], kinds: list[int], cuts: list[int], timeout: int = T
) -> tuple[list[Silence], list[Held], SpanState]:
    """As the deriver does it for data arriving in order: chunk by chunk, carrying the state;
    a record derived again later (an open run, closed) replaces the earlier one."""
    t, k = sort_events(times, kinds)
    # The deriver never splits one instant (a chunk must start after the state's last event).
    bounds = sorted({0, t.size, *(_cut_between_instants(t, c % (t.size + 1)) for c in cuts)})
    state = SpanState()
    silences: dict[int, Silence] = {}
    held: dict[int, Held] = {}
    for a, b in itertools.pairwise(bounds):
        out = derive_spans(t[a:b], k[a:b], timeout, state)
        silences.update({s.until_ns: s for s in out.silences})
        held.update({h.start_ns: h for h in out.held})
        state = out.state
    return list(silences.values()), list(held.values()), state


def from_records(
    times: list[int],
    kinds: list[int],
    cuts: list[int],
    start: int,
    end: int,
    now: int,
    unknown: list[Interval] | None = None,
) -> Availability:
    """The figures as the API gets them: derived chunk by chunk, read back from the records."""
    silences, held, state = derive_in_chunks(times, kinds, cuts)
    return availability_from_spans(
        first_ns=state.first_reset_ns,
        last_reset_ns=state.last_reset_ns,
        silences=silences,
        held=held,
        timeout_ns=T,
        start_ns=start,
        end_ns=end,
        now_ns=now,
        unknown=unknown or [],
    )


def _cut_between_instants(t: np.ndarray, cut: int) -> int:
    while 0 < cut < t.size and t[cut] == t[cut - 1]:
        cut += 1
    return cut


def test_silences_and_runs_by_hand() -> None:
    t, k = sort_events([0, 10, 50, 55, 60, 100, 100, 200], [OBS, OBS, OBS, OFF, OFF, OBS, OFF, OBS])
    out = derive_spans(t, k, T)
    assert out.silences == [Silence(10, 50), Silence(50, 100), Silence(100, 200)]
    # 55 and 60 share the observation that ends them (100); the offline at 100 is not
    # cancelled by the observation at the same instant, only by the one at 200.
    assert out.held == [Held(55, 100), Held(100, 200)]
    assert out.state == SpanState(200, None, 200, 0)


def test_open_run_is_closed_by_a_later_chunk() -> None:
    first = derive_spans(*sort_events([0, 5], [OBS, OFF]), T)
    assert first.held == [Held(5, None)]
    second = derive_spans(*sort_events([7, 9], [OFF, OBS]), T, first.state)
    assert second.held == [Held(5, 9)]


def test_port_down_samples_reset_the_silence_clock() -> None:
    U, D = Kind.OBSERVATION, Kind.DOWN_SAMPLE
    out = derive_spans(*sort_events([0, 20, 40, 60, 120], [U, D, D, U, U]), T)
    assert out.silences == [Silence(60, 120)]
    assert out.held == [Held(20, 60)]


def test_a_chunk_must_follow_the_state() -> None:
    state = SpanState(last_ns=10)
    with pytest.raises(ValueError, match="after"):
        derive_spans(*sort_events([10], [Kind.OBSERVATION]), T, state)


events = st.lists(
    st.tuples(st.integers(0, 600), st.sampled_from([Kind.OBSERVATION, Kind.OFFLINE])),
    max_size=40,
)
port_events = st.lists(
    st.tuples(st.integers(0, 600), st.sampled_from([Kind.OBSERVATION, Kind.DOWN_SAMPLE])),
    max_size=40,
)
windows = st.tuples(st.integers(-50, 650), st.integers(0, 200), st.integers(-50, 700))
unknowns = st.lists(st.tuples(st.integers(0, 600), st.integers(0, 80)), max_size=3)


@settings(max_examples=400, deadline=None)
@given(events, st.lists(st.integers(0, 50), max_size=4), windows, unknowns)
def test_device_figures_from_records_equal_figures_from_events(
    evs: list[tuple[int, int]],
    cuts: list[int],
    window: tuple[int, int, int],
    gaps: list[tuple[int, int]],
) -> None:
    start, length, now = window
    end = start + length
    unknown = [Interval(a, a + n) for a, n in gaps]
    times = [t for t, _ in evs]
    kinds = [int(k) for _, k in evs]
    obs = sorted(t for t, k in evs if k == Kind.OBSERVATION)
    off = sorted(t for t, k in evs if k == Kind.OFFLINE)
    raw = device_availability(
        obs, off, timeout_ns=T, start_ns=start, end_ns=end, now_ns=now, unknown=unknown
    )
    assert from_records(times, kinds, cuts, start, end, now, unknown) == raw


@settings(max_examples=400, deadline=None)
@given(port_events, st.lists(st.integers(0, 50), max_size=4), windows)
def test_link_figures_from_records_equal_figures_from_samples(
    evs: list[tuple[int, int]], cuts: list[int], window: tuple[int, int, int]
) -> None:
    start, length, now = window
    end = start + length
    t, k = sort_events([t for t, _ in evs], [int(k) for _, k in evs])
    # One sample per instant, as InfluxDB keeps it: the last written wins (here: `down`).
    last = {int(a): int(b) for a, b in zip(t, k, strict=True)}
    times, kinds = list(last), list(last.values())
    raw = link_availability(
        times,
        [kd == Kind.OBSERVATION for kd in kinds],
        timeout_ns=T,
        start_ns=start,
        end_ns=end,
        now_ns=now,
    )
    assert from_records(times, kinds, cuts, start, end, now) == raw


@settings(max_examples=200, deadline=None)
@given(events, st.integers(0, 600), st.integers(0, 600))
def test_recomputing_a_stretch_from_the_previous_observation_gives_the_same_records(
    evs: list[tuple[int, int]], lo: int, span: int
) -> None:
    """The deriver's out-of-order path: recompute from the last observation before `lo` to the
    first after `hi`; the records it yields in that key range are the full derivation's."""
    hi = lo + span
    t, k = sort_events([t for t, _ in evs], [int(k) for _, k in evs])
    full = derive_spans(t, k, T)
    obs = t[k == Kind.OBSERVATION]
    before, after = obs[obs < lo], obs[obs > hi]
    r0 = int(before[-1]) if before.size else None
    r1 = int(after[0]) if after.size else None
    inside = np.ones(t.size, np.bool_)
    if r0 is not None:
        inside &= t >= r0
    if r1 is not None:
        inside &= t <= r1
    part = derive_spans(t[inside], k[inside], T)

    def in_keys(key: int, held: bool) -> bool:
        """Silences ending in (r0, r1]; runs starting in [r0, r1): one starting at r1 itself
        (an offline event at the same instant) ends after r1, out of reach of this stretch."""
        if held:
            return (r0 is None or key >= r0) and (r1 is None or key < r1)
        return (r0 is None or key > r0) and (r1 is None or key <= r1)

    assert [s for s in part.silences if in_keys(s.until_ns, False)] == [
        s for s in full.silences if in_keys(s.until_ns, False)
    ]
    assert [h for h in part.held if in_keys(h.start_ns, True)] == [
        h for h in full.held if in_keys(h.start_ns, True)
    ]


def test_platform_gap_is_when_no_ingest_is_connected() -> None:
    records = [
        LinkRecord("a", 100, True),
        LinkRecord("b", 150, True),
        LinkRecord("a", 200, False),
        LinkRecord("b", 300, False),
        LinkRecord("a", 400, True),
        LinkRecord("b", 900, False),
    ]
    assert platform_gaps(records, 0, 1000) == [(300, 400)]
    assert platform_gaps(records, 350, 1000) == [(350, 400)]
    assert platform_gaps([LinkRecord("a", 500, False)], 0, 1000) == [(500, 1000)]
    assert platform_gaps([], 0, 1000) == []
