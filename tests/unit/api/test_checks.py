"""Health checks: a hanging check fails instead of hanging the answer; unknown is not failed;
each failing check raises its platform warning."""

from __future__ import annotations

import asyncio

from api.checks import Health, bounded
from api.routes.platform import health_warnings


def test_a_check_that_hangs_gives_its_late_answer() -> None:
    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    assert asyncio.run(bounded(hangs(), 0.05, False)) is False


def test_a_check_that_answers_in_time_gives_its_answer() -> None:
    async def answers() -> bool:
        return True

    assert asyncio.run(bounded(answers(), 5.0, False)) is True


def test_unknown_checks_do_not_fail_readiness() -> None:
    health = Health(
        influxdb=True,
        broker=True,
        influxdb_writes=None,
        disks={"spool": None, "influxdb": None},
    )
    assert health.failed == []
    assert health_warnings(health, restarts=None, lost=None) == []


def test_each_failing_check_and_event_raises_its_warning() -> None:
    health = Health(
        influxdb=True,
        broker=False,
        influxdb_writes=False,
        disks={"spool": False, "influxdb": False},
    )
    assert health.failed == ["broker", "influxdb_writes", "disk_spool", "disk_influxdb"]
    assert health_warnings(health, restarts=1, lost=2) == [
        "influxdb_refusing_writes",
        "broker_down",
        "disk_low_spool",
        "disk_low_influxdb",
        "broker_restarted",
        "broker_session_lost",
    ]


def test_influxdb_down_is_not_also_called_refusing_writes() -> None:
    health = Health(influxdb=False, broker=True, influxdb_writes=False)
    assert health_warnings(health, restarts=0, lost=0) == ["influxdb_down"]
