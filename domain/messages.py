"""One MQTT message in, validated data or a rejection reason out: the ingest's hot path.

`parse_message` never raises: bad device data is a `Rejected` with a stable reason code (a
Prometheus label value and the dead-letter key) and a short `detail` saying what and where.

Choices the SPEC leaves open, written down here:
- Metric names: 1-64 chars, the SenML name alphabet (RFC 8428 §4.5.1: A-Z a-z 0-9 - : . / _,
  first char alphanumeric), and none of _RESERVED_NAMES in any case.
- Metric values are floats, integers included: a metric first sent as 21 and then 21.5 would
  otherwise be an int/float field type conflict in InfluxDB, which drops the second write.
- A SenML record's metric name is its `n`, or `bn` when it has no `n`: `bn` names the device,
  which the topic already does, not the metric. A name twice at one time is `bad_senml`.
- SenML times are seconds (RFC 8428, not our ms rule); resolved times below 2**28 are relative
  to the receive time (then `ts_from_device` is False). A pack with records at several times
  becomes a `TelemetryBatch` of one `Telemetry` per time, in time order.
- `"ts": null` means no ts. A UTF-8 byte order mark before JSON is ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TypeAlias

import orjson

from domain.registry import DEVICE_ID_RE, NETWORK, SLUG_RE
from domain.timestamps import (
    JSON_TYPE_NAMES,
    TimestampError,
    check_window,
    format_rfc3339,
    parse_timestamp,
    seconds_to_ns,
)

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_METRICS = 256
"""Per message: all metrics of a JSON object, or all records with a value in a SenML pack."""
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

_METRIC_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
# InfluxDB refuses "time" as a field key; "partner" and "device" are the telemetry tags
# (timeseries/schema.py), and a field of the same name makes InfluxQL read the field instead.
_RESERVED_NAMES = frozenset(("time", "partner", "device"))
_SENML_RELATIVE_S = 2**28
_U64_LIMIT = 2**64
_BOM = b"\xef\xbb\xbf"
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


class _Reject(Exception):
    """Internal: `_Reject(reason, detail)` unwinds a payload parser to `parse_message`."""


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
    except _Reject as exc:
        rejected = _rejected(partner, *exc.args)
        own = _own_time(payload, received_ns) if exc.args[0] not in _TIME_REASONS else None
        return rejected if own is None else replace(rejected, ts_ns=own)


@lru_cache(maxsize=16_384)
def _route(topic: str, root: str) -> tuple[str, str, str, str] | Rejected:
    """(kind, partner, device or switch, port) of a topic, or why it is not ours."""
    prefix = root + "/"
    if not topic.startswith(prefix):
        return _rejected(UNKNOWN, "bad_topic", f"topic {_show(topic)} is not under {root}/")
    parts = topic[len(prefix) :].split("/")
    first = parts[0]
    if first == NETWORK:
        if len(parts) == 3 and parts[2] == "_collector":
            if not SLUG_RE.fullmatch(parts[1]):
                detail = f"switch id {_show(parts[1])} is not a slug ([a-z0-9][a-z0-9-]{{1,31}})"
                return _rejected(NETWORK, "bad_port_id", detail)
            return ("collector", NETWORK, parts[1], "")
        if len(parts) != 4 or parts[3] != "counters":
            detail = (
                f"expected {root}/_network/{{switch}}/{{port}}/counters or "
                f"{root}/_network/{{switch}}/_collector, got {_show(topic)}"
            )
            return _rejected(NETWORK, "bad_topic", detail)
        for what, value in (("switch", parts[1]), ("port", parts[2])):
            if not SLUG_RE.fullmatch(value):
                detail = f"{what} id {_show(value)} is not a slug ([a-z0-9][a-z0-9-]{{1,31}})"
                return _rejected(NETWORK, "bad_port_id", detail)
        return ("counters", NETWORK, parts[1], parts[2])
    valid_partner = SLUG_RE.fullmatch(first) is not None
    label = first if valid_partner else UNKNOWN
    if len(parts) != 3 or parts[2] not in ("telemetry", "status"):
        detail = f"expected {root}/{{partner}}/{{device}}/telemetry|status, got {_show(topic)}"
        return _rejected(label, "bad_topic", detail)
    if not valid_partner:
        detail = f"partner id {_show(first)} is not a slug ([a-z0-9][a-z0-9-]{{1,31}})"
        return _rejected(label, "bad_partner_id", detail)
    if not DEVICE_ID_RE.fullmatch(parts[1]):
        detail = f"device id {_show(parts[1])} is not [A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}"
        return _rejected(label, "bad_device_id", detail)
    return (parts[2], first, parts[1], "")


def _telemetry(partner: str, device: str, payload: bytes, now: int) -> Telemetry | TelemetryBatch:
    doc = _decode(payload)
    if isinstance(doc, list):
        return _senml(partner, device, doc, now)
    if not isinstance(doc, dict):
        raise _Reject("bad_shape", f"expected a JSON object or SenML array, got {_type(doc)}")
    ts, from_device = _doc_ts(doc, now)
    raw = doc.get("metrics")
    if not isinstance(raw, dict):
        got = _type(raw) if "metrics" in doc else "nothing"
        raise _Reject("bad_shape", f"metrics: expected an object, got {got}")
    if not raw:
        raise _Reject("no_metrics", "metrics is empty")
    if len(raw) > MAX_METRICS:
        raise _Reject("too_many_metrics", f"{len(raw)} metrics, at most {MAX_METRICS}")
    metrics: dict[str, float] = {}
    for name, value in raw.items():
        _check_name(name, "metrics")
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):  # orjson refuses inf/nan; a guard should that change
                raise _Reject("non_finite_value", f"metrics.{name}: {value} is not finite")
            metrics[name] = value
        elif kind is int:
            metrics[name] = float(value)
        else:
            detail = f"metrics.{name}: expected a number, got {_type(value)}"
            raise _Reject("non_numeric_value", detail)
    return Telemetry(partner, device, ts, metrics, {}, from_device)


def _senml(partner: str, device: str, pack: list[object], now: int) -> Telemetry | TelemetryBatch:
    """RFC 8428 pack: base fields carry forward; time = bt + t; value = bv + v."""
    if not pack:
        raise _Reject("no_metrics", "SenML pack is empty")
    if len(pack) > MAX_METRICS:
        raise _Reject("too_many_metrics", f"{len(pack)} SenML records, at most {MAX_METRICS}")
    base_name: str | None = None
    base_unit: str | None = None
    base_time: float = 0
    base_value: float = 0
    groups: dict[int, Telemetry] = {}
    for i, rec in enumerate(pack):
        if not isinstance(rec, dict):
            raise _Reject("bad_senml", f"record {i}: expected an object, got {_type(rec)}")
        for key in rec:
            if key.endswith("_"):  # RFC 8428 §4.4: must-understand fields
                raise _Reject("bad_senml", f"record {i}: unsupported field {_show(key)}")
        if "bn" in rec:
            base_name = _text(rec, "bn", i)
        if "bu" in rec:
            base_unit = _unit(rec, "bu", i)
        if "bt" in rec:
            base_time = _number(rec, "bt", i, "bad_timestamp")
        if "bv" in rec:
            base_value = _number(rec, "bv", i, "bad_senml")
        if "v" in rec:
            if "vb" in rec:
                raise _Reject("bad_senml", f"record {i}: both v and vb")
            value = float(base_value + _number(rec, "v", i, "non_numeric_value"))
        elif "vb" in rec:
            if not isinstance(flag := rec["vb"], bool):
                raise _Reject("non_numeric_value", f"record {i}: vb is {_type(flag)}, not boolean")
            value = 1.0 if flag else 0.0
        elif "vs" in rec or "vd" in rec:
            raise _Reject("non_numeric_value", f"record {i}: string/data values are not numbers")
        elif "n" in rec or "t" in rec or "u" in rec or "s" in rec:
            raise _Reject("bad_senml", f"record {i}: no numeric value (v or vb)")
        else:
            continue  # a record of base fields only
        name = _text(rec, "n", i) if "n" in rec else base_name
        if name is None:
            raise _Reject("bad_metric_name", f"record {i}: no name (n or bn)")
        _check_name(name, f"record {i}")
        if not math.isfinite(value):
            raise _Reject("non_finite_value", f"record {i} ({name}): bv + v is not finite")
        seconds = base_time + (_number(rec, "t", i, "bad_timestamp") if "t" in rec else 0)
        relative = seconds < _SENML_RELATIVE_S
        try:
            ts = seconds_to_ns(seconds) + (now if relative else 0)
        except TimestampError as exc:
            raise _Reject("bad_timestamp", f"record {i}: {exc}") from None
        item = groups.get(ts)
        if item is None:
            _check_window(ts, now, f"record {i}")
            # Frozen, but its metrics/units dicts are filled in as records arrive.
            item = groups[ts] = Telemetry(partner, device, ts, {}, {}, not relative)
        if name in item.metrics:
            raise _Reject("bad_senml", f"record {i}: {name} appears twice at one time")
        item.metrics[name] = value
        if (unit := _unit(rec, "u", i) if "u" in rec else base_unit) is not None:
            item.units[name] = unit
    if not groups:
        raise _Reject("no_metrics", "SenML pack has no record with a value")
    if len(groups) == 1:
        return next(iter(groups.values()))
    return TelemetryBatch(partner, device, tuple(groups[ts] for ts in sorted(groups)))


def _status(partner: str, device: str, payload: bytes, now: int) -> Status:
    """Plain `online`/`offline` (as MQTT Last Wills are usually set), or JSON with a state."""
    word = payload.strip().lower()
    if word in (b"online", b"offline"):
        return Status(partner, device, now, word == b"online", False)
    if word[:1] not in (b"{", b'"', b"[") and not word.startswith(_BOM):
        got = _show(payload[:41].decode("utf-8", "replace"))
        raise _Reject("bad_status", f"expected online, offline or JSON, got {got}")
    doc = _decode(payload)
    if isinstance(doc, str):
        doc = {"state": doc.strip()}
    if not isinstance(doc, dict):
        raise _Reject("bad_shape", f"expected a JSON object with state, got {_type(doc)}")
    state = doc.get("state")
    if not isinstance(state, str) or state.lower() not in ("online", "offline"):
        raise _Reject("bad_status", f"state: expected online or offline, got {_show_value(state)}")
    ts, from_device = _doc_ts(doc, now)
    return Status(partner, device, ts, state.lower() == "online", from_device)


def _counters(switch: str, port: str, payload: bytes, now: int) -> Counters:
    doc = _decode(payload)
    if not isinstance(doc, dict):
        raise _Reject("bad_shape", f"expected a JSON object, got {_type(doc)}")
    ts, from_device = _doc_ts(doc, now)
    octets = []
    for key in ("in_octets", "out_octets"):
        value = doc.get(key)
        # orjson turns integers beyond 2**64-1 into floats, so those fail the int test too.
        if type(value) is not int or not 0 <= value < _U64_LIMIT:
            detail = f"{key}: expected an integer 0..2**64-1, got {_show_value(value)}"
            raise _Reject("bad_counters", detail)
        octets.append(value)
    status = doc.get("oper_status")
    if not isinstance(status, str) or status.lower() not in ("up", "down"):
        detail = f"oper_status: expected up or down, got {_show_value(status)}"
        raise _Reject("bad_counters", detail)
    return Counters(switch, port, ts, octets[0], octets[1], status.lower() == "up", from_device)


def _collector(switch: str, payload: bytes, now: int) -> CollectorReport:
    """`{"ts": T?, "reachable": bool}`, and optionally the poll's `latency_s` and `error`."""
    doc = _decode(payload)
    if not isinstance(doc, dict):
        raise _Reject("bad_shape", f"expected a JSON object, got {_type(doc)}")
    ts, from_device = _doc_ts(doc, now)
    reachable = doc.get("reachable")
    if not isinstance(reachable, bool):
        detail = f"reachable: expected true or false, got {_show_value(reachable)}"
        raise _Reject("bad_collector", detail)
    latency = doc.get("latency_s")
    if latency is not None and (type(latency) not in (int, float) or not 0 <= latency < 3600):
        detail = f"latency_s: expected seconds 0..3600, got {_show_value(latency)}"
        raise _Reject("bad_collector", detail)
    error = doc.get("error")
    if error is not None and not isinstance(error, str):
        raise _Reject("bad_collector", f"error: expected a string, got {_show_value(error)}")
    return CollectorReport(
        switch,
        ts,
        reachable,
        None if latency is None else float(latency),
        None if error is None else error[:MAX_DETAIL],
        from_device,
    )


