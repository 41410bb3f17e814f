"""A SenML pack (RFC 8428) of a telemetry message → its readings, grouped by time.

Each record is read in two steps: first its base fields (`bn`, `bu`, `bt`, `bv`) update the
base that carries forward to the records after it (`_Base.resolve`), then the record itself is
validated against that base (`_reading`). Choices the RFC leaves to us are in the docstring of
domain/messages.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from domain.payload_checks import (
    MAX_METRICS,
    Reject,
    check_name,
    check_time_window,
    json_type,
    show,
)
from domain.timestamps import TimestampError, seconds_to_ns

T = TypeVar("T")

_RELATIVE_S = 2**28
"""Resolved times below this are seconds relative to the receive time (RFC 8428 §4.5.3)."""
_BASE_FIELDS = frozenset(("bn", "bu", "bt", "bv"))

Make = Callable[[int, dict[str, float], dict[str, str], bool], T]
"""Builds the caller's value for one time: (ts_ns, metrics, units, ts_from_device)."""


@dataclass(slots=True)
class _Base:
    """The base fields in force: set by a record, they carry forward to the ones after it."""

    name: str | None = None
    unit: str | None = None
    time: float = 0
    value: float = 0

    def resolve(self, rec: dict[str, object], i: int) -> None:
        """Take record `i`'s base fields."""
        if "bn" in rec:
            self.name = _text(rec, "bn", i)
        if "bu" in rec:
            self.unit = _unit(rec, "bu", i)
        if "bt" in rec:
            self.time = _number(rec, "bt", i, "bad_timestamp")
        if "bv" in rec:
            self.value = _number(rec, "bv", i, "bad_senml")


_Reading = tuple[str, float, int, bool]
"""(name, value, ts_ns, relative) of one record."""


def parse_senml(pack: list[object], now: int, make: Make[T]) -> list[T]:
    """The pack's readings grouped by time, one `make(...)` per time, in time order; `Reject`
    when any record is bad. Time = bt + t; value = bv + v; the name is `n`, or `bn` when there
    is no `n`."""
    if not pack:
        raise Reject("no_metrics", "SenML pack is empty")
    if len(pack) > MAX_METRICS:
        raise Reject("too_many_metrics", f"{len(pack)} SenML records, at most {MAX_METRICS}")
    base = _Base()
    groups: dict[int, tuple[dict[str, float], dict[str, str], bool]] = {}
    for i, rec in enumerate(pack):
        if not isinstance(rec, dict):
            raise Reject("bad_senml", f"record {i}: expected an object, got {json_type(rec)}")
        for key in rec:
            if key.endswith("_"):  # RFC 8428 §4.4: must-understand fields
                raise Reject("bad_senml", f"record {i}: unsupported field {show(key)}")
        if not _BASE_FIELDS.isdisjoint(rec):
            base.resolve(rec, i)
        reading = _reading(rec, i, base, now)
        if reading is None:
            continue  # a record of base fields only
        name, value, ts, relative = reading
        group = groups.get(ts)
        if group is None:
            check_time_window(ts, now, f"record {i}")
            group = groups[ts] = ({}, {}, not relative)
        metrics, units, _ = group
        if name in metrics:
            raise Reject("bad_senml", f"record {i}: {name} appears twice at one time")
        metrics[name] = value
        if (unit := _unit(rec, "u", i) if "u" in rec else base.unit) is not None:
            units[name] = unit
    if not groups:
        raise Reject("no_metrics", "SenML pack has no record with a value")
    return [make(ts, *groups[ts]) for ts in sorted(groups)]


def _reading(rec: dict[str, object], i: int, base: _Base, now: int) -> _Reading | None:
    """Record `i` resolved against `base`; None for a record of base fields only."""
    if "v" in rec:
        if "vb" in rec:
            raise Reject("bad_senml", f"record {i}: both v and vb")
        value = float(base.value + _number(rec, "v", i, "non_numeric_value"))
    elif "vb" in rec:
        if not isinstance(flag := rec["vb"], bool):
            raise Reject("non_numeric_value", f"record {i}: vb is {json_type(flag)}, not boolean")
        value = 1.0 if flag else 0.0
    elif "vs" in rec or "vd" in rec:
        raise Reject("non_numeric_value", f"record {i}: string/data values are not numbers")
    elif "n" in rec or "t" in rec or "u" in rec or "s" in rec:
        raise Reject("bad_senml", f"record {i}: no numeric value (v or vb)")
    else:
        return None
    name = _text(rec, "n", i) if "n" in rec else base.name
    if name is None:
        raise Reject("bad_metric_name", f"record {i}: no name (n or bn)")
    check_name(name, f"record {i}")
    if not math.isfinite(value):
        raise Reject("non_finite_value", f"record {i} ({name}): bv + v is not finite")
    seconds = base.time + (_number(rec, "t", i, "bad_timestamp") if "t" in rec else 0)
    relative = seconds < _RELATIVE_S
    try:
        ts = seconds_to_ns(seconds) + (now if relative else 0)
    except TimestampError as exc:
        raise Reject("bad_timestamp", f"record {i}: {exc}") from None
    return name, value, ts, relative


def _text(rec: dict[str, object], key: str, i: int) -> str:
    if not isinstance(value := rec[key], str):
        raise Reject("bad_senml", f"record {i}: {key} must be a string, got {json_type(value)}")
    return value


def _unit(rec: dict[str, object], key: str, i: int) -> str:
    if not 0 < len(unit := _text(rec, key, i)) <= 32 or not unit.isprintable():
        raise Reject("bad_senml", f"record {i}: {key} {show(unit)} is not a unit")
    return unit


def _number(rec: dict[str, object], key: str, i: int, reason: str) -> float:
    value = rec[key]
    if type(value) is float or type(value) is int:
        return value
    raise Reject(reason, f"record {i}: {key} must be a number, got {json_type(value)}")
