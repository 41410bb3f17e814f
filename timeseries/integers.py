"""Unsigned 64-bit counters in InfluxDB 1.x, whose integers are signed int64.

Fibre counters are unsigned 64-bit (SPEC); values >= 2^63 are stored wrapped into the negative
range and unwrapped on read. The ingest writes with `as_int64`, the deriver and the API read with
`as_uint64`: this module is the one place the wrap is defined.
"""

from __future__ import annotations


def as_int64(value: int) -> int:
    """An unsigned 64-bit counter as InfluxDB 1.x stores it: wrapped into int64."""
    return value - 2**64 if value >= 2**63 else value


def as_uint64(value: int) -> int:
    """Inverse of `as_int64`: the counter value a stored integer stands for."""
    return value + 2**64 if value < 0 else value
