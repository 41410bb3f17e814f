"""Alert conditions, from the SPEC's own definitions (SPEC "Definitions", "Alerts").

Pure logic: the evaluator (alert/) reads each subject's live state from the derived records
(the deriver's `marks` and open `held` runs) and the registry, and asks here what is wrong now.
The rules are the uptime rules of domain/uptime.py read at the instant `now`:

- a device is *down* since its open offline event (cause `offline`), or since `m + T` when its
  last observation `m` is more than `T` ago (cause `timeout`); a port likewise, from its open
  `down` sample or its silence beyond the port's `T`;
- time is *unknown* during the partner's maintenance windows and the platform's outages: a down
  stretch counts only from the end of the unknown time it started in, so an outage crossing a
  maintenance window fires at the window's end if still down, and nothing fires inside one
  (the suppression is returned, to be recorded);
- *root cause*: a device whose down stretch started while its port was down is not an alert of
  its own: it is named in the port's `link` alert. A device's timeout behind a port that has
  not reported since the device went silent waits for the port (at most the port's own `T`),
  so that a link alert arriving after the first device timeouts still takes them in;
- a timeout counts only when the platform was demonstrably receiving after the deadline
  (`alive_ns`: the deriver has processed everything up to then): a dead ingest never makes
  every device look silent.

Hysteresis (`step`): an alert resolves only after its condition has been absent for
`clear_ns`; a flapping device that comes back and goes down again inside that time continues
the one alert instead of paging again. Why this rule: a flap is the same fault seen twice, and
a page that resolves and re-fires every few seconds trains people to ignore pages; a delay on
the resolve (Alertmanager's `keep_firing_for`) costs nothing on the way in, so the first
failure still pages at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from domain.intervals import Interval, merge_intervals
from domain.registry import Partner, Registry
from domain.uptime import datetime_ns

AlertKind = Literal["device", "link", "sla", "rejected", "platform"]
Severity = Literal["critical", "warning"]
UnknownReason = Literal["maintenance", "platform"]


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the derived records say of one device or port now."""

    first_ns: int | None
    """First observation ever (monitoring starts there); None: never seen, not monitored."""
    last_ns: int | None
    """Last observation (for a port: last sample of either status)."""
    held_since_ns: int | None = None
    """Start of an open offline run (a port: open `down` run)."""


@dataclass(frozen=True, slots=True)
class Unknown:
    """A stretch of unknown time and why."""

    start_ns: int
    end_ns: int
    reason: UnknownReason


@dataclass(frozen=True, slots=True)
class Condition:
    """Something wrong now: one alert if it is not already firing."""

    key: str
    """What the alert is about, stable across evaluations: `device:{partner}/{device}`,
    `link:{partner}/{switch}/{port}`, `sla:{partner}`, `rejected:{partner}`, `platform:{flag}`."""
    kind: AlertKind
    partner: str | None
    subject: str
    cause: str
    severity: Severity
    since_ns: int
    summary: str
    devices: tuple[str, ...] = ()
    port: str | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    """A condition that would fire but for unknown time."""

    condition: Condition
    reason: UnknownReason


@dataclass(slots=True)
class Evaluation:
    conditions: dict[str, Condition] = field(default_factory=dict)
    suppressed: dict[str, Suppression] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    """Keys held back while the root cause is not known yet (the port has not spoken)."""


def down_since(state: LiveState, timeout_ns: int, now_ns: int) -> tuple[int, str] | None:
    """When the current down stretch began and its cause at that instant, or None when up."""
    if state.first_ns is None:
        return None
    starts: list[tuple[int, str]] = []
    if state.held_since_ns is not None:
        starts.append((state.held_since_ns, "offline"))
    if state.last_ns is not None and state.last_ns + timeout_ns < now_ns:
        starts.append((state.last_ns + timeout_ns, "timeout"))
    # At one instant offline beats timeout (domain/uptime.py reads the cause the same way).
    return min(starts, key=lambda s: (s[0], s[1] != "offline")) if starts else None


def counted_since(
    start_ns: int, unknown: Iterable[Unknown], now_ns: int
) -> tuple[int | None, UnknownReason | None]:
    """Where a down stretch `[start, now)` begins to count, unknown time taken out: (start,
    None) when it counts; (None, reason) when `now` itself is unknown (suppressed)."""
    spans = sorted(unknown, key=lambda u: u.start_ns)
    at = start_ns
    for span in spans:
        if span.start_ns <= at < span.end_ns:
            at = span.end_ns
    for span in spans:
        if span.start_ns <= now_ns < span.end_ns:
            return None, span.reason
    return (at, None) if at < now_ns else (None, None)


