"""Ground truth: what a run's messages imply under SPEC's definitions, computed independently of
the platform, so tests can hold the API's uptime and usage figures against it.

Fed the plan's actions as they are executed (`TruthBuilder.add`), it keeps per device its
observation and offline-event times, per port its counter samples, per partner its message
counts, and at the end (`result`) applies the definitions: down intervals and incidents with
causes, link down intervals, counter deltas (resets, glitches), bytes and p95 per partner.
The JSON shape is documented in `simulators/README.md` ("Ground truth").

Deliberately written apart from `domain/uptime.py` and `domain/usage.py` (plain Python over
lists of millisecond spans, not their numpy interval algebra): two implementations of one
definition that agree are evidence; one checked against itself is not.

It assumes what the plan assumes: the broker and the ingest received every message, the
ingest was connected the whole time, and a message is received when it is sent (so the
ingest's 1-year / 10-minute timestamp window is judged against the send time).
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np

from domain.timestamps import format_rfc3339
from simulators.plan import Action, messages_of
from simulators.world import Span, World

FORMAT = "mainport-truth"
VERSION = 1
BUCKET_MS = 300_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Incident:
    start: int
    end: int | None
    """None while still down at the end of the window."""
    cause: str


def merge(spans: list[Span]) -> list[Span]:
    """Union of intervals as sorted, disjoint, non-empty spans (touching ones joined)."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def overlap(spans: list[Span], lo: int, hi: int) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in spans)


def subtract(spans: list[Span], removed: list[Span]) -> list[Span]:
    """`spans` without `removed` (both merged): what is left of each span, piece by piece."""
    out: list[Span] = []
    for a, b in spans:
        for ra, rb in removed:
            if rb <= a or ra >= b:
                continue
            if ra > a:
                out.append((a, ra))
            a = max(a, rb)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


def covers(spans: list[Span], t: int) -> bool:
    """Whether `t` lies in one of the half-open spans."""
    return any(a <= t < b for a, b in spans)


def silence_spans(times: list[int], timeout: int, end: int) -> list[Span]:
    """From m + T until the next time, for every time m followed by more than T of silence
    (the silence at the end of the window included)."""
    obs = np.unique(np.asarray(times, dtype=np.int64))
    if len(obs) == 0:
        return []
    nxt = np.append(obs[1:], end)
    gaps = np.nonzero(nxt - obs > timeout)[0]
    return merge([(int(obs[i]) + timeout, min(int(nxt[i]), end)) for i in gaps])


def held_spans(observations: list[int], offline: list[int], end: int) -> list[Span]:
    """From each offline event until the next observation strictly after it (or the end);
    events before the first observation are before monitoring began."""
    obs = np.unique(np.asarray(observations, dtype=np.int64))
    if len(obs) == 0:
        return []
    spans = []
    for f in offline:
        if f < obs[0] or f >= end:
            continue
        i = int(np.searchsorted(obs, f, side="right"))
        spans.append((f, min(int(obs[i]), end) if i < len(obs) else end))
    return merge(spans)


def down_spans(observations: list[int], offline: list[int], timeout: int, end: int) -> list[Span]:
    """SPEC device uptime: down from an offline event until the next observation, and from
    m + T until the next observation after every silence longer than T (also at the end)."""
    return merge(held_spans(observations, offline, end) + silence_spans(observations, timeout, end))


def incidents(
    counted: list[Span],
    held: list[Span],
    link_down: list[Span],
    end: int,
    held_cause: str = "offline",
) -> list[Incident]:
    """One incident per maximal stretch of counted down time (down time outside unknown time),
    with one root cause read at its start: `link` when the device's port was down then,
    `held_cause` when an offline event (a port's `down` sample) holds it down, else `timeout`.
    A stretch that starts where unknown time ends is read there too."""
    out = []
    for a, b in counted:
        if covers(link_down, a):
            cause = "link"
        elif covers(held, a):
            cause = held_cause
        else:
            cause = "timeout"
        out.append(Incident(a, None if b >= end else b, cause))
    return out


def port_held_spans(samples: list[tuple[int, bool]], end: int) -> list[Span]:
    """SPEC link uptime: down from a `down` sample until the next `up` one."""
    spans: list[Span] = []
    down_since: int | None = None
    for t, up in samples:
        if not up and down_since is None:
            down_since = t
        elif up and down_since is not None:
            spans.append((down_since, min(t, end)))
            down_since = None
    if down_since is not None:
        spans.append((down_since, end))
    return merge(spans)


def port_down_spans(samples: list[tuple[int, bool]], timeout: int, end: int) -> list[Span]:
    """SPEC link uptime: down from a `down` sample until the next `up` one, and on silence."""
    times = [t for t, _ in samples]
    return merge(port_held_spans(samples, end) + silence_spans(times, timeout, end))


