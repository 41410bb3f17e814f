"""Is a device online right now? The point-in-time view of the uptime rules in SPEC."""

from __future__ import annotations

from typing import Literal

DeviceState = Literal["online", "offline", "unknown"]


def device_state(
    last_observation_ns: int | None,
    last_offline_ns: int | None,
    now_ns: int,
    timeout_ns: int,
) -> DeviceState:
    """Online when observed within the timeout and not offline since; unknown if never heard of.

    Observations are telemetry and `online` status messages; an `offline` status is an offline
    event that holds until the next observation.
    """
    if last_observation_ns is None:
        return "offline" if last_offline_ns is not None else "unknown"
    if last_offline_ns is not None and last_offline_ns >= last_observation_ns:
        return "offline"
    if now_ns - last_observation_ns > timeout_ns:
        return "offline"
    return "online"
