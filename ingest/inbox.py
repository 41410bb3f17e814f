"""The bounded hand-over from the MQTT thread to the writer thread.

Why not `queue.Queue`: that wakes the consumer for every message; here the writer is woken
once per batch (when it is full, or when its first message arrives so the age clock can run),
which matters at tens of thousands of messages a second under one GIL.

Bounded in bytes of line protocol: this bound is what keeps the ingest's memory in check while
InfluxDB and the spool cannot take more. The broker's in-flight window cannot be relied on for
that: Mosquitto 2.0.11 does not reliably hold to it once acks flow (measured: with
`max_inflight_messages 50`, a subscriber that acked its first 50 messages was sent 2500 more
without acking any). At the bound, `put` blocks the MQTT thread, which then stops reading its
socket; TCP flow control leaves the rest with the broker. If that lasts beyond the keepalive,
the broker drops the connection; the ingest reconnects when it can take messages again and
the broker redelivers everything unacked: nothing is lost, some points are written twice
(harmlessly, see schema.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import NamedTuple

MAX_BATCH_BYTES = 8 * 1024 * 1024
"""InfluxDB 1.x refuses bodies over 25 MB by default; a few big messages must not get near."""


class Pending(NamedTuple):
    """One message's points and the token that acks it (None: nothing to ack)."""

    lines: list[str]
    token: object | None
    size: int


class Inbox:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: deque[Pending] = deque()
        self._bytes = 0
        self._points = 0
        self._first_at = 0.0
        self._wake_points = 1
        self._closed = False
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        return self._bytes

    def put(self, lines: list[str], token: object | None, *, bounded: bool = True) -> bool:
        """Hand over one message; False once closed (the message then stays unacked).

        `bounded=False` is for the ingest's own few heartbeat points, which must never wait.
        """
        size = sum(map(len, lines))
        with self._lock:
            while bounded and self._bytes >= self.max_bytes and not self._closed:
                self._not_full.wait(1.0)
            if self._closed:
                return False
            if not self._items:
                self._first_at = time.monotonic()
                self._not_empty.notify()
            self._items.append(Pending(lines, token, size))
            self._bytes += size
            self._points += len(lines)
            if self._points >= self._wake_points:
                self._not_empty.notify()
        return True

    def take(self, max_points: int, max_age_s: float, wait_s: float) -> list[Pending]:
        """The next batch: at most `max_points` points and MAX_BATCH_BYTES (always at least
        one message), handed out when full or when its first message is `max_age_s` old.
        Waits at most `wait_s` for a first message; once closed, hands out what is left
        without waiting."""
        with self._lock:
            self._wake_points = max_points
            give_up = time.monotonic() + wait_s
            while not self._closed and self._points < max_points:
                now = time.monotonic()
                remaining = (self._first_at + max_age_s if self._items else give_up) - now
                if remaining <= 0:
                    break
                self._not_empty.wait(remaining)
            batch: list[Pending] = []
            points = size = 0
            while self._items and (
                not batch
                or (
                    points + len(self._items[0].lines) <= max_points
                    and size + self._items[0].size <= MAX_BATCH_BYTES
                )
            ):
                item = self._items.popleft()
                batch.append(item)
                points += len(item.lines)
                size += item.size
            self._bytes -= size
            self._points -= points
            if self._items:
                self._first_at = time.monotonic()
            self._not_full.notify_all()
            return batch

    def close(self) -> None:
        """Refuse new messages; `take` stops waiting."""
        with self._lock:
            self._closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
