"""The alert tables on SQLite and PostgreSQL: the evaluator's transitions persisted with their
outbox rows (one per receiver that wants them), a restarted evaluator going on from them, and
`/api/v1/alerts` reading them partner-scoped, with acknowledgement."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from access.tokens import TokenStore
from alert import store
from alert.store import Receiver
from controlplane.db import open_database
from core.processes import Child, free_port, tcp_answers, wait_until
from core.settings import Settings
from domain.alerts import Condition, Evaluation, step
from tests.conftest import PARTNERS_FILE

S = 1_000_000_000
T0 = 1_790_000_000 * S
A, B = "gemeente-dordrecht", "woonbron"


def _cond(partner: str | None, subject: str, kind: str = "device") -> Condition:
    key = f"{kind}:{partner}/{subject}" if partner else f"platform:{subject}"
    return Condition(key, kind, partner, subject, "timeout", "warning", T0,  # type: ignore[arg-type]
                     f"{subject} down", (subject,) if partner else ())  # fmt: skip


RECEIVERS = [
    Receiver("ops", "webhook", None, "http://127.0.0.1:9/ops"),
    Receiver("a-hook", "webhook", A, "http://127.0.0.1:9/a"),
]


def _turn(url: str, found: Evaluation, now: int) -> list[str]:
    engine = open_database(url)
    changes = step(store.load_open(engine), found, now, clear_ns=0)
    store.apply(engine, changes, RECEIVERS, now)
    engine.dispose()
    return [c.action for c in changes]


def test_transitions_persist_and_a_restart_neither_repeats_nor_loses(control_db: str) -> None:
    a, b, p = _cond(A, "aq-1"), _cond(B, "heat-1"), _cond(None, "ingest_down", "platform")
    found = Evaluation(conditions={c.key: c for c in (a, b, p)})
    assert _turn(control_db, found, T0 + S) == ["fire", "fire", "fire"]
    assert _turn(control_db, found, T0 + 2 * S) == []  # "restarted": same conditions, no repeat
    gone = Evaluation(conditions={b.key: b})
    assert sorted(_turn(control_db, gone, T0 + 3 * S)) == ["clearing", "clearing"]
    assert sorted(_turn(control_db, gone, T0 + 4 * S)) == ["resolve", "resolve"]
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
    assert (
        mine[1].payload["resolved"] is not None and mine[0].payload["id"] == mine[1].payload["id"]
    )
    engine.dispose()


@dataclass
class Api:
    url: str
    tokens: dict[str, str]

    def get(self, token: str | None, path: str = "/api/v1/alerts", **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        params = {"start": "2026-01-01T00:00:00Z", **params} if path.endswith("alerts") else {}
        return httpx.get(self.url + path, params=params, headers=headers)

    def ack(self, token: str, alert_id: str, comment: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/alerts/{alert_id}/ack", json={"comment": comment},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip


@pytest.fixture
def api(
    control_db: str, tmp_path: Path, spawn: Callable[[str, list[str], dict[str, str]], Child]
) -> Api:
    data_dir = tmp_path / "data"
    settings = Settings(partners_file=PARTNERS_FILE, data_dir=data_dir)
    tokens = TokenStore(settings.tokens_file)
    issued = {
        "op": tokens.issue("operator"),
        A: tokens.issue("partner", A),
        B: tokens.issue("partner", B),
    }
    found = Evaluation(conditions={c.key: c for c in (_cond(A, "aq-1"), _cond(B, "heat-1"))})
    _turn(control_db, found, T0 + S)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE), MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_DATABASE_URL=control_db, MAINPORT_API_PORT=str(port),
        MAINPORT_INFLUX_URL=f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    child = spawn("api", ["api"], env)
    wait_until(lambda: tcp_answers("127.0.0.1", port), timeout_s=60, what="the API", child=child)
    return Api(f"http://127.0.0.1:{port}", issued)


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
