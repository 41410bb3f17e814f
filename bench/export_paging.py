"""The export's paging before and after, in one process on one InfluxDB: OFFSET pages (the
former api/export.py: 6 h chunks, 5,000-row pages, LIMIT/OFFSET) vs the time cursor (the
present `api.export.stream_export`), each encoding CSV, run alternately so both see the same
machine. Imported by bench/export.py; prints a ratio, not a test."""

from __future__ import annotations

import time

from api.export import KINDS, _rows, encode, export_request, stream_export
from domain.timestamps import NS_PER_S
from timeseries.client import AsyncInfluxClient, ParamValue

OLD_CHUNK_NS = 6 * 3600 * NS_PER_S
OLD_PAGE_ROWS = 5000
OLD_QUERY = (
    'SELECT * FROM "raw"."telemetry" WHERE "partner" = $partner AND time >= $start '
    "AND time < $end ORDER BY time ASC LIMIT $limit OFFSET $offset"
)


async def offset_export(influx: AsyncInfluxClient, partner: str, start: int, end: int) -> int:
    """Bytes of the CSV export the OFFSET way (what api/export.py did before the cursor)."""
    size, lo = 0, start
    kind = KINDS["telemetry"]
    while lo < end:
        hi = min(lo + OLD_CHUNK_NS, end)
        offset = 0
        while True:
            params: dict[str, ParamValue] = {
                "partner": partner,
                "start": lo,
                "end": hi,
                "limit": OLD_PAGE_ROWS,
            }
            results = await influx.query(OLD_QUERY, {**params, "offset": offset})
            count = 0
            for s in results[0] if results else []:
                count += len(s.values)
                size += len(encode("csv", _rows(kind, s.columns, s.values)))
            if count < OLD_PAGE_ROWS:
                break
            offset += OLD_PAGE_ROWS
        lo = hi
    return size


async def cursor_export(influx: AsyncInfluxClient, partner: str, start: int, end: int) -> int:
    req = export_request(partner, start, end, "csv", "telemetry", None, None)
    return sum([len(chunk) async for chunk in stream_export(influx, req)])


async def compare(url: str, db: str, partner: str, start: int, end: int, rounds: int = 2) -> None:
    influx = AsyncInfluxClient(url, db, timeout_s=300)
    seconds: dict[str, list[float]] = {"offset": [], "cursor": []}
    sizes: dict[str, int] = {}
    try:
        for k in range(rounds):
            order = [("offset", offset_export), ("cursor", cursor_export)]
            for name, run in order if k % 2 == 0 else reversed(order):
                t = time.perf_counter()
                sizes[name] = await run(influx, partner, start, end)
                seconds[name].append(time.perf_counter() - t)
    finally:
        await influx.aclose()
    best = {name: min(s) for name, s in seconds.items()}
    days = (end - start) / (86_400 * NS_PER_S)
    for name in ("offset", "cursor"):
        print(
            f"paging in-process, {days:.0f} days ({name}): {sizes[name] / 1e6:.1f} MB CSV in "
            f"{best[name]:.1f} s = {sizes[name] / 1e6 / best[name]:.1f} MB/s (best of {rounds})"
        )
    print(f"paging: cursor vs OFFSET speed x{best['offset'] / best['cursor']:.2f}")
