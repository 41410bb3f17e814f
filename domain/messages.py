"""One MQTT message in, validated data or a rejection reason out: the ingest's hot path.

`parse_message` never raises: bad device data is a `Rejected` with a stable reason code (a
Prometheus label value and the dead-letter key) and a short `detail` saying what and where.

Choices the SPEC leaves open, written down here:
- Metric names: 1-64 chars, the SenML name alphabet (RFC 8428 §4.5.1: A-Z a-z 0-9 - : . / _,
  first char alphanumeric), and none of the reserved names in any case (domain/payload_checks.py).
- Metric values are floats, integers included: a metric first sent as 21 and then 21.5 would
  otherwise be an int/float field type conflict in InfluxDB, which drops the second write.
- A SenML record's metric name is its `n`, or `bn` when it has no `n`: `bn` names the device,
  which the topic already does, not the metric. A name twice at one time is `bad_senml`.
- SenML times are seconds (RFC 8428, not our ms rule); resolved times below 2**28 are relative
  to the receive time (then `ts_from_device` is False). A pack with records at several times
  becomes a `TelemetryBatch` of one `Telemetry` per time, in time order.
- `"ts": null` means no ts. A UTF-8 byte order mark before JSON is ignored.

SenML packs are read by domain/senml.py; the checks both share are in domain/payload_checks.py.
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import TypeAlias

from domain.payload_checks import (
    BOM,
    MAX_METRICS,
    Reject,
    check_name,
    check_time_window,
    decode,
    json_type,
    show,
    show_value,
)
from domain.registry import DEVICE_ID_RE, NETWORK, SLUG_RE
from domain.senml import parse_senml
from domain.timestamps import TimestampError, parse_timestamp

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_DETAIL = 200
UNKNOWN = "_unknown"
"""`Rejected.partner` when the topic names no valid partner (never a slug: slugs have no '_')."""

# fmt: off
REASONS = frozenset((
    "payload_too_large", "bad_topic", "bad_partner_id", "unknown_partner", "bad_device_id",
    "bad_port_id", "malformed_json", "bad_shape", "no_metrics", "too_many_metrics",
    "bad_metric_name", "non_numeric_value", "non_finite_value", "bad_timestamp", "ts_too_old",
    "ts_in_future", "bad_status", "bad_counters", "bad_senml", "bad_collector",
))
# fmt: on
"""Every `Rejected.reason`, so counters can be created up front."""

_U64_LIMIT = 2**64
_TIME_REASONS = frozenset({"bad_timestamp", "ts_too_old", "ts_in_future"})
"""Rejections whose reason is the timestamp itself: counted when received."""


@dataclass(frozen=True, slots=True)
class Telemetry:
    partner: str
    device: str
    ts_ns: int
    metrics: dict[str, float]
    units: dict[str, str]
    ts_from_device: bool


@dataclass(frozen=True, slots=True)
class TelemetryBatch:
    """A SenML pack with records at several times: one `Telemetry` per time, in time order."""

    partner: str
    device: str
    items: tuple[Telemetry, ...]


@dataclass(frozen=True, slots=True)
class Status:
    partner: str
    device: str
    ts_ns: int
    online: bool
    ts_from_device: bool


@dataclass(frozen=True, slots=True)
class Counters:
    switch: str
    port: str
    ts_ns: int
    in_octets: int
    out_octets: int
    up: bool
    ts_from_device: bool


@dataclass(frozen=True, slots=True)
class CollectorReport:
    """`{root}/_network/{switch}/_collector`: whether the SNMP collector reached the switch.
    While it did not, the switch's ports' time is unknown (SPEC link uptime), not down."""

    switch: str
    ts_ns: int
    reachable: bool
    latency_s: float | None
    error: str | None
    ts_from_device: bool
    speed_mismatch: tuple[tuple[str, int], ...] = ()
    """(port, ifHighSpeed Mbit/s) where the switch's speed is not the registry's capacity."""


@dataclass(frozen=True, slots=True)
class Rejected:
    partner: str
    """The topic's partner when a valid slug, "_network" for network topics, else "_unknown"."""
    reason: str
    detail: str
    ts_ns: int | None = None
    """The message's own `ts` when it could be read and lies in the accepted window: SPEC counts
    a rejected message there, so a replay lands in the window it describes."""


