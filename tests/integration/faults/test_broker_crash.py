"""kill -9 of the broker while it holds a backlog for the ingest's session (the ingest down):
what it had acknowledged since its last save is lost, at most `save_every_changes` messages
(the documented bound, docs/failures.md), and the ingest says so when it comes back: a metric
and a stored event the platform health reads.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx

from access.tokens import OPERATOR, TokenStore
from core.processes import Child, free_port
from domain.registry import Registry
from tests.conftest import control_engine, wait_for
from tests.integration.conftest import stack_env
from tests.integration.faults.conftest import start_api
from tests.integration.ingest.ingest_harness import (
    OwnBroker,
    metric,
    publish_as,
    telemetry,
)
from timeseries.client import InfluxClient

BACKLOG = 6_000
SAVE_EVERY = 2_000
"""A small bound, so the test crosses a few saves with a small backlog."""


def stored_below(influx: InfluxClient, n: int) -> int:
    series = influx.query('SELECT count("seq") FROM "telemetry" WHERE "seq" < $n', {"n": n})[0]
    return int(series[0].values[0][1]) if series else 0


def test_broker_kill_with_backlog_loses_at_most_the_bound_and_reports_it(
    tmp_path: Path,
    registry: Registry,
    influx_db: InfluxClient,
    spawn: Callable[..., Child],
) -> None:
    own = OwnBroker.start(tmp_path, registry, save_every_changes=SAVE_EVERY)
    port = free_port()
    env = stack_env(own.broker, influx_db, tmp_path / "var", MAINPORT_INGEST_METRICS_PORT=str(port))
    try:
        ingest = spawn("ingest", ["ingest"], env)
        wait_for(
            lambda: metric(port, "mainport_ingest_broker_started_seconds") > 0,
            60,
            "the ingest to see the broker's uptime",
        )
        ingest.stop()  # its session stays, and the broker queues for it
        assert publish_as(own.broker, telemetry(range(BACKLOG))) == BACKLOG  # all PUBACKed

        assert own.child is not None and own.child.proc is not None
        own.child.signal(signal.SIGKILL)
        own.child.proc.wait(10)
        own.child.stop()
        own.child = None
        own.restart()
        spawn("ingest-again", ["ingest"], env)

        wait_for(
            lambda: metric(port, "mainport_ingest_broker_restarts_total") >= 1,
            60,
            "the ingest to notice the broker's restart",
        )
        # Later messages follow the survivors in the session's queue: once they are stored,
        # so is everything that survived.
        after = range(BACKLOG, BACKLOG + 100)
        publish_as(own.broker, telemetry(after))
        wait_for(
            lambda: (
                stored_below(influx_db, BACKLOG + 100) - stored_below(influx_db, BACKLOG) == 100
            ),
            60,
            "the messages published after the restart",
        )
        lost = BACKLOG - stored_below(influx_db, BACKLOG)
        print(f"broker kill -9: {lost} of {BACKLOG} acknowledged messages lost")
        assert 0 <= lost <= SAVE_EVERY, f"{lost} acknowledged messages lost"
        # The platform health an operator (and later an alert) reads says so.
        token = TokenStore(control_engine(tmp_path / "var")).issue(OPERATOR)
        _, api = start_api(spawn, env)
        health = httpx.get(
            f"{api}/api/v1/platform", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()
        assert health["broker_restarts_24h"] >= 1
        assert "broker_restarted" in health["warnings"]
    finally:
        own.stop()
