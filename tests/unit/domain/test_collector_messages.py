"""domain.messages: the collector's `_network/{switch}/_collector` reports (SPEC link uptime)."""

from __future__ import annotations

import pytest

from domain.messages import CollectorReport, Rejected, parse_message

NOW = 1_790_000_000 * 10**9


def parse(topic: str, payload: bytes) -> object:
    return parse_message(topic, payload, NOW, known_partners={"lab"})


def test_reachable_report_with_time_latency_and_error() -> None:
    msg = parse(
        "mainport/_network/core-1/_collector",
        b'{"ts": 1790000000000, "reachable": false, "error": "timeout"}',
    )
    assert msg == CollectorReport("core-1", NOW, False, None, "timeout", True)
    msg = parse("mainport/_network/core-1/_collector", b'{"reachable": true, "latency_s": 0.25}')
    assert msg == CollectorReport("core-1", NOW, True, 0.25, None, False)


def test_speed_mismatch_is_kept_per_port() -> None:
    msg = parse(
        "mainport/_network/core-1/_collector",
        b'{"reachable": true, "speed_mismatch": {"xe-0-0-2": 100, "xe-0-0-1": 1000}}',
    )
    assert isinstance(msg, CollectorReport)
    assert msg.speed_mismatch == (("xe-0-0-1", 1000), ("xe-0-0-2", 100))


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("mainport/_network/core-1/_collector", b'{"reachable": "yes"}', "bad_collector"),
        (
            "mainport/_network/core-1/_collector",
            b'{"reachable": true, "latency_s": -1}',
            "bad_collector",
        ),
        ("mainport/_network/core-1/_collector", b"[true]", "bad_shape"),
        (
            "mainport/_network/core-1/_collector",
            b'{"reachable": true, "speed_mismatch": {"xe-0-0-1": "fast"}}',
            "bad_collector",
        ),
        (
            "mainport/_network/core-1/_collector",
            b'{"reachable": true, "speed_mismatch": {"Xe 1": 1000}}',
            "bad_collector",
        ),
        (
            "mainport/_network/core-1/_collector",
            b'{"reachable": true, "speed_mismatch": [1000]}',
            "bad_collector",
        ),
        ("mainport/_network/Core_1/_collector", b'{"reachable": true}', "bad_port_id"),
        ("mainport/_network/core-1/_status", b'{"reachable": true}', "bad_topic"),
    ],
)
def test_bad_reports_are_rejected_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    msg = parse(topic, payload)
    assert isinstance(msg, Rejected) and (msg.partner, msg.reason) == ("_network", reason)
