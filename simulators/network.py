"""Simulated devices and switch ports publishing to a real broker, in (scaled) real time.

Each device is its own MQTT client with its partner's credentials and a retained Last Will
`offline` on its status topic, as real devices are configured; it announces `online` (retained)
on connect. The network collector publishes every port's counters.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from domain.registry import NETWORK, Registry
from simulators.models import metrics_for, port_rate_fraction
from simulators.scenario import Scenario

log = logging.getLogger(__name__)

Credentials = Mapping[str, tuple[str, str]]
"""Scope (partner id or `_network`) → (username, password)."""


def credentials_from_json(text: str) -> dict[str, tuple[str, str]]:
    return {scope: (pair[0], pair[1]) for scope, pair in json.loads(text).items()}


@dataclass(slots=True)
class SimDevice:
    partner: str
    id: str
    kind: str
    interval_s: float
    senml: bool


@dataclass(slots=True)
class SimPort:
    switch: str
    port: str
    capacity_mbps: float
    interval_s: float
    in_octets: int = 0
    out_octets: int = 0
    last_t: float | None = None


def telemetry_payload(device: SimDevice, t: float, seed: int) -> bytes:
    metrics = metrics_for(device.kind, device.id, t, seed)
    ts = round(t, 3)
    if device.senml:
        pack: list[dict[str, Any]] = [
            {"bn": f"urn:dev:mainport:{device.id}:", "bt": ts, "n": name, "v": value}
            if i == 0
            else {"n": name, "v": value}
            for i, (name, value) in enumerate(metrics.items())
        ]
        return orjson.dumps(pack)
    return orjson.dumps({"ts": ts, "metrics": metrics})


def advance_port(port: SimPort, t: float, seed: int) -> bytes:
    """Grow the port's counters to time `t` and render a counters sample."""
    if port.last_t is not None and t > port.last_t:
        dt = t - port.last_t
        capacity_bytes_s = port.capacity_mbps * 1e6 / 8
        port.in_octets += int(
            capacity_bytes_s * port_rate_fraction(t, f"{port.port}:in", seed) * dt
        )
        port.out_octets += int(
            capacity_bytes_s * port_rate_fraction(t, f"{port.port}:out", seed) * 0.6 * dt
        )
    port.last_t = t
    return orjson.dumps(
        {
            "ts": round(t, 3),
            "in_octets": port.in_octets % 2**64,
            "out_octets": port.out_octets % 2**64,
            "oper_status": "up",
        }
    )


@dataclass
class Simulation:
    scenario: Scenario
    registry: Registry
    host: str
    port: int
    credentials: Credentials
    root: str = "mainport"
    devices: list[SimDevice] = field(default_factory=list)
    ports: list[SimPort] = field(default_factory=list)

    def __post_init__(self) -> None:
        wanted = set(self.scenario.partners) if self.scenario.partners else None
        for partner, device in self.registry.devices():
            if wanted is not None and partner.id not in wanted:
                continue
            senml = self.scenario.payload_format == "senml" or (
                self.scenario.payload_format == "mixed" and zlib.crc32(device.id.encode()) % 2 == 1
            )
            self.devices.append(
                SimDevice(partner.id, device.id, device.kind, device.interval_s, senml)
            )
        if self.scenario.ports:
            for partner in self.registry.partners:
                if wanted is None or partner.id in wanted:
                    self.ports.extend(
                        SimPort(p.switch, p.port, p.capacity_mbps, p.interval_s)
                        for p in partner.ports
                    )

    def _client(self, client_id: str, scope: str, will_topic: str | None) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        username, password = self.credentials[scope]
        client.username_pw_set(username, password)
        client.max_inflight_messages_set(50)
        if will_topic is not None:
            client.will_set(will_topic, b"offline", qos=1, retain=True)

            def announce(c: mqtt.Client, *_: Any) -> None:
                c.publish(will_topic, b"online", qos=1, retain=True)

            client.on_connect = announce
        client.reconnect_delay_set(1, 30)
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        return client

    def run(self, stop: threading.Event) -> None:
        clients: dict[str, mqtt.Client] = {}
        for dev in self.devices:
            topic = f"{self.root}/{dev.partner}/{dev.id}/status"
            clients[dev.id] = self._client(f"sim-{dev.partner}-{dev.id}", dev.partner, topic)
        collector = self._client("sim-collector", NETWORK, None) if self.ports else None

        speed = self.scenario.speed
        wall0, mono0 = time.time(), time.monotonic()
        queue: list[tuple[float, int, str]] = []
        for i, dev in enumerate(self.devices):
            # Stagger first reports over a few seconds so the broker sees no thundering herd.
            heapq.heappush(queue, (mono0 + (zlib.crc32(dev.id.encode()) % 3000) / 1000, i, "d"))
        for i, _ in enumerate(self.ports):
            heapq.heappush(queue, (mono0 + 0.5, i, "p"))
        log.info(
            "simulating %d devices and %d ports at %gx", len(self.devices), len(self.ports), speed
        )
        sent = 0
        while queue and not stop.is_set():
            due, i, what = heapq.heappop(queue)
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            t_sim = wall0 + (time.monotonic() - mono0) * speed
            if what == "d":
                dev = self.devices[i]
                topic = f"{self.root}/{dev.partner}/{dev.id}/telemetry"
                clients[dev.id].publish(
                    topic, telemetry_payload(dev, t_sim, self.scenario.seed), qos=1
                )
                heapq.heappush(queue, (due + dev.interval_s / speed, i, "d"))
            else:
                port = self.ports[i]
                assert collector is not None
                topic = f"{self.root}/{NETWORK}/{port.switch}/{port.port}/counters"
                collector.publish(topic, advance_port(port, t_sim, self.scenario.seed), qos=1)
                heapq.heappush(queue, (due + port.interval_s / speed, i, "p"))
            sent += 1
        log.info("stopping after %d messages", sent)
        for client in [*clients.values(), *([collector] if collector else [])]:
            # A clean stop says goodbye; the Last Will is for unclean disconnects.
            client.disconnect()
            client.loop_stop()
