"""InfluxDB line protocol, escaped per element kind.

Hand-written because it is small and hot: one call per point on the ingest path.
Escaping rules (InfluxDB 1.x docs, "Line protocol reference"):
measurement: comma, space; tag keys/values and field keys: comma, equals sign, space;
string field values: double quote and backslash. A newline would end the point, so in names it
becomes an escaped space and in string values a space. A backslash right before a character that
needs escaping (or at the end) cannot be expressed in 1.x names, so such a name is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

FieldValue = float | int | str | bool

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\ ", "\r": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\ ", "\r": r"\ "})
_AMBIGUOUS_BACKSLASH = re.compile(r"\\([,= \n\r]|$)")
_STRING = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " ", "\r": " "})

INT64_MAX = 2**63 - 1


def escape_measurement(name: str) -> str:
    _refuse_ambiguous_backslash(name)
    return name.translate(_MEASUREMENT)


def escape_key(key: str) -> str:
    """Escape a tag key, tag value or field key (refusing what 1.x cannot carry)."""
    if "\\" in key:
        _refuse_ambiguous_backslash(key)
    return key.translate(_KEY)


def _refuse_ambiguous_backslash(name: str) -> None:
    if _AMBIGUOUS_BACKSLASH.search(name):
        raise ValueError(
            f"name {name!r} has a backslash before a separator or at its end, "
            "which line protocol cannot carry"
        )


def format_field(value: FieldValue) -> str:
    """One field value; ints get the `i` suffix, strings are quoted and escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise ValueError(f"integer field {value} outside int64")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite field value {value}")
        return repr(value)
    return '"' + value.translate(_STRING) + '"'


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue],
    ts_ns: int,
) -> str:
    """One point. Tags are sorted (InfluxDB's preferred order); empty tag values are dropped
    because line protocol cannot express them."""
    if not fields:
        raise ValueError("a point needs at least one field")
    head = escape_measurement(measurement)
    tag_part = "".join(
        f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    field_part = ",".join(f"{escape_key(k)}={format_field(v)}" for k, v in fields.items())
    return f"{head}{tag_part} {field_part} {ts_ns}"
