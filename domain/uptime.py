"""Device and link uptime: observations → down intervals → uptime, incidents (SPEC "Definitions").

Pure functions over numpy arrays of int epoch nanoseconds; the API and the report feed them what
they read from storage. Interval sets are half-open `[start, end)`, sorted and disjoint; inside
this module they travel as a pair of int64 arrays (domain/intervals.py) so that 30 days of 60 s
observations (43,200 per device) are handled without a Python loop per observation.

Input contract: the arrays may be the whole history, or a suffix of it that still holds the last
observation (for ports: the last sample) at or before the window start and the last offline
event before it. Nothing earlier can change the answer: every down interval ends at an
observation, so one that ended by then ended before the window. With a suffix, pass the true
`first_observation_ns` (monitoring starts there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from domain import intervals
from domain.intervals import Interval, Spans, merge_intervals
from domain.registry import MaintenanceWindow
from domain.spans import Held, Silence, Timeout
from domain.timestamps import NS_PER_S

DEFAULT_GRACE_FACTOR = 3
"""SPEC: timeout T = 3·I — one or two lost messages are jitter, three in a row are an outage."""

DownCause = Literal["offline", "timeout"]
Cause = Literal["offline", "timeout", "link"]
Times = NDArray[np.int64] | Sequence[int]

_NEVER = np.iinfo(np.int64).max
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DownInterval(Interval):
    """Counted downtime with the device's own cause, read at its start (offline beats timeout)."""

    cause: DownCause


@dataclass(frozen=True, slots=True)
class Availability:
    """One subject (device or port) over one window: the numbers behind its uptime_pct."""

    start_ns: int
    end_ns: int
    """The window end, already capped at now."""
    ongoing: bool
    """The window reaches now: downtime that reaches `end_ns` is still going on."""
    monitored_ns: int
    unknown_ns: int
    """Unknown time inside the monitored time."""
    downtime_ns: int
    """Down time outside unknown time; never more than `known_ns`."""
    down: tuple[DownInterval, ...]
    """The maximal stretches of counted downtime, in time order."""

    @property
    def known_ns(self) -> int:
        return self.monitored_ns - self.unknown_ns

    @property
    def downtime_s(self) -> float:
        return self.downtime_ns / NS_PER_S

    @property
    def uptime_pct(self) -> float | None:
        """100·(1 − downtime/known); None when no time of the window was monitored and known."""
        return _pct(self.downtime_ns, self.known_ns)


@dataclass(frozen=True, slots=True)
class Incident:
    """One maximal down interval as the API shows it; `end_ns` None means still going on now."""

    subject: str
    start_ns: int
    end_ns: int | None
    duration_s: float
    cause: Cause


def timeout_ns(interval_s: float, grace_factor: float = DEFAULT_GRACE_FACTOR) -> int:
    """T = grace_factor · interval, in ns."""
    return round(interval_s * grace_factor * NS_PER_S)


def device_availability(
    observations: Times,
    offline_events: Times,
    *,
    timeout_ns: int,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    first_observation_ns: int | None = None,
    unknown: Iterable[Interval] = (),
) -> Availability:
    """A device's downtime and uptime in `[start_ns, min(end_ns, now_ns))` (SPEC device uptime).

    Observations are telemetry and `online` status times; offline events are `offline` status
    times. Down: from an offline event until the next observation strictly after it (one at the
    same instant does not cancel it, as in domain.liveness), and from m+T until the next
    observation whenever an observation m is followed by more than T of silence, the silence
    at the window end included. Monitored from `first_observation_ns` (default: the first of
    `observations`); `unknown` (see `unknown_intervals`) is taken out of both sides.
    """
    obs = _times(observations)
    off = _times(offline_events)
    first = first_observation_ns if first_observation_ns is not None else _first_of(obs)
    if first is not None and obs.size and obs[0] < first:
        raise ValueError("an observation precedes first_observation_ns")
    next_obs = np.append(obs, _NEVER)[np.searchsorted(obs, off, side="right")]
    return _availability(obs, (off, next_obs), timeout_ns, start_ns, end_ns, now_ns, first, unknown)


