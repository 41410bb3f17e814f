"""The operator's side of the dead-letter store: `--since`, the local files and their bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.timestamps import parse_rfc3339
from ingest.dead_letter_view import parse_since
from ingest.deadletters import DeadLetter, DeadLetterFile, count_letters, read_local

NOW = 1_795_000_000_000_000_000


@pytest.mark.parametrize(
    ("text", "ago_s"),
    [("90s", 90), ("30m", 1800), ("24h", 86_400), ("7d", 604_800), ("2w", 1_209_600)],
)
def test_since_takes_a_duration_ago(text: str, ago_s: int) -> None:
    assert parse_since(text, NOW) == NOW - ago_s * 1_000_000_000


def test_since_takes_an_rfc3339_time() -> None:
    assert parse_since("2026-11-01T00:00:00Z", NOW) == parse_rfc3339("2026-11-01T00:00:00Z")


@pytest.mark.parametrize("text", ["yesterday", "5", "-1h", "1y", ""])
def test_since_refuses_anything_else_and_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match="30m, 24h, 7d or an RFC 3339 time"):
        parse_since(text, NOW)


def letter(t: int, partner: str = "woonbron", reason: str = "malformed_json") -> DeadLetter:
    return DeadLetter(t, partner, reason, "mainport/woonbron/x/telemetry", "{", "d", 1)


def test_local_files_of_every_ingest_are_read_newest_first_and_filtered(tmp_path: Path) -> None:
    one = DeadLetterFile(tmp_path / "ingest-1.jsonl", 1 << 20)
    two = DeadLetterFile(tmp_path / "ingest-2.jsonl", 1 << 20)
    one.add(letter(1))
    two.add(letter(3, reason="bad_topic"))
    one.add(letter(2, partner="gemeente-dordrecht"))
    one.close()
    two.close()

    assert [d.time_ns for d in read_local(tmp_path)] == [3, 2, 1]
    assert [d.time_ns for d in read_local(tmp_path, partner="woonbron")] == [3, 1]
    assert [d.time_ns for d in read_local(tmp_path, reason="bad_topic")] == [3]
    assert [d.time_ns for d in read_local(tmp_path, since_ns=2, limit=1)] == [3]
    assert count_letters(read_local(tmp_path)) == {
        ("woonbron", "malformed_json"): 1,
        ("woonbron", "bad_topic"): 1,
        ("gemeente-dordrecht", "malformed_json"): 1,
    }


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    store = DeadLetterFile(tmp_path / "i.jsonl", 1 << 20)
    store.add(letter(1))
    store.close()
    with (tmp_path / "i.jsonl").open("ab") as f:
        f.write(b'{"time_ns": 2, "partn')

    assert [d.time_ns for d in read_local(tmp_path)] == [1]


def test_the_local_file_is_bounded_by_rotating_one_generation(tmp_path: Path) -> None:
    store = DeadLetterFile(tmp_path / "i.jsonl", 4096)
    for t in range(200):
        store.add(letter(t))
    store.close()

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["i.1.jsonl", "i.jsonl"]
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 4096
    assert read_local(tmp_path, limit=1)[0].time_ns == 199  # the newest survive
