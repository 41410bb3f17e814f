"""simulators.replay and simulators.feed, the pure parts: rebasing a payload's timestamps, and
reading a feed line by line (replaying through the real broker: tests/integration/simulators/)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from simulators.feed import Damaged, Record, parse_line, read_feed
from simulators.replay import rebase_payload


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"ts":"2026-01-01T00:00:00.250Z","metrics":{"a":1.0}}', "2026-01-01T01:00:00.250Z"),
        (b'{"ts":1767225600.25,"metrics":{"a":1.0}}', 1767229200.25),
        (b'{"ts":1767225600250,"metrics":{"a":1.0}}', 1767229200250),
        (b'{"state":"offline","ts":1767225600}', 1767229200),
    ],
)
def test_rebase_shifts_timestamps_in_the_form_they_had(payload: bytes, expected: object) -> None:
    assert orjson.loads(rebase_payload(payload, 3_600_000))["ts"] == expected


def test_rebase_shifts_absolute_senml_times_only() -> None:
    pack = [{"bn": "x:", "bt": 1767225600.5, "n": "a", "v": 1}, {"n": "b", "t": 60, "v": 2}]

    shifted = orjson.loads(rebase_payload(orjson.dumps(pack), 1000))
    assert shifted[0]["bt"] == 1767225601.5 and shifted[1]["t"] == 60


@pytest.mark.parametrize("payload", [b"offline", b"{broken", b'{"ts":"yesterday"}', b"[1,2]", b""])
def test_rebase_leaves_what_it_cannot_read_alone(payload: bytes) -> None:
    assert rebase_payload(payload, 1000) == payload


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty line"),
        (b"[1]", "not a JSON object"),
        (b'{"t":"x","topic":"a","payload":""}', "t must be a number"),
        (b'{"t":1,"topic":"a","payload":"", "qos": 3}', "qos must be 0, 1 or 2"),
        (b'{"format":"mainport-feed","version":2}', "feed version 2"),
    ],
)
def test_damaged_lines_say_why(line: bytes, reason: str) -> None:
    entry = parse_line(line, 7)
    assert isinstance(entry, Damaged) and entry.line == 7 and reason in entry.reason


def test_plain_json_lines_are_read_too(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_bytes(
        b'{"format":"mainport-feed","version":1}\n{"t":1,"topic":"a/b/c","payload":"aGk="}\n'
    )

    assert list(read_feed(path)) == [Record(1.0, "a/b/c", b"hi", 1, False, 2)]
