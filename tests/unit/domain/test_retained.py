"""domain.retained: the per-partner budget of retained messages the retain guard applies."""

from __future__ import annotations

from domain.retained import RetainedLedger


def test_retained_messages_within_the_count_stay_and_the_next_topic_is_cleared() -> None:
    ledger = RetainedLedger(max_messages=2, max_bytes=10_000)

    kept = [ledger.seen("woonbron", f"mainport/woonbron/d{n}/status", 10) for n in range(3)]

    assert kept == [True, True, False]
    assert ledger.usage("woonbron") == (2, 20)


def test_replacing_a_kept_topic_is_not_a_new_message() -> None:
    ledger = RetainedLedger(max_messages=1, max_bytes=10_000)
    ledger.seen("woonbron", "mainport/woonbron/d1/status", 10)

    assert ledger.seen("woonbron", "mainport/woonbron/d1/status", 20)
    assert ledger.usage("woonbron") == (1, 20)


def test_a_message_past_the_byte_budget_is_cleared_and_no_longer_counted() -> None:
    ledger = RetainedLedger(max_messages=10, max_bytes=100)
    ledger.seen("woonbron", "mainport/woonbron/d1/status", 60)

    assert not ledger.seen("woonbron", "mainport/woonbron/d2/status", 50)
    assert not ledger.seen("woonbron", "mainport/woonbron/d1/status", 101)  # a replacement
    assert ledger.usage("woonbron") == (0, 0)


def test_a_deletion_frees_room_and_partners_are_counted_apart() -> None:
    ledger = RetainedLedger(max_messages=1, max_bytes=10_000)
    ledger.seen("woonbron", "mainport/woonbron/d1/status", 10)

    assert ledger.seen("gemeente-dordrecht", "mainport/gemeente-dordrecht/d1/status", 10)
    assert ledger.seen("woonbron", "mainport/woonbron/d1/status", 0)  # cleared by its device
    assert ledger.seen("woonbron", "mainport/woonbron/d2/status", 10)
    assert ledger.usage("woonbron") == (1, 10)
