"""domain.usage: counter deltas, resets from near 2^64, glitches, windows, epoch-aligned 5-minute
buckets and the p95 index rule, on hand-computed cases and against reference implementations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.usage import (
    BUCKET_NS,
    U64_MAX,
    Buckets,
    Deltas,
    PortDeltas,
    bucket_octets,
    bucket_start_ns,
    counter_delta,
    is_glitch,
    p95,
    p95_from_largest,
    p95_index,
    port_deltas,
    ranks_above_p95,
    window_octets,
)

S = 1_000_000_000
BASE = 1_795_000_200 * S  # a bucket boundary: 1_795_000_200 is a multiple of 300
GBIT = 1000.0  # Mbps
MAX_PER_MINUTE = 7_500_000_000  # 1 Gbit/s for 60 s, in bytes


def port(samples: Sequence[tuple[int, int, int]], capacity_mbps: float = GBIT) -> PortDeltas:
    """A port's deltas from (seconds after BASE, in_octets, out_octets) samples."""
    return port_deltas(
        [BASE + s * S for s, _, _ in samples],
        [i for _, i, _ in samples],
        [o for _, _, o in samples],
        capacity_mbps,
    )


def deltas(samples: Sequence[tuple[int, int]], capacity_mbps: float = GBIT) -> Deltas:
    """The inbound deltas from (seconds after BASE, in_octets) samples; out stays at 0."""
    return port([(s, v, 0) for s, v in samples], capacity_mbps).inbound


