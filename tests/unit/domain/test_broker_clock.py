"""A broker restart told from a reconnect by its uptime going back."""

from __future__ import annotations

from domain.broker_clock import BrokerClock, parse_uptime


def test_uptime_payload_parsed() -> None:
    assert parse_uptime(b"1234 seconds") == 1234
    assert parse_uptime(b"soon") is None
    assert parse_uptime(b"") is None


def test_uptime_growing_with_time_is_the_same_broker() -> None:
    clock = BrokerClock()
    assert not clock.observe(100, now_s=1000.0)
    assert not clock.observe(110, now_s=1010.4)
    assert not clock.observe(120, now_s=1021.0)  # a second late: rounding and delivery


def test_uptime_going_back_is_a_restart_once() -> None:
    clock = BrokerClock()
    clock.observe(3600, now_s=10_000.0)
    assert clock.observe(3, now_s=10_050.0)
    assert not clock.observe(13, now_s=10_060.0)


def test_a_restart_while_no_ingest_ran_is_noticed_from_the_kept_estimate() -> None:
    clock = BrokerClock(started_s=5_000.0)
    assert clock.observe(20, now_s=9_000.0)
