"""`mainport collect`: poll the registry's switches over SNMP, publish counters over MQTT.

One asyncio task per switch (a pysnmp engine per credentials name): a switch that is slow or
silent only delays its own task (its timeout and retries are its own), never the others. Each task
starts at a random offset within its interval, so a thousand switches do not poll in the same
second, and then keeps its cadence (a late poll does not shift the next ones). Messages go out
with QoS 1 through one paho client with its own network thread; paho queues them while the
broker is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from collector import metrics
from collector.poller import Outgoing, PortReading, SwitchPoller
from collector.snmp import SnmpError, read_interfaces
from domain.registry import Registry
from domain.switches import Credential, Switch

log = logging.getLogger(__name__)

Publish = Callable[[list[Outgoing]], None]


@dataclass(frozen=True, slots=True)
class PollResult:
    switch: str
    reachable: bool
    latency_s: float | None
    error: str | None
    readings: list[PortReading]
    messages: list[Outgoing]


def pollers(registry: Registry, root: str, only: str | None = None) -> list[SwitchPoller]:
    """One poller per registry switch (or only the one named), knowing its registry ports."""
    chosen = [s for s in registry.switches if only is None or s.id == only]
    return [
        SwitchPoller(s, {p.port: p for p in registry.ports_of_switch(s.id)}, root) for s in chosen
    ]


async def poll(engine: SnmpEngine, poller: SwitchPoller, credential: Credential) -> PollResult:
    """One poll of one switch: its counters messages, or its `_collector` unreachable report."""
    sw = poller.switch.id
    metrics.POLLS.labels(sw).inc()
    try:
        table = await read_interfaces(engine, poller.switch, credential)
    except SnmpError as exc:
        metrics.ERRORS.labels(sw).inc()
        metrics.REACHABLE.labels(sw).set(0)
        message = poller.on_failure(str(exc), time.time_ns())
        return PollResult(sw, False, None, str(exc), [], [message])
    messages, readings = poller.on_table(table)
    metrics.REACHABLE.labels(sw).set(1)
    metrics.LAST_POLL.labels(sw).set(table.answered_ns / 1e9)
    metrics.LATENCY.labels(sw).set(table.latency_s)
    metrics.PORTS.labels(sw).set(len(messages) - 1)
    for port, (speed, capacity) in poller.speed_mismatches.items():
        log.warning(
            "switch %s port %s: ifHighSpeed %d Mbit/s, registry capacity_mbps %g",
            sw,
            port,
            speed,
            capacity,
        )
        metrics.SPEED_MISMATCH.labels(sw, port, f"{capacity:g}").set(speed)
    return PollResult(sw, True, table.latency_s, None, readings, messages)


async def run_switch(
    engine: SnmpEngine,
    poller: SwitchPoller,
    credential: Credential,
    publish: Publish,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    """Poll one switch every `interval_s`, first after a random offset within the interval."""
    interval = poller.switch.interval_s
    loop = asyncio.get_running_loop()
    next_at = loop.time() + rng.uniform(0, interval)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - loop.time()))
            return
        result = await poll(engine, poller, credential)
        publish(result.messages)
        next_at += interval
        if next_at < loop.time():  # a poll longer than the interval: skip, do not pile up
            next_at = loop.time() + interval


async def run_all(
    targets: list[tuple[SwitchPoller, Credential]],
    publish: Publish,
    stop: asyncio.Event,
    seed: int | None = None,
) -> None:
    # One engine per credentials name: pysnmp keeps v3 users in the engine by user name, so two
    # switches with one user name but different keys must not share an engine.
    engines = {p.switch.credentials: SnmpEngine() for p, _ in targets}
    rng = random.Random(seed)
    try:
        await asyncio.gather(
            *(
                run_switch(engines[p.switch.credentials], p, c, publish, stop, rng)
                for p, c in targets
            )
        )
    finally:
        for engine in engines.values():
            engine.close_dispatcher()


class MqttPublisher:
    """QoS 1 publishing with paho's network thread; connects in the background, reconnects."""

    def __init__(self, host: str, port: int, username: str, password: str | None) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=username, clean_session=False
        )
        self.client.username_pw_set(username, password)
        self.client.max_queued_messages_set(100_000)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.connected = False
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object = None
    ) -> None:
        self.connected = not getattr(rc, "is_failure", False)
        if self.connected:
            log.info("connected to the broker")
        else:
            log.error("the broker refused the collector's login: %s", rc)

    def __call__(self, messages: list[Outgoing]) -> None:
        for m in messages:
            self.client.publish(m.topic, m.payload, qos=1)
        metrics.PUBLISHED.inc(len(messages))

    def close(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.client.want_write() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()


def serve_forever(targets: list[tuple[SwitchPoller, Credential]], publisher: MqttPublisher) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (queued messages get a moment to leave)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_all(targets, publisher, stop)

    try:
        asyncio.run(main())
    finally:
        publisher.close()


def poll_once(poller: SwitchPoller, credential: Credential) -> PollResult:
    """One poll of one switch, for `mainport collect --once`."""

    async def main() -> PollResult:
        engine = SnmpEngine()
        try:
            return await poll(engine, poller, credential)
        finally:
            engine.close_dispatcher()

    return asyncio.run(main())


def credential_of(switch: Switch, credentials: dict[str, Credential]) -> Credential:
    return credentials[switch.credentials]
