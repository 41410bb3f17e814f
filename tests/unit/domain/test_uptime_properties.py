"""domain.uptime, properties on random feeds: downtime matches a point-by-point reading of the
SPEC, windows split and join, and a suffix read from the last observation gives the same answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.intervals import Interval
from domain.uptime import (
    device_availability,
    incidents,
)
from tests.unit.domain.uptime_support import (
    BASE,
    FAR_FUTURE,
    M,
    S,
    T,
    at,
    device,
    downs,
    port,
    span,
)

# Small integer minutes keep every boundary on the grid, so a per-minute reference is exact.
minutes = st.lists(st.integers(0, 120), max_size=40)
gaps = st.lists(st.tuples(st.integers(0, 120), st.integers(0, 20)), max_size=4)


def unknown_from(pairs: list[tuple[int, int]]) -> list[Interval]:
    return [span(s, s + d) for s, d in pairs]


def reference_down_minutes(
    obs: list[int], off: list[int], start: int, end: int, unknown: list[tuple[int, int]]
) -> int:
    """Down minutes read point by point: t is down when the last observation m ≤ t has m + T ≤ t,
    or an offline event at or after m and ≤ t exists (half-open intervals on a minute grid)."""
    if not obs:
        return 0
    total = 0
    for t in range(max(start, min(obs)), end):
        if any(s <= t < s + d for s, d in unknown):
            continue
        m = max((o for o in obs if o <= t), default=None)
        offline = any(m is None or m <= e for e in off if e <= t)
        total += (m is not None and m + T <= t) or offline
    return total


@settings(max_examples=300, deadline=None)
@given(minutes, minutes, gaps, st.integers(0, 60), st.integers(0, 80))
def test_downtime_matches_a_point_by_point_reading_of_the_spec(
    obs: list[int], off: list[int], unk: list[tuple[int, int]], start: int, length: int
) -> None:
    a = device(obs, off, start=start, end=start + length, unknown=unknown_from(unk))
    assert a.downtime_ns == reference_down_minutes(obs, off, start, start + length, unk) * M


@settings(max_examples=300, deadline=None)
@given(minutes, minutes, gaps, st.integers(0, 60), st.integers(0, 80), st.integers(0, 200))
def test_uptime_is_a_percentage_and_downtime_never_exceeds_known_time(
    obs: list[int], off: list[int], unk: list[tuple[int, int]], start: int, length: int, now: int
) -> None:
    a = device(obs, off, start=start, end=start + length, now=at(now), unknown=unknown_from(unk))
    assert 0 <= a.downtime_ns <= a.known_ns <= a.monitored_ns
    assert a.uptime_pct is None or 0.0 <= a.uptime_pct <= 100.0
    assert a.uptime_pct is not None or a.known_ns == 0
    assert sum(i.duration_s for i in incidents("d", a)) * S == pytest.approx(a.downtime_ns)


@settings(max_examples=300, deadline=None)
@given(minutes, minutes, gaps, st.integers(0, 60), st.integers(0, 40), st.integers(0, 40))
def test_splitting_a_window_in_two_keeps_total_downtime_and_monitored_time(
    obs: list[int], off: list[int], unk: list[tuple[int, int]], start: int, left: int, right: int
) -> None:
    unknown = unknown_from(unk)
    whole = device(obs, off, start=start, end=start + left + right, unknown=unknown)
    a = device(obs, off, start=start, end=start + left, unknown=unknown)
    b = device(obs, off, start=start + left, end=start + left + right, unknown=unknown)
    assert a.downtime_ns + b.downtime_ns == whole.downtime_ns
    assert a.monitored_ns + b.monitored_ns == whole.monitored_ns
    assert a.unknown_ns + b.unknown_ns == whole.unknown_ns


@settings(max_examples=300, deadline=None)
@given(minutes, minutes, st.integers(0, 60), st.integers(1, 60))
def test_a_suffix_from_the_last_observation_before_the_window_gives_the_same_answer(
    obs: list[int], off: list[int], start: int, length: int
) -> None:
    """The storage layer may read only the window plus the last observation and event before it."""
    whole = device(obs, off, start=start, end=start + length)
    before = [o for o in obs if o <= start]
    if not before:
        return
    last_obs = max(before)
    last_off = [max(e for e in off if e < start)] if any(e < start for e in off) else []
    suffix = device(
        [o for o in obs if o >= last_obs],
        last_off + [e for e in off if e >= start],
        start=start,
        end=start + length,
        first=min(obs),
    )
    assert downs(suffix) == downs(whole)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 120), st.booleans()), max_size=40), st.integers(0, 60))
def test_link_downtime_matches_a_point_by_point_reading_of_the_spec(
    samples: list[tuple[int, bool]], start: int
) -> None:
    end = start + 60
    a = port([(float(m), up) for m, up in samples], start=start, end=end)
    expected = 0
    times = [m for m, _ in samples]
    for t in range(max(start, min(times, default=end)), end):
        last = max((m for m in times if m <= t), default=None)
        last_up = max((m for m, up in samples if up and m <= t), default=None)
        down_sample = any(
            not up and m <= t and (last_up is None or m >= last_up) for m, up in samples
        )
        expected += (last is not None and last + T <= t) or down_sample
    assert a.downtime_ns == expected * M


def test_thirty_days_of_one_minute_observations_stay_exact() -> None:
    rng = np.random.default_rng(6)
    obs = np.arange(30 * 1440, dtype=np.int64) * M + BASE
    obs = obs[rng.random(obs.size) > 0.3]  # lose 30 %: some gaps exceed T
    a = device_availability(
        obs, np.empty(0, np.int64), timeout_ns=T * M, start_ns=BASE, end_ns=BASE + 30 * 1440 * M,
        now_ns=FAR_FUTURE,
    )  # fmt: skip
    gap = np.diff(np.append(obs, BASE + 30 * 1440 * M))
    assert a.downtime_ns == int(np.maximum(gap - T * M, 0).sum())
