"""When a month counts as closed (its figures frozen): a day after its end, not before."""

from __future__ import annotations

from datetime import UTC, datetime

from api.closed_months import closed_months, is_closed, month_text

S = 10**9


def _ns(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * S


def test_a_month_closes_a_day_after_its_end() -> None:
    assert not is_closed((2026, 11), _ns(2026, 11, 30, 23))
    assert not is_closed((2026, 11), _ns(2026, 12, 1, 23))
    assert is_closed((2026, 11), _ns(2026, 12, 2))
    assert is_closed((2026, 12), _ns(2027, 1, 2))  # across the year


def test_the_last_closed_months_oldest_first() -> None:
    assert closed_months(_ns(2026, 12, 1, 12), 2) == [(2026, 9), (2026, 10)]
    assert closed_months(_ns(2026, 12, 3), 3) == [(2026, 9), (2026, 10), (2026, 11)]
    assert closed_months(_ns(2027, 1, 15), 2) == [(2026, 11), (2026, 12)]
    assert month_text((2026, 3)) == "2026-03"
