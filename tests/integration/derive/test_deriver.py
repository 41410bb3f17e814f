"""The deriver against a real InfluxDB: whatever order data arrives in, the derived records end
up exactly what a derivation of the whole raw stream gives."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from derive.deriver import Deriver
from domain.lineprotocol import line
from domain.registry import Registry
from domain.spans import Held, Kind, Silence, derive_spans, sort_events
from domain.timestamps import NS_PER_S
from domain.uptime import timeout_ns
from domain.usage import BUCKET_NS, bucket_octets, port_deltas
from tests.integration.raw_store import Store
from timeseries import derived
from timeseries.client import InfluxClient
from timeseries.integers import as_int64

S = NS_PER_S
BASE = 1_790_000_000 * S  # 2026-09-21
PARTNER = "gemeente-dordrecht"
DEVICE = "aq-001"  # interval 60 s in config/partners.yaml → T = 180 s
SWITCH, PORT = "dmd-core-1", "xe-0-0-1"


@pytest.fixture
def store(influx_db: InfluxClient, tmp_path: Path) -> Iterator[Store]:
    s = Store(influx_db, tmp_path / "spool")
    yield s
    s.writer.stop()


def telemetry(t: int) -> list[str]:
    tags = {"partner": PARTNER, "device": DEVICE}
    return [
        line("telemetry", tags, {"pm10": 1.5}, t),
        line("messages", {**tags, "type": "telemetry"}, {"bytes": 40}, t),
    ]


def status(t: int, online: bool) -> list[str]:
    tags = {"partner": PARTNER, "device": DEVICE}
    return [
        line("status", tags, {"online": int(online)}, t),
        line("messages", {**tags, "type": "status"}, {"bytes": 7}, t),
    ]


def counters(t: int, inb: int, outb: int, up: bool) -> str:
    tags = {"partner": PARTNER, "switch": SWITCH, "port": PORT}
    # stored as ingest/points.py stores unsigned 64-bit counters: wrapped into int64
    fields = {"in_octets": as_int64(inb), "out_octets": as_int64(outb), "up": int(up)}
    return line("counters", tags, fields, t)


ACTIVITY = f'"derived"."{derived.ACTIVITY}"'


def records(client: InfluxClient, measurement: str, field: str, subject: str) -> dict[int, int]:
    q = f'SELECT "{field}" FROM "derived"."{measurement}" WHERE "subject" = $s'  # noqa: S608
    series = client.query(q, {"s": subject})[0]
    return {int(v[0]): int(v[1]) for s in series for v in s.values}


def silences_of(client: InfluxClient, subject: str) -> list[Silence]:
    rows = records(client, derived.SILENCE, derived.SINCE, subject)
    return [Silence(since, until) for until, since in sorted(rows.items()) if since != until]


def held_of(client: InfluxClient, subject: str) -> list[Held]:
    rows = records(client, derived.HELD, derived.UNTIL, subject)
    return [Held(start, until or None) for start, until in sorted(rows.items()) if until != start]


def device_stream() -> tuple[list[int], list[int], list[list[str]]]:
    """Two hours of a 60 s device with silences, an offline run and jitter; per event its
    points."""
    rng = random.Random(7)
    obs, off, points = [], [], []
    t = BASE
    while t < BASE + 2 * 3600 * S:
        t += rng.choice([55, 60, 65, 60, 60, 400, 61]) * S
        if rng.random() < 0.05:
            off.append(t)
            points.append(status(t, online=False))
        else:
            obs.append(t)
            points.append(telemetry(t))
    return obs, off, points


def expected_spans(obs: list[int], off: list[int]) -> tuple[list[Silence], list[Held]]:
    kinds = [Kind.OBSERVATION] * len(obs) + [Kind.OFFLINE] * len(off)
    out = derive_spans(*sort_events([*obs, *off], kinds), timeout_ns(60))
    return out.silences, out.held


def deriver(client: InfluxClient, registry: Registry) -> Deriver:
    return Deriver(client, registry, grace_factor=3.0, lag_s=5.0)


def drain(d: Deriver) -> None:
    while d.step():
        pass


def test_in_order_data_is_derived_exactly(
    influx_db: InfluxClient, store: Store, registry: Registry
) -> None:
    obs, off, points = device_stream()
    d = deriver(influx_db, registry)
    for k in range(0, len(points), 17):  # arrives in many batches, derived as it goes
        store.put([p for pts in points[k : k + 17] for p in pts])
        drain(d)
    silences, held = expected_spans(obs, off)
    assert silences and held
    assert silences_of(influx_db, DEVICE) == silences
    assert held_of(influx_db, DEVICE) == held


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_backfill_and_shuffled_batches_give_the_same_records(
    influx_db: InfluxClient, store: Store, registry: Registry, seed: int
) -> None:
    obs, off, points = device_stream()
    rng = random.Random(seed)
    chunks = [points[k : k + 9] for k in range(0, len(points), 9)]
    rng.shuffle(chunks)
    d = deriver(influx_db, registry)
    for chunk in chunks:
        store.put([p for pts in chunk for p in pts])
        drain(d)
    silences, held = expected_spans(obs, off)
    assert silences_of(influx_db, DEVICE) == silences
    assert held_of(influx_db, DEVICE) == held
    # A restarted deriver resumes from its cursor and its saved state, and agrees.
    late = BASE + 3 * 3600 * S
    store.put(telemetry(late))
    drain(deriver(influx_db, registry))
    assert silences_of(influx_db, DEVICE) == [*silences, Silence(max(obs), late)]


def test_hourly_activity_counts_every_message_in_its_hour(
    influx_db: InfluxClient, store: Store, registry: Registry
) -> None:
    obs, off, points = device_stream()
    store.put([p for pts in points for p in pts])
    drain(deriver(influx_db, registry))
    q = f'SELECT sum("messages"), sum("bytes") FROM {ACTIVITY} WHERE "device" = $d'  # noqa: S608
    total = influx_db.query(q, {"d": DEVICE})[0][0].values[0]
    assert total[1:] == [len(obs) + len(off), 40 * len(obs) + 7 * len(off)]


def test_port_traffic_and_link_records_match_the_whole_stream(
    influx_db: InfluxClient, store: Store, registry: Registry
) -> None:
    rng = random.Random(11)
    times, ins, outs, ups = [], [], [], []
    t, i, o = BASE, 2**64 - 10**9, 10**6
    for k in range(400):
        t += rng.choice([60, 60, 59, 61, 300]) * S
        if k == 100:
            i = 5  # counter reset
        elif k == 200:
            i += 10**13  # glitch: far above 1000 Mbit/s
        else:
            i = (i + rng.randrange(10**8)) % 2**64
        o += rng.randrange(10**7)
        times.append(t)
        ins.append(i)
        outs.append(o)
        ups.append(not 150 <= k < 160)
    lines = [counters(*row) for row in zip(times, ins, outs, ups, strict=True)]
    order = list(range(len(lines)))
    rng.shuffle(order)
    d = deriver(influx_db, registry)
    for k in range(0, len(order), 37):
        store.put([lines[j] for j in sorted(order[k : k + 37])])
        drain(d)
    subject = f"{SWITCH}/{PORT}"
    deltas = port_deltas(times, ins, outs, 1000)
    inbound = bucket_octets([deltas.inbound], 0, 2**62)
    outbound = bucket_octets([deltas.outbound], 0, 2**62)
    got_in = {
        t: v
        for t, v in records(influx_db, derived.TRAFFIC, derived.IN_OCTETS, subject).items()
        if v
    }
    stored = records(influx_db, derived.TRAFFIC, derived.DELTAS, subject)
    known = {t for t, n in stored.items() if n > 0}
    assert known == set(inbound.start_ns.tolist())
    assert got_in == {
        t: v for t, v in zip(inbound.start_ns.tolist(), inbound.octets.tolist(), strict=True) if v
    }
    got_out = records(influx_db, derived.TRAFFIC, derived.OUT_OCTETS, subject)
    assert sum(got_out.values()) == int(outbound.octets.sum())
    kinds = [Kind.OBSERVATION if up else Kind.DOWN_SAMPLE for up in ups]
    whole = derive_spans(*sort_events(times, kinds), timeout_ns(60))
    assert silences_of(influx_db, subject) == whole.silences
    assert held_of(influx_db, subject) == whole.held
    assert np.all(np.diff(sorted(known)) % BUCKET_NS == 0)


def test_rebuild_derives_everything_from_raw_data_alone(
    influx_db: InfluxClient, registry: Registry
) -> None:
    """Raw data with no markers at all (markers expired, or written by an old version): a
    rebuild finds the subjects through the raw data and derives them."""
    obs, off, points = device_stream()
    influx_db.write("\n".join(p for pts in points for p in pts).encode())
    d = deriver(influx_db, registry)
    assert d.step() == 0
    assert d.rebuild() == 1
    silences, held = expected_spans(obs, off)
    assert silences_of(influx_db, DEVICE) == silences
    assert held_of(influx_db, DEVICE) == held
    q = f'SELECT sum("messages") FROM {ACTIVITY} WHERE "device" = $d'  # noqa: S608
    assert influx_db.query(q, {"d": DEVICE})[0][0].values[0][1] == len(obs) + len(off)


def test_a_glitch_in_one_direction_leaves_the_other_billed_in_the_buckets(
    influx_db: InfluxClient, store: Store, registry: Registry
) -> None:
    """SPEC: in and out are two counters; a glitch drops only its own direction's delta."""
    t0 = BASE // BUCKET_NS * BUCKET_NS + BUCKET_NS
    rows = [
        (t0 + 10 * S, 0, 0),
        (t0 + 70 * S, 10**13, 1_000),  # in: 10^13 bytes in 60 s, far above 10 Gbit/s
        (t0 + 130 * S, 10**13 + 500, 3_000),
        (t0 + 310 * S, 10**13 + 600, 10**15),  # next bucket: out glitches, in stays
    ]
    store.put([counters(t, i, o, True) for t, i, o in rows])
    drain(deriver(influx_db, registry))
    subject = f"{SWITCH}/{PORT}"
    assert records(influx_db, "traffic", "in_octets", subject) == {t0: 500, t0 + BUCKET_NS: 100}
    assert records(influx_db, "traffic", "out_octets", subject) == {t0: 3_000, t0 + BUCKET_NS: 0}
    assert records(influx_db, "traffic", "deltas", subject) == {t0: 2, t0 + BUCKET_NS: 1}
