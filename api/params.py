"""Query parameters shared by the analytics endpoints: the time window."""

from __future__ import annotations

from api.telemetry import DEFAULT_WINDOW_NS, BadParameter
from domain.timestamps import NS_PER_S, TimestampError, format_rfc3339, parse_rfc3339

__all__ = ["BadParameter", "parse_window"]

DAY_NS = 86_400 * NS_PER_S


def parse_window(
    start: str | None, end: str | None, *, now_ns: int, max_days: int
) -> tuple[int, int]:
    """SPEC: `end` defaults to now, `start` to end − 24h; start < end; at most `max_days`."""
    end_ns = _time("end", end) if end is not None else now_ns
    start_ns = _time("start", start) if start is not None else end_ns - DEFAULT_WINDOW_NS
    if start_ns >= end_ns:
        raise BadParameter(
            "start", f"must be before end ({format_rfc3339(start_ns)} ≥ {format_rfc3339(end_ns)})"
        )
    if end_ns - start_ns > max_days * DAY_NS:
        days = (end_ns - start_ns) / DAY_NS
        raise BadParameter(
            "start",
            f"the window is {days:.1f} days long; at most {max_days} days "
            "(MAINPORT_API_MAX_WINDOW_DAYS)",
        )
    return start_ns, end_ns


def _time(param: str, text: str) -> int:
    try:
        return parse_rfc3339(text)
    except TimestampError as exc:
        raise BadParameter(param, str(exc)) from None
