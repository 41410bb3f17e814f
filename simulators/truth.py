"""Ground truth: what a run's messages imply under SPEC's definitions, computed independently of
the platform, so tests can hold the API's uptime and usage figures against it.

Fed the plan's actions as they are executed (`TruthBuilder.add`), it keeps per device its
observation and offline-event times, per port its counter samples, per partner its message
counts, and at the end (`result`) applies the definitions: down intervals and incidents with
causes, link down intervals, counter deltas (resets, glitches), bytes and p95 per partner.
The JSON shape is documented in `simulators/README.md` ("Ground truth").

The definitions themselves, over millisecond spans, are in simulators/truth_rules.py.

It assumes what the plan assumes: the broker and the ingest received every message, the
ingest was connected the whole time, and a message is received when it is sent (so the
ingest's 1-year / 10-minute timestamp window is judged against the send time).
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.timestamps import format_rfc3339
from simulators.plan import Action, messages_of
from simulators.truth_rules import (
    Delta,
    deltas,
    held_spans,
    incidents,
    merge,
    overlap,
    p95,
    port_held_spans,
    silence_spans,
    subtract,
)
from simulators.world import Span, World

FORMAT = "mainport-truth"
VERSION = 1
BUCKET_MS = 300_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
