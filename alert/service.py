"""`mainport alert`: the evaluator every `eval_s`, and one delivery worker per receiver, until
SIGTERM/SIGINT. Receivers are the rows of `alert_receivers` (re-read every 10 s: one added with
`mainport alerts receiver add` is used without a restart), plus Alertmanager when
MAINPORT_ALERT_ALERTMANAGER_URL is set and the partners' MQTT topics when the evaluator has a
broker login."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from alert import store
from alert.config import AlertSettings, SmtpSettings
from alert.delivery import MqttPublisher, Worker, alertmanager_sender, sender_for
from alert.evaluator import Evaluator
from alert.store import Receiver
from controlplane.live import open_registry
from core.outage import Outage
from core.processes import stop_on_signals, tcp_answers
from core.settings import Settings
from timeseries.client import InfluxClient

log = logging.getLogger(__name__)
RECEIVERS_RELOAD_S = 10.0


class Receivers:
    """The receivers in force and their workers."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        alert_settings: AlertSettings,
        mqtt: MqttPublisher | None,
    ) -> None:
        self.engine, self.settings, self.alert_settings = engine, settings, alert_settings
        self.smtp = SmtpSettings.of(settings)
        self.mqtt = mqtt
        self.workers: dict[str, Worker] = {}
        self.current: list[Receiver] = []
        self._loaded_at = 0.0

    def get(self) -> list[Receiver]:
        if time.monotonic() - self._loaded_at > RECEIVERS_RELOAD_S:
            self.reload()
        return self.current

    def reload(self) -> None:
        found = store.load_receivers(self.engine, self.settings.data_dir)
        if self.alert_settings.alertmanager_url:
            found.append(Receiver(store.ALERTMANAGER, store.ALERTMANAGER, None,
                                  self.alert_settings.alertmanager_url))  # fmt: skip
        if self.mqtt is not None:
            found.append(Receiver(store.MQTT, store.MQTT, None, self.settings.mqtt_root))
        for receiver in found:
            if receiver.id in self.workers:
                continue
            send = sender_for(receiver, self.alert_settings, self.smtp, self.mqtt)
            if send is None:
                continue
            worker = Worker(self.engine, receiver, send, self.alert_settings)
            worker.start()
            self.workers[receiver.id] = worker
        self.current = found
        self._loaded_at = time.monotonic()

    def wake(self) -> None:
        for worker in self.workers.values():
            worker.wake.set()

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop.set()
            worker.wake.set()
        for worker in self.workers.values():
            worker.thread.join(timeout=6)


def _resend_to_alertmanager(
    engine: Engine, alert_settings: AlertSettings, stop: threading.Event
) -> None:
    """Alertmanager forgets an alert it has not heard of for a while: post the firing ones
    again every `alertmanager_resend_s` (as Prometheus does)."""
    assert alert_settings.alertmanager_url
    send = alertmanager_sender(alert_settings.alertmanager_url, alert_settings.dashboard_url)
    outage = Outage("Alertmanager (re-send)", log)
    while not stop.wait(alert_settings.alertmanager_resend_s):
        try:
            firing = store.firing_for_alertmanager(engine)
            if firing:
                send({"alerts": firing})
            outage.ok(f"{len(firing)} firing alerts re-sent")
        except Exception as exc:
            outage.failed(exc, "re-sending firing alerts")


def _mqtt_publisher(settings: Settings, alert_settings: AlertSettings) -> MqttPublisher | None:
    password = alert_settings.mqtt_password
    if password is None:
        return None
    return MqttPublisher(
        settings.mqtt_host, settings.mqtt_port, settings.mqtt_root,
        alert_settings.mqtt_username, password.get_secret_value(),
    )  # fmt: skip


def run_alert(settings: Settings, alert_settings: AlertSettings | None = None) -> int:
    alert_settings = alert_settings or AlertSettings.of(settings)
    stop = stop_on_signals(log)
    engine, source = open_registry(settings)  # the live registry, seeded when still empty
    influx = InfluxClient(
        settings.influx_url, settings.influx_db, **settings.influx_login("reader")
    )
    mqtt = _mqtt_publisher(settings, alert_settings)
    receivers = Receivers(engine, settings, alert_settings, mqtt)
    receivers.reload()
    evaluator = Evaluator(
        engine,
        influx,
        lambda: source.current().registry,
        alert_settings,
        grace_factor=settings.grace_factor,
        broker_up=lambda: tcp_answers(settings.mqtt_host, settings.mqtt_port),
        receivers=receivers.get,
    )
    resend = None
    if alert_settings.alertmanager_url:
        resend = threading.Thread(
            target=_resend_to_alertmanager, args=(engine, alert_settings, stop), daemon=True
        )
        resend.start()
    outage = Outage("alert evaluation", log)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    beat = settings.data_dir / "alert.alive"
    log.info("alert evaluator started (every %.1f s)", alert_settings.eval_s)
    while not stop.is_set():
        beat.touch()
        try:
            if evaluator.turn():
                receivers.wake()
            outage.ok("evaluating")
        except Exception as exc:
            if not outage.down:
                log.exception("alert evaluation failed; trying again")
            outage.failed(exc, "evaluating")
        stop.wait(alert_settings.eval_s)
    receivers.stop()
    if mqtt is not None:
        mqtt.stop()
    source.stop()
    influx.close()
    log.info("alert evaluator stopped")
    return 0
