"""The body of `mainport collect` (the CLI in mainport/cli.py stays a thin wrapper)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from collector import metrics
from collector.credentials import load_credentials, resolve
from collector.service import MqttPublisher, PollResult, poll_once, pollers, serve_forever
from core.settings import Settings
from domain.registry import Registry
from domain.switches import CredentialsError

log = logging.getLogger(__name__)


class CollectError(Exception):
    """A set-up problem the operator must fix; the message says what and where."""


def run_collect(settings: Settings, registry: Registry, *, once: bool, switch: str | None) -> int:
    """Poll forever (publishing), or `once` one switch and print what it read. Exit code."""
    if not registry.switches:
        raise CollectError(
            f"{settings.partners_file}: no switches to poll (add them under `switches:`)"
        )
    if switch is not None and all(s.id != switch for s in registry.switches):
        known = ", ".join(s.id for s in registry.switches)
        raise CollectError(f"no switch {switch!r} in the registry (switches: {known})")
    if once and switch is None:
        raise CollectError("--once needs --switch NAME")
    source = settings.snmp_credentials_path
    try:
        credentials = load_credentials(source)
        chosen = pollers(registry, settings.mqtt_root, switch)
        resolve([p.switch for p in chosen], credentials, source)
    except CredentialsError as exc:
        raise CollectError(str(exc)) from None
    targets = [(p, credentials[p.switch.credentials]) for p in chosen]
    if once:
        result = poll_once(*targets[0])
        print_result(result, targets[0][0].ports.keys())
        return 0 if result.reachable else 2
    password = settings.collector_mqtt_password
    publisher = MqttPublisher(
        settings.mqtt_host,
        settings.mqtt_port,
        settings.collector_mqtt_username,
        password.get_secret_value() if password else None,
    )
    metrics.serve(settings.collector_metrics_port, settings.collector_metrics_host)
    log.info(
        "polling %d switches (%d registry ports); metrics on :%s",
        len(targets),
        sum(len(p.ports) for p, _ in targets),
        settings.collector_metrics_port or "(off)",
    )
    serve_forever(targets, publisher)
    return 0


def print_result(result: PollResult, registry_ports: Iterable[str]) -> None:
    """What one poll read, as a table on stdout, for an engineer checking a switch."""
    out = sys.stdout
    if not result.reachable:
        out.write(f"{result.switch}: not reachable: {result.error}\n")
        return
    ports = set(registry_ports)
    out.write(f"{result.switch}: answered in {result.latency_s:.3f} s\n")
    header = ("ifIndex", "interface", "port", "registry", "oper", "Mbit/s", "HC", "in", "out")
    rows = [
        (
            str(r.if_index),
            r.interface,
            r.port,
            "yes" if r.port in ports else "-",
            r.oper_status,
            "" if r.high_speed_mbps is None else str(r.high_speed_mbps),
            "64" if r.hc else "32",
            str(r.in_octets),
            str(r.out_octets),
        )
        for r in result.readings
    ]
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    missing = sorted(ports - {r.port for r in result.readings})
    if missing:
        out.write(f"registry ports not found on the switch: {', '.join(missing)}\n")
