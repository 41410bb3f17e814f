"""The deriver: keeps the derived records (timeseries/schema.py) in step with the raw data.

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

from derive.reads import (
    FAR_FUTURE_NS,
    Ranges,
    SubjectKey,
    context_queries,
    device_events,
    first_time,
    read_queries,
    stretch,
    times_of,
)
from domain.lineprotocol import line
from domain.registry import DEFAULT_INTERVAL_S, Registry
from domain.spans import Derived, Kind, SpanState, derive_spans, sort_events
from domain.timestamps import HOUR_NS, NS_PER_S
from domain.uptime import timeout_ns
from domain.usage import BUCKET_NS, bucket_octets, port_deltas
from timeseries.client import InfluxClient, Series, Statements
from timeseries.integers import as_uint64
from timeseries.markers import MEASUREMENT, parse_events
from timeseries.markers import RP as MARKERS_RP
from timeseries.schema import DERIVED_RP, RAW_RP

log = logging.getLogger(__name__)

PAGE = 500


@dataclass(slots=True)
class Marks:
    """A subject's first and last sample/observation, and its state when that is known."""

    first: int | None = None
    last: int | None = None
    state: SpanState | None = None


@dataclass(slots=True)
class Work:
    """What one step has to do for one subject."""

    first: list[int] = field(default_factory=list)
    second: list[int] = field(default_factory=list)