def partner_unknown(
    registry: Registry, partner_id: str, platform: Iterable[Interval]
) -> list[Unknown]:
    """A partner's unknown time: maintenance windows covering it, the platform's outages."""
    spans = [
        Unknown(_ns(w.start), _ns(w.end), "maintenance")
        for w in registry.maintenance
        if w.covers(partner_id)
    ]
    spans += [Unknown(i.start_ns, i.end_ns, "platform") for i in merge_intervals(platform)]
    return spans


def evaluate_partner(
    partner: Partner,
    devices: Mapping[str, LiveState],
    ports: Mapping[str, LiveState],
    *,
    unknown: list[Unknown],
    now_ns: int,
    alive_ns: int,
    grace_factor: float,
    out: Evaluation,
) -> None:
    """Device and link conditions of one partner into `out`. `devices`/`ports` map the ids
    (a port as `switch/port`) to their live state; subjects missing there are not monitored."""
    port_down: dict[str, int] = {}
    for port in partner.ports:
        name = f"{port.switch}/{port.port}"
        state = ports.get(name)
        if state is None:
            continue
        found = _down(state, _timeout(port.interval_s, grace_factor), now_ns, alive_ns)
        if found is not None:
            port_down[name] = found[0]
    behind: dict[str, list[str]] = {}
    for device in partner.devices:
        state = devices.get(device.id)
        if state is None or state.first_ns is None:
            continue
        link = partner.port_of(device)
        port_name = f"{link.switch}/{link.port}" if link else None
        found = _down(state, _timeout(device.interval_s, grace_factor), now_ns, alive_ns)
        if (
            port_name in port_down
            and (state.last_ns or 0) <= port_down[port_name]
            and (found is None or found[0] >= port_down[port_name])
        ):
            # Not heard from since the link went down, and down (or going to be, at its
            # deadline) while the link is: behind the link alert (SPEC: the port was down at
            # the incident's start; one root cause), listed before its own deadline passes.
            behind.setdefault(port_name, []).append(device.id)
            continue
        if found is None:
            continue
        start, cause = found
        key = f"device:{partner.id}/{device.id}"
        if link is not None and port_name is not None and cause == "timeout":
            port_state = ports.get(port_name)
            port_t = _timeout(link.interval_s, grace_factor)
            if (
                port_state is not None
                and (port_state.last_ns or 0) < start
                and now_ns <= (port_state.last_ns or 0) + port_t
            ):
                out.waiting.add(key)  # the port has not spoken since: wait for its word
                continue
        _add(
            out,
            Condition(
                key=key,
                kind="device",
                partner=partner.id,
                subject=device.id,
                cause=cause,
                severity="warning",
                since_ns=start,
                summary=f"device {device.id} of {partner.id} is down ({cause})",
                devices=(device.id,),
                port=port_name,
            ),
            unknown,
            now_ns,
        )
    for name, start in port_down.items():
        names = tuple(sorted(behind.get(name, [])))
        _add(
            out,
            Condition(
                key=f"link:{partner.id}/{name}",
                kind="link",
                partner=partner.id,
                subject=name,
                cause="link",
                severity="critical",
                since_ns=start,
                summary=f"fibre port {name} of {partner.id} is down"
                + (f"; {len(names)} device(s) behind it: {', '.join(names)}" if names else ""),
                devices=names,
                port=name,
            ),
            unknown,
            now_ns,
        )


def sla_condition(
    partner: Partner, uptime_pct: float | None, budget_left_s: float | None, *, at_risk_s: float
) -> Condition | None:
    """The partner's device uptime this month below its SLA target (critical), or the downtime
    budget left for the month under `at_risk_s` (warning)."""
    target = partner.sla_target_pct
    if target is None or uptime_pct is None:
        return None
    key = f"sla:{partner.id}"
    if uptime_pct < target:
        return Condition(
            key, "sla", partner.id, partner.id, "sla_breached", "critical", 0,
            f"{partner.id}: device uptime this month {uptime_pct:.3f} % is below the SLA "
            f"target {target} %",
        )  # fmt: skip
    if budget_left_s is not None and budget_left_s < at_risk_s:
        return Condition(
            key, "sla", partner.id, partner.id, "sla_at_risk", "warning", 0,
            f"{partner.id}: {budget_left_s:.0f} s of downtime budget left this month "
            f"(SLA target {target} %)",
        )  # fmt: skip
    return None


def rejected_condition(partner_id: str, rejected: int, threshold: int) -> Condition | None:
    """A burst of rejected messages: `rejected` in the evaluator's window at or over the
    threshold."""
    if rejected < threshold:
        return None
    return Condition(
        f"rejected:{partner_id}", "rejected", partner_id, partner_id, "rejected_burst",
        "warning", 0, f"{partner_id}: {rejected} messages rejected in the last minutes",
    )  # fmt: skip


def platform_condition(flag: str, since_ns: int, detail: str) -> Condition:
    """Platform health, for operators only (no partner)."""
    return Condition(f"platform:{flag}", "platform", None, flag, flag, "critical", since_ns, detail)


