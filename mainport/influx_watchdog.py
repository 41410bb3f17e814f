"""`mainport up` restarts an InfluxDB that answers but keeps refusing writes.

After its disk filled up, InfluxDB 1.6 may go on answering every write with `500 … error writing
WAL entry … no space left on device` after space has returned; only a restart cures it. A crashed
influxd the supervisor restarts anyway; this notices the stuck one: the ingest reports InfluxDB
down (`mainport_ingest_store_up 0` on its metrics port) while influxd answers its ping and its
disk has room again, for `stuck_after_s`. Restarts are spaced by a doubling backoff, so a cause a
restart cannot cure (a wrong password, say) costs one restart per backoff, not a restart loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.files import free_bytes
from core.ingest_probe import store_up

STUCK_AFTER_S = 30.0
FIRST_BACKOFF_S = 60.0
MAX_BACKOFF_S = 900.0
HEALTHY_RESETS_S = 300.0
"""Writes taken for this long: the next stuck spell starts from the first backoff again."""


@dataclass
class Observation:
    writes_ok: bool | None  # the ingest's view; None: no ingest to ask
    pings: bool
    free_bytes: int | None


@dataclass
class InfluxWatchdog:
    """Decides when to restart; `observe` is fed every few seconds by the supervisor."""

    min_free_bytes: int
    stuck_after_s: float = STUCK_AFTER_S
    clock: Callable[[], float] = time.monotonic
    restarts: int = 0
    _refusing_since: float | None = None
    _healthy_since: float | None = None
    _not_before: float = 0.0
    reason: str = field(default="")

    def observe(self, seen: Observation) -> bool:
        """True when influxd should be restarted now (then `reason` says why)."""
        now = self.clock()
        if seen.writes_ok is not False:
            self._refusing_since = None
            if self._healthy_since is None:
                self._healthy_since = now
            if now - self._healthy_since >= HEALTHY_RESETS_S:
                self.restarts = 0
            return False
        self._healthy_since = None
        room = seen.free_bytes is None or seen.free_bytes >= self.min_free_bytes
        if not (seen.pings and room):  # down (the supervisor's job) or still full: wait
            self._refusing_since = None
            return False
        if self._refusing_since is None:
            self._refusing_since = now
        stuck_for = now - self._refusing_since
        if stuck_for < self.stuck_after_s or now < self._not_before:
            return False
        self.restarts += 1
        backoff = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (self.restarts - 1))
        self._not_before = now + backoff
        self._refusing_since = None
        self.reason = (
            f"InfluxDB answers but has refused the ingest's writes for {stuck_for:.0f} s with "
            f"room on its disk (restart {self.restarts}; the next no sooner than {backoff:.0f} s)"
        )
        return True


def observe(influx_url: str, metrics_port: int | None, data_dir: Path) -> Observation:
    """What the watchdog needs, each with a short timeout."""
    return Observation(
        writes_ok=_ingest_store_up(metrics_port),
        pings=_pings(influx_url),
        free_bytes=free_bytes(data_dir),
    )


def _ingest_store_up(metrics_port: int | None) -> bool | None:
    if not metrics_port:
        return None
    try:
        resp = httpx.get(f"http://127.0.0.1:{metrics_port}/", timeout=1.0)
        resp.raise_for_status()
    except httpx.HTTPError:
        return None
    return store_up(resp.text)


def _pings(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=1.0).status_code == 204
    except httpx.HTTPError:
        return False