def _decode(payload: bytes) -> object:
    if payload.startswith(_BOM):  # some Windows/.NET serialisers write one; harmless
        payload = payload[len(_BOM) :]
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        # orjson refuses numbers like 1e400 rather than making them inf; that is a value
        # problem, not a syntax one. (NaN/Infinity literals are not JSON: malformed.)
        reason = "non_finite_value" if "infinity" in message else "malformed_json"
        raise _Reject(reason, f"not usable JSON: {message}") from None


def _own_time(payload: bytes, now: int) -> int | None:
    """The top-level `ts` of a JSON object payload, when it is valid (rejected messages only:
    parsing again costs, but only for them)."""
    try:
        doc = _decode(payload)
        if isinstance(doc, dict) and "ts" in doc:
            return _doc_ts(doc, now)[0]
    except _Reject:
        pass
    return None


def _doc_ts(doc: dict[str, object], now: int) -> tuple[int, bool]:
    raw = doc.get("ts")
    if raw is None:
        return now, False
    try:
        ts = parse_timestamp(raw)
    except TimestampError as exc:
        raise _Reject("bad_timestamp", f"ts: {exc}") from None
    _check_window(ts, now, "ts")
    return ts, True


def _check_window(ts: int, now: int, where: str) -> None:
    if reason := check_window(ts, now):
        how = "more than 365 days ago" if reason == "ts_too_old" else "over 10 minutes ahead"
        raise _Reject(reason, f"{where}: {format_rfc3339(ts)} is {how}")