def link_availability(
    sample_times: Times,
    oper_up: NDArray[np.bool_] | Sequence[bool],
    *,
    timeout_ns: int,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    first_sample_ns: int | None = None,
    unknown: Iterable[Interval] = (),
) -> Availability:
    """A fibre port's downtime from its counters samples (SPEC link uptime).

    Down from a sample with `oper_status: down` until the next `up` sample strictly after it, and
    from s+T until the next sample of either status whenever a sample s is followed by more than
    T of silence. Monitored from the first sample of either status: a port that reports `down`
    from the start is down, not unmonitored. Cause "offline" here means oper_status down.
    """
    times = np.asarray(sample_times, dtype=np.int64)
    up = np.asarray(oper_up, dtype=np.bool_)
    if times.shape != up.shape:
        raise ValueError("sample_times and oper_up differ in length")
    order = np.argsort(times, kind="stable")
    times, up = times[order], up[order]
    ups, downs = times[up], times[~up]
    next_up = np.append(ups, _NEVER)[np.searchsorted(ups, downs, side="right")]
    first = first_sample_ns if first_sample_ns is not None else _first_of(times)
    return _availability(
        times, (downs, next_up), timeout_ns, start_ns, end_ns, now_ns, first, unknown
    )


def incidents(
    subject: str, availability: Availability, port_down: Iterable[Interval] = ()
) -> list[Incident]:
    """The incidents of one device: its counted down stretches, with `link` as the root cause
    when the port it sits behind was down at the stretch's start.

    Pass the port's `Availability.down` for the same window (or any superset of its down time).
    """
    link = intervals.merge(intervals.as_arrays(port_down))
    starts = np.array([d.start_ns for d in availability.down], dtype=np.int64)
    on_link = intervals.covered(link, starts).tolist()
    return [
        Incident(
            subject=subject,
            start_ns=d.start_ns,
            end_ns=None if availability.ongoing and d.end_ns == availability.end_ns else d.end_ns,
            duration_s=d.duration_ns / NS_PER_S,
            cause="link" if link_down else d.cause,
        )
        for d, link_down in zip(availability.down, on_link, strict=True)
    ]


def partner_uptime_pct(availabilities: Iterable[Availability]) -> float | None:
    """Time-weighted over devices: 100·(1 − Σ downtime / Σ known); None when Σ known is 0."""
    items = list(availabilities)
    return _pct(sum(a.downtime_ns for a in items), sum(a.known_ns for a in items))


def unknown_intervals(
    maintenance: Iterable[MaintenanceWindow],
    partner_id: str,
    platform_gaps: Iterable[Interval] = (),
) -> list[Interval]:
    """A partner's unknown time: maintenance windows covering it plus the platform's own gaps."""
    covering = [w for w in maintenance if w.covers(partner_id)]
    spans = [Interval(datetime_ns(w.start), datetime_ns(w.end)) for w in covering]
    return merge_intervals([*spans, *platform_gaps])


