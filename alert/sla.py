"""SLA alerts: a partner's device uptime this month (SPEC, time-weighted over its devices,
unknown time taken out) below its `sla_target_pct`, or its downtime budget for the month
nearly spent. Read once a minute — a month's figure moves slowly — from the same derived
records the report uses (silences and held-down runs since the month's start)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.alerts import Condition, LiveState, Unknown, sla_condition
from domain.intervals import Interval
from domain.registry import Partner
from domain.spans import Held, Silence
from domain.timestamps import NS_PER_S
from domain.uptime import Availability, availability_from_spans, datetime_ns, timeout_ns
from timeseries import derived
from timeseries.client import InfluxClient, Statements
from timeseries.schema import DERIVED_RP

_WHERE = '"kind" = \'device\' AND "partner" = $p'


@dataclass(frozen=True, slots=True)
class Month:
    start_ns: int
    end_ns: int


def month_of(now_ns: int) -> Month:
    now = datetime.fromtimestamp(now_ns / NS_PER_S, UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return Month(datetime_ns(start), datetime_ns(end))


def read_month(
    client: InfluxClient, partner: str, month: Month
) -> tuple[dict[str, list[Silence]], dict[str, list[Held]]]:
    q = Statements()
    silences = q.add(
        f'SELECT "{derived.SINCE}", "subject" FROM "{DERIVED_RP}"."{derived.SILENCE}" '
        f"WHERE {_WHERE} AND time > $s",
        p=partner,
        s=month.start_ns,
    )
    runs = q.add(
        f'SELECT "{derived.UNTIL}", "subject" FROM "{DERIVED_RP}"."{derived.HELD}" '
        f"WHERE {_WHERE} AND time >= $s",
        p=partner,
        s=month.start_ns,
    )
    before = q.add(
        f'SELECT last("{derived.UNTIL}") FROM "{DERIVED_RP}"."{derived.HELD}" '
        f'WHERE {_WHERE} AND time < $s GROUP BY "subject"',
        p=partner,
        s=month.start_ns,
    )
    res = q.run(client)
    quiet: dict[str, list[Silence]] = defaultdict(list)
    for series in res[silences]:
        for t, since, subject in series.values:
            found = derived.silence_of(int(t), int(since))
            if found is not None:
                quiet[subject].append(found)
    held: dict[str, list[Held]] = defaultdict(list)
    for series in res[runs]:
        for t, until, subject in series.values:
            run = derived.held_of(int(t), int(until))
            if run is not None:
                held[subject].append(run)
    for series in res[before]:
        for t, until in series.values:
            run = derived.held_of(int(t), int(until))
            if run is not None:
                held[series.tags.get("subject", "")].append(run)
    return quiet, held


def partner_sla(
    partner: Partner,
    devices: dict[str, LiveState],
    silences: dict[str, list[Silence]],
    held: dict[str, list[Held]],
    *,
    unknown: list[Unknown],
    month: Month,
    now_ns: int,
    grace_factor: float,
    at_risk_s: float,
) -> Condition | None:
    """The SLA condition of one partner now (domain/alerts.py: `sla_condition`)."""
    if partner.sla_target_pct is None:
        return None
    gaps = [Interval(u.start_ns, u.end_ns) for u in unknown if u.end_ns > u.start_ns]
    figures: list[Availability] = []
    for device in partner.devices:
        state = devices.get(device.id)
        if state is None or state.first_ns is None:
            continue
        figures.append(
            availability_from_spans(
                first_ns=state.first_ns, last_reset_ns=state.last_ns,
                silences=silences.get(device.id, ()), held=held.get(device.id, ()),
                timeout_ns=timeout_ns(device.interval_s, grace_factor),
                start_ns=month.start_ns, end_ns=month.end_ns, now_ns=now_ns, unknown=gaps,
            )
        )  # fmt: skip
    known = sum(a.known_ns for a in figures)
    if known <= 0:
        return None
    down = sum(a.downtime_ns for a in figures)
    uptime = 100 * (known - down) / known
    # The month's whole known time, if every monitored device stays monitored to its end.
    projected = known + max(0, month.end_ns - now_ns) * len(figures)
    allowed = (1 - partner.sla_target_pct / 100) * projected
    budget_left_s = (allowed - down) / NS_PER_S
    return sla_condition(partner, uptime, budget_left_s, at_risk_s=at_risk_s)