class Deriver:
    def __init__(
        self,
        client: InfluxClient,
        registry: Registry,
        *,
        grace_factor: float,
        lag_s: float = 30.0,
    ) -> None:
        self.client = client
        self.registry = registry
        self.grace_factor = grace_factor
        self.lag_ns = int(lag_s * NS_PER_S)
        self.cursor_ns = 0
        self.marks: dict[SubjectKey, Marks] = {}
        self._done: dict[tuple[int, str], None] = {}
        self._loaded = False
        self._partner_buckets: dict[str, tuple[int, int]] = {}
        """Per partner, the 5-minute buckets whose port sums changed in this step."""
        self._ports = {
            f"{p.switch}/{p.port}": p for partner in registry.partners for p in partner.ports
        }

    # --- the loop -------------------------------------------------------------------------

    def run(
        self, stop: threading.Event, poll_s: float = 1.0, heartbeat: Path | None = None
    ) -> None:
        """Step until `stop`; touch `heartbeat` every turn (the compose healthcheck reads it)."""
        while not stop.is_set():
            if heartbeat is not None:
                heartbeat.touch()
            try:
                if self.step() == 0:
                    stop.wait(poll_s)
            except Exception:
                log.exception("deriver step failed; trying again in 5 s")
                stop.wait(5.0)

    def step(self) -> int:
        """Process the markers that arrived since the last step; returns how many."""
        if not self._loaded:
            self._load()
        total = 0
        since = max(0, self.cursor_ns - self.lag_ns)
        first_page = True
        while True:
            op = ">" if first_page else ">="
            rows = self._markers(op, since)
            fresh = [(t, w, ev) for t, w, ev in rows if (t, w) not in self._done]
            if fresh:
                self._process(fresh)
                total += len(fresh)
                for t, w, _ in fresh:
                    self._done[(t, w)] = None
                self.cursor_ns = max(self.cursor_ns, max(t for t, _, _ in fresh))
            if len(rows) < PAGE:
                break
            since, first_page = rows[-1][0], False
        if total:
            self._forget_old()
            self._save_progress()
        return total

    def rebuild(self, chunk: int = 25) -> int:
        """Derive every known subject again from all of its raw data (after lowering an
        interval or the grace factor, or when markers expired while no deriver ran);
        returns the number of subjects. New subjects are found through the raw data's tags."""
        if not self._loaded:
            self._load()
        keys = set(self.marks) | self._subjects_in_raw()
        todo = sorted(keys)
        hours: set[int] = set()
        self._partner_buckets = {}
        for a in range(0, len(todo), chunk):
            work = [(key, Work(first=[0, FAR_FUTURE_NS - 1])) for key in todo[a : a + chunk]]
            points = self._recompute(work)
            if points:
                self._write(points)
        for key, marks in self.marks.items():
            if key[0] == "device" and marks.first and marks.last:
                hours.update(range(marks.first // HOUR_NS * HOUR_NS, marks.last + 1, HOUR_NS))
        self._roll_up(sorted(hours), self._partner_buckets)
        return len(todo)

    def _subjects_in_raw(self) -> set[SubjectKey]:
        q = Statements()
        by_partner = q.add(
            f'SELECT last(*) FROM "{RAW_RP}"."telemetry" GROUP BY "partner", "device"'
        )
        ports = q.add(
            f'SELECT last("up") FROM "{RAW_RP}"."counters" GROUP BY "partner", "switch", "port"'
        )
        res = q.run(self.client)
        found: set[SubjectKey] = set()
        for s in res[by_partner]:
            found.add(("device", s.tags.get("partner", ""), s.tags.get("device", "")))
        for s in res[ports]:
            subject = f"{s.tags.get('switch', '')}/{s.tags.get('port', '')}"
            found.add(("port", s.tags.get("partner", ""), subject))
        return found

    def _markers(self, op: str, since: int) -> list[tuple[int, str, str]]:
        q = (
            f'SELECT "events" FROM "{MARKERS_RP}"."{MEASUREMENT}" WHERE time {op} $since '
            f'GROUP BY "writer" ORDER BY time ASC LIMIT {PAGE}'
        )
        series = self.client.query(q, {"since": since})[0]
        rows = [
            (int(v[0]), s.tags.get("writer", ""), str(v[1]))
            for s in series
            for v in s.values
            if v[1] is not None
        ]
        rows.sort()
        return rows[:PAGE]

    def _forget_old(self) -> None:
        horizon = self.cursor_ns - self.lag_ns
        for key in [k for k in self._done if k[0] < horizon]:
            del self._done[key]

    # --- one batch of markers -------------------------------------------------------------

    def _process(self, markers: Iterable[tuple[int, str, str]]) -> None:
        work: dict[SubjectKey, Work] = defaultdict(Work)
        hours: set[int] = set()
        for _, _, events in markers:
            for touched in parse_events(events):
                if touched.kind == "rejected":
                    hours.update(touched.first)
                    continue
                w = work[(touched.kind, touched.partner, touched.subject)]
                w.first += touched.first
                w.second += touched.second
                if touched.kind == "device":
                    hours.update(t // HOUR_NS * HOUR_NS for t in (*touched.first, *touched.second))
        points: list[str] = []
        slow: list[tuple[SubjectKey, Work]] = []
        for key, w in work.items():
            if (key[0] == "device" and not self._fast(key, w, points)) or key[0] == "port":
                slow.append((key, w))
        self._partner_buckets = {}
        if slow:
            points += self._recompute(slow)
        if points:
            self._write(points)
        if hours or self._partner_buckets:
            self._roll_up(sorted(hours), self._partner_buckets)

    def _fast(self, key: SubjectKey, w: Work, points: list[str]) -> bool:
        """Derive in-order events from the cached state; False when they are not in order."""
        marks = self.marks.get(key)
        if marks is None or marks.state is None:
            return False
        times, kinds = device_events(w.first, w.second)
        if times.size == 0:
            return True
        if marks.state.last_ns is not None and int(times[0]) <= marks.state.last_ns:
            return False
        out = derive_spans(times, kinds, self._timeout(key), marks.state)
        points += self._records(key, out)
        self._update_marks(key, out.state, exact_state=True, points=points)
        return True

    def _recompute(self, subjects: list[tuple[SubjectKey, Work]]) -> list[str]:
        """The out-of-order path, for many subjects at once: find the context (first query
        round), read the raw stretch and the records in it (second round), derive again."""
        context = Statements()
        plans = []
        for key, w in subjects:
            touched = [*w.first, *w.second]
            if not touched:
                continue
            lo, hi = min(touched), max(touched)
            plans.append((key, lo, hi, context_queries(context, key, lo, hi)))
        found = context.run(self.client)
        reads = Statements()
        ranges = []
        for key, lo, hi, idx in plans:
            r = stretch(key, lo, hi, [first_time(found[i]) for i in idx])
            ranges.append((key, r, read_queries(reads, key, r)))
        got = reads.run(self.client)
        points: list[str] = []
        for key, r, idx in ranges:
            points += self._rederive(key, r, [got[i] for i in idx])
        return points

    def _rederive(self, key: SubjectKey, r: Ranges, results: list[list[Series]]) -> list[str]:
        kind = key[0]
        raw, old_silences, old_held = results[0], results[-2], results[-1]
        points: list[str] = []
        if kind == "device":
            status = results[1]
            obs = [t for s in raw for t in times_of(s)]
            status_rows = [(int(v[0]), v[1]) for s in status for v in s.values]
            obs += [t for t, online in status_rows if online == 1]
            off = [t for t, online in status_rows if online == 0]
            times, kinds = device_events(obs, off)
            span_times, span_kinds = times, kinds
        else:
            rows = sorted(
                (int(v[0]), as_uint64(int(v[1])), as_uint64(int(v[2])), int(v[3]))
                for s in raw
                for v in s.values
            )
            in_span = [row for row in rows if r.span_lo <= row[0] <= r.span_hi]
            span_times, span_kinds = sort_events(
                [row[0] for row in in_span],
                [Kind.OBSERVATION if row[3] else Kind.DOWN_SAMPLE for row in in_span],
            )
            points += self._traffic(key, r, rows, results[1])
        out = derive_spans(span_times, span_kinds, self._timeout(key))
        keep_silence = {s.until_ns for s in out.silences if r.silence_key(s.until_ns)}
        keep_held = {h.start_ns for h in out.held if r.held_key(h.start_ns)}
        points += self._records(
            key,
            Derived(
                [s for s in out.silences if s.until_ns in keep_silence],
                [h for h in out.held if h.start_ns in keep_held],
                out.state,
            ),
        )
        # Records in the decided key ranges that the raw data no longer bears out are emptied.
        for t in {t for s in old_silences for t in times_of(s) if r.silence_key(t)} - keep_silence:
            points.append(self._silence_line(key, t, t))
        for t in {t for s in old_held for t in times_of(s) if r.held_key(t)} - keep_held:
            points.append(self._held_line(key, t, t))
        self._update_marks(key, out.state, exact_state=r.to_the_end, points=points)
        return points

    def _traffic(
        self,
        key: SubjectKey,
        r: Ranges,
        rows: list[tuple[int, int, int, int]],
        old: list[Series],
    ) -> list[str]:
        """Exact 5-minute sums of the valid deltas whose t2 falls in the touched buckets."""
        port = self._ports.get(key[2])
        capacity = port.capacity_mbps if port else float("inf")
        samples = [row for row in rows if row[0] < r.buckets_hi]
        d = port_deltas(
            [s[0] for s in samples], [s[1] for s in samples], [s[2] for s in samples], capacity
        )
        inbound = bucket_octets([d.inbound], r.buckets_lo, r.buckets_hi)
        outbound = bucket_octets([d.outbound], r.buckets_lo, r.buckets_hi)
        # A glitch drops one direction's delta only (SPEC), so a bucket may hold valid deltas of
        # one direction and none of the other: that one is written as 0 there. `deltas` counts
        # the sample pairs with at least one valid direction.
        counts: dict[int, int] = defaultdict(int)
        for t2 in set(d.inbound.t2_ns.tolist()) | set(d.outbound.t2_ns.tolist()):
            if r.buckets_lo <= t2 < r.buckets_hi:
                counts[t2 // BUCKET_NS * BUCKET_NS] += 1
        sums: dict[int, list[int]] = {b: [0, 0] for b in counts}
        for k, buckets in enumerate((inbound, outbound)):
            for b, o in zip(buckets.start_ns.tolist(), buckets.octets.tolist(), strict=True):
                sums[b][k] = o
        tags = {"partner": key[1], "subject": key[2]}
        points = [
            line(
                "traffic",
                tags,
                {"in_octets": i, "out_octets": o, "deltas": counts[b]},
                b,
            )
            for b, (i, o) in sorted(sums.items())
        ]
        emptied = {t for s in old for t in times_of(s)} - set(counts)
        for t in emptied:
            points.append(line("traffic", tags, {"in_octets": 0, "out_octets": 0, "deltas": 0}, t))
        changed = [*counts, *emptied]
        if key[1] and changed:  # the partner's own 5-minute sums follow (see _roll_up)
            lo, hi = min(changed), max(changed) + BUCKET_NS
            was = self._partner_buckets.get(key[1], (lo, hi))
            self._partner_buckets[key[1]] = (min(lo, was[0]), max(hi, was[1]))
        return points

    # --- records ----------------------------------------------------------------------------

    def _records(self, key: SubjectKey, out: Derived) -> list[str]:
        return [self._silence_line(key, s.since_ns, s.until_ns) for s in out.silences] + [
            self._held_line(key, h.start_ns, 0 if h.until_ns is None else h.until_ns)
            for h in out.held
        ]

    def _silence_line(self, key: SubjectKey, since: int, until: int) -> str:
        return line("silence", _tags(key), {"since": since}, until)

    def _held_line(self, key: SubjectKey, start: int, until: int) -> str:
        return line("held", _tags(key), {"until": until}, start)

    def _update_marks(
        self, key: SubjectKey, state: SpanState, *, exact_state: bool, points: list[str]
    ) -> None:
        marks = self.marks.setdefault(key, Marks())
        candidates = [t for t in (marks.first, state.first_reset_ns) if t is not None]
        marks.first = min(candidates) if candidates else None
        lasts = [t for t in (marks.last, state.last_reset_ns) if t is not None]
        marks.last = max(lasts) if lasts else None
        marks.state = state if exact_state else None
        fields: dict[str, int] = {"first": marks.first or 0, "last": marks.last or 0}
        if marks.state is not None:
            fields["state_last"] = marks.state.last_ns or 0
            fields["state_reset"] = marks.state.last_reset_ns or 0
            fields["state_held"] = marks.state.held_since_ns or 0
        else:
            fields["state_last"] = -1
        points.append(line("marks", _tags(key), fields, 0))

    def _timeout(self, key: SubjectKey) -> int:
        kind, partner, subject = key
        if kind == "port":
            port = self._ports.get(subject)
            interval = port.interval_s if port else DEFAULT_INTERVAL_S
        else:
            device = self.registry.device(partner, subject)
            interval = device.interval_s if device else DEFAULT_INTERVAL_S
        return timeout_ns(interval, self.grace_factor)

    # --- InfluxDB -----------------------------------------------------------------------------

    def _write(self, points: list[str]) -> None:
        for a in range(0, len(points), 10_000):
            self.client.write("\n".join(points[a : a + 10_000]).encode(), rp=DERIVED_RP)

    def _roll_up(self, hours: list[int], partner_buckets: dict[str, tuple[int, int]]) -> None:
        """Hourly message and rejection counts, computed inside InfluxDB from raw data, and
        each partner's 5-minute traffic summed over its ports (what p95 is taken from)."""
        db = self.client.db.replace('"', '\\"')
        q = Statements()
        for partner, (lo, hi) in sorted(partner_buckets.items()):
            q.add(
                'SELECT sum("in_octets") AS "in_octets", sum("out_octets") AS "out_octets", '
                f'sum("deltas") AS "deltas" INTO "{db}"."{DERIVED_RP}"."partner_traffic" '
                f'FROM "{db}"."{DERIVED_RP}"."traffic" '
                'WHERE "partner" = $p AND time >= $lo AND time < $hi '
                'GROUP BY time(5m), "partner" fill(none)',
                p=partner,
                lo=lo,
                hi=hi,
            )
        for h in hours:
            q.add(
                'SELECT count("bytes") AS "messages", sum("bytes") AS "bytes" '
                f'INTO "{db}"."{DERIVED_RP}"."activity" FROM "{db}"."{RAW_RP}"."messages" '
                'WHERE time >= $lo AND time < $hi GROUP BY time(1h), "partner", "device"',
                lo=h,
                hi=h + HOUR_NS,
            )
            q.add(
                'SELECT count("bytes") AS "rejected" '
                f'INTO "{db}"."{DERIVED_RP}"."rejections" FROM "{db}"."{RAW_RP}"."rejected" '
                'WHERE time >= $lo AND time < $hi GROUP BY time(1h), "partner"',
                lo=h,
                hi=h + HOUR_NS,
            )
        q.run(self.client)

    def _load(self) -> None:
        """The cursor and every subject's marks: a restarted deriver goes on where it was."""
        q = Statements()
        q.add(f'SELECT "cursor" FROM "{DERIVED_RP}"."progress"')
        q.add(f'SELECT * FROM "{DERIVED_RP}"."marks" GROUP BY "kind", "partner", "subject"')
        progress, marks = q.run(self.client)
        for s in progress:
            self.cursor_ns = int(s.values[-1][1])
        for s in marks:
            rec = s.records()[-1]
            key = (s.tags.get("kind", ""), s.tags.get("partner", ""), s.tags.get("subject", ""))
            state = None
            if rec.get("state_last") not in (None, -1):
                state = SpanState(
                    last_reset_ns=rec.get("state_reset") or None,
                    held_since_ns=rec.get("state_held") or None,
                    last_ns=rec.get("state_last") or None,
                    first_reset_ns=rec.get("first") or None,
                )
            self.marks[key] = Marks(rec.get("first") or None, rec.get("last") or None, state)
        self._loaded = True

    def _save_progress(self) -> None:
        self.client.write(
            line("progress", {}, {"cursor": self.cursor_ns}, 0).encode(), rp=DERIVED_RP
        )


def _tags(key: SubjectKey) -> dict[str, str]:
    return {"kind": key[0], "partner": key[1], "subject": key[2]}
