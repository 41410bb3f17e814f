"""One log line per state change: down, a reminder at most every few minutes, recovered."""

from __future__ import annotations

import logging

import pytest

from core.outage import Outage


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_retries_while_down_log_one_line_and_recovery_says_how_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    outage = Outage("InfluxDB", logging.getLogger("t"), remind_every_s=300, clock=clock)
    with caplog.at_level(logging.INFO, "t"):
        for _ in range(50):
            outage.failed(ConnectionError("refused"), "spooling")
            clock.now += 5
        lasted = outage.ok("drained")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "InfluxDB down (spooling): refused"
    assert len(lines) == 2 + 0  # no reminder within 250 s
    assert lines[-1] == "InfluxDB recovered after 250.0 s (50 failed attempts); drained"
    assert lasted == 250.0
    assert not outage.down


def test_a_new_reason_or_a_long_outage_is_said_again(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    outage = Outage("InfluxDB", logging.getLogger("t"), remind_every_s=60, clock=clock)
    with caplog.at_level(logging.INFO, "t"):
        outage.failed("refused")
        clock.now += 10
        outage.failed("500 no space left on device")
        clock.now += 61
        outage.failed("500 no space left on device")
    assert [r.getMessage() for r in caplog.records] == [
        "InfluxDB down: refused",
        "InfluxDB still down after 10 s (2 failed attempts): 500 no space left on device",
        "InfluxDB still down after 71 s (3 failed attempts): 500 no space left on device",
    ]


def test_success_without_an_outage_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("InfluxDB", logging.getLogger("t"))
    with caplog.at_level(logging.INFO, "t"):
        assert outage.ok() is None
    assert caplog.records == []
