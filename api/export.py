"""A partner's own data for a window, as CSV or NDJSON, streamed in constant memory.

Why pages and not one query: a 30-day window of 100 devices is millions of rows, and InfluxDB
1.x answers a query with one JSON document held whole on both sides. So the window is walked
in time chunks, and each chunk in pages of `PAGE_ROWS` rows: memory is bounded by one page
whatever the window. A page starts where the last one ended (a time cursor, `time >= $start`),
not at an OFFSET, which InfluxDB 1.x answers by reading and discarding every row before it (the
cost of page k grows with k). Rows of one time may straddle a page's end, so a full page keeps
back the rows of its last time and the next page starts at that time; only a single time with
more than a page of rows (more than `PAGE_ROWS` series at one instant) falls back to OFFSET
within that instant. Every value (partner, device, times, limit, offset) is a bound
`$parameter`; the only query text not constant is a metric name checked against the pattern
the ingest stores (api/telemetry.py) and quoted.

One output row per point and field: time (RFC 3339, ns), kind, the point's subject (device,
or switch and port), its type (messages) or reason (rejected), field, value.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from api.params import BadParameter
from api.telemetry import METRIC_PATTERN, RESERVED_METRICS, quote_ident
from domain.registry import DEVICE_ID_PATTERN
from domain.timestamps import NS_PER_S, format_rfc3339
from timeseries.client import AsyncInfluxClient, ParamValue
from timeseries.schema import RAW_RP

FORMATS = ("csv", "ndjson")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
COLUMNS = ("time", "kind", "device", "switch", "port", "type", "reason", "field", "value")
CHUNK_NS = 24 * 3600 * NS_PER_S
PAGE_ROWS = 10_000
"""A page: ~1 MB of InfluxDB's JSON, held once; fewer pages, fewer queries (bench/export.py)."""
MAX_LIST = 100
"""Most devices or metrics one request may name (each is a term of the query)."""


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    measurement: str
    tags: tuple[str, ...]
    """Tags copied into the row (partner is implied); the rest of the columns are fields."""
    per_device: bool


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("telemetry", "telemetry", ("device",), per_device=True),
        Kind("status", "status", ("device",), per_device=True),
        Kind("messages", "messages", ("device", "type"), per_device=True),
        Kind("counters", "counters", ("switch", "port"), per_device=False),
        Kind("rejected", "rejected", ("reason",), per_device=False),
    )
}
SHARED_KINDS = ("telemetry",)
"""What a grant shares (domain/grants.py): a device's telemetry, nothing else."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    partner: str
    start_ns: int
    end_ns: int
    fmt: str
    kinds: tuple[str, ...]
    devices: tuple[str, ...] | None
    """None: every device of the partner; else only these (a grantee: its granted ones)."""
    metrics: tuple[str, ...] | None


def split_list(param: str, text: str | None, pattern: str) -> tuple[str, ...] | None:
    """A comma-separated parameter, each item checked against `pattern`; None when absent."""
    if text is None:
        return None
    items = tuple(dict.fromkeys(i.strip() for i in text.split(",") if i.strip()))
    if not items:
        raise BadParameter(param, "empty list")
    if len(items) > MAX_LIST:
        raise BadParameter(param, f"at most {MAX_LIST} items, got {len(items)}")
    for item in items:
        if not re.fullmatch(pattern, item):
            raise BadParameter(param, f"{item!r} does not match {pattern}")
    return items


def export_request(
    partner: str,
    start_ns: int,
    end_ns: int,
    fmt: str,
    kind: str | None,
    device: str | None,
    metric: str | None,
) -> ExportRequest:
    """Check the export's own parameters (the window is checked by api/params.py)."""
    if fmt not in FORMATS:
        raise BadParameter("format", f"one of {', '.join(FORMATS)}, got {fmt!r}")
    kinds = split_list("kind", kind, r"[a-z]+")
    for name in kinds or ():
        if name not in KINDS:
            raise BadParameter("kind", f"{name!r} is not one of {', '.join(KINDS)}")
    devices = split_list("device", device, DEVICE_ID_PATTERN)
    metrics = split_list("metric", metric, METRIC_PATTERN)
    for name in metrics or ():
        if name.lower() in RESERVED_METRICS:
            raise BadParameter("metric", f"{name!r} is reserved")
    chosen = kinds or tuple(KINDS)
    if devices is not None and kinds is None:
        chosen = tuple(k for k in chosen if KINDS[k].per_device)
    if metrics is not None:
        if kinds is not None and kinds != ("telemetry",):
            raise BadParameter("metric", "applies to kind=telemetry only")
        chosen = ("telemetry",)
    return ExportRequest(partner, start_ns, end_ns, fmt, chosen, devices, metrics)


def build_query(req: ExportRequest, kind: Kind) -> tuple[str, dict[str, ParamValue]]:
    """The page query of one kind; $start/$end/$offset are set per page by the caller (the
    offset is 0 but inside one instant holding more than a page of rows)."""
    params: dict[str, ParamValue] = {"partner": req.partner, "limit": PAGE_ROWS}
    where = '"partner" = $partner AND time >= $start AND time < $end'
    if req.devices is not None and kind.per_device:
        terms = []
        for k, device in enumerate(req.devices):
            params[f"d{k}"] = device
            terms.append(f'"device" = $d{k}')
        where += f" AND ({' OR '.join(terms)})"
    if kind.name == "telemetry" and req.metrics is not None:
        # The only text not constant: pattern-checked metric names, quoted (api/telemetry.py).
        columns = ", ".join(['"device"', *(quote_ident(m) for m in req.metrics)])
    else:
        columns = "*"
    source = f'"{RAW_RP}"."{kind.measurement}"'
    query = (
        f"SELECT {columns} FROM {source} WHERE {where} "  # noqa: S608
        "ORDER BY time ASC LIMIT $limit OFFSET $offset"
    )
    return query, params


