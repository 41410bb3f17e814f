"""Query parameters the API endpoints share: the time window, and the error for a bad one."""

from __future__ import annotations

from domain.timestamps import NS_PER_S, TimestampError, format_rfc3339, parse_rfc3339

DEFAULT_WINDOW_NS = 24 * 3600 * NS_PER_S
DAY_NS = 86_400 * NS_PER_S


class BadParameter(ValueError):
    """A request parameter that cannot be used; 422 with `param: message`."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


def parse_window(
    start: str | None, end: str | None, *, now_ns: int, max_days: int | None = None
) -> tuple[int, int]:
    """SPEC: `end` defaults to now, `start` to end − 24h; start < end; at most `max_days`."""
    end_ns = _time("end", end) if end is not None else now_ns
    start_ns = _time("start", start) if start is not None else end_ns - DEFAULT_WINDOW_NS
    if start_ns >= end_ns:
        raise BadParameter(
            "start", f"must be before end ({format_rfc3339(start_ns)} ≥ {format_rfc3339(end_ns)})"
        )
    if max_days is not None and end_ns - start_ns > max_days * DAY_NS:
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
