"""api.guards: the sliding-window limiter behind the failed-login and grant-change limits (a
fake clock; the real API is attacked in tests/test_api_lockdown.py)."""

from __future__ import annotations

import pytest

from api.guards import AttemptLimiter, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_blocked_at_the_limit_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    limiter = AttemptLimiter(3, 60.0, clock=clock)
    for step in range(3):
        assert limiter.retry_after("a") is None
        limiter.record("a")
        clock.now += 10 * (step < 2)

    assert limiter.retry_after("a") == 40  # the first failure (t=1000) leaves at t=1060
    clock.now += 39.5
    assert limiter.retry_after("a") == 1
    clock.now += 0.5
    assert limiter.retry_after("a") is None  # one slot free again
    limiter.record("a")
    assert limiter.retry_after("a") == 10


def test_addresses_are_counted_apart() -> None:
    limiter = AttemptLimiter(2, 60.0, clock=Clock())
    limiter.record("attacker")
    limiter.record("attacker")

    assert limiter.retry_after("attacker") is not None
    assert limiter.retry_after("bystander") is None


def test_memory_is_bounded_by_dropping_the_least_recent_address() -> None:
    limiter = AttemptLimiter(1, 60.0, max_keys=2, clock=Clock())
    for key in ("a", "b", "c"):
        limiter.record(key)

    assert limiter.retry_after("a") is None  # forgotten
    assert limiter.retry_after("b") is not None and limiter.retry_after("c") is not None


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # one host's /64: one key
        (None, "unknown"),
    ],
)
def test_ipv6_clients_count_per_64(host: str | None, key: str) -> None:
    assert client_key(host) == key
