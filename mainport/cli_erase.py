"""`mainport erase`: erasure requests from the command line — ask, list, confirm (the operator,
as the OS user running it) and, with `--now`, carry out the erasure in this process instead of
waiting for the deriver (the same code: derive/erasure.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from api.closed_months import close_months, closed_months
from api.routes.erasure import RETAINED_MONTHS
from controlplane import erasure_requests
from controlplane.audit import cli_actor
from controlplane.db import open_database
from controlplane.erasure_requests import ErasureRequestError
from core.settings import Settings
from derive.erasure import ErasureBlocked, erase
from domain.registry import Registry
from mainport.cli_common import fail, load_partners, load_settings
from timeseries.client import AsyncInfluxClient, InfluxClient

erase_app = typer.Typer(help="Erase a device's or a partner's data (asked, then confirmed).")


@erase_app.command("request")
def request(
    partner: Annotated[str, typer.Argument(help="Partner id")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit)")],
    device: Annotated[str | None, typer.Option(help="Device id; none: all of its data")] = None,
) -> None:
    """Record a request to erase a device's data, or all of a partner's data."""
    settings = load_settings()
    registry = load_partners(settings)
    if registry.partner(partner) is None:
        raise fail(f"no partner {partner!r}")
    if device is not None and registry.device(partner, device) is None:
        raise fail(f"no device {device!r} of partner {partner!r}")
    engine = open_database(settings.database)
    try:
        rid = erasure_requests.request(engine, partner, device, reason, cli_actor())
    finally:
        engine.dispose()
    typer.echo(rid)


@erase_app.command("list")
def list_requests(partner: Annotated[str, typer.Argument(help="Partner id")]) -> None:
    """A partner's erasure requests and their state."""
    engine = open_database(load_settings().database)
    try:
        for r in erasure_requests.of_partner(engine, partner):
            typer.echo(
                f"{r.id}  {r.state:<9}  {r.device or '(all data)'}  requested by "
                f"{r.requested_by} at {r.requested_at:%Y-%m-%d %H:%M}Z"
                + (f", confirmed by {r.confirmed_by}" if r.confirmed_by else "")
            )
    finally:
        engine.dispose()


@erase_app.command("confirm")
def confirm(
    request_id: Annotated[str, typer.Argument(help="Request id (er-…)")],
    now: Annotated[bool, typer.Option(help="Erase in this process, not by the deriver")] = False,
) -> None:
    """Confirm a request as the operator; the deriver (or, with --now, this process) erases.

    The partner's closed months are frozen first: their reports stay as billed."""
    settings = load_settings()
    registry = load_partners(settings)
    engine = open_database(settings.database)
    try:
        req = erasure_requests.get(engine, request_id)
        if req is None:
            raise fail(f"no erasure request {request_id!r}")
        partner = registry.partner(req.partner)
        if partner is not None:
            asyncio.run(_freeze(settings, registry, req.partner))
        try:
            req = erasure_requests.confirm(engine, request_id, cli_actor())
        except ErasureRequestError as exc:
            raise fail(str(exc)) from None
        if not now:
            typer.echo(f"{request_id} confirmed; the deriver erases it within seconds")
            return
        client = InfluxClient(
            settings.influx_url, settings.influx_db, **settings.influx_login("deriver")
        )
        try:
            outcome = erase(
                client,
                req.partner,
                req.device,
                data_dir=settings.data_dir,
                dead_letter_dir=settings.dead_letter_dir,
                spool_dir=settings.spool_dir,
            )
        except ErasureBlocked as exc:
            raise fail(f"{request_id} confirmed, not erased yet: {exc}") from None
        finally:
            client.close()
        erasure_requests.done(engine, req, outcome, cli_actor())
        typer.echo(f"{request_id} erased: {outcome}")
    finally:
        engine.dispose()


async def _freeze(settings: Settings, registry: Registry, partner_id: str) -> None:
    influx = AsyncInfluxClient(
        settings.influx_url, settings.influx_db, **settings.influx_login("reader")
    )
    engine = open_database(settings.database)
    partner = registry.partner(partner_id)
    assert partner is not None
    try:
        at = time.time_ns()
        months = closed_months(at, RETAINED_MONTHS)
        await close_months(influx, registry, [partner], months, at, settings.grace_factor, engine)
    finally:
        await influx.aclose()
        engine.dispose()