def _down(state: LiveState, timeout: int, now_ns: int, alive_ns: int) -> tuple[int, str] | None:
    """`down_since`, a timeout counted only once the platform was receiving past its deadline
    (until then only an offline event can make it down). The evaluator's hot path: no
    allocation for a subject that is up."""
    if state.first_ns is None:
        return None
    deadline = None if state.last_ns is None else state.last_ns + timeout
    if deadline is not None and (deadline >= now_ns or deadline > alive_ns):
        deadline = None
    held = state.held_since_ns
    if held is None:
        return None if deadline is None else (deadline, "timeout")
    if deadline is None or held <= deadline:
        return (held, "offline")
    return (deadline, "timeout")


def _add(out: Evaluation, condition: Condition, unknown: list[Unknown], now_ns: int) -> None:
    start, reason = counted_since(condition.since_ns, unknown, now_ns)
    if reason is not None:
        out.suppressed[condition.key] = Suppression(condition, reason)
    elif start is not None:
        out.conditions[condition.key] = replace(condition, since_ns=start)


def _timeout(interval_s: float, grace_factor: float) -> int:
    return round(interval_s * grace_factor * 1_000_000_000)


def _ns(moment: datetime) -> int:
    return datetime_ns(moment)


# --- lifecycle ---------------------------------------------------------------------------------

State = Literal["firing", "resolved", "suppressed"]


@dataclass(slots=True)
class Open:
    """An alert not yet resolved, as the evaluator remembers it (persisted)."""

    id: str
    key: str
    state: Literal["firing", "suppressed"]
    condition: Condition
    clear_since_ns: int | None = None
    """When its condition was first seen absent (hysteresis); None while it holds."""


@dataclass(frozen=True, slots=True)
class Change:
    """One transition to persist and, for `fire`/`resolve`, to notify."""

    action: Literal["fire", "resolve", "suppress", "unsuppress", "update", "clearing", "held"]
    alert: Open
    at_ns: int


def alert_id(key: str, since_ns: int) -> str:
    """A stable id for one alert: the same condition starting at the same instant gets the same
    id in any evaluator, after any restart (receivers deduplicate on it)."""
    return hashlib.sha256(f"{key}@{since_ns}".encode()).hexdigest()[:20]


def step(
    open_alerts: Mapping[str, Open], found: Evaluation, now_ns: int, clear_ns: int
) -> list[Change]:
    """The transitions from the open alerts (by key) and what holds now.

    - a condition without an open alert fires (or is recorded suppressed during unknown time);
    - a suppressed record whose condition now counts fires (the window ended, still down);
    - an open alert whose condition is absent starts clearing, and resolves once it has been
      absent for `clear_ns` (hysteresis); a suppressed record resolves at once, never notified;
    - a firing alert whose condition is suppressed now (maintenance began) or waiting stays.
    """
    changes: list[Change] = []
    for key, cond in found.conditions.items():
        was = open_alerts.get(key)
        if was is None:
            cond = _dated(cond, now_ns)
            changes.append(
                Change("fire", Open(alert_id(key, cond.since_ns), key, "firing", cond), now_ns)
            )
        elif was.state == "suppressed":
            changes.append(Change("unsuppress", Open(was.id, key, "firing", cond), now_ns))
        elif was.clear_since_ns is not None or _materially_changed(was.condition, cond):
            kept = replace(cond, since_ns=was.condition.since_ns)
            changes.append(Change("update", Open(was.id, key, "firing", kept), now_ns))
    for key, sup in found.suppressed.items():
        if key not in open_alerts and key not in found.conditions:
            cond = _dated(sup.condition, now_ns)
            changes.append(
                Change(
                    "suppress", Open(alert_id(key, cond.since_ns), key, "suppressed", cond), now_ns
                )
            )
    for key, was in open_alerts.items():
        if key in found.conditions:
            continue
        if key in found.suppressed or key in found.waiting:
            if was.clear_since_ns is not None:
                changes.append(Change("held", replace(was, clear_since_ns=None), now_ns))
            continue
        if was.state == "suppressed":
            changes.append(Change("resolve", was, now_ns))
        elif was.clear_since_ns is None:
            changes.append(Change("clearing", replace(was, clear_since_ns=now_ns), now_ns))
        elif now_ns - was.clear_since_ns >= clear_ns:
            changes.append(Change("resolve", was, was.clear_since_ns))
    return changes


def _dated(cond: Condition, now_ns: int) -> Condition:
    """A condition without a start of its own (an SLA, a burst) starts when it first holds."""
    return cond if cond.since_ns else replace(cond, since_ns=now_ns)


def _materially_changed(old: Condition, new: Condition) -> bool:
    """A link alert's device list grew or shrank: worth an update, not a new page."""
    return old.devices != new.devices
