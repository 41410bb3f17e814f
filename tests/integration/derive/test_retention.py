"""Retention per partner against a real InfluxDB 1.6: a partner with its own retention loses
its raw points older than that, in every raw measurement, with bound parameters; another
partner's points, newer points and the derived records stay."""

from __future__ import annotations

import threading
import time

from derive.retention import DAY_NS, PARTNER_MEASUREMENTS, enforce, run_retention
from domain.registry import Registry
from timeseries.client import InfluxClient
from timeseries.schema import DERIVED_RP

SHORT, DEFAULT = "p-short", "p-default"


def _registry() -> Registry:
    """Two partners, the first with a 62-day retention."""
    return Registry.model_validate(
        {
            "partners": [
                {"id": SHORT, "name": "Short", "retention_days": 62},
                {"id": DEFAULT, "name": "Default"},
            ]
        }
    )


def _count(client: InfluxClient, measurement: str, partner: str, rp: str = "raw") -> int:
    series = client.query(
        f'SELECT count(*) FROM "{rp}"."{measurement}" WHERE "partner" = $p',  # noqa: S608
        {"p": partner},
    )[0]
    return max((v for s in series for v in s.values[0][1:] if v is not None), default=0)


def test_old_raw_points_of_a_partner_with_its_own_retention_are_deleted(
    influx_db: InfluxClient,
) -> None:
    now = time.time_ns()
    old, recent = now - 70 * DAY_NS, now - 10 * DAY_NS
    fields = {
        "telemetry": ",device=d1 pm25=1",
        "status": ",device=d1 online=1i",
        "messages": ",device=d1,type=telemetry bytes=10i",
        "counters": ",switch=s1,port=p1 in_octets=5i",
        "rejected": ",reason=malformed_json bytes=3i",
    }
    lines = [
        f"{m},partner={p}{f} {t}"
        for m, f in fields.items()
        for p in (SHORT, DEFAULT)
        for t in (old, recent)
    ]
    influx_db.write("\n".join(lines).encode())
    influx_db.write(f"activity,partner={SHORT},device=d1 messages=1i {old}".encode(), rp=DERIVED_RP)
    applied = enforce(influx_db, _registry(), now)
    assert [(c.partner, c.before_ns) for c in applied] == [(SHORT, now - 62 * DAY_NS)]
    for measurement in PARTNER_MEASUREMENTS:
        assert _count(influx_db, measurement, SHORT) == 1, measurement  # the recent one
        assert _count(influx_db, measurement, DEFAULT) == 2, measurement
    assert _count(influx_db, "activity", SHORT, DERIVED_RP) == 1  # derived records stay


def test_the_loop_runs_a_round_at_once_and_stops(
    influx_db: InfluxClient,
) -> None:
    now = time.time_ns()
    influx_db.write(f"telemetry,partner={SHORT},device=d1 pm25=1 {now - 100 * DAY_NS}".encode())
    stop = threading.Event()
    rounds: list[int] = []

    def now_ns() -> int:
        rounds.append(1)
        if len(rounds) == 2:
            stop.set()
        return now

    run_retention(influx_db, lambda: _registry(), stop, every_s=0.01, now_ns=now_ns)
    assert _count(influx_db, "telemetry", SHORT) == 0
