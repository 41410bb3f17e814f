"""alert/sla.py: a partner's month uptime against its SLA target, and its budget at risk."""

from __future__ import annotations

from datetime import UTC, datetime

from alert.sla import month_of, partner_sla
from domain.alerts import LiveState
from domain.registry import Device, Partner
from domain.spans import Silence
from domain.uptime import datetime_ns

S = 1_000_000_000
MONTH = month_of(datetime_ns(datetime(2026, 12, 11, tzinfo=UTC)))
NOW = MONTH.start_ns + 10 * 86400 * S
PARTNER = Partner(
    id="acme", name="Acme", sla_target_pct=99.5,
    devices=(Device(id="a", interval_s=60), Device(id="b", interval_s=60)),
)  # fmt: skip
UP = {d: LiveState(MONTH.start_ns, NOW - S) for d in ("a", "b")}


def sla(silences: dict[str, list[Silence]], at_risk_s: float = 0.0) -> str | None:
    found = partner_sla(
        PARTNER, UP, silences, {}, unknown=[], month=MONTH, now_ns=NOW, grace_factor=3,
        at_risk_s=at_risk_s,
    )  # fmt: skip
    return None if found is None else found.cause


def test_month_bounds() -> None:
    assert month_of(datetime_ns(datetime(2026, 12, 31, 23, tzinfo=UTC))).end_ns == datetime_ns(
        datetime(2027, 1, 1, tzinfo=UTC)
    )


def test_below_target_fires_and_a_small_outage_only_puts_the_budget_at_risk() -> None:
    # 20 device-days known; 0.5 % of that is 2.4 h of downtime
    assert sla({}) is None
    three_hours = Silence(NOW - 4 * 3600 * S, NOW - 3600 * S)
    assert sla({"a": [three_hours]}) == "sla_breached"
    one_hour = Silence(NOW - 2 * 3600 * S, NOW - 3600 * S)
    assert sla({"a": [one_hour]}) is None
    # the month's budget if both stay monitored: 0.5 % of 2 × 31 days ≈ 7.4 h; 1 h is spent
    assert sla({"a": [one_hour]}, at_risk_s=7 * 3600) == "sla_at_risk"
