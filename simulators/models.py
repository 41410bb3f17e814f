"""Signal models per device kind and the traffic of fibre ports: numpy, no I/O, deterministic.

Samples are indexed by their absolute sample number `n` (time = phase + n·interval), and noise
comes in chunks of `CHUNK` samples from a generator seeded by (seed, subject, chunk). So a
value depends only on the seed, the device and the absolute time — never on when a run
started or how far it got — and a whole chunk is computed in one vectorised call, which is
what makes a 30-day backfill cheap. Local time is CET (UTC+1) all year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

CHUNK = 512
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
M2_TIDE_S = 12.42 * 3600  # principal lunar semidiurnal tide: Dordrecht's rivers are tidal
S2_TIDE_S = 12.00 * 3600  # principal solar tide; with M2 it makes the spring-neap cycle
METER_EPOCH_S = 1_577_836_800.0  # 2020-01-01: cumulative meters count from their install
_CET_S = 3600.0

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    decimals: int


METRICS: dict[str, tuple[Metric, ...]] = {
    "temperature": (Metric("temperature", "Cel", 2), Metric("humidity", "%RH", 1)),
    "air-quality": (Metric("pm25", "ug/m3", 1), Metric("no2", "ug/m3", 1)),
    "water-level": (Metric("level_m", "m", 3),),
    "energy-meter": (Metric("energy_kwh", "kWh", 3), Metric("power_kw", "kW", 3)),
    "footfall": (Metric("count", "count", 0),),
    "occupancy": (Metric("occupancy_pct", "%", 1),),
    "noise": (Metric("laeq_db", "dB", 1),),
    "vibration": (Metric("ppv_mm_s", "mm/s", 3),),
}
GENERIC = (Metric("value", "", 3),)


def metrics_of(kind: str) -> tuple[Metric, ...]:
    return METRICS.get(kind, GENERIC)


def phase_ms(seed: int, subject_hash: int, interval_ms: int) -> int:
    """Where in its interval a subject reports: spreads a fleet evenly, stable per seed."""
    return int(np.random.default_rng([seed, subject_hash, 0, 2]).integers(interval_ms))


def params(seed: int, subject_hash: int) -> Floats:
    """Eight uniform [0, 1) constants that make one device differ from its siblings."""
    return np.random.default_rng([seed, subject_hash, 0, 1]).random(8)


def noise_chunk(seed: int, subject_hash: int, chunk: int) -> tuple[Floats, Floats]:
    """(normals (CHUNK, 4), uniforms (CHUNK, 3)) for samples chunk·CHUNK … +CHUNK−1.

    The uniforms are dice for faults: duplicate?, malformed?, and one spare.
    """
    rng = np.random.default_rng([seed, subject_hash, 1, chunk])
    return rng.standard_normal((CHUNK, 4)), rng.random((CHUNK, 3))


def _hour(t: Floats) -> Floats:
    return ((t + _CET_S) % DAY_S) / 3600.0


def _weekday_factor(t: Floats, weekend: float) -> Floats:
    day = np.floor((t + _CET_S) / DAY_S)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return np.where(weekday >= 5, weekend, 1.0)


def _bump(h: Floats, centre: float, width: float) -> Floats:
    return np.exp(-(((h - centre) / width) ** 2))


def _rush(t: Floats) -> Floats:
    h = _hour(t)
    return (_bump(h, 8.0, 1.2) + _bump(h, 17.5, 1.5)) * _weekday_factor(t, 0.4)


def device_values(
    kind: str, t_ms: NDArray[np.int64], z: Floats, p: Floats, interval_s: float
) -> list[Floats]:
    """One array per metric of `metrics_of(kind)`, rounded to the metric's decimals."""
    t = t_ms.astype(np.float64) / 1000.0
    n = len(t)
    z0, z1 = z[:n, 0], z[:n, 1]
    tau = 2 * np.pi
    if kind == "temperature":
        drift = 0.3 * np.sin(tau * t / (DAY_S * (7 + 14 * p[1])) + tau * p[2])
        season = 6.0 * np.sin(tau * (t / DAY_S - 80) / 365.25)
        temp = 9 + 4 * p[0] + 4 * np.cos(tau * (_hour(t) - 15) / 24) + season + drift + 0.15 * z0
        humidity = np.clip(75 - 2.0 * (temp - 11) + 3 * z1, 15, 100)
        cols = [temp, humidity]
    elif kind == "air-quality":
        slow = 3 * np.sin(tau * t / (5 * DAY_S) + tau * p[2])
        pm25 = np.maximum(0.5, 6 + 4 * p[0] + 9 * _rush(t) + slow + 1.5 * z0)
        no2 = np.maximum(1.0, 12 + 8 * p[1] + 22 * _rush(t) + 3 * z1)
        cols = [pm25, no2]
    elif kind == "water-level":
        tide = 0.75 * np.cos(tau * t / M2_TIDE_S + tau * p[1])
        tide += 0.12 * np.cos(tau * t / S2_TIDE_S + tau * p[1])
        river = 0.2 * np.sin(tau * t / (20 * DAY_S) + tau * p[2])
        cols = [0.3 + 0.4 * p[0] + tide + river + 0.01 * z0]
    elif kind == "energy-meter":
        cols = list(_energy(t, p, z0))
    elif kind == "footfall":
        lam = (20 + 60 * p[0]) * (0.05 + _rush(t) + 0.6 * _bump(_hour(t), 12.5, 1.5))
        lam = lam * interval_s / 300
        cols = [np.maximum(0.0, np.round(lam + np.sqrt(lam) * z0))]
    elif kind == "occupancy":
        business = _bump(_hour(t), 13.0, 4.0) * _weekday_factor(t, 0.5)
        cols = [100 * np.clip(0.15 + 0.7 * business + 0.05 * z0, 0, 1)]
    elif kind == "noise":
        night = np.where((_hour(t) < 6) | (_hour(t) >= 23), -4.0, 0.0)
        cols = [40 + 5 * p[0] + 12 * _rush(t) + night + 2 * z0]
    elif kind == "vibration":
        h = _hour(t)
        work = np.where((h >= 7) & (h < 16), 1.0, 0.0) * _weekday_factor(t, 0.0)
        burst = np.where(z1 > 2.3, 2.0, 0.0) * work
        cols = [0.05 + 0.02 * p[0] + work * (0.5 + 0.3 * np.abs(z0)) + burst]
    else:
        cols = [z0.copy()]
    return [np.round(col, m.decimals) for col, m in zip(cols, metrics_of(kind), strict=True)]