def listed(d: Deltas) -> list[tuple[int, int]]:
    """Valid deltas as (t2 seconds after BASE, octets)."""
    return [((t - BASE) // S, o) for t, o in zip(d.t2_ns.tolist(), d.octets.tolist(), strict=True)]


# --- deltas -----------------------------------------------------------------------------------


def test_delta_is_new_minus_old_and_belongs_to_the_later_sample() -> None:
    assert listed(deltas([(0, 100), (60, 250), (120, 250)])) == [(60, 150), (120, 0)]


def test_counter_going_down_is_a_reset_whose_delta_is_the_new_value() -> None:
    d = deltas([(0, 5_000), (60, 7_000), (120, 300)])
    assert listed(d) == [(60, 2_000), (120, 300)]
    assert d.resets.tolist() == [False, True]


def test_reset_from_the_top_of_the_64_bit_range_to_a_small_value() -> None:
    d = deltas([(0, U64_MAX - 10), (60, U64_MAX), (120, 5)])
    assert listed(d) == [(60, 10), (120, 5)]
    assert d.resets.tolist() == [False, True]


def test_counter_values_above_2_to_the_63_stay_exact() -> None:
    base = 2**63 + 12_345
    assert listed(deltas([(0, base), (60, base + 1_000_000_007)])) == [(60, 1_000_000_007)]


def test_delta_exactly_at_capacity_is_valid_and_one_byte_more_is_a_glitch() -> None:
    ok = deltas([(0, 0), (60, MAX_PER_MINUTE)])
    assert listed(ok) == [(60, MAX_PER_MINUTE)]
    bad = port([(0, 0, 0), (60, MAX_PER_MINUTE + 1, 5), (120, MAX_PER_MINUTE + 11, 7)])
    assert listed(bad.inbound) == [(120, 10)]
    [glitch] = bad.glitches
    assert (glitch.t1_ns, glitch.t2_ns) == (BASE, BASE + 60 * S)
    assert (glitch.direction, glitch.octets) == ("in", MAX_PER_MINUTE + 1)
    assert glitch.rate_bps == pytest.approx(1e9 + 8 / 60)
    assert listed(bad.outbound) == [(60, 5), (120, 2)]


def test_glitch_in_one_direction_leaves_the_other_directions_delta_billed() -> None:
    # SPEC: in and out are two counters; the out glitch at 60 s drops the out delta only.
    d = port([(0, 0, 0), (60, 100, MAX_PER_MINUTE + 1), (120, 150, MAX_PER_MINUTE + 2)])
    assert listed(d.inbound) == [(60, 100), (120, 50)]
    assert listed(d.outbound) == [(120, 1)]
    assert [(g.t2_ns, g.direction, g.octets) for g in d.glitches] == [
        (BASE + 60 * S, "out", MAX_PER_MINUTE + 1)
    ]
    assert window_octets([d.inbound], BASE, BASE + 180 * S) == 150
    assert window_octets([d.outbound], BASE, BASE + 180 * S) == 1


def test_glitches_in_both_directions_of_one_pair_are_two_glitches() -> None:
    d = port([(0, 0, 0), (60, 10**12, 10**12), (120, 10**12 + 1, 10**12 + 2)])
    assert [g.direction for g in d.glitches] == ["in", "out"]
    assert listed(d.inbound) == [(120, 1)] and listed(d.outbound) == [(120, 2)]


def test_each_direction_resets_on_its_own() -> None:
    d = port([(0, 1_000, 1_000), (60, 50, 1_400)])
    assert (listed(d.inbound), d.inbound.resets.tolist()) == ([(60, 50)], [True])
    assert (listed(d.outbound), d.outbound.resets.tolist()) == ([(60, 400)], [False])


def test_reset_to_an_implausibly_large_value_is_a_glitch() -> None:
    d = port([(0, U64_MAX - 10, 0), (60, 2**62, 0)])
    assert listed(d.inbound) == []
    assert [(g.direction, g.octets) for g in d.glitches] == [("in", 2**62)]
    assert listed(d.outbound) == [(60, 0)]


def test_glitch_limit_follows_a_fractional_capacity() -> None:
    # 2.5 Mbit/s for 8 s is 2.5 MB.
    assert listed(deltas([(0, 0), (8, 2_500_000)], capacity_mbps=2.5)) == [(8, 2_500_000)]
    assert listed(deltas([(0, 0), (8, 2_500_001)], capacity_mbps=2.5)) == []


def test_samples_out_of_order_are_sorted_and_a_repeated_time_keeps_the_last() -> None:
    assert listed(deltas([(120, 900), (0, 100), (60, 400), (60, 500)])) == [(60, 400), (120, 400)]


def test_fewer_than_two_samples_give_no_deltas() -> None:
    assert listed(deltas([])) == []
    assert listed(deltas([(0, 7)])) == []


def test_counters_outside_the_unsigned_64_bit_range_are_refused() -> None:
    with pytest.raises(OverflowError):
        deltas([(0, -1), (60, 5)])
    with pytest.raises(OverflowError):
        deltas([(0, 2**64), (60, 5)])
    with pytest.raises(TypeError, match="uint64"):
        port_deltas([BASE, BASE + S], np.array([1, 2], dtype=np.int64), [1, 2], GBIT)
    with pytest.raises(ValueError, match="differ in length"):
        port_deltas([BASE, BASE + S], [1, 2], [1], GBIT)


def test_scalar_rules_for_streaming_agree_with_the_batch_rules() -> None:
    assert counter_delta(U64_MAX, 5) == 5
    assert counter_delta(10, 15) == 5
    assert not is_glitch(MAX_PER_MINUTE, 0, 60 * S, GBIT)
    assert is_glitch(MAX_PER_MINUTE + 1, 0, 60 * S, GBIT)
    with pytest.raises(ValueError, match="t1 < t2"):
        is_glitch(1, 5, 5, GBIT)


# --- windows and buckets ----------------------------------------------------------------------


def test_delta_counts_in_the_window_holding_its_t2() -> None:
    d = deltas([(-30, 0), (30, 1_000), (90, 3_000)])
    assert window_octets([d], BASE - 300 * S, BASE) == 0
    assert window_octets([d], BASE, BASE + 60 * S) == 1_000
    assert window_octets([d], BASE + 60 * S, BASE + 90 * S) == 0  # window end is exclusive
    assert window_octets([d], BASE + 90 * S, BASE + 91 * S) == 2_000


def test_glitches_are_not_billed() -> None:
    d = deltas([(0, 0), (60, MAX_PER_MINUTE + 1), (120, MAX_PER_MINUTE + 11)])
    assert window_octets([d], BASE, BASE + 300 * S) == 10


def test_partner_bytes_are_the_sum_over_its_ports() -> None:
    a = deltas([(0, 0), (60, 100)])
    b = deltas([(0, 0), (30, 7), (90, 40)])
    assert window_octets([a, b], BASE, BASE + 300 * S) == 140


def test_buckets_are_aligned_to_the_epoch() -> None:
    assert bucket_start_ns(1_795_000_200 * S) == 1_795_000_200 * S
    assert bucket_start_ns(1_795_000_499 * S + 999_999_999) == 1_795_000_200 * S
    assert bucket_start_ns(-1) == -BUCKET_NS


def test_delta_spanning_a_bucket_boundary_belongs_to_the_bucket_of_t2() -> None:
    d = deltas([(290, 0), (310, 3_000)])
    b = bucket_octets([d], BASE, BASE + 600 * S)
    assert b.start_ns.tolist() == [BASE + 300 * S]
    assert b.octets.tolist() == [3_000]
    assert b.rates_bps.tolist() == [80.0]


def test_partner_bucket_sums_its_ports_and_skips_buckets_without_valid_deltas() -> None:
    a = deltas([(0, 0), (60, 300), (660, 600)])  # buckets 0 and 600 s
    b = deltas([(0, 0), (90, 75), (100, 10**12)])  # bucket 0; the second delta is a glitch
    buckets = bucket_octets([a, b], BASE, BASE + 900 * S)
    assert buckets.start_ns.tolist() == [BASE, BASE + 600 * S]
    assert buckets.octets.tolist() == [375, 300]


def test_bucket_whose_deltas_are_all_zero_is_known_with_rate_zero() -> None:
    d = deltas([(0, 5), (60, 5)])
    b = bucket_octets([d], BASE, BASE + 300 * S)
    assert b.rates_bps.tolist() == [0.0]
    assert p95(b).bps == 0.0


def test_bucket_sums_stay_exact_above_2_to_the_53() -> None:
    d = deltas([(0, 0), (86_400 * 365, 2**60 + 1)], capacity_mbps=1_000_000)
    assert bucket_octets([d], BASE, BASE + 10**18).octets.tolist() == [2**60 + 1]


# --- p95 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "index"), [(1, 0), (19, 18), (20, 18), (21, 19), (8640, 8207)])
def test_p95_index_is_ceil_of_95_percent_of_n_minus_one(n: int, index: int) -> None:
    assert p95_index(n) == index


@pytest.mark.parametrize("n", [1, 19, 20, 21, 8640])
def test_p95_picks_the_value_at_that_index_of_the_ascending_rates(n: int) -> None:
    rng = np.random.default_rng(n)
    octets = rng.permutation(np.arange(1, n + 1, dtype=np.uint64)) * np.uint64(300)
    starts = BASE + np.arange(n, dtype=np.int64) * BUCKET_NS
    result = p95(Buckets(starts, octets))
    assert result.index == p95_index(n)
    assert result.bps == 8.0 * (p95_index(n) + 1)  # the rates are 8, 16, ... bps
    assert result.bucket_start_ns == int(starts[int(np.argmax(octets == 300 * (result.index + 1)))])
    assert result.buckets.octets.size == n


def test_p95_of_a_window_without_valid_deltas_is_none() -> None:
    empty = bucket_octets([deltas([(0, 1)])], BASE, BASE + 300 * S)
    result = p95(empty)
    assert (result.bps, result.index, result.bucket_start_ns) == (None, None, None)
    with pytest.raises(ValueError):
        p95_index(0)


# --- properties -------------------------------------------------------------------------------

counters = st.integers(0, U64_MAX)
samples = st.lists(st.tuples(st.integers(-600, 3000), counters), max_size=30)
port_samples = st.lists(st.tuples(st.integers(-600, 3000), counters, counters), max_size=30)


def reference_deltas(
    samples: list[tuple[int, int, int]], capacity: float
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """SPEC read literally, with Python ints and the scalar rules, one pair and one direction
    at a time: the valid (t2, delta) of in, and of out."""
    by_time = {t: (i, o) for t, i, o in samples}  # the later given of two at one instant wins
    inbound: list[tuple[int, int]] = []
    outbound: list[tuple[int, int]] = []
    for (t1, (i1, o1)), (t2, (i2, o2)) in pairwise(sorted(by_time.items())):
        for result, delta in ((inbound, counter_delta(i1, i2)), (outbound, counter_delta(o1, o2))):
            if not is_glitch(delta, BASE + t1 * S, BASE + t2 * S, capacity):
                result.append((t2, delta))
    return inbound, outbound


@settings(max_examples=300, deadline=None)
@given(port_samples, st.sampled_from([1.0, 2.5, 1000.0, 1e6]))
def test_batch_deltas_equal_the_pairwise_scalar_rules(
    samples: list[tuple[int, int, int]], capacity: float
) -> None:
    d = port(samples, capacity)
    assert (listed(d.inbound), listed(d.outbound)) == reference_deltas(samples, capacity)


@settings(max_examples=300, deadline=None)
@given(samples, st.integers(-600, 3000), st.integers(0, 2000), st.integers(0, 2000))
def test_bytes_of_two_adjacent_windows_add_up_to_their_union(
    pairs: list[tuple[int, int]], start: int, left: int, right: int
) -> None:
    d = deltas(pairs, 1e6)
    a, b, c = (BASE + x * S for x in (start, start + left, start + left + right))
    assert window_octets([d], a, b) + window_octets([d], b, c) == window_octets([d], a, c)
    assert sum(bucket_octets([d], a, c).octets.tolist()) == window_octets([d], a, c)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**13), min_size=0, max_size=300))
