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
"""Written to the `markers` retention policy (timeseries.schema.MARKERS_RP)."""
WRITER = "writer"
"""The tag naming the ingest process that wrote a marker (its WRITER_TAG)."""
EVENTS = "events"
"""The string field holding the entries."""
MAX_FIELD_BYTES = 60_000
"""InfluxDB 1.x string fields hold at most 64 KiB."""
_TIMES_PER_ENTRY = 2500
"""2500 times of at most 20 characters stay under MAX_FIELD_BYTES in one entry."""
WRITER_TAG = os.urandom(4).hex()
"""Tells apart markers two ingest processes stamp at the same nanosecond."""

# The heads of the raw points a marker reports (ingest/points.py writes them, tags sorted).
_TELEMETRY = b"telemetry,"
_STATUS = b"status,"
_COUNTERS = b"counters,"
_REJECTED = b"rejected,partner="
_REJECTED_END = b",reason="
_DEVICE_TAG = b"device="
_PARTNER_TAG = b"partner="
_ONLINE = b"online=1i"
_UP = b"up=1i"


class _Times:
    __slots__ = ("down_times", "up_times")

    def __init__(self) -> None:
        self.up_times: list[bytes] = []
        """Observations (a device: telemetry, `online` status) or `up` samples (a port)."""
        self.down_times: list[bytes] = []
        """Offline events (a device) or `down` samples (a port)."""


def touched_lines(body: bytes, now_ns: int) -> bytes:
    """The marker points for one batch body (empty when it touched nothing derived)."""
    devices: dict[bytes, _Times] = defaultdict(_Times)
    ports: dict[bytes, _Times] = defaultdict(_Times)
    rejected: dict[bytes, list[bytes]] = defaultdict(list)
    # Locals, not globals, in the loop: one pass over every line of every batch.
    telemetry, status, counters, dead = _TELEMETRY, _STATUS, _COUNTERS, _REJECTED
    online, up, dead_end = _ONLINE, _UP, _REJECTED_END
    telemetry_tags, status_tags, counters_tags = len(telemetry), len(status), len(counters)
    dead_partner = len(dead)
    for point in body.split(b"\n"):
        if point.startswith(telemetry):
            tags = point[telemetry_tags : point.index(b" ")]
            devices[tags].up_times.append(point[point.rindex(b" ") + 1 :])
        elif point.startswith(status):
            head, fields, stamp = point.split(b" ")
            times = devices[head[status_tags:]]
            (times.up_times if fields == online else times.down_times).append(stamp)
        elif point.startswith(counters):
            head, fields, stamp = point.split(b" ")
            times = ports[head[counters_tags:]]
            (times.up_times if fields.endswith(up) else times.down_times).append(stamp)
        elif point.startswith(dead):
            partner = point[dead_partner : point.index(dead_end)]
            rejected[partner].append(point[point.rindex(b" ") + 1 :])
    entries = [e for tags, times in devices.items() for e in _device_entry(tags, times)]
    entries += [e for tags, times in ports.items() for e in _port_entry(tags, times)]
    entries += [e for partner, sent in rejected.items() for e in _rejected_entry(partner, sent)]
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
    return b'%s,%s=%s %s="%s" %d' % (
        MEASUREMENT.encode(),
        WRITER.encode(),
        WRITER_TAG.encode(),
        EVENTS.encode(),
        b";".join(entries),
        stamp,
    )


def _device_entry(tags: bytes, times: _Times) -> list[bytes]:
    # `device=D,partner=P` (ingest/points.py sorts the tags)
    device, _, partner = tags.partition(b",")
    head = b"device|%s|%s" % (partner[len(_PARTNER_TAG) :], device[len(_DEVICE_TAG) :])
    return _entries(head, times.up_times, times.down_times)


def _port_entry(tags: bytes, times: _Times) -> list[bytes]:
    # `[partner=P,]port=X,switch=S`; a port no partner owns has no partner tag
    found = dict(tag.partition(b"=")[::2] for tag in tags.split(b","))
    subject = b"%s/%s" % (found.get(b"switch", b""), found.get(b"port", b""))
    head = b"port|%s|%s" % (found.get(b"partner", b""), subject)
    return _entries(head, times.up_times, times.down_times)


def _rejected_entry(partner: bytes, sent: list[bytes]) -> list[bytes]:
    hours = [str(h).encode() for h in sorted({int(t) // HOUR_NS * HOUR_NS for t in sent})]
    return _entries(b"rejected|%s|" % partner, hours, [])


def _entries(head: bytes, up_times: list[bytes], down_times: list[bytes]) -> list[bytes]:
    """One entry, or several when the times would not fit one field."""
    step = _TIMES_PER_ENTRY
    return [
        b"%s|%s|%s" % (head, b",".join(up_times[k : k + step]), b",".join(down_times[k : k + step]))
        for k in range(0, max(len(up_times), len(down_times), 1), step)
    ]


@dataclass(slots=True)
class Touched:
    """One subject's events from the markers (decoded on the deriver's side)."""

    kind: str
    """`device`, `port` or `rejected`."""
    partner: str
    subject: str
    up_times: list[int] = field(default_factory=list)
    """Observations (a device) or `up` samples (a port); a partner's rejections: the hours."""
    down_times: list[int] = field(default_factory=list)
    """Offline events (a device) or `down` samples (a port)."""

    @property
    def hours(self) -> list[int]:
        """The hour starts of a `rejected` entry's dead letters."""
        return self.up_times


def parse_events(events: str) -> list[Touched]:
    """The entries of one marker's `events` field; the inverse of the packing above."""
    out = []
    for entry in events.split(";"):
        kind, partner, subject, up_times, down_times = entry.split("|")
        out.append(
            Touched(
                kind,
                partner,
                subject,
                [int(t) for t in up_times.split(",")] if up_times else [],
                [int(t) for t in down_times.split(",")] if down_times else [],
            )
        )
    return out