_GOOD_NAMES: set[str] = set()


def _check_name(name: str, where: str) -> None:
    # Names repeat message after message; remembering good ones skips the regex. Bounded,
    # since names come from devices.
    if name in _GOOD_NAMES:
        return
    if _METRIC_NAME_RE.fullmatch(name) is None or name.lower() in _RESERVED_NAMES:
        detail = f"{where}: {_show(name)} is reserved or not 1-64 of A-Za-z0-9_.:/- (alnum first)"
        raise _Reject("bad_metric_name", detail)
    if len(_GOOD_NAMES) < 50_000:
        _GOOD_NAMES.add(name)


def _text(rec: dict[str, object], key: str, i: int) -> str:
    if not isinstance(value := rec[key], str):
        raise _Reject("bad_senml", f"record {i}: {key} must be a string, got {_type(value)}")
    return value


def _unit(rec: dict[str, object], key: str, i: int) -> str:
    if not 0 < len(unit := _text(rec, key, i)) <= 32 or not unit.isprintable():
        raise _Reject("bad_senml", f"record {i}: {key} {_show(unit)} is not a unit")
    return unit


def _number(rec: dict[str, object], key: str, i: int, reason: str) -> float:
    value = rec[key]
    if type(value) is float or type(value) is int:
        return value
    raise _Reject(reason, f"record {i}: {key} must be a number, got {_type(value)}")


def _rejected(partner: str, reason: str, detail: str) -> Rejected:
    return Rejected(partner, reason, detail if len(detail) <= MAX_DETAIL else detail[:199] + "…")


def _type(value: object) -> str:
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _show(text: str) -> str:
    """A device-chosen string for a detail: clipped, and repr() escapes control characters
    and lone surrogates, so the detail stays one printable line of valid UTF-8."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _show_value(value: object) -> str:
    if isinstance(value, str):
        return _show(value)
    return repr(value) if type(value) in (int, float) else _type(value)
