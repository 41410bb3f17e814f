"""`mainport export`: a partner's data to stdout, by the same code the API's /export streams
(api/export.py), as the operator of this data dir; the read goes into the access log too."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from api.export import ExportRequest, export_request, stream_export
from api.params import BadParameter, parse_window
from controlplane.access_log import insert_entries
from controlplane.audit import cli_actor
from controlplane.db import open_database
from core.settings import Settings
from mainport.cli_common import fail, load_partners, load_settings
from timeseries.client import AsyncInfluxClient


def export(
    partner: Annotated[str, typer.Argument(help="Partner id")],
    start: Annotated[str, typer.Option(help="RFC 3339, inclusive")],
    end: Annotated[str, typer.Option(help="RFC 3339, exclusive")],
    fmt: Annotated[str, typer.Option("--format", help="csv or ndjson")] = "csv",
    kind: Annotated[
        str | None, typer.Option(help="Comma list of telemetry,status,messages,counters,rejected")
    ] = None,
    device: Annotated[str | None, typer.Option(help="Comma list of device ids")] = None,
    metric: Annotated[str | None, typer.Option(help="Comma list of telemetry metrics")] = None,
) -> None:
    """Export a partner's data for [start, end) as CSV or NDJSON on stdout."""
    settings = load_settings()
    if load_partners(settings).partner(partner) is None:
        raise fail(f"no partner {partner!r} in {settings.partners_file}")
    try:
        start_ns, end_ns = parse_window(start, end, now_ns=time.time_ns())
        req = export_request(partner, start_ns, end_ns, fmt, kind, device, metric)
    except BadParameter as exc:
        raise fail(str(exc)) from None
    if settings.access_log:
        engine = open_database(settings.database)
        entry = {
            "at": datetime.now(UTC),
            "partner": partner,
            "token_id": "cli",
            "label": f"mainport export ({cli_actor()})",
            "role": "operator",
            "reader_partner": None,
            "endpoint": "mainport export",
            "path": "",
            "device": device,
            "params": {"start": start, "end": end, "format": fmt, "kind": kind or ""},
            "status": 200,
        }
        try:
            insert_entries(engine, [entry])
        finally:
            engine.dispose()
    asyncio.run(_write(settings, req))


async def _write(settings: Settings, req: ExportRequest) -> None:
    influx = AsyncInfluxClient(
        settings.influx_url, settings.influx_db, **settings.influx_login("reader")
    )
    out = sys.stdout.buffer
    try:
        async for chunk in stream_export(influx, req):
            out.write(chunk)
        out.flush()
    finally:
        await influx.aclose()
