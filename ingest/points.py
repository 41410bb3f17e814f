"""Parsed messages → line protocol, per the schema in `stack/schema.py`. Pure, and hot."""

from __future__ import annotations

from collections.abc import Mapping

from domain.lineprotocol import line
from domain.messages import (
    Counters,
    Message,
    Rejected,
    Status,
    Telemetry,
    TelemetryBatch,
)

EXCERPT_BYTES = 200


def message_lines(
    msg: Message,
    topic: str,
    payload: bytes,
    received_ns: int,
    port_owner: Mapping[tuple[str, str], str],
) -> list[str]:
    """All points one message produces; a rejection becomes a dead-letter point.

    `port_owner` maps (switch, port) to the partner billed for it; a port not in the registry
    is stored untagged so its data is kept until an operator assigns it.
    """
    if isinstance(msg, Telemetry):
        return [_telemetry(msg), _usage(msg.partner, msg.device, "telemetry", msg.ts_ns, payload)]
    if isinstance(msg, TelemetryBatch):
        if not msg.items:
            return []
        lines = [_telemetry(item) for item in msg.items]
        first = min(item.ts_ns for item in msg.items)
        lines.append(_usage(msg.partner, msg.device, "telemetry", first, payload))
        return lines
    if isinstance(msg, Status):
        tags = {"partner": msg.partner, "device": msg.device}
        return [
            line("status", tags, {"online": int(msg.online)}, msg.ts_ns),
            _usage(msg.partner, msg.device, "status", msg.ts_ns, payload),
        ]
    if isinstance(msg, Counters):
        return [counters_line(msg, port_owner.get((msg.switch, msg.port), ""))]
    return [rejected_line(msg, topic, payload, received_ns)]


def counters_line(msg: Counters, partner: str) -> str:
    tags = {"partner": partner, "switch": msg.switch, "port": msg.port}
    # Unsigned 64-bit counters do not fit InfluxDB 1.x integers (int64) above 2^63; such a
    # value is stored wrapped into the negative range and unwrapped on read (two's complement).
    fields = {
        "in_octets": _as_int64(msg.in_octets),
        "out_octets": _as_int64(msg.out_octets),
        "up": int(msg.up),
    }
    return line("counters", tags, fields, msg.ts_ns)


def rejected_line(msg: Rejected, topic: str, payload: bytes, received_ns: int) -> str:
    excerpt = payload[:EXCERPT_BYTES].decode("utf-8", "replace")
    fields: dict[str, str | int] = {
        "topic": topic[:300],
        "excerpt": excerpt,
        "detail": msg.detail,
        "bytes": len(payload),
    }
    return line("rejected", {"partner": msg.partner, "reason": msg.reason}, fields, received_ns)


def _telemetry(msg: Telemetry) -> str:
    return line("telemetry", {"partner": msg.partner, "device": msg.device}, msg.metrics, msg.ts_ns)


def _usage(partner: str, device: str, kind: str, ts_ns: int, payload: bytes) -> str:
    tags = {"partner": partner, "device": device, "type": kind}
    return line("messages", tags, {"bytes": len(payload)}, ts_ns)


def _as_int64(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def as_uint64(value: int) -> int:
    """Inverse of the storage wrap in `counters_line`."""
    return value + 2**64 if value < 0 else value
