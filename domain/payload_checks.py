"""The checks every payload parser shares (domain/messages.py, domain/senml.py): metric names,
the timestamp window, JSON decoding, and how a device-chosen value is shown in a detail.

A failed check raises `Reject(reason, detail)`, which unwinds the parser to `parse_message`;
the reason is one of `domain.messages.REASONS`.
"""

from __future__ import annotations

import re

import orjson

from domain.timestamps import JSON_TYPE_NAMES, check_window, format_rfc3339

MAX_METRICS = 256
"""Per message: all metrics of a JSON object, or all records with a value in a SenML pack."""

_METRIC_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
# InfluxDB refuses "time" as a field key; "partner" and "device" are the telemetry tags
# (timeseries/schema.py), and a field of the same name makes InfluxQL read the field instead.
_RESERVED_NAMES = frozenset(("time", "partner", "device"))
BOM = b"\xef\xbb\xbf"


class Reject(Exception):
    """`Reject(reason, detail)` unwinds a payload parser to `parse_message`."""


def decode(payload: bytes) -> object:
    if payload.startswith(BOM):  # some Windows/.NET serialisers write one; harmless
        payload = payload[len(BOM) :]
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        # orjson refuses numbers like 1e400 rather than making them inf; that is a value
        # problem, not a syntax one. (NaN/Infinity literals are not JSON: malformed.)
        reason = "non_finite_value" if "infinity" in message else "malformed_json"
        raise Reject(reason, f"not usable JSON: {message}") from None


def check_time_window(ts: int, now: int, where: str) -> None:
    if reason := check_window(ts, now):
        how = "more than 365 days ago" if reason == "ts_too_old" else "over 10 minutes ahead"
        raise Reject(reason, f"{where}: {format_rfc3339(ts)} is {how}")


_GOOD_NAMES: set[str] = set()


def check_name(name: str, where: str) -> None:
    # Names repeat message after message; remembering good ones skips the regex. Bounded,
    # since names come from devices.
    if name in _GOOD_NAMES:
        return
    if _METRIC_NAME_RE.fullmatch(name) is None or name.lower() in _RESERVED_NAMES:
        detail = f"{where}: {show(name)} is reserved or not 1-64 of A-Za-z0-9_.:/- (alnum first)"
        raise Reject("bad_metric_name", detail)
    if len(_GOOD_NAMES) < 50_000:
        _GOOD_NAMES.add(name)


def json_type(value: object) -> str:
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def show(text: str) -> str:
    """A device-chosen string for a detail: clipped, and repr() escapes control characters
    and lone surrogates, so the detail stays one printable line of valid UTF-8."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def show_value(value: object) -> str:
    if isinstance(value, str):
        return show(value)
    return repr(value) if type(value) in (int, float) else json_type(value)
