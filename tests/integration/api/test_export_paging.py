"""The export's time cursor against a real InfluxDB 1.6: whatever the page size, every row comes
out once and in time order — rows of one time straddling a page's end, and one time holding
more rows than a page (the OFFSET fallback within that instant)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.export import export_request, stream_rows
from domain.timestamps import format_rfc3339
from timeseries.client import AsyncInfluxClient, InfluxClient

S = 10**9
T0 = 1_780_000_000 * S


def _lines() -> list[str]:
    lines = []
    for i in range(40):  # 40 instants, 1 to 9 devices each, one field or two
        for d in range(i % 9 + 1):
            lines.append(f"telemetry,partner=pa,device=d{d} pm25={i}.{d},no2={d}i {T0 + i * S}")
    for d in range(23):  # one instant with more rows than any small page
        lines.append(f"telemetry,partner=pa,device=e{d:02d} pm25={d} {T0 + 100 * S}")
    lines.append(f"telemetry,partner=other,device=d0 pm25=999 {T0 + 5 * S}")
    return lines


async def _export(influx: InfluxClient, page_rows: int) -> list[dict[str, Any]]:
    client = AsyncInfluxClient(influx.url, influx.db)
    req = export_request("pa", T0, T0 + 200 * S, "ndjson", "telemetry", None, None)
    try:
        return [row async for page in stream_rows(client, req, page_rows) for row in page]
    finally:
        await client.aclose()


@pytest.mark.parametrize("page_rows", [1, 4, 9, 10, 50, 20_000])
def test_every_row_once_in_time_order_whatever_the_page(
    influx_db: InfluxClient, page_rows: int
) -> None:
    influx_db.write("\n".join(_lines()).encode())
    rows = asyncio.run(_export(influx_db, page_rows))
    stored = sorted(
        (format_rfc3339(rec["time"]), rec["device"], name, value)
        for s in influx_db.query(
            'SELECT * FROM "raw"."telemetry" WHERE "partner" = $p', {"p": "pa"}
        )[0]
        for rec in s.records()
        for name, value in rec.items()
        if name in ("pm25", "no2") and value is not None
    )
    got = [(r["time"], r["device"], r["field"], r["value"]) for r in rows]
    assert sorted(got) == stored  # each row once: none lost, none twice
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
