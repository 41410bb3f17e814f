"""Parsed messages → line protocol, per the schema in `timeseries/schema.py`. Pure, and hot.

Telemetry, nearly all of the traffic, takes a fast path: the escaped head of a point
(measurement and tags) is built once per device and cached, and the fields are joined
without escaping. That is safe because `parse_message` guarantees what escaping would guard
against: metric names match `[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}` (nothing line protocol
escapes) and values are finite floats. `tests/unit/ingest/test_fastpath.py` checks the fast path
against `domain.lineprotocol.line` for arbitrary valid messages.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

from domain.lineprotocol import line
from domain.messages import (
    CollectorReport,
    Counters,
    Message,
    Rejected,
    Status,
    Telemetry,
    TelemetryBatch,
)
from ingest.deadletters import EXCERPT_CHARS, DeadLetter
from timeseries.integers import as_int64
from timeseries.schema import COLLECTOR_MEASUREMENT

EXCERPT_BYTES = EXCERPT_CHARS
_MAX_CACHED_HEADS = 100_000
_heads: dict[tuple[str, str, str], str] = {}

PortOwner = Mapping[tuple[str, str], str] | Callable[[tuple[str, str], int], str | None]


def message_lines(
    msg: Message,
    topic: str,
    payload: bytes,
    received_ns: int,
    port_owner: PortOwner,
) -> list[str]:
    """All points one message produces; a rejection becomes a dead-letter point.

    `port_owner` gives the partner billed for (switch, port): a mapping, or a function of the
    port and the sample's own time (the owner in force then: a port moved today leaves its
    earlier samples with the earlier partner). A port not in the registry is stored untagged
    so its data is kept until an operator assigns it.
    """
    if isinstance(msg, Telemetry):
        return [
            telemetry_line(msg),
            _usage(msg.partner, msg.device, "telemetry", msg.ts_ns, len(payload)),
        ]
    if isinstance(msg, TelemetryBatch):
        if not msg.items:
            return []
        lines = [telemetry_line(item) for item in msg.items]
        first = min(item.ts_ns for item in msg.items)
        lines.append(_usage(msg.partner, msg.device, "telemetry", first, len(payload)))
        return lines
    if isinstance(msg, Status):
        tags = {"partner": msg.partner, "device": msg.device}
        return [
            line("status", tags, {"online": int(msg.online)}, msg.ts_ns),
            _usage(msg.partner, msg.device, "status", msg.ts_ns, len(payload)),
        ]
    if isinstance(msg, Counters):
        key = (msg.switch, msg.port)
        owner = port_owner(key, msg.ts_ns) if callable(port_owner) else port_owner.get(key)
        return [counters_line(msg, owner or "")]
    if isinstance(msg, CollectorReport):
        return [collector_line(msg)]
    return [rejected_line(msg, topic, payload, received_ns)]


def telemetry_line(msg: Telemetry) -> str:
    """The `telemetry` point of one parsed message (see the module docstring for why no
    escaping is needed here)."""
    head = _head("telemetry", msg.partner, msg.device)
    fields = ",".join([f"{name}={value!r}" for name, value in msg.metrics.items()])
    return f"{head} {fields} {msg.ts_ns}"


def counters_line(msg: Counters, partner: str) -> str:
    tags = {"partner": partner, "switch": msg.switch, "port": msg.port}
    # Unsigned 64-bit counters do not fit InfluxDB 1.x integers (int64) above 2^63; such a
    # value is stored wrapped into the negative range and unwrapped on read (two's complement).
    fields = {
        "in_octets": as_int64(msg.in_octets),
        "out_octets": as_int64(msg.out_octets),
        "up": int(msg.up),
    }
    return line("counters", tags, fields, msg.ts_ns)


def collector_line(msg: CollectorReport) -> str:
    """Whether the SNMP collector reached a switch: the API reads its unreachable spans as
    unknown time for the switch's ports, and its last report as the switch's health."""
    fields: dict[str, str | int | float] = {"reachable": int(msg.reachable)}
    if msg.latency_s is not None:
        fields["latency_s"] = msg.latency_s
    if msg.error is not None:
        fields["error"] = msg.error
    if msg.speed_mismatch:
        # Port ids are slugs: "port=Mbit/s,..." needs no escaping, and reads back in one split.
        fields["speed_mismatch"] = ",".join(f"{port}={mbps}" for port, mbps in msg.speed_mismatch)
    return line(COLLECTOR_MEASUREMENT, {"switch": msg.switch}, fields, msg.ts_ns)


def dead_letter(msg: Rejected, topic: str, payload: bytes, received_ns: int) -> DeadLetter:
    """What the dead-letter store keeps of a rejected message, timed at its own valid `ts`
    (SPEC: counted at the message's timestamp) or else when it was received.

    Dead letters share a series per (partner, reason), so two rejected at one device time would
    overwrite each other: a sub-millisecond offset from a checksum of topic and payload keeps
    them apart, while a redelivered message still lands on its own point."""
    time_ns = received_ns
    if msg.ts_ns is not None:
        time_ns = msg.ts_ns + zlib.crc32(payload, zlib.crc32(topic.encode())) % 1_000_000
    return DeadLetter(
        time_ns=time_ns,
        partner=msg.partner,
        reason=msg.reason,
        topic=topic[:300],
        excerpt=payload[:EXCERPT_BYTES].decode("utf-8", "replace"),
        detail=msg.detail,
        bytes=len(payload),
    )


def dead_letter_line(letter: DeadLetter) -> str:
    fields: dict[str, str | int] = {
        "topic": letter.topic,
        "excerpt": letter.excerpt,
        "detail": letter.detail,
        "bytes": letter.bytes,
    }
    tags = {"partner": letter.partner, "reason": letter.reason}
    return line("rejected", tags, fields, letter.time_ns)


def rejected_line(msg: Rejected, topic: str, payload: bytes, received_ns: int) -> str:
    return dead_letter_line(dead_letter(msg, topic, payload, received_ns))


def _head(measurement: str, partner: str, device: str) -> str:
    key = (measurement, partner, device)
    head = _heads.get(key)
    if head is None:
        if len(_heads) >= _MAX_CACHED_HEADS:  # device ids come from the network: stay bounded
            _heads.clear()
        # line() escapes and orders the tags; cut off its placeholder field and time.
        head = _heads[key] = line(measurement, {"partner": partner, "device": device}, {"x": 0}, 0)[
            : -len(" x=0i 0")
        ]
    return head


def _usage(partner: str, device: str, kind: str, ts_ns: int, size: int) -> str:
    head = _heads.get(("messages", partner, device))
    if head is None:
        head = _head("messages", partner, device)
    return f"{head},type={kind} bytes={size}i {ts_ns}"
