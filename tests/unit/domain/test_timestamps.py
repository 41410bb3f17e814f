"""domain.timestamps: every accepted form against hand-computed epoch ns, and the refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.timestamps import (
    MAX_AGE_NS,
    MAX_AHEAD_NS,
    TimestampError,
    check_window,
    format_rfc3339,
    parse_rfc3339,
    parse_timestamp,
    seconds_to_ns,
)

S = 1_000_000_000
# 2026-11-20T02:00:00Z by hand: 56 years of 365 days + 14 leap days + 304 days (Jan-Oct)
# + 19 days = 20777 days after 1970-01-01, plus 2 hours.
NOV20 = (20777 * 86_400 + 2 * 3600) * S


def test_rfc3339_with_z_is_epoch_ns() -> None:
    assert parse_rfc3339("2026-11-20T02:00:00Z") == NOV20
    assert parse_rfc3339("1970-01-01T00:00:00Z") == 0


def test_rfc3339_offset_is_subtracted_to_get_utc() -> None:
    assert parse_rfc3339("2026-11-20T03:00:00+01:00") == NOV20
    assert parse_rfc3339("2026-11-19T20:30:00-05:30") == NOV20
    assert parse_rfc3339("2026-11-20T02:00:00-00:00") == NOV20


def test_rfc3339_lowercase_and_space_separator_are_accepted() -> None:
    assert parse_rfc3339("2026-11-20t02:00:00z") == NOV20
    assert parse_rfc3339("2026-11-20 02:00:00Z") == NOV20


@pytest.mark.parametrize(
    ("fraction", "nanos"),
    [
        (".5", 500_000_000),
        (".000000001", 1),
        (".123456789", 123_456_789),
        (".1234567891", 123_456_789),
    ],
)
def test_rfc3339_fraction_is_kept_to_the_nanosecond(fraction: str, nanos: int) -> None:
    assert parse_rfc3339(f"2026-11-20T02:00:00{fraction}Z") == NOV20 + nanos


def test_rfc3339_leap_second_counts_as_the_next_second() -> None:
    assert parse_rfc3339("2016-12-31T23:59:60Z") == parse_rfc3339("2017-01-01T00:00:00Z")


def test_rfc3339_leap_day_exists_only_in_leap_years() -> None:
    assert (
        parse_rfc3339("2024-02-29T00:00:00Z") == parse_rfc3339("2024-03-01T00:00:00Z") - 86_400 * S
    )
    with pytest.raises(TimestampError, match="calendar date"):
        parse_rfc3339("2026-02-29T00:00:00Z")


def test_rfc3339_without_zone_is_refused_not_assumed_utc() -> None:
    with pytest.raises(TimestampError, match="zone"):
        parse_rfc3339("2026-11-20T02:00:00")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-20",
        "2026-11-20T02:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T02:60:00Z",
        "2026-11-20T02:00:61Z",
        "2026-11-20T02:00:00+24:00",
        "2026-11-20T02:00:00+0100",
        "2026-11-20T02:00:00.Z",
        "2026-11-20T02:00:00Z ",
        "20261120T020000Z",
        "２０２６-11-20T02:00:00Z",
        "1700000000",
    ],
)
def test_not_rfc3339_is_refused(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_rfc3339(text)


def test_epoch_seconds_int_and_float() -> None:
    assert parse_timestamp(1_700_000_000) == 1_700_000_000 * S
    assert parse_timestamp(1_700_000_000.5) == 1_700_000_000 * S + 500_000_000


def test_float_seconds_are_rounded_to_the_microsecond() -> None:
    # 1700000000.001 is stored as 1700000000.00099992...; the sender meant 1 ms.
    assert parse_timestamp(1_700_000_000.001) == 1_700_000_000 * S + 1_000_000


def test_numbers_above_10_to_the_12_are_milliseconds() -> None:
    assert parse_timestamp(1_700_000_000_123) == 1_700_000_000_123_000_000
    assert parse_timestamp(1_700_000_000_123.0) == 1_700_000_000_123_000_000
    assert parse_timestamp(10**12 + 1) == (10**12 + 1) * 1_000_000
    with pytest.raises(TimestampError):
        parse_timestamp(10**12)  # the threshold itself is seconds: the year 33658


def test_string_timestamp_is_rfc3339() -> None:
    assert parse_timestamp("2026-11-20T02:00:00Z") == NOV20
    with pytest.raises(TimestampError):
        parse_timestamp("1700000000")


@pytest.mark.parametrize("value", [True, False, None, [], {}, float("nan"), float("inf"), -1e300])
def test_non_times_are_refused(value: object) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(value)


def test_times_beyond_int64_nanoseconds_are_refused() -> None:
    with pytest.raises(TimestampError, match="InfluxDB"):
        parse_timestamp(2**63)  # as ms: far beyond 2262
    with pytest.raises(TimestampError, match="InfluxDB"):
        parse_rfc3339("9999-12-31T23:59:59Z")
    with pytest.raises(TimestampError):
        seconds_to_ns(1e11)


def test_timestamp_error_is_a_value_error() -> None:
    assert issubclass(TimestampError, ValueError)


def test_format_whole_seconds_has_no_fraction() -> None:
    assert format_rfc3339(NOV20) == "2026-11-20T02:00:00Z"


def test_format_fraction_drops_trailing_zeros() -> None:
    assert format_rfc3339(NOV20 + 500_000_000) == "2026-11-20T02:00:00.5Z"
    assert format_rfc3339(NOV20 + 1) == "2026-11-20T02:00:00.000000001Z"


def test_format_before_1970() -> None:
    assert format_rfc3339(-1) == "1969-12-31T23:59:59.999999999Z"


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_format_then_parse_is_identity(ts_ns: int) -> None:
    assert parse_rfc3339(format_rfc3339(ts_ns)) == ts_ns


def test_window_bounds_are_inclusive() -> None:
    assert check_window(NOV20 - MAX_AGE_NS, NOV20) is None
    assert check_window(NOV20 + MAX_AHEAD_NS, NOV20) is None
    assert check_window(NOV20, NOV20) is None


def test_older_than_365_days_is_too_old() -> None:
    assert MAX_AGE_NS == 365 * 86_400 * S
    assert check_window(NOV20 - MAX_AGE_NS - 1, NOV20) == "ts_too_old"


def test_more_than_10_minutes_ahead_is_in_future() -> None:
    assert MAX_AHEAD_NS == 600 * S
    assert check_window(NOV20 + MAX_AHEAD_NS + 1, NOV20) == "ts_in_future"
