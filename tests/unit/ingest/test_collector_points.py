"""ingest.points: a collector report becomes one `collector` point (timeseries/schema.py)."""

from __future__ import annotations

from domain.messages import CollectorReport, parse_message
from ingest.points import message_lines

NOW = 1_790_000_000 * 10**9


def test_a_report_becomes_one_collector_point() -> None:
    msg = parse_message(
        "mainport/_network/core-1/_collector", b'{"reachable": false, "error": "a b"}', NOW
    )
    assert isinstance(msg, CollectorReport)
    (point,) = message_lines(msg, "t", b"", NOW, {})
    assert point == f'collector,switch=core-1 reachable=0i,error="a b" {NOW}'


def test_a_speed_mismatch_is_stored_as_one_string_field() -> None:
    payload = b'{"reachable": true, "speed_mismatch": {"xe-0-0-1": 1000, "ge-1": 100}}'
    msg = parse_message("mainport/_network/core-1/_collector", payload, NOW)
    assert isinstance(msg, CollectorReport)
    (point,) = message_lines(msg, "t", b"", NOW, {})
    expected = 'reachable=1i,speed_mismatch="ge-1=100,xe-0-0-1=1000"'
    assert point == f"collector,switch=core-1 {expected} {NOW}"
