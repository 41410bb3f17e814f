"""Erasure requests and frozen monthly reports on both databases: each step of a request once,
with its audit entry and never the data; a frozen month's row written once, the first stands."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controlplane import audit, erasure_requests, monthly_reports
from controlplane.db import open_database
from controlplane.erasure_requests import ErasureRequestError


def test_an_erasure_request_is_confirmed_once_and_done_once(control_db: str) -> None:
    engine = open_database(control_db)
    try:
        rid = erasure_requests.request(engine, "alpha", "d1", "sold", "partner alpha (t1)")
        req = erasure_requests.get(engine, rid)
        assert req is not None and req.state == "requested"
        confirmed = erasure_requests.confirm(engine, rid, "operator (t0)")
        assert confirmed.state == "confirmed"
        with pytest.raises(ErasureRequestError, match="confirmed already"):
            erasure_requests.confirm(engine, rid, "operator (t0)")
        with pytest.raises(ErasureRequestError, match="no erasure request"):
            erasure_requests.confirm(engine, "er-000000000000", "operator (t0)")
        assert [r.id for r in erasure_requests.confirmed_not_done(engine)] == [rid]
        assert erasure_requests.done(engine, confirmed, {"raw_measurements": ["telemetry"]}, "d")
        assert not erasure_requests.done(engine, confirmed, {}, "another replica")
        assert erasure_requests.confirmed_not_done(engine) == []
        (stored,) = erasure_requests.of_partner(engine, "alpha")
        assert stored.state == "done" and stored.outcome == {"raw_measurements": ["telemetry"]}
        with engine.connect() as conn:
            trail = audit.entries(conn, partner="alpha")
        assert [e.action for e in trail] == ["erase", "erase-confirm", "erase-request"]
        assert trail[0].entity_id == "alpha/d1"
        assert trail[0].after is not None
        assert trail[0].after["requested_by"] == "partner alpha (t1)"
        assert trail[0].after["confirmed_by"] == "operator (t0)"
    finally:
        engine.dispose()


def test_a_frozen_month_is_written_once(control_db: str) -> None:
    engine = open_database(control_db)
    at = datetime(2026, 12, 2, tzinfo=UTC)
    try:
        assert monthly_reports.freeze(engine, "2026-11", {"alpha": {"messages": 5}}, at) == 1
        again = {"alpha": {"messages": 9}, "beta": {"messages": 1}}
        assert monthly_reports.freeze(engine, "2026-11", again, at) == 1  # beta only
        assert monthly_reports.frozen(engine, "2026-11", ["alpha", "beta", "gamma"]) == {
            "alpha": {"messages": 5},
            "beta": {"messages": 1},
        }
        assert monthly_reports.frozen(engine, "2026-10", ["alpha"]) == {}
    finally:
        engine.dispose()
