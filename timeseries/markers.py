"""What a stored batch touched, written next to it for the deriver (derive/deriver.py).

After each batch reaches InfluxDB the writer adds a `touched` point listing, per device and
port in the batch, the event times it held, and per partner with rejected messages, the hours
they fall in. The deriver reads these to update the derived records (silences, held-down
runs, traffic buckets, hourly activity) without rescanning raw data. Markers are stamped with
the time of the write, not of the data, so a backfill or a spool drained a day later is still
noticed; they live in the short `markers` retention policy.

Parsed from the batch's own line protocol because that is what the spool keeps: a batch
drained from the spool gets its markers when it is finally written. The points come from
`ingest/points.py`, whose tag values (partner, device, switch and port ids) never hold spaces,
commas, `;` or `|`, so a line's head splits on commas as it is and those characters can
separate the entries. Hot: one pass over the bytes.

Encoding of the `events` string field, one entry per subject, entries joined by `;`:
`device|PARTNER|DEVICE|OBS|OFF`, `port|PARTNER|SWITCH/PORT|UP|DOWN` or `rejected|PARTNER|||`
+ hour starts, where each list is epoch-ns times joined by `,` (possibly empty).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from domain.timestamps import HOUR_NS

MEASUREMENT = "touched"
RP = "markers"
MAX_FIELD_BYTES = 60_000
"""InfluxDB 1.x string fields hold at most 64 KiB."""
_TIMES_PER_ENTRY = 2500
"""2500 times of at most 20 characters stay under MAX_FIELD_BYTES in one entry."""
WRITER_TAG = os.urandom(4).hex()
"""Tells apart markers two ingest processes stamp at the same nanosecond."""

_TELEMETRY = b"telemetry,"
_STATUS = b"status,"
_COUNTERS = b"counters,"
_REJECTED = b"rejected,partner="


class _Times:
    __slots__ = ("first", "second")

    def __init__(self) -> None:
        self.first: list[bytes] = []  # observations / `up` samples / rejected times
        self.second: list[bytes] = []  # offline events / `down` samples


def touched_lines(body: bytes, now_ns: int) -> bytes:
    """The marker points for one batch body (empty when it touched nothing derived)."""
    devices: dict[bytes, _Times] = defaultdict(_Times)
    ports: dict[bytes, _Times] = defaultdict(_Times)
    rejected: dict[bytes, _Times] = defaultdict(_Times)
    for point in body.split(b"\n"):
        if point.startswith(_TELEMETRY):
            devices[point[10 : point.index(b" ")]].first.append(point[point.rindex(b" ") + 1 :])
        elif point.startswith(_STATUS):
            head, fields, ts = point.split(b" ")
            times = devices[head[7:]]
            (times.first if fields == b"online=1i" else times.second).append(ts)
        elif point.startswith(_COUNTERS):
            head, fields, ts = point.split(b" ")
            times = ports[head[9:]]
            (times.first if fields.endswith(b"up=1i") else times.second).append(ts)
        elif point.startswith(_REJECTED):
            partner = point[17 : point.index(b",reason=")]
            rejected[partner].first.append(point[point.rindex(b" ") + 1 :])
    entries = [e for tags, t in devices.items() for e in _device_entry(tags, t)]
    entries += [e for tags, t in ports.items() for e in _port_entry(tags, t)]
    entries += [e for partner, t in rejected.items() for e in _rejected_entry(partner, t)]
    return _points(entries, now_ns)


def _points(entries: list[bytes], stamp: int) -> bytes:
    """Entries packed into as few points as the field size allows, one ns apart."""
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for entry in entries:
        if chunk and size + len(entry) > MAX_FIELD_BYTES:
            out.append(_point(chunk, stamp + len(out)))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry) + 1
    if chunk:
        out.append(_point(chunk, stamp + len(out)))
    return b"\n".join(out)


def _point(entries: list[bytes], stamp: int) -> bytes:
    return b'%s,writer=%s events="%s" %d' % (
        MEASUREMENT.encode(),
        WRITER_TAG.encode(),
        b";".join(entries),
        stamp,
    )


def _device_entry(tags: bytes, times: _Times) -> list[bytes]:
    # `device=D,partner=P` (ingest/points.py sorts the tags)
    device, _, partner = tags.partition(b",")
    return _entries(b"device|%s|%s" % (partner[8:], device[7:]), times.first, times.second)


def _port_entry(tags: bytes, times: _Times) -> list[bytes]:
    # `[partner=P,]port=X,switch=S`; a port no partner owns has no partner tag
    found = dict(tag.partition(b"=")[::2] for tag in tags.split(b","))
    subject = b"%s/%s" % (found.get(b"switch", b""), found.get(b"port", b""))
    return _entries(
        b"port|%s|%s" % (found.get(b"partner", b""), subject), times.first, times.second
    )


def _rejected_entry(partner: bytes, times: _Times) -> list[bytes]:
    hours = [str(h).encode() for h in sorted({int(t) // HOUR_NS * HOUR_NS for t in times.first})]
    return _entries(b"rejected|%s|" % partner, hours, [])


def _entries(head: bytes, first: list[bytes], second: list[bytes]) -> list[bytes]:
    """One entry, or several when the times would not fit one field."""
    step = _TIMES_PER_ENTRY
    return [
        b"%s|%s|%s" % (head, b",".join(first[k : k + step]), b",".join(second[k : k + step]))
        for k in range(0, max(len(first), len(second), 1), step)
    ]


@dataclass(slots=True)
class Touched:
    """One subject's events from the markers (decoded on the deriver's side)."""

    kind: str
    partner: str
    subject: str
    first: list[int] = field(default_factory=list)
    second: list[int] = field(default_factory=list)


def parse_events(events: str) -> list[Touched]:
    """The entries of one marker's `events` field; the inverse of the packing above."""
    out = []
    for entry in events.split(";"):
        kind, partner, subject, first, second = entry.split("|")
        out.append(
            Touched(
                kind,
                partner,
                subject,
                [int(t) for t in first.split(",")] if first else [],
                [int(t) for t in second.split(",")] if second else [],
            )
        )
    return out
