"""When `mainport up` restarts an influxd that answers but keeps refusing writes."""

from __future__ import annotations

from mainport.influx_watchdog import InfluxWatchdog, Observation

ROOM = 10**9
REFUSING = Observation(writes_ok=False, pings=True, free_bytes=ROOM)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(dog: InfluxWatchdog, clock: FakeClock, seen: Observation, seconds: int) -> int:
    restarts = 0
    for _ in range(seconds):
        restarts += dog.observe(seen)
        clock.now += 1
    return restarts


def test_refusing_writes_with_room_restarts_after_the_threshold_then_backs_off() -> None:
    clock = FakeClock()
    dog = InfluxWatchdog(min_free_bytes=1000, stuck_after_s=30, clock=clock)
    assert run(dog, clock, REFUSING, 30) == 0
    assert run(dog, clock, REFUSING, 1) == 1
    assert "refused" in dog.reason
    # The next restart waits out the backoff (60 s), then 120 s...
    assert run(dog, clock, REFUSING, 59) == 0
    assert run(dog, clock, REFUSING, 2) == 1
    assert run(dog, clock, REFUSING, 118) == 0


def test_no_restart_while_the_disk_is_still_full_or_influxd_is_down() -> None:
    clock = FakeClock()
    dog = InfluxWatchdog(min_free_bytes=1000, stuck_after_s=5, clock=clock)
    full = Observation(writes_ok=False, pings=True, free_bytes=10)
    down = Observation(writes_ok=False, pings=False, free_bytes=ROOM)
    assert run(dog, clock, full, 100) == 0
    assert run(dog, clock, down, 100) == 0


def test_no_restart_when_writes_are_taken_or_nobody_can_tell() -> None:
    clock = FakeClock()
    dog = InfluxWatchdog(min_free_bytes=1000, stuck_after_s=5, clock=clock)
    assert run(dog, clock, Observation(True, True, ROOM), 100) == 0
    assert run(dog, clock, Observation(None, True, ROOM), 100) == 0