Message: TypeAlias = Telemetry | TelemetryBatch | Status | Counters | CollectorReport | Rejected


def parse_message(
    topic: str,
    payload: bytes,
    received_ns: int,
    *,
    root: str = "mainport",
    known_partners: Container[str] | None = None,
) -> Message:
    """Validate one MQTT message. Never raises, for any str topic and any bytes payload.

    `received_ns` stands in for a missing ts and is "now" for the too-old/too-future window.
    `known_partners` None accepts any valid slug.
    """
    # Topics repeat (one per device), so their checks are cached; long ones are never valid
    # and would only bloat the cache.
    route = _route(topic, root) if len(topic) <= 256 else _route.__wrapped__(topic, root)
    if isinstance(route, Rejected):
        return route
    kind, partner, device, port = route
    if known_partners is not None and partner != NETWORK and partner not in known_partners:
        return Rejected(partner, "unknown_partner", f"partner {partner!r} is not registered")
    if len(payload) > MAX_PAYLOAD_BYTES:
        detail = f"payload is {len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}"
        return Rejected(partner, "payload_too_large", detail)
    try:
        if kind == "telemetry":
            return _telemetry(partner, device, payload, received_ns)
        if kind == "status":
            return _status(partner, device, payload, received_ns)
        if kind == "collector":
            return _collector(device, payload, received_ns)
        return _counters(device, port, payload, received_ns)
    except Reject as exc:
        rejected = _rejected(partner, *exc.args)
        own = _own_time(payload, received_ns) if exc.args[0] not in _TIME_REASONS else None
        return rejected if own is None else replace(rejected, ts_ns=own)


ALERTS = "_alerts"
"""`{root}/{partner}/_alerts`: Mainport's own alerts to a partner (the alert service publishes
them; the broker lets nobody else). Not telemetry: the ingest passes them by."""


_ALERTS_SUFFIX = "/" + ALERTS


def is_alert_topic(topic: str, root: str) -> bool:
    """Asked of every message the ingest takes, so the cheap test comes first: nothing is split
    or allocated for a telemetry topic."""
    return (
        topic.endswith(_ALERTS_SUFFIX)
        and topic.count("/") == 2
        and topic.startswith(root)
        and topic[len(root)] == "/"
    )


@lru_cache(maxsize=16_384)
def _route(topic: str, root: str) -> tuple[str, str, str, str] | Rejected:
    """(kind, partner, device or switch, port) of a topic, or why it is not ours."""
    prefix = root + "/"
    if not topic.startswith(prefix):
        return _rejected(UNKNOWN, "bad_topic", f"topic {show(topic)} is not under {root}/")
    parts = topic[len(prefix) :].split("/")
    first = parts[0]
    if first == NETWORK:
        if len(parts) == 3 and parts[2] == "_collector":
            if not SLUG_RE.fullmatch(parts[1]):
                detail = f"switch id {show(parts[1])} is not a slug ([a-z0-9][a-z0-9-]{{1,31}})"
                return _rejected(NETWORK, "bad_port_id", detail)
            return ("collector", NETWORK, parts[1], "")
        if len(parts) != 4 or parts[3] != "counters":
            detail = (
                f"expected {root}/_network/{{switch}}/{{port}}/counters or "
                f"{root}/_network/{{switch}}/_collector, got {show(topic)}"
            )
            return _rejected(NETWORK, "bad_topic", detail)
        for what, value in (("switch", parts[1]), ("port", parts[2])):
            if not SLUG_RE.fullmatch(value):
                detail = f"{what} id {show(value)} is not a slug ([a-z0-9][a-z0-9-]{{1,31}})"
                return _rejected(NETWORK, "bad_port_id", detail)
        return ("counters", NETWORK, parts[1], parts[2])
    valid_partner = SLUG_RE.fullmatch(first) is not None
    label = first if valid_partner else UNKNOWN
    if len(parts) != 3 or parts[2] not in ("telemetry", "status"):
        detail = f"expected {root}/{{partner}}/{{device}}/telemetry|status, got {show(topic)}"
        return _rejected(label, "bad_topic", detail)
    if not valid_partner:
        detail = f"partner id {show(first)} is not a slug ([a-z0-9][a-z0-9-]{{1,31}})"
        return _rejected(label, "bad_partner_id", detail)
    if not DEVICE_ID_RE.fullmatch(parts[1]):
        detail = f"device id {show(parts[1])} is not [A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}"
        return _rejected(label, "bad_device_id", detail)
    return (parts[2], first, parts[1], "")