@dataclass(frozen=True, slots=True)
class Delta:
    t1: int
    t2: int
    bytes_in: int
    bytes_out: int
    reset: bool
    glitch_in: bool
    glitch_out: bool

    @property
    def glitch(self) -> bool:
        """Whether either direction's delta of this pair is dropped."""
        return self.glitch_in or self.glitch_out

    @property
    def billed_in(self) -> int:
        return 0 if self.glitch_in else self.bytes_in

    @property
    def billed_out(self) -> int:
        return 0 if self.glitch_out else self.bytes_out


def deltas(samples: list[tuple[int, int, int]], capacity_mbps: float) -> list[Delta]:
    """SPEC fibre usage: new − old, or new after a decrease (a reset); a delta whose rate
    8·delta/(t2 − t1) exceeds the capacity is a glitch (dropped, not billed), judged per
    direction: a glitch in `in` leaves the `out` delta of the same pair billed."""
    out = []
    for (t1, in1, out1), (t2, in2, out2) in itertools.pairwise(samples):
        d_in = in2 - in1 if in2 >= in1 else in2
        d_out = out2 - out1 if out2 >= out1 else out2
        # Exactly (no float rounding): 8·delta / ((t2 − t1) ms / 1000) > capacity · 10^6.
        limit = Fraction(capacity_mbps) * 1_000_000 * (t2 - t1) / 1000
        reset = in2 < in1 or out2 < out1
        out.append(Delta(t1, t2, d_in, d_out, reset, 8 * d_in > limit, 8 * d_out > limit))
    return out


def p95(rates: list[float]) -> float | None:
    """The rate at index ceil(0.95·n) − 1 of the ascending rates (SPEC billing)."""
    if not rates:
        return None
    ordered = sorted(rates)
    return float(ordered[math.ceil(0.95 * len(ordered)) - 1])


