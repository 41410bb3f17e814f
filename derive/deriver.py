"""The deriver: keeps the derived records (timeseries/derived.py) in step with the raw data.

It follows the markers the ingest writes with every batch (timeseries/markers.py) and, per
device or port a batch touched:

- in-order data (the usual case: every event later than everything derived so far) is
  derived from the marker's event times alone, continuing the subject's cached `SpanState`;
- anything else (a backfill into the past, a redelivery, a second ingest's batch that came
  in late, a deriver restart) is recomputed from raw data: from the last observation before
  the touched stretch to the first after it, which holds every record the new events can
  change (`domain.spans`); records that no longer hold are overwritten with empty ones.

Ports always take the second way (they are few, and their traffic buckets need the counter
values, which markers do not carry). Hourly activity and rejections are recomputed inside
InfluxDB (`SELECT … INTO`) for every hour a batch touched.

Here is the logic; its InfluxDB reads and writes are in derive/store.py (the recompute
reads in derive/reads.py), a port's traffic buckets in derive/traffic.py, and the layout of
the records in timeseries/derived.py.

Exactly one deriver should run per database: two would do the same work, and their writes
could interleave. It is idempotent, so a restart simply re-reads recent markers.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.live import LiveRegistry, StaticSource
from core.outage import Outage
from derive import store
from derive.reads import (
    FAR_FUTURE_NS,
    Ranges,
    context_queries,
    device_events,
    first_time,
    read_queries,
    stretch,
    times_of,
)
from derive.store import PAGE, Marker
from derive.traffic import traffic_points
from domain.registry import DEFAULT_INTERVAL_S, Registry
from domain.spans import Derived, Kind, SpanState, Timeout, derive_spans, sort_events
from domain.timestamps import HOUR_NS, NS_PER_S
from domain.uptime import timeout_ns
from timeseries import derived
from timeseries.client import InfluxClient, Series, Statements, StoreError
from timeseries.derived import Marks, SubjectKey
from timeseries.integers import as_uint64
from timeseries.markers import parse_events

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Work:
    """What one step has to do for one subject: the event times its markers reported."""

    up_times: list[int] = field(default_factory=list)
    """Observations (a device) or `up` samples (a port)."""
    down_times: list[int] = field(default_factory=list)
    """Offline events (a device) or `down` samples (a port)."""


class Deriver:
    def __init__(
        self,
        client: InfluxClient,
        registry: Registry | LiveRegistry,
        *,
        grace_factor: float,
        lag_s: float = 30.0,
    ) -> None:
        self.client = client
        self.source: LiveRegistry = (
            StaticSource(registry) if isinstance(registry, Registry) else registry
        )
        self.grace_factor = grace_factor
        self.lag_ns = int(lag_s * NS_PER_S)
        self.cursor_ns = 0
        self.outage = Outage("deriver", log)
        self.marks: dict[SubjectKey, Marks] = {}
        self._done: dict[tuple[int, str], None] = {}
        self._loaded = False
        self._partner_buckets: dict[str, tuple[int, int]] = {}
        """Per partner, the 5-minute buckets whose port sums changed in this step."""

    # --- the loop -------------------------------------------------------------------------

    def run(
        self, stop: threading.Event, poll_s: float = 1.0, heartbeat: Path | None = None
    ) -> None:
        """Step until `stop`; touch `heartbeat` every turn (the compose healthcheck reads it)."""
        while not stop.is_set():
            if heartbeat is not None:
                heartbeat.touch()
            try:
                done = self.step()
            except StoreError as exc:  # InfluxDB down or refusing: one line per state change
                self.outage.failed(exc, "deriving; trying again every 5 s")
                stop.wait(5.0)
                continue
            except Exception as exc:  # a bug: its traceback once, then one line per change
                if not self.outage.down:
                    log.exception("deriver step failed; trying again every 5 s")
                self.outage.failed(exc, "step failed")
                stop.wait(5.0)
                continue
            self.outage.ok(f"{done} markers processed")
            if done == 0:
                stop.wait(poll_s)

    def step(self) -> int:
        """Process the markers that arrived since the last step; returns how many."""
        if not self._loaded:
            self._load()
        total = 0
        since = max(0, self.cursor_ns - self.lag_ns)
        first_page = True
        while True:
            op = ">" if first_page else ">="
            rows = store.read_markers(self.client, op, since)
            fresh = [row for row in rows if (row[0], row[1]) not in self._done]
            if fresh:
                self._process(fresh)
                total += len(fresh)
                for stamp, writer, _ in fresh:
                    self._done[(stamp, writer)] = None
                self.cursor_ns = max(self.cursor_ns, max(row[0] for row in fresh))
            if len(rows) < PAGE:
                break
            since, first_page = rows[-1][0], False
        if total:
            self._forget_old()
            store.save_progress(self.client, self.cursor_ns)
        return total

    def rebuild(self, chunk: int = 25) -> int:
        """Derive every known subject again from all of its raw data (after lowering an
        interval or the grace factor, or when markers expired while no deriver ran);
        returns the number of subjects. New subjects are found through the raw data's tags."""
        if not self._loaded:
            self._load()
        keys = set(self.marks) | store.subjects_in_raw(self.client)
        todo = sorted(keys)
        hours: set[int] = set()
        self._partner_buckets = {}
        for start in range(0, len(todo), chunk):
            batch = todo[start : start + chunk]
            work = [(key, Work(up_times=[0, FAR_FUTURE_NS - 1])) for key in batch]
            points = self._recompute(work)
            if points:
                store.write_points(self.client, points)
        for key, marks in self.marks.items():
            if key[0] == "device" and marks.first and marks.last:
                hours.update(range(marks.first // HOUR_NS * HOUR_NS, marks.last + 1, HOUR_NS))
        store.roll_up(self.client, sorted(hours), self._partner_buckets)
        return len(todo)

    def _forget_old(self) -> None:
        horizon = self.cursor_ns - self.lag_ns
        for key in [k for k in self._done if k[0] < horizon]:
            del self._done[key]

    def _load(self) -> None:
        """The cursor and every subject's marks: a restarted deriver goes on where it was."""
        cursor_ns, marks = store.load_progress(self.client)
        if cursor_ns is not None:
            self.cursor_ns = cursor_ns
        self.marks.update(marks)
        self._loaded = True

    # --- one batch of markers -------------------------------------------------------------

    def _process(self, markers: Iterable[Marker]) -> None:
        work: dict[SubjectKey, Work] = defaultdict(Work)
        hours: set[int] = set()
        for _, _, events in markers:
            for touched in parse_events(events):
                if touched.kind == "rejected":
                    hours.update(touched.hours)
                    continue
                todo = work[(touched.kind, touched.partner, touched.subject)]
                todo.up_times += touched.up_times
                todo.down_times += touched.down_times
                if touched.kind == "device":
                    hours.update(
                        t // HOUR_NS * HOUR_NS for t in (*touched.up_times, *touched.down_times)
                    )
        points: list[str] = []
        slow: list[tuple[SubjectKey, Work]] = []
        for key, todo in work.items():
            if (key[0] == "device" and not self._fast(key, todo, points)) or key[0] == "port":
                slow.append((key, todo))
        self._partner_buckets = {}
        if slow:
            points += self._recompute(slow)
        if points:
            store.write_points(self.client, points)
        if hours or self._partner_buckets:
            store.roll_up(self.client, sorted(hours), self._partner_buckets)

    def _fast(self, key: SubjectKey, todo: Work, points: list[str]) -> bool:
        """Derive in-order events from the cached state; False when they are not in order."""
        marks = self.marks.get(key)
        if marks is None or marks.state is None:
            return False
        times, kinds = device_events(todo.up_times, todo.down_times)
        if times.size == 0:
            return True
        if marks.state.last_ns is not None and int(times[0]) <= marks.state.last_ns:
            return False
        out = derive_spans(times, kinds, self._timeout(key), marks.state)
        points += _records(key, out)
        self._update_marks(key, out.state, exact_state=True, points=points)
        return True

    def _recompute(self, subjects: list[tuple[SubjectKey, Work]]) -> list[str]:
        """The out-of-order path, for many subjects at once: find the context (first query
        round), read the raw stretch and the records in it (second round), derive again."""
        context = Statements()
        plans = []
        for key, todo in subjects:
            touched = [*todo.up_times, *todo.down_times]
            if not touched:
                continue
            lo, hi = min(touched), max(touched)
            plans.append((key, lo, hi, context_queries(context, key, lo, hi)))
        found = context.run(self.client)
        reads = Statements()
        stretches = []
        for key, lo, hi, indices in plans:
            ranges = stretch(key, lo, hi, [first_time(found[i]) for i in indices])
            stretches.append((key, ranges, read_queries(reads, key, ranges)))
        got = reads.run(self.client)
        points: list[str] = []
        for key, ranges, indices in stretches:
            points += self._rederive(key, ranges, [got[i] for i in indices])
        return points

    def _rederive(self, key: SubjectKey, ranges: Ranges, results: list[list[Series]]) -> list[str]:
        kind = key[0]
        raw, old_silences, old_held = results[0], results[-2], results[-1]
        points: list[str] = []
        if kind == "device":
            status = results[1]
            observations = [t for series in raw for t in times_of(series)]
            status_rows = [(int(row[0]), row[1]) for series in status for row in series.values]
            observations += [t for t, online in status_rows if online == 1]
            offline = [t for t, online in status_rows if online == 0]
            span_times, span_kinds = device_events(observations, offline)
        else:
            rows = sorted(
                (int(row[0]), as_uint64(int(row[1])), as_uint64(int(row[2])), int(row[3]))
                for series in raw
                for row in series.values
            )
            in_span = [row for row in rows if ranges.span_lo <= row[0] <= ranges.span_hi]
            span_times, span_kinds = sort_events(
                [row[0] for row in in_span],
                [Kind.OBSERVATION if row[3] else Kind.DOWN_SAMPLE for row in in_span],
            )
            switch, _, name = key[2].partition("/")
            # The capacity in force at the stretch's end (a glitch bound, SPEC "Usage").
            port = self.source.current().history.port_at((switch, name), ranges.span_hi)
            capacity = port.capacity_mbps if port else float("inf")
            traffic, changed = traffic_points(key, ranges, rows, results[1], capacity)
            points += traffic
            if key[1] and changed:  # the partner's own 5-minute sums follow (store.roll_up)
                lo, hi = changed
                was = self._partner_buckets.get(key[1], (lo, hi))
                self._partner_buckets[key[1]] = (min(lo, was[0]), max(hi, was[1]))
        out = derive_spans(span_times, span_kinds, self._timeout(key))
        keep_silence = {s.until_ns for s in out.silences if ranges.silence_key(s.until_ns)}
        keep_held = {h.start_ns for h in out.held if ranges.held_key(h.start_ns)}
        points += _records(
            key,
            Derived(
                [s for s in out.silences if s.until_ns in keep_silence],
                [h for h in out.held if h.start_ns in keep_held],
                out.state,
            ),
        )
        # Records in the decided key ranges that the raw data no longer bears out are emptied.
        silent = {t for series in old_silences for t in times_of(series) if ranges.silence_key(t)}
        for t in silent - keep_silence:
            points.append(derived.emptied_silence_line(key, t))
        held = {t for series in old_held for t in times_of(series) if ranges.held_key(t)}
        for t in held - keep_held:
            points.append(derived.emptied_held_line(key, t))
        self._update_marks(key, out.state, exact_state=ranges.to_the_end, points=points)
        return points

    # --- records ----------------------------------------------------------------------------

    def _update_marks(
        self, key: SubjectKey, state: SpanState, *, exact_state: bool, points: list[str]
    ) -> None:
        marks = self.marks.setdefault(key, Marks())
        candidates = [t for t in (marks.first, state.first_reset_ns) if t is not None]
        marks.first = min(candidates) if candidates else None
        lasts = [t for t in (marks.last, state.last_reset_ns) if t is not None]
        marks.last = max(lasts) if lasts else None
        marks.state = state if exact_state else None
        points.append(derived.marks_line(key, marks))

    def _timeout(self, key: SubjectKey) -> Timeout:
        """T in force at each observation (the registry's history, live): a changed interval
        judges the silences after earlier observations with the earlier T, no rebuild."""
        interval = self.source.current().history.interval_at(key)
        if interval is None:
            return timeout_ns(DEFAULT_INTERVAL_S, self.grace_factor)
        if not callable(interval):
            return timeout_ns(interval, self.grace_factor)
        grace = self.grace_factor
        return lambda t_ns: timeout_ns(interval(t_ns), grace)


def _records(key: SubjectKey, out: Derived) -> list[str]:
    return [derived.silence_line(key, s.since_ns, s.until_ns) for s in out.silences] + [
        derived.held_line(key, h.start_ns, h.until_ns) for h in out.held
    ]
