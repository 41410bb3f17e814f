"""ingest.inbox: batches by size and by age, bounded, and closable."""

from __future__ import annotations

import threading

from ingest.inbox import MAX_BATCH_BYTES, Inbox


def test_a_full_batch_is_handed_out_without_waiting_for_its_age() -> None:
    inbox = Inbox(1 << 20)
    for i in range(10):
        inbox.put([f"p{i}a", f"p{i}b"], i)

    batch = inbox.take(max_points=6, max_age_s=3600, wait_s=3600)

    assert [item.token for item in batch] == [0, 1, 2]
    assert len(inbox) == 7


def test_a_partial_batch_is_handed_out_when_its_first_message_is_old_enough() -> None:
    inbox = Inbox(1 << 20)
    inbox.put(["only"], "t")

    batch = inbox.take(max_points=1000, max_age_s=0.01, wait_s=3600)

    assert [item.lines for item in batch] == [["only"]]


def test_a_message_with_more_points_than_a_batch_still_goes_alone() -> None:
    inbox = Inbox(1 << 20)
    inbox.put(["x"] * 50, "big")
    inbox.put(["y"], "small")

    assert [i.token for i in inbox.take(max_points=10, max_age_s=0, wait_s=0)] == ["big"]
    assert [i.token for i in inbox.take(max_points=10, max_age_s=0, wait_s=0)] == ["small"]


def test_batches_are_cut_by_bytes_too() -> None:
    inbox = Inbox(1 << 30)
    big = "x" * (MAX_BATCH_BYTES // 2 + 1)
    for token in range(3):
        inbox.put([big], token)

    assert len(inbox.take(max_points=10_000, max_age_s=0, wait_s=0)) == 1


def test_an_empty_inbox_gives_an_empty_batch_after_wait_s() -> None:
    assert Inbox(1024).take(max_points=10, max_age_s=1, wait_s=0.01) == []


def test_put_blocks_at_the_bound_until_a_take_makes_room() -> None:
    inbox = Inbox(max_bytes=10)
    inbox.put(["0123456789"], 1)  # at the bound now
    done = threading.Event()

    def produce() -> None:
        inbox.put(["more"], 2)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()

    assert not done.wait(0.2)  # blocked (the broker-side window normally prevents this)
    inbox.take(max_points=1, max_age_s=0, wait_s=0)
    producer.join(5)
    assert done.is_set() and [i.token for i in inbox.take(10, 0, 0)] == [2]


def test_unbounded_puts_never_wait() -> None:
    inbox = Inbox(max_bytes=1)
    inbox.put(["x" * 10], None)

    assert inbox.put(["heartbeat"], None, bounded=False)
    assert len(inbox) == 2


def test_closing_refuses_new_messages_and_hands_out_the_rest_at_once() -> None:
    inbox = Inbox(1 << 20)
    inbox.put(["a"], 1)
    inbox.close()

    assert not inbox.put(["b"], 2)
    assert [i.token for i in inbox.take(max_points=100, max_age_s=3600, wait_s=3600)] == [1]
    assert inbox.take(max_points=100, max_age_s=3600, wait_s=3600) == []