def _energy(t: Floats, p: Floats, z0: Floats) -> tuple[Floats, Floats]:
    """Cumulative kWh as the exact integral of the load profile: monotonic in absolute time,
    whatever window a run covers, so a backfill and a later live run agree."""
    base_kw = 2 + 8 * p[0]
    wd, ww = 2 * np.pi / DAY_S, 2 * np.pi / WEEK_S
    peak = 17 * 3600.0  # 18:00 CET
    phase = 2 * np.pi * p[3]
    power = base_kw * (1 + 0.35 * np.cos(wd * (t - peak)) + 0.1 * np.cos(ww * t + phase))
    integral = (t - METER_EPOCH_S) + 0.35 * np.sin(wd * (t - peak)) / wd
    integral = integral + 0.1 * np.sin(ww * t + phase) / ww
    energy = 1000 * p[1] + base_kw * integral / 3600
    return energy, power * (1 + 0.02 * z0)


def port_fractions(t_ms: NDArray[np.int64], z: Floats, p: Floats) -> tuple[Floats, Floats]:
    """Share of capacity in use (in, out) for the interval ending at each sample.

    A daily profile (business ports peak at 14:00, residential ones at 21:00) with noise and
    short bursts, clipped to [0.5 %, 95 %]: traffic never exceeds the port's capacity.
    """
    t = t_ms.astype(np.float64) / 1000.0
    n = len(t)
    base = 0.05 + 0.2 * p[0]
    peak = 14.0 if p[1] < 0.5 else 21.0
    daily = np.cos(2 * np.pi * (_hour(t) - peak) / 24)
    burst = np.where(z[:n, 1] > 2.0, 0.35 * np.abs(z[:n, 2]), 0.0)
    frac_in = np.clip(base + 0.8 * base * daily + 0.03 * z[:n, 0] + burst, 0.005, 0.95)
    ratio = 0.3 + 0.9 * p[2]
    frac_out = np.clip(frac_in * ratio + 0.02 * z[:n, 3], 0.005, 0.95)
    return frac_in, frac_out


def initial_octets(seed: int, port_hash: int) -> tuple[int, int]:
    """Where a port's 64-bit counters stand when a run begins: beyond 32 bits always, and for
    about a third of ports beyond 2^63 (stored wrapped by InfluxDB 1.x: worth exercising)."""
    rng = np.random.default_rng([seed, port_hash, 0, 3])
    low, high = 2**32, 2**63 + 2**62
    pair = rng.integers(low, high, size=2, dtype=np.uint64)
    return int(pair[0]), int(pair[1])
