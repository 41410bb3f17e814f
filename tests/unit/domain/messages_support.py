"""What the domain.messages tests share: a fixed NOW, the three topic kinds, and parse helpers
that check the kind of answer."""

from __future__ import annotations

from collections.abc import Container

import orjson

from domain.messages import (
    REASONS,
    Message,
    Rejected,
    Telemetry,
    parse_message,
)

S = 1_000_000_000
NOW = (20777 * 86_400 + 12 * 3600) * S  # 2026-11-20T12:00:00Z (see test_timestamps)
NOW_S = NOW // S
TELEMETRY = "mainport/gemeente-dordrecht/aq-001/telemetry"
STATUS = "mainport/gemeente-dordrecht/aq-001/status"
COUNTERS = "mainport/_network/dmd-core-1/xe-0-0-1/counters"


def parse(
    topic: str,
    payload: bytes | object,
    *,
    root: str = "mainport",
    known_partners: Container[str] | None = None,
) -> Message:
    """parse_message at a fixed NOW; non-bytes payloads are JSON-encoded first."""
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return parse_message(topic, raw, NOW, root=root, known_partners=known_partners)


def telemetry(payload: bytes | object) -> Telemetry:
    result = parse(TELEMETRY, payload)
    assert isinstance(result, Telemetry), result
    return result


def rejected(
    topic: str,
    payload: bytes | object,
    reason: str,
    *,
    root: str = "mainport",
    known_partners: Container[str] | None = None,
) -> Rejected:
    result = parse(topic, payload, root=root, known_partners=known_partners)
    assert isinstance(result, Rejected), result
    assert result.reason == reason, result
    assert result.reason in REASONS
    return result
