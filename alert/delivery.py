"""Sending notifications: one worker thread per receiver, each draining its own rows of the
outbox (alert/store.py) in order, so a dead receiver only ever waits for itself — never for the
others, never the evaluator, never the ingest. A failed send is retried with exponential
backoff (1 s, 2 s, 4 s … up to `retry_max_s`) and holds back that receiver's later rows, so a
resolve never reaches a receiver before its firing.

Receivers deduplicate on the alert id and `seq` (header `X-Mainport-Delivery`): at least once
means a crash between sending and recording may repeat one notification, never lose one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from alert import store
from alert.config import AlertSettings, SmtpSettings
from alert.store import Pending, Receiver
from core.outage import Outage
from domain.timestamps import NS_PER_S

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], None]
SIGNATURE_HEADER = "X-Mainport-Signature"
TIMEOUT_S = 5.0


def body_of(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message, option=orjson.OPT_SORT_KEYS)


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body with the receiver's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_sender(url: str, secret: str | None) -> Send:
    client = httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)

    def send(message: dict[str, Any]) -> None:
        body = body_of(message)
        headers = {
            "Content-Type": "application/json",
            "X-Mainport-Alert": str(message["id"]),
            "X-Mainport-Delivery": f"{message['id']}:{message['seq']}",
        }
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        client.post(url, content=body, headers=headers).raise_for_status()

    return send


def alertmanager_alert(message: dict[str, Any], generator_url: str = "") -> dict[str, Any]:
    """One alert in Alertmanager's v2 form: the labels are the same on firing and resolve
    (they are its identity there); a resolve carries `endsAt`."""
    labels = {
        "alertname": f"mainport_{message['kind']}",
        "alert_id": message["id"],
        "partner": message.get("partner") or "",
        "device": message["subject"] if message["kind"] == "device" else "",
        "port": message.get("port") or "",
        "cause": message["cause"],
        "severity": message["severity"],
    }
    found: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": message["summary"],
            "devices": ",".join(message.get("devices") or []),
        },
        "startsAt": message["since"],
    }
    if message.get("resolved"):
        found["endsAt"] = message["resolved"]
    if generator_url:
        found["generatorURL"] = generator_url
    return found


def alertmanager_sender(url: str, generator_url: str = "") -> Send:
    client = httpx.Client(timeout=TIMEOUT_S)
    endpoint = url.rstrip("/") + "/api/v2/alerts"

    def send(message: dict[str, Any]) -> None:
        items = message.get("alerts", [message])
        alerts = [alertmanager_alert(m, generator_url) for m in items]
        client.post(endpoint, json=alerts).raise_for_status()

    return send


def email_sender(smtp: SmtpSettings, to: str) -> Send:
    def send(message: dict[str, Any]) -> None:
        if not smtp.host:
            raise RuntimeError("no SMTP server configured (MAINPORT_SMTP_HOST)")
        mail = EmailMessage()
        mail["From"], mail["To"] = smtp.sender, to
        state = "RESOLVED" if message["event"] == "resolved" else "FIRING"
        mail["Subject"] = f"[{state}] {message['summary']}"
        mail["X-Mainport-Alert"] = f"{message['id']}:{message['seq']}"
        mail.set_content(orjson.dumps(message, option=orjson.OPT_INDENT_2).decode())
        with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_S) as conn:
            conn.ehlo()
            if smtp.starttls and conn.has_extn("starttls"):
                cafile = str(smtp.cafile) if smtp.cafile else None
                conn.starttls(context=ssl.create_default_context(cafile=cafile))
                conn.ehlo()
            if smtp.username and smtp.password:
                conn.login(smtp.username, smtp.password.get_secret_value())
            conn.send_message(mail)

    return send


class MqttPublisher:
    """Publishes a partner's alerts on `{root}/{partner}/_alerts` (QoS 1), with the evaluator's
    own login, which may publish there and nowhere else (access/broker.py)."""

    def __init__(self, host: str, port: int, root: str, username: str, password: str) -> None:
        self.root = root
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username)
        self.client.username_pw_set(username, password)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def send(self, message: dict[str, Any]) -> None:
        topic = f"{self.root}/{message['partner']}/_alerts"
        if not self.client.is_connected():  # paho would queue it and send it later again
            raise RuntimeError("not connected to the MQTT broker")
        info = self.client.publish(topic, body_of(message), qos=1)
        info.wait_for_publish(timeout=TIMEOUT_S)
        if not info.is_published():
            raise RuntimeError(f"MQTT publish to {topic} not acknowledged")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Worker:
    """Drains one receiver's outbox rows in order until `stop`."""

    def __init__(
        self, engine: Engine, receiver: Receiver, send: Send, settings: AlertSettings
    ) -> None:
        self.engine, self.receiver, self.send, self.settings = engine, receiver, send, settings
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.outage = Outage(f"alert receiver {receiver.id} ({receiver.kind})", log)
        self.thread = threading.Thread(target=self._run, name=f"alert-{receiver.id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                waited = self.drain()
            except Exception as exc:  # the database: try again
                self.outage.failed(exc, "reading the outbox")
                waited = 2.0
            self.wake.wait(waited)
            self.wake.clear()

    def drain(self) -> float:
        """Send what is due; returns how long to wait before looking again."""
        for row in store.next_pending(self.engine, self.receiver.id):
            now = time.time_ns()
            if row.next_ns > now:
                return (row.next_ns - now) / NS_PER_S
            if not self._send(row):
                return 0.0
        return 1.0

    def _send(self, row: Pending) -> bool:
        try:
            self.send(row.payload)
        except Exception as exc:
            backoff = min(self.settings.retry_max_s, 2.0 ** min(row.attempts, 20))
            store.failed(self.engine, row.pk, time.time_ns() + int(backoff * NS_PER_S), str(exc))
            self.outage.failed(exc, f"retrying in {backoff:.0f} s")
            return False
        store.delivered(self.engine, row.pk, time.time_ns())
        self.outage.ok(f"{row.event} {row.alert_id} delivered")
        return True


def sender_for(
    receiver: Receiver,
    settings: AlertSettings,
    smtp: SmtpSettings,
    mqtt_publisher: MqttPublisher | None,
) -> Send | None:
    if receiver.kind == "webhook":
        return webhook_sender(receiver.target, receiver.secret)
    if receiver.kind == "email":
        return email_sender(smtp, receiver.target)
    if receiver.kind == store.ALERTMANAGER:
        return alertmanager_sender(receiver.target, settings.dashboard_url)
    if receiver.kind == store.MQTT and mqtt_publisher is not None:
        return mqtt_publisher.send
    return None
