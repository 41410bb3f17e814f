"""simulators.models and the pure parts of simulators.network: deterministic, plausible payloads
that the ingest accepts, and counters that grow within the port's capacity."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.messages import Counters, Telemetry, parse_message
from domain.timestamps import seconds_to_ns
from simulators.models import metrics_for, port_rate_fraction
from simulators.network import SimDevice, SimPort, advance_port, telemetry_payload

T = 1_795_000_000.25  # epoch seconds, 2026-11-18
SEED = 7
KINDS = [
    "air-quality",
    "temperature",
    "water-level",
    "energy-meter",
    "footfall",
    "occupancy",
    "noise",
    "vibration",
    "something-new",
]


def device(kind: str = "air-quality", *, senml: bool = False) -> SimDevice:
    return SimDevice("gemeente-dordrecht", "aq-1", kind, 60, senml)


def port(capacity_mbps: float = 1000) -> SimPort:
    return SimPort("dmd-core-1", "xe-0-0-1", capacity_mbps, 60)


def octets(payload: bytes) -> tuple[int, int]:
    doc = orjson.loads(payload)
    return doc["in_octets"], doc["out_octets"]


# --- telemetry ---------------------------------------------------------------------------


@pytest.mark.parametrize("senml", [False, True])
def test_same_inputs_give_the_same_bytes(senml: bool) -> None:
    dev = device(senml=senml)

    assert telemetry_payload(dev, T, SEED) == telemetry_payload(dev, T, SEED)


def test_another_seed_or_device_gives_other_values() -> None:
    base = metrics_for("noise", "n-1", T, SEED)

    assert metrics_for("noise", "n-1", T, SEED + 1) != base
    assert metrics_for("noise", "n-2", T, SEED) != base


@pytest.mark.parametrize("kind", KINDS)
def test_metric_values_are_plain_finite_floats(kind: str) -> None:
    for t in (T, T + 3_600 * 7.5, T + 3_600 * 17.5, T + 86_400 * 200):
        metrics = metrics_for(kind, "dev-1", t, SEED)

        assert metrics
        for value in metrics.values():
            assert type(value) is float
            assert math.isfinite(value)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    t=st.floats(min_value=0, max_value=4e9),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_metric_values_are_finite_for_any_time_and_seed(kind: str, t: float, seed: int) -> None:
    assert all(math.isfinite(v) for v in metrics_for(kind, "dev-1", t, seed).values())


def test_json_payload_is_ts_and_metrics() -> None:
    doc = orjson.loads(telemetry_payload(device("temperature"), T, SEED))

    assert doc == {
        "ts": 1_795_000_000.25,
        "metrics": metrics_for("temperature", "aq-1", T, SEED),
    }
    assert set(doc["metrics"]) == {"temperature", "humidity"}


def test_senml_payload_has_base_name_and_time_on_the_first_record_only() -> None:
    pack = orjson.loads(telemetry_payload(device("air-quality", senml=True), T, SEED))
    metrics = metrics_for("air-quality", "aq-1", T, SEED)

    assert pack == [
        {"bn": "urn:dev:mainport:aq-1:", "bt": 1_795_000_000.25, "n": "pm25", "v": metrics["pm25"]},
        {"n": "no2", "v": metrics["no2"]},
    ]


@pytest.mark.parametrize("senml", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_simulated_telemetry_is_accepted_by_the_ingest(kind: str, senml: bool) -> None:
    payload = telemetry_payload(device(kind, senml=senml), T, SEED)

    msg = parse_message(
        "mainport/gemeente-dordrecht/aq-1/telemetry", payload, seconds_to_ns(T) + 1_000_000
    )

    assert isinstance(msg, Telemetry), msg
    assert msg.ts_ns == seconds_to_ns(T)
    assert msg.metrics == metrics_for(kind, "aq-1", T, SEED)


def test_energy_meter_reading_grows_with_time() -> None:
    readings = [
        metrics_for("energy-meter", "m-1", T + 60 * i, SEED)["energy_kwh"] for i in range(5)
    ]

    assert readings == sorted(readings)
    assert readings[0] < readings[-1]


# --- ports -------------------------------------------------------------------------------


def test_first_sample_of_a_port_starts_at_zero() -> None:
    p = port()

    doc = orjson.loads(advance_port(p, T, SEED))

    assert doc == {"ts": 1_795_000_000.25, "in_octets": 0, "out_octets": 0, "oper_status": "up"}
    assert p.last_t == T


def test_port_counters_are_deterministic() -> None:
    a, b = port(), port()
    for t in (T, T + 60, T + 120):
        assert advance_port(a, t, SEED) == advance_port(b, t, SEED)


def test_port_rate_fraction_stays_between_1_and_90_percent() -> None:
    fractions = [port_rate_fraction(T + 37 * i, "xe-0-0-1:in", SEED) for i in range(2000)]

    assert min(fractions) >= 0.01
    assert max(fractions) <= 0.9


def test_time_going_back_does_not_grow_the_counters() -> None:
    p = port()
    advance_port(p, T, SEED)
    before = octets(advance_port(p, T + 60, SEED))

    assert octets(advance_port(p, T + 30, SEED)) == before
    assert octets(advance_port(p, T + 30, SEED)) == before


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.sampled_from([1.0, 500.0, 1000.0, 10_000.0, 400_000.0]),
    steps=st.lists(st.floats(min_value=0.001, max_value=3_600), min_size=1, max_size=30),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_counters_only_grow_and_never_exceed_the_port_capacity(
    capacity: float, steps: list[float], seed: int
) -> None:
    p = port(capacity)
    t = T
    last = octets(advance_port(p, t, seed))
    for dt in steps:
        t += dt
        now = octets(advance_port(p, t, seed))
        for old, new in zip(last, now, strict=True):
            assert new >= old
            assert new - old <= capacity * 1e6 * dt / 8
        last = now


def test_simulated_counters_are_accepted_by_the_ingest() -> None:
    p = port()
    advance_port(p, T, SEED)
    payload = advance_port(p, T + 60, SEED)

    msg = parse_message(
        "mainport/_network/dmd-core-1/xe-0-0-1/counters", payload, seconds_to_ns(T + 61)
    )

    assert isinstance(msg, Counters), msg
    assert (msg.in_octets, msg.out_octets) == octets(payload)
    assert msg.in_octets > 0
    assert msg.up
