"""Delivery against real receivers: e-mail through a real SMTP server (aiosmtpd) that offers
STARTTLS, and receivers on their own — a dead webhook retries with backoff while the e-mail
receiver beside it is served at once, in order firing → resolved."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from access.tls import ensure_local_tls
from alert import store
from alert.config import AlertSettings, SmtpSettings
from alert.delivery import Worker, email_sender, webhook_sender
from alert.store import Receiver
from controlplane.alert_tables import alert_deliveries
from controlplane.db import open_database
from core.processes import free_port
from domain.alerts import Condition, Evaluation, step
from tests.conftest import wait_for
from tests.integration.alert.receivers import HttpSink, start_sink

S = 1_000_000_000
T0 = 1_790_000_000 * S


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, bool]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.mails.append((envelope, session.ssl is not None))
        return "250 OK"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, SmtpSettings]]:
    files = ensure_local_tls(tmp_path / "tls", ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    yield inbox, SmtpSettings(host="127.0.0.1", port=port, cafile=files.ca_cert)
    controller.stop()


@pytest.fixture
def dead_sink() -> Iterator[HttpSink]:
    sink, server = start_sink()
    sink.status = 500
    yield sink
    server.shutdown()
    server.server_close()


def _message(event: str) -> dict[str, Any]:
    return {
        "id": "abc", "seq": 1 if event == "firing" else 2, "event": event, "kind": "device",
        "partner": "acme", "subject": "d1", "cause": "offline", "severity": "warning",
        "summary": "device d1 of acme is down (offline)", "devices": ["d1"], "port": None,
        "since": "2026-12-03T10:00:00Z", "resolved": None,
    }  # fmt: skip


def test_email_goes_over_starttls_and_says_what_fired(smtp: tuple[Inbox, SmtpSettings]) -> None:
    inbox, settings = smtp
    send = email_sender(settings, "noc@example.net")
    send(_message("firing"))
    send(_message("resolved"))
    assert len(inbox.mails) == 2
    (first, tls1), (second, tls2) = inbox.mails
    assert tls1 and tls2, "the message went in the clear although STARTTLS was offered"
    assert first.rcpt_tos == ["noc@example.net"]
    assert isinstance(first.content, bytes) and isinstance(second.content, bytes)
    mail = message_from_bytes(first.content)
    assert mail["Subject"].startswith("[FIRING] device d1")
    assert message_from_bytes(second.content)["Subject"].startswith("[RESOLVED]")


def test_a_dead_receiver_retries_alone_and_never_delays_the_others(
    smtp: tuple[Inbox, SmtpSettings], dead_sink: HttpSink, tmp_path: Path
) -> None:
    inbox, smtp_settings = smtp
    engine = open_database(f"sqlite:///{tmp_path / 'db' / 'mainport.db'}")
    receivers = [
        Receiver("dead", "webhook", None, dead_sink.url("/x"), "s3cret"),
        Receiver("mail", "email", None, "noc@example.net"),
    ]
    cond = Condition("device:acme/d1", "device", "acme", "d1", "offline", "warning", T0,
                     "device d1 of acme is down (offline)", ("d1",))  # fmt: skip
    store.apply(engine, step({}, Evaluation(conditions={cond.key: cond}), T0, 0), receivers, T0)
    opened = store.load_open(engine)
    store.apply(engine, step(opened, Evaluation(), T0 + S, 0), receivers, T0 + S)
    store.apply(engine, step(store.load_open(engine), Evaluation(), T0 + 2 * S, 0), receivers,
                T0 + 2 * S)  # fmt: skip
    settings = AlertSettings(retry_max_s=60)
    workers = [
        Worker(engine, receivers[0], webhook_sender(dead_sink.url("/x"), "s3cret"), settings),
        Worker(engine, receivers[1], email_sender(smtp_settings, "noc@example.net"), settings),
    ]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: len(inbox.mails) == 2, 30, "both e-mails")
        subjects = [message_from_bytes(e.content)["Subject"] for e, _ in inbox.mails]  # type: ignore[arg-type]
        assert [s.split("]")[0] for s in subjects] == ["[FIRING", "[RESOLVED"]

        def dead_rows() -> list[Any]:
            with engine.connect() as conn:
                query = (
                    select(alert_deliveries)
                    .where(alert_deliveries.c.receiver == "dead")
                    .order_by(alert_deliveries.c.pk)
                )
                return list(conn.execute(query))

        wait_for(lambda: dead_rows()[0].attempts >= 2, 30, "the dead webhook retried")
        first, second = dead_rows()
        assert first.delivered_ns is None and "500" in (first.last_error or "")
        assert second.attempts == 0, "the resolve overtook its firing"
        assert first.next_ns > T0 + 2 * S  # backed off
    finally:
        for worker in workers:
            worker.stop.set()
            worker.wake.set()
            worker.thread.join(5)
        engine.dispose()