class TruthBuilder:
    def __init__(self, world: World, grace_factor: float = 3.0) -> None:
        self.world = world
        self.grace = grace_factor
        self.obs: dict[str, array[int]] = defaultdict(lambda: array("q"))
        self.offline: dict[str, array[int]] = defaultdict(lambda: array("q"))
        self.samples: dict[str, dict[int, tuple[int, int, bool]]] = defaultdict(dict)
        self.messages: Counter[str] = Counter()
        self.mqtt_bytes: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.rejected: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, action: Action) -> None:
        msg = messages_of(action)
        if msg is None:
            return
        note = msg.note
        if note.reject is not None:
            self.rejected[note.partner][note.reject] += 1
            return
        if note.duplicate:
            # Same topic, payload and timestamp: the platform keys points by device time, so
            # a duplicate overwrites its original and counts once.
            self.duplicates[note.partner] += 1
            return
        if note.kind == "counters":
            self.samples[note.subject][note.times[0]] = (*note.octets, note.up)
            return
        self.messages[note.partner] += 1
        self.mqtt_bytes[note.partner] += len(msg.payload)
        if note.kind == "status" and not note.online:
            self.offline[note.subject].extend(note.times)
        else:
            self.obs[note.subject].extend(note.times)

    def result(self, end_ms: int) -> dict[str, Any]:
        w = self.world
        start = w.start_ms
        ports_out, port_down, port_deltas = [], {}, {}
        for port in w.ports:
            rows = sorted(self.samples.get(port.key, {}).items())
            timeout = int(self.grace * port.interval_ms)
            states = [(t, up) for t, (_, _, up) in rows]
            held = port_held_spans(states, end_ms)
            downs = merge(held + silence_spans([t for t, _ in rows], timeout, end_ms))
            ds = deltas([(t, i, o) for t, (i, o, _) in rows], port.capacity_mbps)
            port_deltas[port.key] = [d for d in ds if start <= d.t2 < end_ms]
            first = rows[0][0] if rows else None
            row, port_down[port.key] = self._uptime(
                port.partner, port.key, first, downs, held, [], end_ms
            )
            ports_out.append(
                {
                    "partner": port.partner,
                    "switch": port.switch,
                    "port": port.port,
                    "capacity_mbps": port.capacity_mbps,
                    "interval_s": port.interval_ms / 1000,
                    "samples": len(rows),
                    **row,
                    "bytes_in": sum(d.billed_in for d in port_deltas[port.key]),
                    "bytes_out": sum(d.billed_out for d in port_deltas[port.key]),
                    "resets": [_time(d.t2) for d in port_deltas[port.key] if d.reset],
                    "glitches": [
                        {
                            "t1": _time(d.t1),
                            "t2": _time(d.t2),
                            "in": d.bytes_in,
                            "out": d.bytes_out,
                            "directions": [
                                k for k, g in (("in", d.glitch_in), ("out", d.glitch_out)) if g
                            ],
                        }
                        for d in port_deltas[port.key]
                        if d.glitch
                    ],
                }
            )
        devices_out = []
        for dev in w.devices:
            obs = list(self.obs.get(dev.key, ()))
            held = held_spans(obs, list(self.offline.get(dev.key, ())), end_ms)
            timeout = int(self.grace * dev.interval_ms)
            spans = merge(held + silence_spans(obs, timeout, end_ms))
            link = port_down.get(dev.port, []) if dev.port else []
            first = min(obs) if obs else None
            row, _ = self._uptime(dev.partner, dev.id, first, spans, held, link, end_ms)
            devices_out.append(
                {
                    "partner": dev.partner,
                    "device": dev.id,
                    "interval_s": dev.interval_ms / 1000,
                    "port": dev.port,
                    **row,
                }
            )
        return {
            "format": FORMAT,
            "version": VERSION,
            "scenario": w.scenario.name,
            "seed": w.scenario.seed,
            "start": _time(start),
            "end": _time(end_ms),
            "grace_factor": self.grace,
            "partners": self._partners(devices_out, ports_out, port_deltas),
            "devices": devices_out,
            "ports": ports_out,
        }

    def _unknown(self, partner: str) -> list[Span]:
        """The partner's maintenance windows (unknown time), in epoch ms."""
        return merge(
            [
                (_ms(m.start), _ms(m.end))
                for m in self.world.registry.maintenance
                if m.covers(partner)
            ]
        )

    def _uptime(
        self,
        partner: str,
        subject: str,
        first: int | None,
        spans: list[Span],
        held: list[Span],
        link: list[Span],
        end: int,
    ) -> tuple[dict[str, Any], list[Span]]:
        """Figures of one device or port, and its counted down time (outside unknown time).

        Unknown time is neither up nor down: down time inside it is dropped, so an outage
        across a maintenance window is two incidents and one entirely inside it none."""
        if first is None or first >= end:
            return {
                "first_observation": None,
                "monitored_s": 0.0,
                "unknown_s": 0.0,
                "downtime_s": 0.0,
                "uptime_pct": None,
                "incidents": [],
            }, []
        maint = self._unknown(partner)
        counted = subtract(spans, maint)
        monitored = end - first
        unknown = overlap(maint, first, end)
        down = sum(b - a for a, b in counted)
        known = monitored - unknown
        row = {
            "first_observation": _time(first),
            "monitored_s": monitored / 1000,
            "unknown_s": unknown / 1000,
            "downtime_s": down / 1000,
            "uptime_pct": 100 * (1 - down / known) if known > 0 else None,
            "incidents": [
                {
                    "subject": subject,
                    "start": _time(i.start),
                    "end": _time(i.end) if i.end is not None else None,
                    "duration_s": ((i.end if i.end is not None else end) - i.start) / 1000,
                    "cause": i.cause,
                }
                for i in incidents(counted, held, link, end)
            ],
        }
        return row, counted

    def _partners(
        self,
        devices: list[dict[str, Any]],
        ports: list[dict[str, Any]],
        port_deltas: dict[str, list[Delta]],
    ) -> list[dict[str, Any]]:
        out = []
        for partner in self.world.registry.partners:
            if not any(d["partner"] == partner.id for d in devices + ports):
                continue
            # A bucket is known when it holds a valid delta of either direction (SPEC: "without
            # any valid delta" it is unknown); a direction whose deltas there were all glitches
            # counts 0 in it, as the platform's derived 5-minute records do.
            buckets: dict[int, list[int]] = defaultdict(lambda: [0, 0])
            for port in self.world.ports:
                if port.partner == partner.id:
                    for d in port_deltas[port.key]:
                        if not (d.glitch_in and d.glitch_out):
                            bucket = buckets[d.t2 // BUCKET_MS]
                            bucket[0] += d.billed_in
                            bucket[1] += d.billed_out
            own_ports = [p for p in ports if p["partner"] == partner.id]
            out.append(
                {
                    "partner": partner.id,
                    "uptime_pct": _weighted([d for d in devices if d["partner"] == partner.id]),
                    "link_uptime_pct": _weighted(own_ports),
                    "messages": self.messages[partner.id],
                    "mqtt_bytes": self.mqtt_bytes[partner.id],
                    "duplicates": self.duplicates[partner.id],
                    "rejected": dict(sorted(self.rejected[partner.id].items())),
                    "bytes_in": sum(p["bytes_in"] for p in own_ports),
                    "bytes_out": sum(p["bytes_out"] for p in own_ports),
                    "p95_in_bps": p95([8 * b[0] / 300 for b in buckets.values()]),
                    "p95_out_bps": p95([8 * b[1] / 300 for b in buckets.values()]),
                    "p95_buckets": len(buckets),
                }
            )
        if self.rejected.get("_network") or self.duplicates["_network"]:
            out.append(
                {
                    "partner": "_network",
                    "duplicates": self.duplicates["_network"],
                    "rejected": dict(sorted(self.rejected["_network"].items())),
                }
            )
        return out


def _weighted(rows: list[dict[str, Any]]) -> float | None:
    known = sum(r["monitored_s"] - r["unknown_s"] for r in rows)
    if known <= 0:
        return None
    return float(100 * (1 - sum(r["downtime_s"] for r in rows) / known))


def _time(ms: int) -> str:
    return format_rfc3339(ms * 1_000_000)


def _ms(moment: datetime) -> int:
    """Exact epoch ms of an aware datetime (a float timestamp can be off by one)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)
