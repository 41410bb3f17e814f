"""The deterministic plan of a run: every connect, publish and disconnect, in time order.

A pure function of the world (scenario, registry, seed, start): no clock, no network. The live
runner executes it against a broker at some speed, the dry run writes it to a feed file, and
the ground truth is computed from it — so all three agree by construction, and the same
scenario and seed give the same messages byte for byte, whatever the speed.

Each device is one stream (its own MQTT connection), the network collector another; the
streams are merged by time, ties broken by stream order.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from simulators import payloads
from simulators.models import (
    CHUNK,
    device_values,
    initial_octets,
    metrics_of,
    noise_chunk,
    params,
    phase_ms,
    port_fractions,
)
from simulators.world import SimDevice, SimPort, Span, World

COLLECTOR = "_network"
"""Link (connection) key and credentials scope of the network collector."""
U64 = 2**64


@dataclass(frozen=True, slots=True)
class Note:
    """What a message means to the platform, for the ground truth (SPEC definitions)."""

    subject: str
    """partner/device, or switch/port for counters."""
    kind: str
    """telemetry, status or counters."""
    partner: str
    times: tuple[int, ...]
    """Timestamps the payload carries (device clock; a SenML batch has several)."""
    online: bool = False
    octets: tuple[int, int] = (0, 0)
    up: bool = True
    reject: str | None = None
    """The reason the ingest rejects it with, or None when it is valid."""
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Publish:
    t_ms: int
    link: str
    topic: str
    payload: bytes
    retain: bool
    note: Note


@dataclass(frozen=True, slots=True)
class Connect:
    t_ms: int
    link: str
    scope: str
    will: tuple[str, bytes] | None
    """Retained QoS 1 Last Will (topic, payload) the broker publishes on an unclean drop."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    t_ms: int
    link: str
    clean: bool
    will: Publish | None
    """For an unclean drop: the message the broker publishes for the device (its Last Will)."""


Action = Publish | Connect | Disconnect


def plan(world: World, batch: int = 1) -> Iterator[Action]:
    """Every action of the run in time order; endless when the scenario has no duration.

    `batch` > 1 packs that many consecutive samples of a device into one SenML message sent
    at the last one's time: fewer, larger messages for a fast backfill.
    """
    streams: list[Iterator[Action]] = []
    if world.ports:
        streams.append(iter([Connect(world.start_ms, COLLECTOR, COLLECTOR, None)]))
    streams.extend(_device_stream(world, dev, batch) for dev in world.devices)
    streams.extend(_port_stream(world, port) for port in world.ports)
    return heapq.merge(*streams, key=_time)


def _time(action: Action) -> int:
    return action.t_ms


def messages_of(action: Action) -> Publish | None:
    """What reaches subscribers for an action: a publish, a fired Last Will, or nothing."""
    if isinstance(action, Publish):
        return action
    if isinstance(action, Disconnect):
        return action.will
    return None


def _first_sample(start_ms: int, phase: int, interval: int) -> int:
    return max(0, math.ceil((start_ms - phase) / interval))


def _inside(spans: list[Span], t: int) -> Span | None:
    i = bisect.bisect_right(spans, (t, U64)) - 1
    if i >= 0 and spans[i][0] <= t < spans[i][1]:
        return spans[i]
    return None