def _telemetry(partner: str, device: str, payload: bytes, now: int) -> Telemetry | TelemetryBatch:
    doc = decode(payload)
    if isinstance(doc, list):
        return _senml(partner, device, doc, now)
    if not isinstance(doc, dict):
        raise Reject("bad_shape", f"expected a JSON object or SenML array, got {json_type(doc)}")
    ts, from_device = _doc_ts(doc, now)
    raw = doc.get("metrics")
    if not isinstance(raw, dict):
        got = json_type(raw) if "metrics" in doc else "nothing"
        raise Reject("bad_shape", f"metrics: expected an object, got {got}")
    if not raw:
        raise Reject("no_metrics", "metrics is empty")
    if len(raw) > MAX_METRICS:
        raise Reject("too_many_metrics", f"{len(raw)} metrics, at most {MAX_METRICS}")
    metrics: dict[str, float] = {}
    for name, value in raw.items():
        check_name(name, "metrics")
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):  # orjson refuses inf/nan; a guard should that change
                raise Reject("non_finite_value", f"metrics.{name}: {value} is not finite")
            metrics[name] = value
        elif kind is int:
            metrics[name] = float(value)
        else:
            detail = f"metrics.{name}: expected a number, got {json_type(value)}"
            raise Reject("non_numeric_value", detail)
    return Telemetry(partner, device, ts, metrics, {}, from_device)


def _senml(partner: str, device: str, pack: list[object], now: int) -> Telemetry | TelemetryBatch:
    """A SenML pack (domain/senml.py): one `Telemetry`, or a batch when it holds several times."""
    items = parse_senml(pack, now, partial(Telemetry, partner, device))
    return items[0] if len(items) == 1 else TelemetryBatch(partner, device, tuple(items))


def _status(partner: str, device: str, payload: bytes, now: int) -> Status:
    """Plain `online`/`offline` (as MQTT Last Wills are usually set), or JSON with a state."""
    word = payload.strip().lower()
    if word in (b"online", b"offline"):
        return Status(partner, device, now, word == b"online", False)
    if word[:1] not in (b"{", b'"', b"[") and not word.startswith(BOM):
        got = show(payload[:41].decode("utf-8", "replace"))
        raise Reject("bad_status", f"expected online, offline or JSON, got {got}")
    doc = decode(payload)
    if isinstance(doc, str):
        doc = {"state": doc.strip()}
    if not isinstance(doc, dict):
        raise Reject("bad_shape", f"expected a JSON object with state, got {json_type(doc)}")
    state = doc.get("state")
    if not isinstance(state, str) or state.lower() not in ("online", "offline"):
        raise Reject("bad_status", f"state: expected online or offline, got {show_value(state)}")
    ts, from_device = _doc_ts(doc, now)
    return Status(partner, device, ts, state.lower() == "online", from_device)


