"""A small API process over a control-plane database holding alerts, for the API and dashboard
tests: tokens for the operator and two partners, alerts put in through the evaluator's store."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from access.tokens import TokenStore
from alert import store
from alert.store import Receiver
from controlplane.db import open_database
from core.processes import Child, free_port, tcp_answers, wait_until
from domain.alerts import Condition, Evaluation, step
from tests.conftest import PARTNERS_FILE, control_engine

S = 1_000_000_000
T0 = 1_790_000_000 * S
A, B = "gemeente-dordrecht", "woonbron"
RECEIVERS = [
    Receiver("ops", "webhook", None, "http://127.0.0.1:9/ops"),
    Receiver("a-hook", "webhook", A, "http://127.0.0.1:9/a"),
]


def condition(partner: str | None, subject: str, kind: str = "device") -> Condition:
    key = f"{kind}:{partner}/{subject}" if partner else f"platform:{subject}"
    return Condition(key, kind, partner, subject, "timeout", "warning", T0,  # type: ignore[arg-type]
                     f"{subject} down", (subject,) if partner else ())  # fmt: skip


def turn(url: str, found: Evaluation, now: int) -> list[str]:
    """One evaluation's transitions persisted, as `mainport alert` does; the actions."""
    engine = open_database(url)
    changes = step(store.load_open(engine), found, now, clear_ns=0)
    store.apply(engine, changes, RECEIVERS, now)
    engine.dispose()
    return [c.action for c in changes]


@dataclass
class Api:
    url: str
    tokens: dict[str, str]
    db_url: str

    def get(self, token: str | None, path: str = "/api/v1/alerts", **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if path.endswith("alerts"):
            params = {"start": "2026-01-01T00:00:00Z", **params}
        return httpx.get(self.url + path, params=params, headers=headers)

    def ack(self, token: str, alert_id: str, comment: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/alerts/{alert_id}/ack", json={"comment": comment},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip


def start_api(
    control_db: str, tmp_path: Path, spawn: Callable[[str, list[str], dict[str, str]], Child]
) -> Api:
    """An API process on `control_db`, with one firing alert for each of A and B."""
    data_dir = tmp_path / "data"
    tokens = TokenStore(control_engine(data_dir, control_db))
    issued = {
        "op": tokens.issue("operator"),
        A: tokens.issue("partner", A),
        B: tokens.issue("partner", B),
    }
    found = Evaluation(
        conditions={c.key: c for c in (condition(A, "aq-1"), condition(B, "heat-1"))}
    )
    turn(control_db, found, T0 + S)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE), MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_DATABASE_URL=control_db, MAINPORT_API_PORT=str(port),
        MAINPORT_INFLUX_URL=f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    child = spawn("api", ["api"], env)
    wait_until(lambda: tcp_answers("127.0.0.1", port), timeout_s=60, what="the API", child=child)
    return Api(f"http://127.0.0.1:{port}", issued, control_db)
