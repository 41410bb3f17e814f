"""Budgets per partner (domain/budgets.py): hand-computed cases and properties, no I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.settings import Settings
from domain.budgets import (
    DEFAULT_LIMITS,
    LETTER_EVERY_NS,
    RATE_LIMITED,
    TOO_MANY_DEVICES,
    TOO_MANY_METRIC_NAMES,
    Budgets,
    Limits,
    Refusal,
)
from domain.messages import Rejected, Status, Telemetry, TelemetryBatch
from domain.registry import Budgets as OwnBudgets
from domain.registry import RegistryError, parse_registry

P = "woonbron"
S = 1_000_000_000
T0 = 1_800_000_000 * S
ROOMY = Limits(
    metrics_per_device=3,
    metric_names=100,
    auto_devices=2,
    messages_per_s=1e6,
    bytes_per_s=1e9,
    burst_s=60,
)


def budgets(limits: Limits = ROOMY, listed: tuple[str, ...] = ("listed",)) -> Budgets:
    return Budgets({P: limits}, {P: listed})


def tm(device: str, *names: str, ts: int = T0, partner: str = P) -> Telemetry:
    return Telemetry(partner, device, ts, dict.fromkeys(names, 1.0), {}, True)


def status(device: str) -> Status:
    return Status(P, device, T0, True, False)


# --- devices ---------------------------------------------------------------------------------


def test_listed_devices_are_always_accepted() -> None:
    book = budgets(replace(ROOMY, auto_devices=0))
    assert book.check(tm("listed", "a"), 10, T0) is None


def test_unlisted_devices_are_auto_registered_up_to_the_budget() -> None:
    book = budgets()
    assert book.check(tm("auto-1", "a"), 10, T0) is None
    assert book.check(status("auto-2"), 10, T0) is None  # a status message registers too
    refused = book.check(tm("auto-3", "a"), 10, T0)
    assert refused is not None
    assert (refused.reason, refused.kept) == (TOO_MANY_DEVICES, None)
    assert refused.rejected is not None and refused.rejected.reason == TOO_MANY_DEVICES
    assert "'auto-3'" in refused.rejected.detail
    assert "budgets.auto_devices" in refused.rejected.detail
    assert book.auto_devices() == {P: 2}


def test_known_devices_stay_accepted_once_the_budget_is_full() -> None:
    book = budgets()
    for device in ("auto-1", "auto-2"):
        assert book.check(tm(device, "a"), 10, T0) is None
    assert book.check(tm("auto-9", "a"), 10, T0) is not None
    assert book.check(tm("auto-1", "a"), 10, T0) is None
    assert book.check(tm("listed", "a"), 10, T0) is None


def test_a_partner_without_budgets_is_not_checked() -> None:
    assert budgets().check(tm("anything", "a", partner="other"), 10, T0) is None


# --- metric names ----------------------------------------------------------------------------


def test_new_names_past_the_budget_are_refused_and_the_rest_kept() -> None:
    book = budgets()
    assert book.check(tm("listed", "a", "b"), 10, T0) is None
    refused = book.check(tm("listed", "a", "c", "d", "e"), 10, T0)
    assert refused is not None and refused.reason == TOO_MANY_METRIC_NAMES
    assert isinstance(refused.kept, Telemetry)
    assert list(refused.kept.metrics) == ["a", "c"]  # known, then new in message order
    assert refused.rejected is not None
    assert refused.rejected.ts_ns == T0
    assert "2 new refused (d, e)" in refused.rejected.detail
    # Known names keep being accepted; a message of only new names is refused whole.
    assert book.check(tm("listed", "c", "b", "a"), 10, T0) is None
    whole = book.check(tm("listed", "x"), 10, T0)
    assert whole is not None and whole.kept is None and whole.rejected is not None


def test_a_partners_devices_share_its_budget_of_distinct_names() -> None:
    limits = replace(ROOMY, metrics_per_device=10, metric_names=4)
    book = budgets(limits, listed=("d1", "d2", "d3"))
    assert book.check(tm("d1", "a", "b", "c"), 10, T0) is None
    assert book.check(tm("d2", "a", "b", "c"), 10, T0) is None  # the same names: free
    refused = book.check(tm("d3", "a", "x", "y"), 10, T0)
    assert refused is not None and isinstance(refused.kept, Telemetry)
    assert list(refused.kept.metrics) == ["a", "x"]
    assert refused.rejected is not None
    assert "woonbron has its budget of 4 metric names: 1 new refused (y)" in (
        refused.rejected.detail
    )
    assert book.check(tm("d1", "x"), 10, T0) is None  # used by another device: no new name


def test_units_of_refused_names_go_with_them() -> None:
    book = budgets(replace(ROOMY, metrics_per_device=1))
    msg = Telemetry(P, "listed", T0, {"a": 1.0, "b": 2.0}, {"a": "Cel", "b": "%RH"}, True)
    refused = book.check(msg, 10, T0)
    assert refused is not None and isinstance(refused.kept, Telemetry)
    assert (refused.kept.metrics, refused.kept.units) == ({"a": 1.0}, {"a": "Cel"})


def test_a_senml_batch_keeps_its_items_with_known_names() -> None:
    book = budgets(replace(ROOMY, metrics_per_device=2))
    batch = TelemetryBatch(
        P, "listed", (tm("listed", "a", ts=T0), tm("listed", "b", ts=T0 + 1), tm("listed", "c"))
    )
    refused = book.check(batch, 10, T0)
    assert refused is not None and isinstance(refused.kept, TelemetryBatch)
    assert [list(item.metrics) for item in refused.kept.items] == [["a"], ["b"]]
    only_new = TelemetryBatch(P, "listed", (tm("listed", "y"), tm("listed", "z", ts=T0 + 1)))
    refused = book.check(only_new, 10, T0)
    assert refused is not None and refused.kept is None
    assert book.check(TelemetryBatch(P, "listed", batch.items[:2]), 10, T0) is None


def test_the_detail_stays_short_for_long_names() -> None:
    book = budgets(replace(ROOMY, metrics_per_device=1))
    names = [f"{k:02d}" + "x" * 62 for k in range(20)]
    refused = book.check(tm("listed", *names), 10, T0)
    assert refused is not None and refused.rejected is not None
    assert len(refused.rejected.detail) <= 200


# --- rate ------------------------------------------------------------------------------------


def test_a_burst_is_taken_then_the_rate() -> None:
    limits = replace(ROOMY, messages_per_s=2, burst_s=5)  # bucket of 10 messages
    book = budgets(limits)
    results = [book.check(tm("listed", "a"), 10, T0) for _ in range(11)]
    assert results[:10] == [None] * 10
    assert results[10] is not None and results[10].reason == RATE_LIMITED
    assert book.check(tm("listed", "a"), 10, T0 + S // 2) is None  # one token back
    assert book.check(tm("listed", "a"), 10, T0 + S // 2) is not None


def test_bytes_have_their_own_bucket() -> None:
    book = budgets(replace(ROOMY, bytes_per_s=100_000, burst_s=2))
    assert book.check(tm("listed", "a"), 150_000, T0) is None
    refused = book.check(tm("listed", "a"), 60_000, T0)
    assert refused is not None and refused.reason == RATE_LIMITED
    assert book.check(tm("listed", "a"), 50_000, T0) is None  # smaller still fits


def test_a_rate_limited_flood_leaves_one_dead_letter_per_second() -> None:
    book = budgets(replace(ROOMY, messages_per_s=1, burst_s=1))
    assert book.check(tm("listed", "a"), 10, T0) is None
    refusals = [book.check(tm("listed", "a"), 10, T0 + k) for k in range(1, 6)]
    assert all(r is not None and r.reason == RATE_LIMITED for r in refusals)
    lettered = [r for r in refusals if r is not None and r.rejected is not None]
    assert len(lettered) == 1 and lettered[0] is refusals[0]
    later = book.check(tm("listed", "a"), 10, T0 + LETTER_EVERY_NS // 2)
    assert later is not None and later.rejected is None
    nxt = book.check(tm("listed", "a"), 10, T0 + LETTER_EVERY_NS * 9 // 10)
    assert nxt is not None and nxt.rejected is None
    assert book.check(tm("listed", "a"), 10, T0 + LETTER_EVERY_NS + 1) is None  # refilled
    again = book.check(tm("listed", "a"), 10, T0 + LETTER_EVERY_NS + 2)
    assert again is not None and again.rejected is not None
    assert "6 more refused" in again.rejected.detail


def test_a_rate_limited_message_uses_no_device_budget() -> None:
    book = budgets(replace(ROOMY, messages_per_s=1, burst_s=1))
    assert book.check(tm("listed", "a"), 10, T0) is None
    assert book.check(tm("auto-1", "a"), 10, T0) is not None
    assert book.auto_devices() == {P: 0}


def test_a_clock_step_back_refills_nothing() -> None:
    book = budgets(replace(ROOMY, messages_per_s=1, burst_s=1))
    assert book.check(tm("listed", "a"), 10, T0) is None
    assert book.check(tm("listed", "a"), 10, T0 - 10 * S) is not None
    assert book.check(tm("listed", "a"), 10, T0 + S) is None


# --- seeding (what InfluxDB already holds at start-up) -----------------------------------------


def test_seeded_devices_count_and_stay_accepted() -> None:
    book = budgets()
    for device in ("old-1", "old-2", "old-3", "listed"):
        book.seed(P, device, ["a"])
    assert book.auto_devices() == {P: 3}  # over budget from before: kept, nothing new
    assert book.check(tm("old-3", "a"), 10, T0) is None
    assert book.check(tm("new-1", "a"), 10, T0) is not None


def test_seeded_names_stay_accepted_beyond_the_budget() -> None:
    book = budgets()
    book.seed(P, "listed", ["a", "b", "c", "d"])
    assert book.check(tm("listed", "d", "a"), 10, T0) is None
    refused = book.check(tm("listed", "e"), 10, T0)
    assert refused is not None and refused.reason == TOO_MANY_METRIC_NAMES
    book.seed("unknown-partner", "x", ["a"])  # ignored


# --- configuration ---------------------------------------------------------------------------


def test_a_partners_own_budgets_override_the_defaults() -> None:
    own = OwnBudgets(auto_devices=5, bytes_per_s=100_000)
    expected = replace(DEFAULT_LIMITS, auto_devices=5, bytes_per_s=100_000)
    assert DEFAULT_LIMITS.resolve(own) == expected
    assert DEFAULT_LIMITS.resolve(OwnBudgets()) == DEFAULT_LIMITS


def test_settings_defaults_are_the_domain_defaults() -> None:
    assert Settings().budget_limits() == DEFAULT_LIMITS
    limits = Settings(ingest_budget_auto_devices=7).budget_limits()
    assert limits.auto_devices == 7


REGISTRY = """\
partners:
  - id: woonbron
    name: Woonbron
    devices:
      - {{id: listed}}
    budgets: {budgets}
