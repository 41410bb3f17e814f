"""What the domain.uptime tests share: cases written in minutes from a base time, with a
1-minute interval and T = 3 minutes, so the expected down intervals can be checked by eye."""

from __future__ import annotations

from collections.abc import Sequence

from domain.intervals import Interval
from domain.uptime import (
    Availability,
    device_availability,
    link_availability,
)

S = 1_000_000_000
M = 60 * S
BASE = 1_795_000_000 * S
FAR_FUTURE = BASE + 10**6 * M
T = 3  # minutes


def at(minute: float) -> int:
    return BASE + round(minute * M)


def span(start: float, end: float) -> Interval:
    return Interval(at(start), at(end))


def device(
    observations: Sequence[float],
    offline: Sequence[float] = (),
    *,
    start: float = 0,
    end: float = 60,
    now: int = FAR_FUTURE,
    first: float | None = None,
    unknown: Sequence[Interval] = (),
) -> Availability:
    return device_availability(
        [at(m) for m in observations],
        [at(m) for m in offline],
        timeout_ns=T * M,
        start_ns=at(start),
        end_ns=at(end),
        now_ns=now,
        first_observation_ns=None if first is None else at(first),
        unknown=unknown,
    )


def downs(availability: Availability) -> list[tuple[float, float, str]]:
    """Down intervals as (start minute, end minute, cause)."""
    return [((d.start_ns - BASE) / M, (d.end_ns - BASE) / M, d.cause) for d in availability.down]


def every_minute(first: int, last: int) -> list[float]:
    return [float(m) for m in range(first, last + 1)]


def port(
    samples: Sequence[tuple[float, bool]],
    *,
    start: float = 0,
    end: float = 60,
    first: float | None = None,
) -> Availability:
    return link_availability(
        [at(m) for m, _ in samples],
        [up for _, up in samples],
        timeout_ns=T * M,
        start_ns=at(start),
        end_ns=at(end),
        now_ns=FAR_FUTURE,
        first_sample_ns=None if first is None else at(first),
    )
