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


def _inside(spans: list[Span], t_ms: int) -> Span | None:
    """The span of the sorted, disjoint `spans` that holds `t_ms`, if any."""
    at = bisect.bisect_right(spans, (t_ms, U64)) - 1
    if at >= 0 and spans[at][0] <= t_ms < spans[at][1]:
        return spans[at]
    return None


def _device_stream(world: World, dev: SimDevice, batch: int) -> Iterator[Action]:
    """One device's actions: its connection events and its readings, each from their own
    generator, merged by time. At one instant the connection event comes first: a device that
    reconnects at a sample's time sends that sample online."""
    device = _Device(world, dev, batch)
    return heapq.merge(_connections(device), _readings(device), key=_time)


class _Device:
    """One simulated device in one run: what stays fixed, and how its messages look."""

    def __init__(self, world: World, dev: SimDevice, batch: int) -> None:
        self.dev = dev
        self.batch = batch
        self.seed, self.root = world.scenario.seed, world.root
        self.start = world.start_ms
        self.end = world.end_ms if world.end_ms is not None else 2**62
        self.faults = world.device_faults[dev.key]
        self.interval = dev.interval_ms
        self.phase = phase_ms(self.seed, dev.hash, self.interval)
        self.model = params(self.seed, dev.hash)
        self.metrics = metrics_of(dev.kind)
        self.status_topic = f"{self.root}/{dev.partner}/{dev.id}/status"
        self.telemetry_topic = f"{self.root}/{dev.partner}/{dev.id}/telemetry"
        self.outages = [o for o in self.faults.outages if o[1] > self.start]
        """(start, end, clean) of the connection's outages that end after the run starts."""
        self.skew_spans = [(a, b) for a, b, _ in self.faults.skews]
        self.skews = {(a, b): skew for a, b, skew in self.faults.skews}
        self.senml = dev.senml or batch > 1
        self.warmup = 2000 + dev.hash % 3000

    def clock(self, t_ms: int) -> int:
        """The device's own clock at `t_ms` (skewed during a clock-skew fault)."""
        span = _inside(self.skew_spans, t_ms)
        return t_ms + self.skews[span] if span else t_ms

    def status(self, t_ms: int, online: bool) -> Publish:
        dev, stamp = self.dev, self.clock(t_ms)
        note = Note(dev.key, "status", dev.partner, (stamp,), online=online)
        payload = payloads.status(online, stamp, dev.ts_style)
        return Publish(t_ms, dev.key, self.status_topic, payload, True, note)

    def telemetry(self, samples: list[Sample], dup: bool) -> Iterator[Publish]:
        """One message of `samples`, sent at the last one's time (and its duplicate)."""
        dev = self.dev
        sent = samples[-1][0]
        stamped = [(self.clock(t_ms), values) for t_ms, values in samples]
        if self.senml:
            payload = payloads.telemetry_senml(dev.id, self.metrics, stamped)
        else:
            first_ts, first_values = stamped[0]
            payload = payloads.telemetry_json(first_ts, dev.ts_style, self.metrics, first_values)
        note = Note(dev.key, "telemetry", dev.partner, tuple(stamp for stamp, _ in stamped))
        yield Publish(sent, dev.key, self.telemetry_topic, payload, False, note)
        if dup:
            yield Publish(sent, dev.key, self.telemetry_topic, payload, False, _dup(note))

    def connect(self, t_ms: int) -> Iterator[Action]:
        """A (re)connect at `t_ms`: the connect with its Last Will, `online`, and a first
        reading a few seconds later (sensor warm-up) unless its grid, an outage or the end
        comes first."""
        dev = self.dev
        planned = next(((a, clean) for a, _, clean in self.outages if a > t_ms), None)
        # The will carries the planned drop time when one is planned, so it lands right in
        # accelerated and backfill runs; otherwise plain `offline`, stamped on receipt.
        will = b"offline"
        if planned is not None and not planned[1]:
            will = payloads.status(False, self.clock(planned[0]), dev.ts_style)
        yield Connect(t_ms, dev.key, dev.partner, (self.status_topic, will))
        yield self.status(t_ms, True)
        boot = t_ms + self.warmup
        next_grid = self.phase + math.ceil((t_ms - self.phase) / self.interval) * self.interval
        next_outage = next((a for a, _, _ in self.outages if a > t_ms), self.end)
        quiet = _inside(self.faults.silences, boot) is None
        if quiet and next_grid > boot + 1000 and min(next_outage, self.end) > boot + 1000:
            noise = np.random.default_rng([self.seed, dev.hash, 2, boot]).standard_normal((1, 4))
            times = np.array([boot], dtype=np.int64)
            cols = device_values(dev.kind, times, noise, self.model, self.interval / 1000)
            yield from self.telemetry([(boot, tuple(float(col[0]) for col in cols))], False)


Sample = tuple[int, tuple[float, ...]]
"""(time, one value per metric) of one reading."""


def _connections(device: _Device) -> Iterator[Action]:
    """Connect at the start (or at the end of an outage already under way), then for each
    outage before the end: `offline` (clean) or the fired will (unclean) with the disconnect,
    and the reconnect when the outage ends before the end of the run."""
    dev, outages = device.dev, device.outages
    if outages and outages[0][0] <= device.start:
        back, outages = outages[0][1], outages[1:]
        if back < device.end:
            yield from device.connect(back)
    else:
        yield from device.connect(device.start)
    for start, back, clean in outages:
        if start >= device.end:
            return
        if clean:
            yield device.status(start, False)
        will = None if clean else _will(device.status(start, False))
        yield Disconnect(start, dev.key, clean, will)
        if back >= device.end:
            return
        yield from device.connect(back)


