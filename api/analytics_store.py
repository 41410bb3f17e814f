"""Reads a partner's uptime records in a window (marks, silences and held-down runs of its
devices and ports, from timeseries/derived.py, and the ingest's broker link) in two round
trips, and hands them over as plain data for `domain` to compute with; and its dead letters.
Usage is read by api/usage_store.py.

Every value goes in as a bound `$parameter`; the query text is built from constants only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from domain.spans import Held, LinkRecord, Silence
from timeseries import derived
from timeseries.client import AsyncInfluxClient, ParamValue, Series, Statements
from timeseries.schema import DERIVED_RP, RAW_RP

_BY_SUBJECT = 'GROUP BY "kind", "subject"'
_TOMBSTONE_SLACK = 5
"""Records read past a window edge, in case the first few were emptied (timeseries/derived.py)."""


@dataclass(slots=True)
class SubjectRecords:
    """What the window needs of one device or port."""

    first: int | None = None
    last: int | None = None
    silences: list[Silence] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UptimeRecords:
    subjects: dict[tuple[str, str], SubjectRecords]
    """(kind, subject) → records; devices seen in the data included."""
    link_records: list[LinkRecord]


def _subjects(partner: str, ports: list[str]) -> tuple[str, dict[str, ParamValue]]:
    """Where-clause for the partner's devices and its registered ports."""
    params: dict[str, ParamValue] = {"p": partner}
    port_terms = []
    for k, subject in enumerate(ports):
        params[f"port{k}"] = subject
        port_terms.append(f'"subject" = $port{k}')
    devices = '("kind" = \'device\' AND "partner" = $p)'
    if not port_terms:
        return devices, params
    return f"({devices} OR (\"kind\" = 'port' AND ({' OR '.join(port_terms)})))", params


_MARKS = f'"{DERIVED_RP}"."{derived.MARKS}"'
_SILENCE = f'"{DERIVED_RP}"."{derived.SILENCE}"'
_HELD = f'"{DERIVED_RP}"."{derived.HELD}"'
_LINK = f'FROM "{RAW_RP}"."ingest_link"'


async def uptime_records(
    influx: AsyncInfluxClient, partner: str, ports: list[str], start_ns: int, hi_ns: int
) -> UptimeRecords:
    where, params = _subjects(partner, ports)
    q = Statements()
    marks = q.add(
        f'SELECT "{derived.FIRST}", "{derived.LAST}" FROM {_MARKS} WHERE {where} {_BY_SUBJECT}',
        **params,
    )
    inside = q.add(
        f'SELECT "{derived.SINCE}" FROM {_SILENCE} WHERE {where} AND time > $s AND time <= $hi '
        f"{_BY_SUBJECT}",
        s=start_ns,
        hi=hi_ns,
        **params,
    )
    spanning = q.add(
        f'SELECT "{derived.SINCE}" FROM {_SILENCE} WHERE {where} AND time > $hi '
        f"{_BY_SUBJECT} ORDER BY time ASC LIMIT {_TOMBSTONE_SLACK}",
        hi=hi_ns,
        **params,
    )
    runs = q.add(
        f'SELECT "{derived.UNTIL}" FROM {_HELD} WHERE {where} AND time >= $s AND time < $hi '
        f"{_BY_SUBJECT}",
        s=start_ns,
        hi=hi_ns,
        **params,
    )
    run_before = q.add(
        f'SELECT "{derived.UNTIL}" FROM {_HELD} WHERE {where} AND time < $s '
        f"{_BY_SUBJECT} ORDER BY time DESC LIMIT {_TOMBSTONE_SLACK}",
        s=start_ns,
        **params,
    )
    link_before = q.add(
        f'SELECT last("connected") {_LINK} WHERE time < $s GROUP BY "client"', s=start_ns
    )
    link_first = q.add(
        f'SELECT first("connected") {_LINK} WHERE time >= $s AND time < $hi GROUP BY "client"',
        s=start_ns,
        hi=hi_ns,
    )
    link_lost = q.add(
        f'SELECT "connected" {_LINK} WHERE "connected" = 0 AND time >= $s AND time < $hi '
        'GROUP BY "client"',
        s=start_ns,
        hi=hi_ns,
    )
    res = await q.run_async(influx)
    subjects: dict[tuple[str, str], SubjectRecords] = defaultdict(SubjectRecords)
    for series in res[marks]:
        found = derived.marks_of(series.records()[-1])
        entry = subjects[_key(series)]
        entry.first, entry.last = found.first, found.last
    for series in res[inside]:
        subjects[_key(series)].silences += _silences(series)
    for series in res[spanning]:
        subjects[_key(series)].silences += _silences(series)[:1]
    for series in res[runs]:
        subjects[_key(series)].held += _held(series)
    for series in res[run_before]:
        subjects[_key(series)].held += _held(series)[:1]
    links = [
        _link(series, row)
        for i in (link_before, link_first, link_lost)
        for series in res[i]
        for row in series.values
    ]
    links += await _reconnects(influx, res[link_lost], hi_ns)
    return UptimeRecords(dict(subjects), sorted(set(links), key=lambda r: r.time_ns))


async def _reconnects(
    influx: AsyncInfluxClient, lost: list[Series], hi_ns: int
) -> list[LinkRecord]:
    """For each time a client lost the broker in the window, when it came back (if it did)."""
    q = Statements()
    for series in lost:
        for row in series.values:
            q.add(
                f'SELECT first("connected") {_LINK} WHERE "client" = $c AND "connected" = 1 '
                "AND time > $t AND time < $hi",
                c=series.tags.get("client", ""),
                t=int(row[0]),
                hi=hi_ns,
            )
    clients = [series.tags.get("client", "") for series in lost for _ in series.values]
    return [
        LinkRecord(client, int(row[0]), True)
        for client, found in zip(clients, await q.run_async(influx), strict=True)
        for series in found
        for row in series.values
    ]


def _silences(series: Series) -> list[Silence]:
    """The series' silences in time order, emptied ones skipped."""
    found = (derived.silence_of(int(row[0]), int(row[1])) for row in series.values)
    return [s for s in found if s is not None]


def _held(series: Series) -> list[Held]:
    """The series' held-down runs in its order, emptied ones skipped."""
    found = (derived.held_of(int(row[0]), int(row[1])) for row in series.values)
    return [h for h in found if h is not None]


def _link(series: Series, row: list[Any]) -> LinkRecord:
    return LinkRecord(series.tags.get("client", ""), int(row[0]), bool(row[1]))


def _key(series: Series) -> tuple[str, str]:
    return (series.tags.get("kind", ""), series.tags.get("subject", ""))


async def rejected_rows(
    influx: AsyncInfluxClient, partner: str, start_ns: int, end_ns: int, limit: int
) -> list[Series]:
    """The partner's dead letters in the window, newest first."""
    q = (
        'SELECT "reason", "topic", "excerpt", "detail", "bytes" '
        f'FROM "{RAW_RP}"."rejected" WHERE "partner" = $p AND time >= $s AND time < $e '
        "ORDER BY time DESC LIMIT $limit"
    )
    params: dict[str, ParamValue] = {"p": partner, "s": start_ns, "e": end_ns, "limit": limit}
    return (await influx.query(q, params))[0]
