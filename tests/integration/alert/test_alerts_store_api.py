"""The alert tables on SQLite and PostgreSQL: the evaluator's transitions persisted with their
outbox rows (one per receiver that wants them), a restarted evaluator going on from them, and
`/api/v1/alerts` reading them partner-scoped, with acknowledgement."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from alert import store
from controlplane.db import open_database
from core.processes import Child
from domain.alerts import Evaluation
from tests.integration.alert.dashboard_site import T0, A, Api, B, S, condition, start_api, turn


def test_transitions_persist_and_a_restart_neither_repeats_nor_loses(control_db: str) -> None:
    a, b = condition(A, "aq-1"), condition(B, "heat-1")
    p = condition(None, "ingest_down", "platform")
    found = Evaluation(conditions={c.key: c for c in (a, b, p)})
    assert turn(control_db, found, T0 + S) == ["fire", "fire", "fire"]
    assert turn(control_db, found, T0 + 2 * S) == []  # "restarted": same conditions, no repeat
    gone = Evaluation(conditions={b.key: b})
    assert sorted(turn(control_db, gone, T0 + 3 * S)) == ["clearing", "clearing"]
    assert sorted(turn(control_db, gone, T0 + 4 * S)) == ["resolve", "resolve"]
    engine = open_database(control_db)
    ops = store.next_pending(engine, "ops")
    mine = store.next_pending(engine, "a-hook")
    assert [(r.payload["subject"], r.event) for r in mine] == [
        ("aq-1", "firing"),
        ("aq-1", "resolved"),
    ]
    assert sorted((r.payload["subject"], r.event) for r in ops) == sorted(
        [("aq-1", "firing"), ("heat-1", "firing"), ("ingest_down", "firing"),
         ("aq-1", "resolved"), ("ingest_down", "resolved")]
    )  # fmt: skip
    assert mine[1].payload["resolved"] is not None
    assert mine[0].payload["id"] == mine[1].payload["id"]
    engine.dispose()


def test_a_condition_that_comes_back_from_the_same_instant_is_a_new_alert(
    control_db: str,
) -> None:
    burst = condition(A, "aq-1")
    found = Evaluation(conditions={burst.key: burst})
    assert turn(control_db, found, T0 + S) == ["fire"]
    assert turn(control_db, Evaluation(), T0 + 2 * S) == ["clearing"]
    assert turn(control_db, Evaluation(), T0 + 3 * S) == ["resolve"]
    assert turn(control_db, found, T0 + 4 * S) == ["fire"]
    engine = open_database(control_db)
    firings = [r for r in store.next_pending(engine, "a-hook") if r.event == "firing"]
    assert len({r.payload["id"] for r in firings}) == 2
    engine.dispose()


@pytest.fixture
def api(
    control_db: str, tmp_path: Path, spawn: Callable[[str, list[str], dict[str, str]], Child]
) -> Api:
    return start_api(control_db, tmp_path, spawn)


def test_the_api_lists_alerts_partner_scoped_and_acknowledges(api: Api) -> None:
    tokens = api.tokens
    assert {a["partner"] for a in api.get(tokens["op"]).json()} == {A, B}
    (mine,) = api.get(tokens[A]).json()
    assert mine["partner"] == A and mine["state"] == "firing" and not mine["acknowledged"]
    assert api.get(tokens[A], state="bogus").status_code == 422
    assert api.get(None).status_code == 401
    theirs = api.get(tokens[B]).json()[0]["id"]
    assert api.ack(tokens[A], theirs, "not mine").status_code == 404
    done = api.ack(tokens[A], mine["id"], "on it")
    assert done.status_code == 200 and done.json()["ack_comment"] == "on it"
    acked = api.get(tokens[A], state="acknowledged").json()
    assert [a["id"] for a in acked] == [mine["id"]]
    detail = api.get(tokens[A], f"/api/v1/alerts/{mine['id']}").json()
    assert [h["action"] for h in detail["history"]] == ["fire", "ack"]
    assert api.ack(tokens["op"], theirs, "operator sees all").status_code == 200