def datetime_ns(moment: datetime) -> int:
    """Exact epoch ns of an aware datetime (float timestamps lose the microseconds)."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _availability(
    marks: NDArray[np.int64],
    held_down: Spans,
    timeout: int,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    first_ns: int | None,
    unknown: Iterable[Interval],
) -> Availability:
    """The shared rule: explicit down spans (`held_down`, possibly overlapping) plus silences
    of more than `timeout` after each of the sorted `marks`, within monitored, known time."""
    hi = max(start_ns, min(end_ns, now_ns))
    ongoing = end_ns >= now_ns
    if first_ns is None or first_ns >= hi:
        return Availability(start_ns, hi, ongoing, 0, 0, 0, ())
    lo = max(start_ns, first_ns)
    i0 = int(np.searchsorted(marks, lo, side="right")) - 1
    if i0 < 0:
        msg = "observations must include the last one at or before the window start"
        raise ValueError(msg + " (or pass the true first_observation_ns)")
    seen = marks[i0 : int(np.searchsorted(marks, hi, side="left"))]
    following = np.append(seen[1:], hi)
    silent = seen + timeout < following
    timeouts = (seen[silent] + timeout, following[silent])
    return _counted(held_down, timeouts, start_ns, lo, hi, ongoing, unknown)


def availability_from_spans(
    *,
    first_ns: int | None,
    last_reset_ns: int | None,
    silences: Iterable[Silence],
    held: Iterable[Held],
    timeout_ns: Timeout,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    unknown: Iterable[Interval] = (),
) -> Availability:
    """The same figures as `device_availability` / `link_availability`, from the derived
    records of `domain.spans` instead of every raw event.

    `silences`: at least those ending in `(start_ns, hi]` plus the first ending after `hi`
    (hi = the capped end); silences of T or less are ignored, so records derived with a
    smaller timeout still answer. `held`: the runs that overlap the window. `last_reset_ns`:
    the last sample/observation ever; silence after it runs to `hi`. `timeout_ns` may be a
    function of a silence's start: the `T` in force then (an interval changed meanwhile).
    """
    t_at = timeout_ns if callable(timeout_ns) else (lambda _t: timeout_ns)
    hi = max(start_ns, min(end_ns, now_ns))
    ongoing = end_ns >= now_ns
    if first_ns is None or first_ns >= hi:
        return Availability(start_ns, hi, ongoing, 0, 0, 0, ())
    lo = max(start_ns, first_ns)
    quiet = [
        (s.since_ns + t, s.until_ns)
        for s in silences
        if s.until_ns - s.since_ns > (t := t_at(s.since_ns))
    ]
    if last_reset_ns is not None and last_reset_ns < hi:
        quiet.append((last_reset_ns + t_at(last_reset_ns), _NEVER))
    runs = [(h.start_ns, _NEVER if h.until_ns is None else h.until_ns) for h in held]
    return _counted(
        intervals.pairs(runs), intervals.pairs(quiet), start_ns, lo, hi, ongoing, unknown
    )


def _counted(
    held_down: Spans,
    timeouts: Spans,
    start_ns: int,
    lo: int,
    hi: int,
    ongoing: bool,
    unknown: Iterable[Interval],
) -> Availability:
    """Down = held-down spans ∪ timeout spans, within monitored `[lo, hi)`, minus unknown time;
    each stretch's cause read at its start."""
    timeouts = intervals.clip(timeouts, lo, hi)
    offline = intervals.merge(intervals.clip(held_down, lo, hi))
    both = (np.concatenate([offline[0], timeouts[0]]), np.concatenate([offline[1], timeouts[1]]))
    down = intervals.merge(both)
    gaps = intervals.merge(intervals.clip(intervals.as_arrays(unknown), lo, hi))
    counted = intervals.subtract(down, gaps)
    offline_at_start = intervals.covered(offline, counted[0]).tolist()
    down_list = tuple(
        DownInterval(s, e, "offline" if o else "timeout")
        for s, e, o in zip(counted[0].tolist(), counted[1].tolist(), offline_at_start, strict=True)
    )
    return Availability(
        start_ns=start_ns,
        end_ns=hi,
        ongoing=ongoing,
        monitored_ns=hi - lo,
        unknown_ns=int((gaps[1] - gaps[0]).sum()),
        downtime_ns=int((counted[1] - counted[0]).sum()),
        down=down_list,
    )


def _pct(down_ns: int, known_ns: int) -> float | None:
    # (known − down)/known is one correctly rounded int division, so it never leaves [0, 1].
    return None if known_ns <= 0 else 100 * ((known_ns - down_ns) / known_ns)


def _first_of(sorted_times: NDArray[np.int64]) -> int | None:
    return int(sorted_times[0]) if sorted_times.size else None


def _times(values: Times) -> NDArray[np.int64]:
    times = np.asarray(values, dtype=np.int64)
    if times.size > 1 and bool(np.any(times[1:] < times[:-1])):
        times = np.sort(times)
    return times
