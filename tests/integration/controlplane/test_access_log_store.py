"""The access log's store on both databases: entries queued off the request path reach the
table in batches, in order, and none is lost on close or while the database refuses writes;
paging by partner and window, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from controlplane.access_log import AccessLogWriter, count, page
from controlplane.access_log_tables import ALL_PARTNERS
from controlplane.db import open_database
from tests.conftest import wait_for

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _entry(n: int, partner: str = "p-one") -> dict[str, Any]:
    return {
        "at": T0 + timedelta(seconds=n),
        "partner": partner,
        "token_id": f"t{n}",
        "label": "lbl",
        "role": "partner",
        "reader_partner": partner,
        "endpoint": "/api/v1/partners/{partner_id}/uptime",
        "path": f"/api/v1/partners/{partner}/uptime",
        "device": None,
        "params": {"start": "2026-11-01T00:00:00Z"},
        "status": 200,
    }


def test_the_thread_writes_batches_and_close_writes_the_rest(control_db: str) -> None:
    engine = open_database(control_db)
    writer = AccessLogWriter(engine, flush_s=0.05)
    writer.start()
    try:
        for n in range(50):
            writer.add(_entry(n))
        wait_for(lambda: count(engine) == 50, what="the first batch written by the thread")
        writer.flush_s = 3600.0  # the last ones are written by close(), not by a round
        for n in range(50, 80):
            writer.add(_entry(n))
    finally:
        writer.close()
    assert count(engine) == 80
    rows, more = page(engine, "p-one", None, None, 0, 100)
    assert [r["token_id"] for r in rows] == [f"t{n}" for n in range(79, -1, -1)] and not more
    assert rows[0]["params"] == {"start": "2026-11-01T00:00:00Z"}
    engine.dispose()


def test_entries_wait_while_the_database_refuses_and_are_written_later(
    control_db: str, tmp_path: Any
) -> None:
    engine = open_database(control_db)
    broken = create_engine("sqlite:///" + str(tmp_path / "no" / "such" / "dir" / "x.db"))
    writer = AccessLogWriter(broken)
    writer.add(_entry(1))
    writer.add(_entry(2))
    with pytest.raises(OperationalError):
        writer.flush()
    assert writer.pending() == 2
    writer.engine = engine  # the database is back
    writer.close()
    assert count(engine) == 2 and writer.dropped == 0
    engine.dispose()


def test_pages_by_partner_and_window(control_db: str) -> None:
    engine = open_database(control_db)
    writer = AccessLogWriter(engine)
    for n in range(10):
        writer.add(_entry(n, "p-one" if n % 2 else "p-two"))
    writer.add(_entry(10, ALL_PARTNERS))
    writer.flush()

    def tokens(rows: list[dict[str, Any]]) -> list[str]:
        return [r["token_id"] for r in rows]

    first, more = page(engine, "p-one", None, None, 0, 3)
    assert tokens(first) == ["t10", "t9", "t7"] and more
    rest, more = page(engine, "p-one", None, None, 3, 3)
    assert tokens(rest) == ["t5", "t3", "t1"] and not more
    window, _ = page(engine, "p-one", T0 + timedelta(seconds=3), T0 + timedelta(seconds=8), 0, 9)
    assert tokens(window) == ["t7", "t5", "t3"]
    assert window[0]["at"] == T0 + timedelta(seconds=7)
    engine.dispose()