def test_p95_equals_a_reference_on_random_rates(octets: list[int]) -> None:
    starts = BASE + np.arange(len(octets), dtype=np.int64) * BUCKET_NS
    result = p95(Buckets(starts, np.array(octets, dtype=np.uint64)))
    if not octets:
        assert result.bps is None
        return
    rates = sorted(Fraction(8 * o, 300) for o in octets)
    expected = rates[math.ceil(Fraction(95, 100) * len(octets)) - 1]
    assert result.bps == float(expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=0, max_size=300), st.integers(0, 5))
def test_p95_from_the_largest_buckets_equals_p95_of_all(octets: list[int], spare: int) -> None:
    """What the API does for a month: read only the top few percent of the stored buckets."""
    everything = Buckets(
        np.arange(len(octets), dtype=np.int64) * BUCKET_NS, np.array(octets, dtype=np.uint64)
    )
    n = len(octets)
    keep = min(n, ranks_above_p95(n) + 1 + spare) if n else 0
    top = np.argsort(everything.octets, kind="stable")[n - keep :]
    largest = Buckets(everything.start_ns[top], everything.octets[top])
    assert p95_from_largest(n, largest).bps == p95(everything).bps
    assert p95_from_largest(n, largest).index == p95(everything).index


def test_p95_from_too_few_largest_buckets_is_refused() -> None:
    few = Buckets(np.array([0], dtype=np.int64), np.array([5], dtype=np.uint64))
    with pytest.raises(ValueError, match="needs"):
        p95_from_largest(100, few)
