"""Timestamps as the platform speaks them: epoch nanoseconds inside, RFC 3339 at the edges.

Devices send `T` as an RFC 3339 string, epoch seconds (int or float) or epoch milliseconds
(SPEC: an int above 10^12). Everything is turned into integer epoch nanoseconds, the unit of
InfluxDB line protocol, and kept within int64 because that is all InfluxDB can store
(1677-09-21 .. 2262-04-11).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

NS_PER_S = 1_000_000_000
HOUR_NS = 3600 * NS_PER_S
MS_THRESHOLD = 10**12
"""Epoch numbers above this are milliseconds (10^12 s would be the year 33658, so no ambiguity)."""

MAX_AGE_NS = 365 * 86_400 * NS_PER_S
"""SPEC "more than 1 year in the past" is read as 365 days: a fixed length, no calendar maths."""
MAX_AHEAD_NS = 10 * 60 * NS_PER_S

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# RFC 3339 section 5.6, plus the space separator its note allows. Fractions longer than 9 digits
# are accepted and truncated to nanoseconds. The offset is optional here only so that its
# absence gets its own error message. re.ASCII: \d would otherwise match non-ASCII digits.
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)


class TimestampError(ValueError):
    """A timestamp that cannot be understood; the message says what was expected."""


def parse_timestamp(value: object) -> int:
    """Epoch ns from a payload `ts`: RFC 3339 string, epoch s (int/float) or epoch ms (> 10^12).

    Floats are rounded to the microsecond, about the precision a double holds for current
    epoch values: 1700000000.001 is stored as ...000.00099992752, but the sender meant 1 ms.
    """
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, bool):  # bool is an int subclass; true is not a time
        raise TimestampError("expected an RFC 3339 string or an epoch number, got boolean")
    if isinstance(value, int):
        return _in_range(value * 1_000_000 if value > MS_THRESHOLD else value * NS_PER_S)
    if isinstance(value, float):
        return seconds_to_ns(value / 1000 if value > MS_THRESHOLD else value)
    raise TimestampError(f"expected an RFC 3339 string or an epoch number, got {_json_type(value)}")


def seconds_to_ns(seconds: float) -> int:
    """Epoch (or relative) seconds to ns, rounded to the microsecond; raises when unstorable."""
    if isinstance(seconds, int):
        return _in_range(seconds * NS_PER_S)
    if not math.isfinite(seconds):
        raise TimestampError(f"time {seconds} is not a finite number")
    if abs(seconds) > 1e10:  # beyond int64 ns anyway; also keeps the multiplication finite
        raise TimestampError(f"time {seconds:g} s is outside 1677..2262")
    return _in_range(round(seconds * 1e6) * 1000)


def parse_rfc3339(text: str) -> int:
    """Epoch ns from an RFC 3339 date-time; a zone (Z or ±hh:mm) is required, not assumed."""
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        raise TimestampError(
            f"expected an RFC 3339 time such as 2026-11-20T02:00:00Z, got {_clip(text)}"
        )
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    if zulu is None and sign is None:
        raise TimestampError(f"RFC 3339 time needs a zone offset or Z: {_clip(text)}")
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise TimestampError(f"not a calendar date: {_clip(text)}") from None
    h, m, s = int(hour), int(minute), int(second)
    # Second 60 is a leap second (RFC 3339 allows it); counting it as the next second's start
    # is what POSIX time does.
    if h > 23 or m > 59 or s > 60:
        raise TimestampError(f"not a time of day: {_clip(text)}")
    offset = 0
    if sign is not None:
        oh, om = int(off_h), int(off_m)
        if oh > 23 or om > 59:
            raise TimestampError(f"not a zone offset: {_clip(text)}")
        offset = (oh * 3600 + om * 60) * (-1 if sign == "-" else 1)
    seconds = days * 86_400 + h * 3600 + m * 60 + s - offset
    nanos = int(frac[:9].ljust(9, "0")) if frac else 0
    return _in_range(seconds * NS_PER_S + nanos)


def format_rfc3339(ts_ns: int) -> str:
    """UTC RFC 3339 with a Z; the fraction only when non-zero, without trailing zeros
    (as InfluxDB and Go's RFC3339Nano print it)."""
    seconds, nanos = divmod(ts_ns, NS_PER_S)
    dt = _EPOCH + timedelta(seconds=seconds)
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


def check_window(ts_ns: int, now_ns: int) -> str | None:
    """The rejection reason for a timestamp outside the accepted window, else None.

    The bounds are inclusive: exactly 365 days old or exactly 10 minutes ahead is accepted.
    """
    if now_ns - ts_ns > MAX_AGE_NS:
        return "ts_too_old"
    if ts_ns - now_ns > MAX_AHEAD_NS:
        return "ts_in_future"
    return None


def _in_range(ts_ns: int) -> int:
    if not _INT64_MIN <= ts_ns <= _INT64_MAX:
        raise TimestampError("time is outside what InfluxDB can store (years 1677..2262)")
    return ts_ns


def _clip(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _json_type(value: object) -> str:
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


JSON_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
    list: "array",
    dict: "object",
}
"""Python types as a JSON sender would name them, for error messages."""
