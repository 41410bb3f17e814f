"""domain.snmp_counters: HC counters as read, 32-bit wraps kept in a 64-bit running total, a reboot
restarting the total so the platform sees a reset; checked against a literal reading of SPEC."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.snmp_counters import (
    WRAP32,
    PortTotals,
    RawPort,
    Running,
    advance,
    oper_status,
    port_totals,
    rebooted,
)
from domain.usage import counter_delta


def test_hc_counters_are_published_as_read() -> None:
    r = advance(None, 10**15, 64)
    assert advance(r, 10**15 + 5, 64) == Running(64, 10**15 + 5, 10**15 + 5)


def test_a_32_bit_wrap_adds_2_to_the_32_and_is_not_a_reset() -> None:
    r = advance(None, WRAP32 - 100, 32)
    r = advance(r, 50, 32)  # wrapped: 100 + 50 octets later
    assert r.total == WRAP32 - 100 + 150
    r = advance(r, 70, 32)
    assert r.total == WRAP32 + 70


def test_a_reboot_restarts_the_total_from_the_new_raw_value_so_it_goes_down() -> None:
    r = advance(None, 4_000_000_000, 32)
    r = advance(r, 1_000, 32)  # a wrap: total above 2^32
    assert r.total > WRAP32
    after = advance(r, 500, 32, restart=True)
    assert after.total == 500
    assert counter_delta(r.total, after.total) == 500  # the platform's reset: delta = new value


def test_switching_width_starts_again() -> None:
    r = advance(advance(None, 7, 32), 9, 64)
    assert r == Running(64, 9, 9)


def test_out_of_range_raw_values_are_refused() -> None:
    with pytest.raises(ValueError, match="32-bit"):
        advance(None, WRAP32, 32)
    with pytest.raises(ValueError):
        advance(None, -1, 64)


def test_sysuptime_going_back_is_a_reboot_but_its_own_wrap_is_not() -> None:
    assert not rebooted(None, 5, 60)
    assert not rebooted(1_000, 7_000, 60)
    assert rebooted(600_000, 200, 60)
    # 497 days in: 60 s later the 32-bit tick counter wrapped
    assert not rebooted(WRAP32 - 3_000, 3_000, 60)
    assert rebooted(WRAP32 - 3_000, 900_000, 60)


def test_port_totals_prefer_hc_and_fall_back_to_32_bit_per_direction() -> None:
    t = port_totals(None, RawPort(10, None, None, 20), switch_rebooted=False)
    assert (t.in_octets, t.out_octets, t.inbound.width, t.outbound.width) == (10, 20, 64, 32)
    with pytest.raises(ValueError, match="no out octets"):
        port_totals(None, RawPort(1, None, 1, None), switch_rebooted=False)


def test_a_changed_discontinuity_time_resets_that_port_only() -> None:
    first = port_totals(None, RawPort(None, None, 900, 900, discontinuity=0), switch_rebooted=False)
    same = port_totals(first, RawPort(None, None, 950, 950, discontinuity=0), switch_rebooted=False)
    assert (same.in_octets, same.reset) == (950, False)
    moved = port_totals(same, RawPort(None, None, 30, 40, discontinuity=777), switch_rebooted=False)
    assert (moved.in_octets, moved.out_octets, moved.reset) == (30, 40, True)


def test_a_switch_reboot_resets_every_port() -> None:
    first = port_totals(None, RawPort(None, None, 900, 900), switch_rebooted=False)
    after = port_totals(first, RawPort(None, None, 10, 10), switch_rebooted=True)
    assert (after.in_octets, after.reset) == (10, True)


def test_oper_status_only_up_is_up() -> None:
    assert oper_status(1) == "up"
    assert [oper_status(v) for v in (2, 3, 4, 5, 6, 7)] == ["down"] * 6


# --- properties ---------------------------------------------------------------------------------

steps = st.lists(st.integers(0, WRAP32 - 1), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, WRAP32 - 1), steps)
def test_32_bit_running_total_grows_by_exactly_the_octets_sent(start: int, sent: list[int]) -> None:
    """Whatever traffic (below 2^32 octets per poll), the platform's deltas of the published
    totals sum to the octets really sent: no wrap is ever seen as a reset."""
    r = advance(None, start, 32)
    published = [r.total]
    true_counter = start
    for octets in sent:
        true_counter += octets
        r = advance(r, true_counter % WRAP32, 32)
        published.append(r.total)
    deltas = [counter_delta(a, b) for a, b in pairwise(published)]
    assert sum(deltas) == sum(sent)
    assert all(b >= a for a, b in pairwise(published))


@settings(max_examples=200, deadline=None)
@given(
    # The first reading lands in [2^31, 2^31 + 2^30) and totals only grow, so the counter that
    # restarts from 0 stays below them: SPEC sees a reset only as a decrease.
    st.lists(st.integers(0, WRAP32 // 4), min_size=1, max_size=20),
    st.lists(st.integers(0, 10**6), min_size=1, max_size=20),
)
def test_after_a_reboot_the_platform_bills_the_new_counter_value(
    before: list[int], after: list[int]
) -> None:
    """A reboot with counters restarting from 0: the deltas the platform computes (SPEC: a
    decrease is a reset and its delta the new value) are exactly the octets sent since."""
    t: PortTotals | None = None
    value = WRAP32 // 2
    for octets in before:
        value += octets
        t = port_totals(t, RawPort(None, None, value % WRAP32, 0), switch_rebooted=False)
    assert t is not None
    prev_total = t.in_octets
    value = 0
    billed = []
    for k, octets in enumerate(after):
        value += octets
        t = port_totals(t, RawPort(None, None, value, 0), switch_rebooted=k == 0)
        billed.append(counter_delta(prev_total, t.in_octets))
        prev_total = t.in_octets
    assert sum(billed) == value  # totals before the reboot stayed above what it restarts from