"""


def test_the_registry_carries_budgets_per_partner() -> None:
    registry = parse_registry(REGISTRY.format(budgets="{auto_devices: 10, messages_per_s: 2.5}"))
    book = Budgets.from_registry(registry, DEFAULT_LIMITS)
    assert book.limits(P) == replace(DEFAULT_LIMITS, auto_devices=10, messages_per_s=2.5)


@pytest.mark.parametrize(
    ("budgets_yaml", "field", "message"),
    [
        ("{metrics_per_devices: 10}", "metrics_per_devices", "Extra inputs are not permitted"),
        ("{metrics_per_device: 0}", "metrics_per_device", "greater than or equal to 1"),
        ("{auto_devices: -1}", "auto_devices", "greater than or equal to 0"),
        ("{messages_per_s: 0}", "messages_per_s", "greater than 0"),
        ("{bytes_per_s: 1000}", "bytes_per_s", "greater than or equal to 65536"),
        ("{auto_devices: many}", "auto_devices", "valid integer"),
    ],
)
def test_bad_budgets_name_file_line_and_field(budgets_yaml: str, field: str, message: str) -> None:
    with pytest.raises(RegistryError) as err:
        parse_registry(REGISTRY.format(budgets=budgets_yaml), "partners.yaml")
    assert f"partners.yaml:6: partners.0.budgets.{field}: " in str(err.value)
    assert message in str(err.value)


# --- properties ------------------------------------------------------------------------------

DEVICES = st.sampled_from(["listed", "d1", "d2", "d3", "d4"])
NAMES = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(DEVICES, NAMES), max_size=60),
    st.integers(1, 4),
    st.integers(1, 6),
    st.integers(0, 3),
)
def test_no_partner_ever_gets_past_its_device_and_name_budgets(
    messages: list[tuple[str, list[str]]], per_device: int, names_budget: int, auto: int
) -> None:
    limits = replace(ROOMY, metrics_per_device=per_device, metric_names=names_budget)
    book = budgets(replace(limits, auto_devices=auto))
    stored: dict[str, set[str]] = {}
    for device, names in messages:
        before = set(stored.get(device, set()))
        refused = book.check(tm(device, *names), 10, T0)
        kept = tm(device, *names) if refused is None else refused.kept
        if kept is not None:
            assert isinstance(kept, Telemetry)
            assert set(kept.metrics) <= set(names)
            assert before & set(names) <= set(kept.metrics)  # known names are never refused
            stored.setdefault(device, set()).update(kept.metrics)
        if refused is not None:
            assert refused.rejected is not None  # never rate-limited here: always a letter
    assert all(len(names) <= per_device for names in stored.values())
    assert len(set().union(*stored.values())) <= names_budget
    assert len(set(stored) - {"listed"}) <= auto


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2 * S), st.integers(0, 40_000)), min_size=1, max_size=200),
    st.floats(0.5, 50),
    st.floats(1, 10),
)
def test_what_is_accepted_never_exceeds_burst_plus_rate(
    arrivals: list[tuple[int, int]], rate: float, burst_s: float
) -> None:
    limits = replace(ROOMY, messages_per_s=rate, bytes_per_s=10_000, burst_s=burst_s)
    book = budgets(limits)
    now, accepted, accepted_bytes = T0, 0, 0
    for gap, size in arrivals:
        now += gap
        result = book.check(tm("listed", "a"), size, now)
        assert result is None or result.reason == RATE_LIMITED
        if result is None:
            accepted += 1
            accepted_bytes += size
    elapsed_s = (now - T0) / S
    assert accepted <= max(1.0, rate * burst_s) + rate * elapsed_s + 1e-6
    # The bucket holds the burst, or at least one message of SPEC's largest size.
    assert accepted_bytes <= max(65_536, 10_000 * burst_s) + 10_000 * elapsed_s + 1e-6


@settings(max_examples=100, deadline=None)
@given(st.floats(0.5, 100), st.integers(1, 200))
def test_a_partner_within_its_rate_is_never_refused(rate: float, n: int) -> None:
    book = budgets(replace(ROOMY, messages_per_s=rate, burst_s=1))
    gap = int(S / rate) + 1
    assert all(book.check(tm("listed", "a"), 10, T0 + k * gap) is None for k in range(n))


def test_refusal_is_a_plain_value() -> None:
    assert Refusal(RATE_LIMITED, None, None) == Refusal(RATE_LIMITED, None, None)


def test_each_of_n_replicas_takes_its_share_of_the_rate() -> None:
    registry = parse_registry(REGISTRY.format(budgets="{messages_per_s: 30}"))
    book = Budgets.from_registry(registry, DEFAULT_LIMITS, replicas=3)
    limits = book.limits(P)
    assert limits is not None
    assert (limits.messages_per_s, limits.bytes_per_s) == (10, DEFAULT_LIMITS.bytes_per_s / 3)
    assert limits.auto_devices == DEFAULT_LIMITS.auto_devices  # not split


def test_a_largest_message_always_fits_a_small_byte_share() -> None:
    book = budgets(replace(ROOMY, bytes_per_s=65_536, burst_s=1).shared(4))
    assert book.check(tm("listed", "a"), 64 * 1024, T0) is None


def test_messages_the_parser_rejected_are_held_to_the_same_rate() -> None:
    book = budgets(replace(ROOMY, messages_per_s=1, burst_s=2))
    bad = Rejected(P, "malformed_json", "not usable JSON")
    assert book.check_rejected(bad, 10, T0) is None
    assert book.check(tm("listed", "a"), 10, T0) is None  # one bucket for both
    refused = book.check_rejected(bad, 10, T0)
    assert refused is not None and refused.reason == RATE_LIMITED
    assert refused.rejected is not None and refused.rejected.ts_ns is None
    assert book.check_rejected(replace(bad, partner="_unknown"), 10, T0) is None