def _device_stream(world: World, dev: SimDevice, batch: int) -> Iterator[Action]:
    seed, root = world.scenario.seed, world.root
    start = world.start_ms
    end = world.end_ms if world.end_ms is not None else 2**62
    faults = world.device_faults[dev.key]
    interval, h = dev.interval_ms, dev.hash
    phase = phase_ms(seed, h, interval)
    p = params(seed, h)
    metrics = metrics_of(dev.kind)
    status_topic = f"{root}/{dev.partner}/{dev.id}/status"
    telemetry_topic = f"{root}/{dev.partner}/{dev.id}/telemetry"
    outages = [o for o in faults.outages if o[1] > start]
    skew_spans = [(a, b) for a, b, _ in faults.skews]
    skews = {(a, b): s for a, b, s in faults.skews}
    senml = dev.senml or batch > 1
    warmup = 2000 + h % 3000

    def clock(t: int) -> int:
        span = _inside(skew_spans, t)
        return t + skews[span] if span else t

    def status(t: int, online: bool) -> Publish:
        tc = clock(t)
        note = Note(dev.key, "status", dev.partner, (tc,), online=online)
        return Publish(
            t, dev.key, status_topic, payloads.status(online, tc, dev.ts_style), True, note
        )

    def connect(t: int) -> Iterator[Action]:
        nxt = next(((a, clean) for a, _, clean in outages if a > t), None)
        # The will carries the planned drop time when one is planned, so it lands right in
        # accelerated and backfill runs; otherwise plain `offline`, stamped on receipt.
        will = b"offline"
        if nxt is not None and not nxt[1]:
            will = payloads.status(False, clock(nxt[0]), dev.ts_style)
        yield Connect(t, dev.key, dev.partner, (status_topic, will))
        yield status(t, True)
        # Devices report a reading a few seconds after they (re)connect (sensor warm-up), then
        # keep to their grid — unless a grid sample, an outage or the end comes first.
        boot = t + warmup
        next_grid = phase + math.ceil((t - phase) / interval) * interval
        next_outage = next((a for a, _, _ in outages if a > t), end)
        quiet = _inside(faults.silences, boot) is None
        if quiet and next_grid > boot + 1000 and min(next_outage, end) > boot + 1000:
            z = np.random.default_rng([seed, h, 2, boot]).standard_normal((1, 4))
            times = np.array([boot], dtype=np.int64)
            cols = device_values(dev.kind, times, z, p, interval / 1000)
            yield from telemetry([(boot, tuple(float(c[0]) for c in cols))], False)

    def telemetry(samples: list[tuple[int, tuple[float, ...]]], dup: bool) -> Iterator[Publish]:
        t_send = samples[-1][0]
        stamped = [(clock(t), values) for t, values in samples]
        if senml:
            payload = payloads.telemetry_senml(dev.id, metrics, stamped)
        else:
            payload = payloads.telemetry_json(stamped[0][0], dev.ts_style, metrics, stamped[0][1])
        note = Note(dev.key, "telemetry", dev.partner, tuple(t for t, _ in stamped))
        msg = Publish(t_send, dev.key, telemetry_topic, payload, False, note)
        yield msg
        if dup:
            yield Publish(t_send, dev.key, telemetry_topic, payload, False, _dup(note))

    malformed = 0
    down_until: int | None = None
    if outages and outages[0][0] <= start:
        down_until = outages.pop(0)[1]
    else:
        yield from connect(start)
    pending: list[tuple[int, tuple[float, ...]]] = []
    n = _first_sample(start, phase, interval)
    while True:
        chunk = n // CHUNK
        z, dice = noise_chunk(seed, h, chunk)
        times = phase + (chunk * CHUNK + np.arange(CHUNK, dtype=np.int64)) * interval
        cols = [c.tolist() for c in device_values(dev.kind, times, z, p, interval / 1000)]
        t_list = times.tolist()
        for j in range(n - chunk * CHUNK, CHUNK):
            t = t_list[j]
            limit = min(t, end - 1)  # connection changes up to this sample, within the run
            if down_until is not None and down_until <= limit:
                yield from connect(down_until)
                down_until = None
            while outages and outages[0][0] <= limit:
                if pending:
                    yield from telemetry(pending, False)
                    pending = []
                a, b, clean = outages.pop(0)
                if clean:
                    yield status(a, False)
                yield Disconnect(a, dev.key, clean, None if clean else _will(status(a, False)))
                if b <= limit:
                    yield from connect(b)
                else:
                    down_until = b
            if t >= end:
                if pending:
                    yield from telemetry(pending, False)
                return
            if down_until is not None or _inside(faults.silences, t):
                continue
            values = tuple(col[j] for col in cols)
            roll = dice[j]
            if roll[1] < faults.malformed_fraction:
                if pending:
                    yield from telemetry(pending, False)
                    pending = []
                reason = faults.malformed_reasons[malformed % len(faults.malformed_reasons)]
                malformed += 1
                topic, payload = payloads.malformed_device(
                    reason, root, dev, clock(t), metrics[0].name
                )
                note = Note(dev.key, "telemetry", dev.partner, (clock(t),), reject=reason)
                yield Publish(t, dev.key, topic, payload, False, note)
                continue
            pending.append((t, values))
            if len(pending) >= batch:
                yield from telemetry(pending, roll[0] < faults.duplicate_fraction)
                pending = []
        n = (chunk + 1) * CHUNK


