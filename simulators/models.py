"""Signal models per device kind: plausible values from a seeded generator, no I/O.

Deterministic: the same (seed, device, time) always gives the same value.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

DAY_S = 86_400.0
M2_TIDE_S = 12.42 * 3600  # principal lunar semidiurnal tide: Dordrecht's rivers are tidal


def _rng(seed: int, device: str, t: float) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(device.encode()), int(t)])


def _daily(t: float, peak_hour: float) -> float:
    """1 at the peak hour, -1 twelve hours away."""
    return math.cos(2 * math.pi * ((t % DAY_S) / 3600 - peak_hour) / 24)


def _rush(t: float) -> float:
    hour = (t % DAY_S) / 3600
    return math.exp(-(((hour - 8.0) / 1.2) ** 2)) + math.exp(-(((hour - 17.5) / 1.5) ** 2))


def metrics_for(kind: str, device: str, t: float, seed: int) -> dict[str, float]:
    """One telemetry sample of a device of `kind` at epoch seconds `t`."""
    return {name: float(value) for name, value in _sample(kind, device, t, seed).items()}


def _sample(kind: str, device: str, t: float, seed: int) -> dict[str, float]:
    noise = [float(x) for x in _rng(seed, device, t).normal(size=3)]
    if kind == "air-quality":
        return {
            "pm25": round(max(0.0, 8 + 10 * _rush(t) + 1.5 * noise[0]), 2),
            "no2": round(max(0.0, 15 + 25 * _rush(t) + 3 * noise[1]), 2),
        }
    if kind == "temperature":
        return {
            "temperature": round(11 + 4 * _daily(t, 15) + 0.2 * noise[0], 2),
            "humidity": round(min(100.0, 80 - 10 * _daily(t, 15) + noise[1]), 1),
        }
    if kind == "water-level":
        return {"level_m": round(0.9 * math.sin(2 * math.pi * t / M2_TIDE_S) + 0.02 * noise[0], 3)}
    if kind == "energy-meter":
        # Cumulative kWh from a ~5 kW average load: monotonic in t, so replays stay consistent.
        return {"energy_kwh": round(t / 3600 * 5.0 % 1e6, 3), "power_kw": round(5 + noise[0], 2)}
    if kind in ("footfall", "occupancy"):
        base = 120 if kind == "footfall" else 60
        return {"count": float(max(0, round(base * (0.2 + _rush(t)) + 5 * noise[0])))}
    if kind == "noise":
        return {"laeq_db": round(45 + 12 * _rush(t) + 2 * noise[0], 1)}
    if kind == "vibration":
        return {"ppv_mm_s": round(abs(0.4 + 0.3 * noise[0]), 3)}
    return {"value": round(float(noise[0]), 3)}


def port_rate_fraction(t: float, port: str, seed: int) -> float:
    """Share of capacity in use: an evening-peaked daily profile with bursts, in [0.01, 0.9]."""
    noise = float(_rng(seed, port, t).random())
    burst = 0.3 if noise > 0.97 else 0.0
    return min(0.9, max(0.01, 0.25 + 0.15 * _daily(t, 20.5) + 0.05 * noise + burst))