def _readings(device: _Device) -> Iterator[Publish]:
    """A reading at every grid time while connected and not silent, `batch` to a message (a
    part-filled one sent before a disconnect, a malformed message or the end), a malformed
    message instead of a reading at the scenario's rate."""
    dev, faults, end = device.dev, device.faults, device.end
    down = [(a, b) for a, b, _ in device.outages]
    drops = [a for a, _, _ in device.outages]
    next_drop = 0
    malformed = 0
    pending: list[Sample] = []
    sample = _first_sample(device.start, device.phase, device.interval)
    while True:
        chunk = sample // CHUNK
        noise, dice = noise_chunk(device.seed, dev.hash, chunk)
        offsets = chunk * CHUNK + np.arange(CHUNK, dtype=np.int64)
        times = device.phase + offsets * device.interval
        interval_s = device.interval / 1000
        cols = [c.tolist() for c in device_values(dev.kind, times, noise, device.model, interval_s)]
        time_list = times.tolist()
        for k in range(sample - chunk * CHUNK, CHUNK):
            t_ms = time_list[k]
            if next_drop < len(drops) and drops[next_drop] <= min(t_ms, end - 1):
                if pending:  # what is pending goes out before the connection drops
                    yield from device.telemetry(pending, False)
                    pending = []
                while next_drop < len(drops) and drops[next_drop] <= min(t_ms, end - 1):
                    next_drop += 1
            if t_ms >= end:
                if pending:
                    yield from device.telemetry(pending, False)
                return
            if _inside(down, t_ms) or _inside(faults.silences, t_ms):
                continue
            roll = dice[k]
            if roll[1] < faults.malformed_fraction:
                if pending:
                    yield from device.telemetry(pending, False)
                    pending = []
                reason = faults.malformed_reasons[malformed % len(faults.malformed_reasons)]
                malformed += 1
                stamp = device.clock(t_ms)
                topic, payload = payloads.malformed_device(
                    reason, device.root, dev, stamp, device.metrics[0].name
                )
                note = Note(dev.key, "telemetry", dev.partner, (stamp,), reject=reason)
                yield Publish(t_ms, dev.key, topic, payload, False, note)
                continue
            pending.append((t_ms, tuple(col[k] for col in cols)))
            if len(pending) >= device.batch:
                yield from device.telemetry(pending, roll[0] < faults.duplicate_fraction)
                pending = []
        sample = (chunk + 1) * CHUNK


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
    interval = port.interval_ms
    phase = phase_ms(seed, port.hash, interval)
    model = params(seed, port.hash)
    topic = f"{root}/_network/{port.switch}/{port.port}/counters"
    bytes_per_ms = port.capacity_mbps * 1e6 / 8 / 1000
    c_in, c_out = initial_octets(seed, port.hash)
    prev: int | None = None
    malformed = 0
    sample = _first_sample(start, phase, interval)
    while True:
        chunk = sample // CHUNK
        noise, dice = noise_chunk(seed, port.hash, chunk)
        times = phase + (chunk * CHUNK + np.arange(CHUNK, dtype=np.int64)) * interval
        f_in, f_out = (share.tolist() for share in port_fractions(times, noise, model))
        time_list = times.tolist()
        for k in range(sample - chunk * CHUNK, CHUNK):
            t_ms = time_list[k]
            if t_ms >= end:
                return
            if prev is not None:
                since = prev
                reset = bisect.bisect_right(faults.resets, t_ms) - 1
                if reset >= 0 and faults.resets[reset] > prev:
                    since = faults.resets[reset]  # rebooted: counting starts again from zero
                    c_in = c_out = 0
                carrying = (t_ms - since) - _covered(faults.downs, since, t_ms)
                # floor(share · capacity · time): never above the port's capacity
                c_in = (c_in + int(f_in[k] * bytes_per_ms * carrying)) % U64
                c_out = (c_out + int(f_out[k] * bytes_per_ms * carrying)) % U64
            prev = t_ms
            up = _inside(faults.downs, t_ms) is None
            roll = dice[k]
            if roll[1] < faults.malformed_fraction:
                reason = faults.malformed_reasons[malformed % len(faults.malformed_reasons)]
                malformed += 1
                bad_topic, payload = payloads.malformed_port(reason, root, port, t_ms)
                note = Note(port.key, "counters", COLLECTOR, (t_ms,), reject=reason)
                yield Publish(t_ms, COLLECTOR, bad_topic, payload, False, note)
                continue
            note = Note(port.key, "counters", COLLECTOR, (t_ms,), octets=(c_in, c_out), up=up)
            payload = payloads.counters(t_ms, c_in, c_out, up)
            msg = Publish(t_ms, COLLECTOR, topic, payload, False, note)
            yield msg
            if roll[0] < faults.duplicate_fraction:
                yield Publish(t_ms, COLLECTOR, topic, msg.payload, False, _dup(note))
        sample = (chunk + 1) * CHUNK
