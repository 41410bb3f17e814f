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
