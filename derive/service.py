"""`mainport derive`: the deriver as a process: schema first, then follow the markers until
SIGTERM/SIGINT (derive/deriver.py does the work)."""

from __future__ import annotations

import logging
import threading
import time

from controlplane.live import open_registry
from core.outage import Outage
from core.processes import stop_on_signals
from core.settings import Settings
from derive.deriver import Deriver
from derive.erasure_job import ErasingDeriver
from derive.retention import run_retention
from timeseries.client import InfluxClient, StoreError
from timeseries.schema import ensure_schema

log = logging.getLogger(__name__)
RETENTION_EVERY_S = 3600.0
"""Retention rounds: hourly; a point outlives its partner's retention by an hour at most."""


def run_deriver(settings: Settings, rebuild: bool = False) -> int:
    """`mainport derive`: follow the markers until SIGTERM/SIGINT; with `rebuild`, first
    derive everything again from raw data."""
    # Recomputing a long stretch reads more than a batch write: a longer timeout.
    login = settings.influx_login("deriver")
    login["timeout_s"] = max(login["timeout_s"], 60.0)
    client = InfluxClient(settings.influx_url, settings.influx_db, **login)
    stop = stop_on_signals(log)
    waiting = Outage("InfluxDB (deriver start-up)", log)
    while not stop.is_set():  # the schema first: the deriver may start before InfluxDB answers
        try:
            ensure_schema(client, settings.influx_raw_retention)
            waiting.ok("schema in place")
            break
        except StoreError as exc:
            waiting.failed(exc, "trying again every 2 s")
            stop.wait(2.0)
    engine, source = open_registry(settings)  # live: a changed interval needs no rebuild
    deriver = ErasingDeriver(  # issue 17: a Deriver that also carries out erasures
        client,
        source,
        grace_factor=settings.grace_factor,
        lag_s=settings.derive_lag_s,
        control_db=engine,
        data_dir=settings.data_dir,
        dead_letter_dir=settings.dead_letter_dir,
        spool_dir=settings.spool_dir,
    )
    if rebuild:
        started = time.monotonic()
        count = deriver.rebuild()
        log.info(
            "rebuilt the derived records of %d subjects in %.0f s",
            count,
            time.monotonic() - started,
        )
    retention = _start_retention(settings, deriver, stop)  # issue 17: retention per partner
    log.info("deriver started (cursor lag %.0f s)", settings.derive_lag_s)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    beat = settings.data_dir / "derive.alive"
    deriver.run(stop, poll_s=settings.derive_poll_s, heartbeat=beat)
    retention.join()
    client.close()
    source.stop()
    engine.dispose()
    log.info("deriver stopped")
    return 0


def _start_retention(
    settings: Settings, deriver: Deriver, stop: threading.Event
) -> threading.Thread:
    """Retention per partner in a thread of its own, with its own InfluxDB client (a DELETE
    may take a while; the deriver's steps do not wait for it)."""
    login = settings.influx_login("deriver")
    login["timeout_s"] = max(login["timeout_s"], 300.0)

    def run() -> None:
        client = InfluxClient(settings.influx_url, settings.influx_db, **login)
        try:
            run_retention(
                client,
                lambda: deriver.source.current().registry,
                stop,
                every_s=RETENTION_EVERY_S,
                now_ns=time.time_ns,
            )
        finally:
            client.close()

    thread = threading.Thread(target=run, name="retention", daemon=True)
    thread.start()
    return thread