def _counters(switch: str, port: str, payload: bytes, now: int) -> Counters:
    doc = decode(payload)
    if not isinstance(doc, dict):
        raise Reject("bad_shape", f"expected a JSON object, got {json_type(doc)}")
    ts, from_device = _doc_ts(doc, now)
    octets = []
    for key in ("in_octets", "out_octets"):
        value = doc.get(key)
        # orjson turns integers beyond 2**64-1 into floats, so those fail the int test too.
        if type(value) is not int or not 0 <= value < _U64_LIMIT:
            detail = f"{key}: expected an integer 0..2**64-1, got {show_value(value)}"
            raise Reject("bad_counters", detail)
        octets.append(value)
    status = doc.get("oper_status")
    if not isinstance(status, str) or status.lower() not in ("up", "down"):
        detail = f"oper_status: expected up or down, got {show_value(status)}"
        raise Reject("bad_counters", detail)
    return Counters(switch, port, ts, octets[0], octets[1], status.lower() == "up", from_device)


def _collector(switch: str, payload: bytes, now: int) -> CollectorReport:
    """`{"ts": T?, "reachable": bool}`, and optionally the poll's `latency_s` and `error`."""
    doc = decode(payload)
    if not isinstance(doc, dict):
        raise Reject("bad_shape", f"expected a JSON object, got {json_type(doc)}")
    ts, from_device = _doc_ts(doc, now)
    reachable = doc.get("reachable")
    if not isinstance(reachable, bool):
        detail = f"reachable: expected true or false, got {show_value(reachable)}"
        raise Reject("bad_collector", detail)
    latency = doc.get("latency_s")
    if latency is not None and (type(latency) not in (int, float) or not 0 <= latency < 3600):
        detail = f"latency_s: expected seconds 0..3600, got {show_value(latency)}"
        raise Reject("bad_collector", detail)
    error = doc.get("error")
    if error is not None and not isinstance(error, str):
        raise Reject("bad_collector", f"error: expected a string, got {show_value(error)}")
    return CollectorReport(
        switch,
        ts,
        reachable,
        None if latency is None else float(latency),
        None if error is None else error[:MAX_DETAIL],
        from_device,
        _speed_mismatch(doc.get("speed_mismatch")),
    )


MAX_SPEED_MBPS = 2**32 - 1  # ifHighSpeed is a Gauge32


def _speed_mismatch(value: object) -> tuple[tuple[str, int], ...]:
    """`{"port": ifHighSpeed Mbit/s, ...}` of the collector's report, or nothing."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        detail = f"speed_mismatch: expected an object of port: Mbit/s, got {json_type(value)}"
        raise Reject("bad_collector", detail)
    out = []
    for port, mbps in value.items():
        if not SLUG_RE.fullmatch(port):
            raise Reject("bad_collector", f"speed_mismatch: port {show(port)} is not a port id")
        if type(mbps) is not int or not 0 <= mbps <= MAX_SPEED_MBPS:
            detail = f"speed_mismatch.{port}: expected Mbit/s 0..2^32-1, got {show_value(mbps)}"
            raise Reject("bad_collector", detail)
        out.append((port, mbps))
    return tuple(sorted(out))


def _own_time(payload: bytes, now: int) -> int | None:
    """The top-level `ts` of a JSON object payload, when it is valid (rejected messages only:
    parsing again costs, but only for them)."""
    try:
        doc = decode(payload)
        if isinstance(doc, dict) and "ts" in doc:
            return _doc_ts(doc, now)[0]
    except Reject:
        pass
    return None


def _doc_ts(doc: dict[str, object], now: int) -> tuple[int, bool]:
    raw = doc.get("ts")
    if raw is None:
        return now, False
    try:
        ts = parse_timestamp(raw)
    except TimestampError as exc:
        raise Reject("bad_timestamp", f"ts: {exc}") from None
    check_time_window(ts, now, "ts")
    return ts, True


def _rejected(partner: str, reason: str, detail: str) -> Rejected:
    return Rejected(partner, reason, detail if len(detail) <= MAX_DETAIL else detail[:199] + "…")
