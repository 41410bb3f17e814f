"""simulators.models: plausible, deterministic signals; counters within the port's capacity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.models import (
    CHUNK,
    M2_TIDE_S,
    device_values,
    initial_octets,
    metrics_of,
    noise_chunk,
    params,
    phase_ms,
    port_fractions,
)

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
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


def series(kind: str, start_ms: int, step_s: float, n: int, seed: int = SEED) -> list[np.ndarray]:
    """n samples of one device, the way the plan computes them (chunked noise)."""
    times = start_ms + (np.arange(n, dtype=np.int64) * int(step_s * 1000))
    p = params(seed, 1234)
    out: list[list[float]] = [[] for _ in metrics_of(kind)]
    for lo in range(0, n, CHUNK):
        z, _ = noise_chunk(seed, 1234, lo // CHUNK)
        chunk = times[lo : lo + CHUNK]
        for col, values in zip(out, device_values(kind, chunk, z, p, step_s), strict=True):
            col.extend(values.tolist())
    return [np.array(c) for c in out]


@pytest.mark.parametrize("kind", KINDS)
def test_values_are_finite_and_rounded_to_the_metric_precision(kind: str) -> None:
    cols = series(kind, T0_MS, 60, 2000)

    for col, metric in zip(cols, metrics_of(kind), strict=True):
        assert np.isfinite(col).all()
        assert np.allclose(col, np.round(col, metric.decimals))


def test_same_seed_same_values_other_seed_other_values() -> None:
    a = series("noise", T0_MS, 60, 100)[0]

    assert np.array_equal(a, series("noise", T0_MS, 60, 100)[0])
    assert not np.array_equal(a, series("noise", T0_MS, 60, 100, seed=SEED + 1)[0])


def test_water_level_follows_the_m2_tide() -> None:
    level = series("water-level", T0_MS, 300, 12 * 24 * 6)[0]  # six days, every 5 minutes
    spectrum = np.abs(np.fft.rfft(level - level.mean()))
    freqs = np.fft.rfftfreq(len(level), d=300)

    dominant = freqs[1:][np.argmax(spectrum[1:])]
    assert abs(1 / dominant - M2_TIDE_S) / M2_TIDE_S < 0.05
    assert 1.2 < level.max() - level.min() < 2.5  # a river tide of well over a metre


def test_air_quality_peaks_in_the_weekday_rush_hours() -> None:
    no2 = series("air-quality", T0_MS + 4 * 86_400_000, 60, 1440)[1]  # Monday 2026-01-05, CET
    hourly = no2.reshape(24, 60).mean(axis=1)
    utc_rush = [7, 16]  # 08:00 and 17:00 CET

    assert all(hourly[h] > 1.5 * hourly[2] for h in utc_rush)
    sunday = series("air-quality", T0_MS + 3 * 86_400_000, 60, 1440)[1].reshape(24, 60)
    assert sunday.mean(axis=1)[7] < hourly[7]


def test_energy_meter_is_cumulative_and_matches_its_power() -> None:
    energy, power = series("energy-meter", T0_MS, 60, 3 * 1440)

    assert (np.diff(energy) >= 0).all()
    hours = 3 * 24
    mean_kw = (energy[-1] - energy[0]) / (hours - 1 / 60)
    assert abs(mean_kw - power.mean()) / power.mean() < 0.02


def test_energy_reading_depends_on_the_time_not_on_where_a_run_starts() -> None:
    whole = series("energy-meter", T0_MS, 60, 600)[0]
    times = T0_MS + np.arange(300, 310, dtype=np.int64) * 60_000
    z = np.zeros((10, 4))

    later = device_values("energy-meter", times, z, params(SEED, 1234), 60)[0]
    assert np.allclose(later, whole[300:310], atol=0.002)


def test_temperature_has_a_daily_cycle_peaking_in_the_afternoon() -> None:
    temp = series("temperature", T0_MS, 600, 6 * 24 * 7)[0].reshape(7, 144).mean(axis=0)

    peak_hour_cet = (np.argmax(temp) * 10 / 60 + 1) % 24
    assert 12 <= peak_hour_cet <= 18


def test_phase_spreads_devices_over_their_interval() -> None:
    phases = [phase_ms(SEED, h, 60_000) for h in range(200)]

    assert all(0 <= p < 60_000 for p in phases)
    assert len(set(phases)) > 150


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), chunk=st.integers(0, 10**6), port=st.integers(0, 2**32))
def test_port_traffic_never_exceeds_capacity(seed: int, chunk: int, port: int) -> None:
    times = (chunk * CHUNK + np.arange(CHUNK, dtype=np.int64)) * 60_000
    z, _ = noise_chunk(seed, port, chunk)

    f_in, f_out = port_fractions(times, z, params(seed, port))
    assert (f_in > 0).all() and (f_in <= 0.95).all()
    assert (f_out > 0).all() and (f_out <= 0.95).all()


def test_port_traffic_has_bursts_and_a_daily_profile() -> None:
    times = T0_MS + np.arange(1440 * 7, dtype=np.int64) * 60_000
    z = np.concatenate([noise_chunk(SEED, 99, c)[0] for c in range(len(times) // CHUNK + 1)])
    f_in, _ = port_fractions(times, z[: len(times)], params(SEED, 99))

    hourly = f_in.reshape(7, 24, 60).mean(axis=(0, 2))
    assert hourly.max() > 2 * hourly.min()
    assert np.percentile(f_in, 99.9) > np.percentile(f_in, 50) + 0.2  # bursts


def test_initial_counters_are_64_bit_some_beyond_2_63() -> None:
    values = [v for h in range(60) for v in initial_octets(SEED, h)]

    assert all(2**32 <= v < 2**64 for v in values)
    assert any(v >= 2**63 for v in values)