def _will(msg: Publish) -> Publish:
    return Publish(msg.t_ms, msg.link, msg.topic, msg.payload, True, msg.note)


def _dup(note: Note) -> Note:
    return replace(note, duplicate=True)


def _covered(spans: list[Span], lo: int, hi: int) -> int:
    """Milliseconds of (lo, hi] inside the sorted, disjoint spans."""
    total = 0
    i = max(0, bisect.bisect_right(spans, (lo, U64)) - 1)
    while i < len(spans) and spans[i][0] < hi:
        a, b = spans[i]
        total += max(0, min(b, hi) - max(a, lo))
        i += 1
    return total


def _port_stream(world: World, port: SimPort) -> Iterator[Publish]:
    seed, root = world.scenario.seed, world.root
    start = world.start_ms
    end = world.end_ms if world.end_ms is not None else 2**62
    faults = world.port_faults[port.key]
    interval, h = port.interval_ms, port.hash
    phase = phase_ms(seed, h, interval)
    p = params(seed, h)
    topic = f"{root}/_network/{port.switch}/{port.port}/counters"
    bytes_per_ms = port.capacity_mbps * 1e6 / 8 / 1000
    c_in, c_out = initial_octets(seed, h)
    prev: int | None = None
    malformed = 0
    n = _first_sample(start, phase, interval)
    while True:
        chunk = n // CHUNK
        z, dice = noise_chunk(seed, h, chunk)
        times = phase + (chunk * CHUNK + np.arange(CHUNK, dtype=np.int64)) * interval
        f_in, f_out = (f.tolist() for f in port_fractions(times, z, p))
        t_list = times.tolist()
        for j in range(n - chunk * CHUNK, CHUNK):
            t = t_list[j]
            if t >= end:
                return
            if prev is not None:
                since = prev
                i = bisect.bisect_right(faults.resets, t) - 1
                if i >= 0 and faults.resets[i] > prev:
                    since = faults.resets[i]  # rebooted: counting starts again from zero
                    c_in = c_out = 0
                carrying = (t - since) - _covered(faults.downs, since, t)
                # floor(share · capacity · time): never above the port's capacity
                c_in = (c_in + int(f_in[j] * bytes_per_ms * carrying)) % U64
                c_out = (c_out + int(f_out[j] * bytes_per_ms * carrying)) % U64
            prev = t
            up = _inside(faults.downs, t) is None
            roll = dice[j]
            if roll[1] < faults.malformed_fraction:
                reason = faults.malformed_reasons[malformed % len(faults.malformed_reasons)]
                malformed += 1
                bad_topic, payload = payloads.malformed_port(reason, root, port, t)
                note = Note(port.key, "counters", COLLECTOR, (t,), reject=reason)
                yield Publish(t, COLLECTOR, bad_topic, payload, False, note)
                continue
            note = Note(port.key, "counters", COLLECTOR, (t,), octets=(c_in, c_out), up=up)
            msg = Publish(t, COLLECTOR, topic, payloads.counters(t, c_in, c_out, up), False, note)
            yield msg
            if roll[0] < faults.duplicate_fraction:
                yield Publish(t, COLLECTOR, topic, msg.payload, False, _dup(note))
        n = (chunk + 1) * CHUNK
