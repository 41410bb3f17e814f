"""domain.liveness: a device's state now, from its last observation and last offline event."""

from __future__ import annotations

from domain.liveness import device_state

S = 1_000_000_000
NOW = 1_795_000_000 * S
TIMEOUT = 180 * S  # 3 x a 60 s interval


def test_never_seen_device_is_unknown() -> None:
    assert device_state(None, None, NOW, TIMEOUT) == "unknown"


def test_recent_observation_is_online() -> None:
    assert device_state(NOW - 10 * S, None, NOW, TIMEOUT) == "online"


def test_offline_event_after_the_last_observation_is_offline() -> None:
    assert device_state(NOW - 60 * S, NOW - 30 * S, NOW, TIMEOUT) == "offline"


def test_offline_event_at_the_same_instant_as_the_observation_is_offline() -> None:
    assert device_state(NOW - 30 * S, NOW - 30 * S, NOW, TIMEOUT) == "offline"


def test_observation_after_an_offline_event_is_online() -> None:
    assert device_state(NOW - 30 * S, NOW - 60 * S, NOW, TIMEOUT) == "online"


def test_silence_beyond_the_timeout_is_offline() -> None:
    assert device_state(NOW - TIMEOUT - 1, None, NOW, TIMEOUT) == "offline"


def test_silence_of_exactly_the_timeout_is_still_online() -> None:
    assert device_state(NOW - TIMEOUT, None, NOW, TIMEOUT) == "online"


def test_offline_event_without_any_observation_is_offline() -> None:
    assert device_state(None, NOW - 30 * S, NOW, TIMEOUT) == "offline"


def test_observation_after_an_old_offline_event_times_out_like_any_other() -> None:
    assert device_state(NOW - TIMEOUT - S, NOW - 2 * TIMEOUT, NOW, TIMEOUT) == "offline"