def _rows(kind: Kind, columns: Sequence[str], values: list[list[Any]]) -> list[dict[str, Any]]:
    fields = [
        (i, c) for i, c in enumerate(columns) if c not in ("time", "partner") and c not in kind.tags
    ]
    tags = [(i, c) for i, c in enumerate(columns) if c in kind.tags]
    out = []
    stamps: dict[int, str] = {}  # a page holds many rows of one time: format each time once
    for row in values:
        at = int(row[0])
        stamp = stamps.get(at)
        if stamp is None:
            stamp = stamps[at] = format_rfc3339(at)
        base: dict[str, Any] = {"time": stamp, "kind": kind.name}
        for i, c in tags:
            base[c] = row[i]
        for i, c in fields:
            if row[i] is not None:
                out.append({**base, "field": c, "value": row[i]})
    return out


def encode(fmt: str, rows: list[dict[str, Any]]) -> bytes:
    if fmt == "ndjson":
        return b"".join(orjson.dumps(r) + b"\n" for r in rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().encode()


def header(fmt: str) -> bytes:
    return (",".join(COLUMNS) + "\n").encode() if fmt == "csv" else b""


async def stream_rows(
    influx: AsyncInfluxClient, req: ExportRequest, page_rows: int = PAGE_ROWS
) -> AsyncIterator[list[dict[str, Any]]]:
    """Rows page by page: per kind, per time chunk, per page from a time cursor."""
    for name in req.kinds:
        kind = KINDS[name]
        query, base = build_query(req, kind)
        base["limit"] = page_rows
        lo = req.start_ns
        while lo < req.end_ns:
            hi = min(lo + CHUNK_NS, req.end_ns)
            async for rows in _chunk_rows(influx, kind, query, base, lo, hi):
                yield rows
            lo = hi


async def _chunk_rows(
    influx: AsyncInfluxClient,
    kind: Kind,
    query: str,
    base: dict[str, ParamValue],
    lo: int,
    hi: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    cursor = lo
    while cursor < hi:
        values, columns = await _page(influx, query, {**base, "start": cursor, "end": hi})
        if len(values) < int(base["limit"]):
            if values:
                yield await _rows_off_loop(kind, columns, values)
            return
        last = int(values[-1][0])
        if int(values[0][0]) == last:
            # One instant fills the page: page through that instant alone by offset.
            async for rows in _instant_rows(influx, kind, query, base, last):
                yield rows
            cursor = last + 1
            continue
        keep = [row for row in values if int(row[0]) < last]
        yield await _rows_off_loop(kind, columns, keep)
        cursor = last  # the rows at `last` come again, whole, at the top of the next page


async def _instant_rows(
    influx: AsyncInfluxClient, kind: Kind, query: str, base: dict[str, ParamValue], at: int
) -> AsyncIterator[list[dict[str, Any]]]:
    offset = 0
    while True:
        params = {**base, "start": at, "end": at + 1, "offset": offset}
        values, columns = await _page(influx, query, params)
        if values:
            yield await _rows_off_loop(kind, columns, values)
        if len(values) < int(base["limit"]):
            return
        offset += int(base["limit"])


async def _rows_off_loop(
    kind: Kind, columns: Sequence[str], values: list[list[Any]]
) -> list[dict[str, Any]]:
    """A page's rows built in a worker thread: tens of milliseconds of Python that would
    otherwise hold the event loop, and every other request of this process, while it runs."""
    return await asyncio.to_thread(_rows, kind, columns, values)


async def _page(
    influx: AsyncInfluxClient, query: str, params: dict[str, ParamValue]
) -> tuple[list[list[Any]], list[str]]:
    """One page's rows in time order (one series: no GROUP BY) and their columns."""
    results = await influx.query(query, {"offset": 0, **params})
    series = results[0] if results else []
    if not series:
        return [], []
    (only,) = series
    return only.values, only.columns


class ExportSlots:
    """How many exports each partner runs at once on this process, bounded: each one is an
    InfluxDB reader for as long as it streams, so a partner starting many would starve others."""

    def __init__(self, per_partner: int) -> None:
        self.per_partner = per_partner
        self._running: dict[str, int] = {}

    def take(self, partner: str) -> Callable[[], None] | None:
        """A slot for one more export of `partner` — the function that gives it back, once
        however often it is called — or None when all are in use. No await between the check
        and the count (one event loop): two requests cannot both pass."""
        if self._running.get(partner, 0) >= self.per_partner:
            return None
        self._running[partner] = self._running.get(partner, 0) + 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self._give_back(partner)

        return give_back

    def running(self, partner: str) -> int:
        return self._running.get(partner, 0)

    def _give_back(self, partner: str) -> None:
        left = self._running.get(partner, 0) - 1
        if left > 0:
            self._running[partner] = left
        else:
            self._running.pop(partner, None)


async def stream_export(
    influx: AsyncInfluxClient, req: ExportRequest, done: Callable[[], None] | None = None
) -> AsyncIterator[bytes]:
    """The encoded export: the CSV header first, then one chunk per page. `done` is called
    when the stream ends however it ends (finished, failed, or the client went away)."""
    try:
        first = header(req.fmt)
        if first:
            yield first
        async for rows in stream_rows(influx, req):
            yield await asyncio.to_thread(encode, req.fmt, rows)  # off the loop, as the rows
    finally:
        if done is not None:
            done()
