"""Effective times in figures (issue 13): a silence is judged with the `T` in force at the
observation it follows, and a window's figures use the partner's ports and devices of that
window (domain/spans.py, domain/uptime.py, domain/registry_history.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from domain.registry import Registry
from domain.registry_history import (
    ALWAYS,
    DeviceTerms,
    PortTerms,
    RegistryHistory,
    Timeline,
    interval_of,
    partner_over,
)
from domain.spans import Kind, Silence, derive_spans
from domain.uptime import availability_from_spans

S = 1_000_000_000


def piecewise(change_ns: int, before_ns: int, after_ns: int) -> Callable[[int], int]:
    return lambda t: before_ns if t < change_ns else after_ns


@given(
    gaps=st.lists(st.integers(1, 2_000), min_size=1, max_size=60),
    change=st.integers(0, 60_000),
    before=st.integers(1, 1_000),
    after=st.integers(1, 1_000),
    split=st.integers(0, 60),
)
def test_silences_are_judged_with_the_timeout_in_force_at_their_start(
    gaps: list[int], change: int, before: int, after: int, split: int
) -> None:
    times = np.cumsum(np.array(gaps, dtype=np.int64))
    kinds = np.full(times.size, Kind.OBSERVATION, dtype=np.int8)
    timeout = piecewise(change, before, after)
    expected = [Silence(a, b) for a, b in itertools.pairwise(times.tolist()) if b - a > timeout(a)]
    assert derive_spans(times, kinds, timeout).silences == expected
    # In two chunks, the state carried between them, the same silences.
    k = min(split, times.size)
    first = derive_spans(times[:k], kinds[:k], timeout)
    second = derive_spans(times[k:], kinds[k:], timeout, first.state)
    assert first.silences + second.silences == expected


@given(value=st.integers(1, 10_000))
def test_a_timeout_that_never_changed_gives_what_the_int_gives(value: int) -> None:
    times = np.array([0, 5_000, 5_001, 40_000], dtype=np.int64)
    kinds = np.zeros(4, dtype=np.int8)
    assert derive_spans(times, kinds, lambda _t: value) == derive_spans(times, kinds, value)


def test_a_lowered_interval_leaves_the_silences_before_the_change_judged_with_the_old_t() -> None:
    # 300 s interval (T = 900 s) until 10 000 s, then 60 s (T = 180 s); two 600 s silences.
    change, t_old, t_new = 10_000 * S, 900 * S, 180 * S
    silences = [Silence(1_000 * S, 1_600 * S), Silence(20_000 * S, 20_600 * S)]
    figures = availability_from_spans(
        first_ns=0,
        last_reset_ns=30_000 * S,
        silences=silences,
        held=[],
        timeout_ns=piecewise(change, t_old, t_new),
        start_ns=0,
        end_ns=30_000 * S,
        now_ns=40_000 * S,
    )
    assert figures.downtime_ns == 600 * S - t_new  # the first silence is within the old T


def history_of(registry: Registry) -> RegistryHistory:
    return RegistryHistory.of_registry(registry)


def test_a_partner_of_an_unchanged_registry_is_itself_in_any_window(registry: Registry) -> None:
    history = history_of(registry)
    for partner in registry.partners:
        assert partner_over(partner, history, 0, 10**18) is partner


def test_a_port_moved_later_still_counts_for_its_old_partner_before_the_move(
    registry: Registry,
) -> None:
    base = history_of(registry)
    key = ("dmd-core-1", "xe-0-0-1")
    owner = registry.port_owner[key]
    old = base.ports[key].terms[0]
    assert old is not None
    moved_ns = 1_000 * S
    ports = dict(base.ports)
    ports[key] = Timeline((ALWAYS, moved_ns), (old, PortTerms("woonbron", 10.0, 60)))
    history = RegistryHistory(base.devices, ports, base.kinds)
    now = registry.by_id[owner.id]
    without = now.model_copy(update={"ports": tuple(p for p in now.ports if p.key != key)})

    # Figures before the move see the port with its old owner, after it with the new one.
    before = partner_over(without, history, 0, moved_ns)
    assert key in [p.key for p in before.ports]
    after = partner_over(without, history, moved_ns, 2 * moved_ns)
    assert key not in [p.key for p in after.ports]
    woonbron = registry.by_id["woonbron"]
    assert key not in [p.key for p in partner_over(woonbron, history, 0, moved_ns).ports]
    gained = partner_over(woonbron, history, moved_ns, 2 * moved_ns).ports
    assert [(p.key, p.capacity_mbps) for p in gained if p.key == key] == [(key, 10.0)]


def test_a_device_retired_before_a_window_is_not_in_it_but_is_in_earlier_ones(
    registry: Registry,
) -> None:
    base = history_of(registry)
    partner = registry.partners[0]
    device = partner.devices[0]
    devices = dict(base.devices)
    devices[(partner.id, device.id)] = Timeline(
        (ALWAYS, 1_000 * S), (DeviceTerms(device.interval_s, device.port, device.switch), None)
    )
    history = RegistryHistory(devices, base.ports, base.kinds)
    assert device.id in [d.id for d in partner_over(partner, history, 0, 1_000 * S).devices]
    later = partner_over(partner, history, 1_000 * S, 2_000 * S)
    assert device.id not in [d.id for d in later.devices]


def test_an_interval_is_an_int_until_it_changes() -> None:
    assert interval_of(Timeline.constant(DeviceTerms(60))) == 60
    changed = interval_of(Timeline((ALWAYS, 100), (DeviceTerms(300), DeviceTerms(60))))
    assert callable(changed)
    assert (changed(99), changed(100)) == (300, 60)
    retired = interval_of(Timeline((ALWAYS, 100), (DeviceTerms(120), None)))
    assert retired == 120  # retired time keeps the last interval in force
