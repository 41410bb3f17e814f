"""One evaluation: read what holds now (alert/reads.py), ask domain/alerts.py what is wrong,
step the lifecycle against the open alerts, persist and queue (alert/store.py).

When InfluxDB cannot be read, nothing about a partner is decided: every open partner alert is
held as it is (a blind evaluator must neither fire nor resolve), and `influxdb_down` fires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from alert import store
from alert.config import AlertSettings
from alert.reads import HEARTBEAT_STALE_S, Observed, read_observed
from alert.sla import month_of, partner_sla, read_month
from alert.store import Receiver
from domain.alerts import (
    Change,
    Condition,
    Evaluation,
    LiveState,
    Open,
    Unknown,
    evaluate_partner,
    partner_unknown,
    platform_condition,
    rejected_condition,
    step,
)
from domain.intervals import Interval
from domain.registry import Partner, Registry
from domain.spans import platform_gaps
from domain.timestamps import NS_PER_S
from timeseries.client import InfluxClient, StoreError

log = logging.getLogger(__name__)
SLA_EVERY_NS = 60 * NS_PER_S
"""A month's uptime moves slowly: its figures are read once a minute."""


class Evaluator:
    def __init__(
        self,
        engine: Engine,
        influx: InfluxClient,
        registry: Callable[[], Registry],
        settings: AlertSettings,
        *,
        grace_factor: float,
        broker_up: Callable[[], bool],
        receivers: Callable[[], list[Receiver]],
    ) -> None:
        self.engine, self.influx, self.registry, self.settings = engine, influx, registry, settings
        self.grace_factor = grace_factor
        self.broker_up = broker_up
        self.receivers = receivers
        self.open: dict[str, Open] | None = None
        self._platform_since: dict[str, int] = {}
        self._sla: dict[str, Condition] = {}
        self._sla_at = 0

    def evaluate(self, now_ns: int) -> Evaluation:
        found = Evaluation()
        flags: dict[str, str] = {}
        if not self.broker_up():
            flags["broker_down"] = "the MQTT broker does not answer"
        try:
            seen = read_observed(self.influx, now_ns, self.settings.rejected_window_s)
        except (StoreError, ValueError) as exc:
            flags["influxdb_down"] = f"InfluxDB cannot be read: {exc}"
            found.waiting.update(k for k, a in (self.open or {}).items() if a.condition.partner)
        else:
            self._partners(seen, now_ns, found)
            if seen.heartbeat_ns is None:
                flags["ingest_down"] = (
                    f"no ingest has reported a broker connection in the last {HEARTBEAT_STALE_S} s"
                )
            lag = seen.derive_lag_s
            if lag is not None and lag > self.settings.derive_lag_max_s:
                flags["derive_lag"] = f"the derived records trail the raw data by {lag:.0f} s"
        for flag in list(self._platform_since):
            if flag not in flags:
                del self._platform_since[flag]
        for flag, detail in flags.items():
            since = self._platform_since.setdefault(flag, now_ns)
            cond = platform_condition(flag, since, f"platform: {detail}")
            found.conditions[cond.key] = cond
        return found

    def _partners(self, seen: Observed, now_ns: int, found: Evaluation) -> None:
        registry = self.registry()
        gaps = [
            Interval(a, b)
            for a, b in platform_gaps(seen.links, now_ns - 24 * 3600 * NS_PER_S, now_ns + 1)
        ]
        by_partner: dict[str, dict[str, LiveState]] = {}
        for (owner, device), state in seen.devices.items():
            by_partner.setdefault(owner, {})[device] = state
        refresh_sla = now_ns - self._sla_at >= SLA_EVERY_NS
        if refresh_sla:
            self._sla, self._sla_at = {}, now_ns
        for partner in registry.partners:
            unknown = partner_unknown(registry, partner.id, gaps)
            if refresh_sla and partner.sla_target_pct is not None:
                self._sla_of(partner, by_partner.get(partner.id, {}), unknown, now_ns)
            if f"sla:{partner.id}" in self._sla:
                found.conditions[f"sla:{partner.id}"] = self._sla[f"sla:{partner.id}"]
            evaluate_partner(
                partner,
                by_partner.get(partner.id, {}),
                seen.ports,
                unknown=unknown,
                now_ns=now_ns,
                alive_ns=seen.alive_ns,
                grace_factor=self.grace_factor,
                out=found,
            )
            cond = rejected_condition(
                partner.id, seen.rejected.get(partner.id, 0), self.settings.rejected_threshold
            )
            if cond is not None:
                found.conditions[cond.key] = cond

    def _sla_of(
        self, partner: Partner, devices: dict[str, LiveState], unknown: list[Unknown], now: int
    ) -> None:
        month = month_of(now)
        try:
            silences, held = read_month(self.influx, partner.id, month)
        except (StoreError, ValueError) as exc:
            log.warning("SLA figures of %s unavailable: %s", partner.id, exc)
            return
        cond = partner_sla(
            partner, devices, silences, held, unknown=unknown, month=month, now_ns=now,
            grace_factor=self.grace_factor, at_risk_s=self.settings.sla_at_risk_s,
        )  # fmt: skip
        if cond is not None:
            self._sla[cond.key] = cond

    def turn(self, now_ns: int | None = None) -> list[Change]:
        """Evaluate, persist the transitions and queue their notifications."""
        now = time.time_ns() if now_ns is None else now_ns
        if self.open is None:
            self.open = store.load_open(self.engine)
        found = self.evaluate(now)
        changes = step(self.open, found, now, int(self.settings.clear_s * NS_PER_S))
        store.apply(self.engine, changes, self.receivers(), now)
        if any(c.action in ("fire", "suppress") for c in changes):
            self.open = store.load_open(self.engine)  # the ids as stored (alert/store.py)
        for change in changes:
            if change.action in ("fire", "suppress"):
                pass
            elif change.action == "resolve":
                self.open.pop(change.alert.key, None)
            else:
                self.open[change.alert.key] = change.alert
            if change.action in ("fire", "resolve", "unsuppress"):
                log.info("alert %s %s: %s", change.action, change.alert.id,
                         change.alert.condition.summary)  # fmt: skip
        return changes
