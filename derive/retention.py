"""Retention per partner: a partner's raw points older than its `retention_days` are deleted.

Why in the deriver: it is the one process that already holds an InfluxDB login allowed to
delete (ALL on the database; InfluxDB 1.x asks WRITE for DELETE, which the API's READ login
lacks), and it reads the registry. Safe with replicas: a DELETE of what is already gone changes
nothing, so two deriver replicas doing the same round at once is harmless (only wasted work).

What is deleted: the raw measurements with a `partner` tag (timeseries/schema.py), `time <
now - retention_days`. InfluxDB 1.6's DELETE takes no retention policy (it deletes in every
policy of the database), which is why only the raw measurements' names are used: the derived
records live under other names (timeseries/derived.py) and are kept, and the billed monthly
figures are frozen in the control plane when a month closes (controlplane/monthly_reports.py),
so an expired raw period never changes a closed month's report. The partner and the time are
bound parameters; the measurement names are this module's constants.

A partner without `retention_days` keeps the platform default: the raw retention policy
(`MAINPORT_INFLUX_RAW_RETENTION`, 400 days) expires its points, as it does everyone's; a
`retention_days` longer than that policy cannot keep points the policy has already dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from domain.registry import Registry
from domain.timestamps import NS_PER_S
from timeseries.client import InfluxClient, StoreError

log = logging.getLogger(__name__)

DAY_NS = 86_400 * NS_PER_S
PARTNER_MEASUREMENTS = ("telemetry", "status", "messages", "counters", "rejected")
"""The raw measurements tagged with `partner` (timeseries/schema.py); none is a derived name."""


@dataclass(frozen=True, slots=True)
class Cutoff:
    partner: str
    before_ns: int


def cutoffs(registry: Registry, now_ns: int) -> list[Cutoff]:
    """Each partner with its own retention, and the time before which its raw points go."""
    return [
        Cutoff(p.id, now_ns - p.retention_days * DAY_NS)
        for p in registry.partners
        if p.retention_days is not None
    ]


def delete_before(client: InfluxClient, cutoff: Cutoff) -> None:
    """One partner's raw points before the cutoff, every raw measurement."""
    for measurement in PARTNER_MEASUREMENTS:
        client.query(
            f'DELETE FROM "{measurement}" WHERE "partner" = $partner AND time < $before',  # noqa: S608
            {"partner": cutoff.partner, "before": cutoff.before_ns},
        )


def enforce(client: InfluxClient, registry: Registry, now_ns: int) -> list[Cutoff]:
    """One round: every partner with its own retention. Returns what it applied."""
    done = cutoffs(registry, now_ns)
    for cutoff in done:
        delete_before(client, cutoff)
    return done


def run_retention(
    client: InfluxClient,
    registry: Callable[[], Registry],
    stop: threading.Event,
    *,
    every_s: float,
    now_ns: Callable[[], int],
) -> None:
    """Rounds every `every_s` until `stop` (the first at once); a failed round is retried at
    the next (InfluxDB down: the points stay a little longer, nothing else)."""
    while not stop.is_set():
        try:
            applied = enforce(client, registry(), now_ns())
            if applied:
                log.info("retention: raw points past the cutoff of %d partners", len(applied))
        except StoreError as exc:
            log.warning("retention round failed, trying again in %.0f s: %s", every_s, exc)
        stop.wait(every_s)
