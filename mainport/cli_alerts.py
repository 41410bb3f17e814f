"""`mainport alert` (the evaluator and notifier) and `mainport alerts` (list, acknowledge,
receivers). A new webhook's signing secret goes alone to stdout, everything else to stderr."""

from __future__ import annotations

import secrets as _secrets
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import insert

from mainport.cli_common import JsonOption, fail, load_settings, print_rows, setup_logging

alerts_app = typer.Typer(help="Alerts: list, acknowledge, receivers.", invoke_without_command=True)
receiver_app = typer.Typer(help="Where notifications go.", no_args_is_help=True)
alerts_app.add_typer(receiver_app, name="receiver")

KINDS = ("webhook", "email")


def alert() -> None:
    """Run the alert evaluator and notifier (SPEC "Alerts")."""
    from alert.service import run_alert

    setup_logging()
    raise typer.Exit(run_alert(load_settings()))


@alerts_app.callback()
def alerts_list(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="firing|resolved|acknowledged|suppressed")
    ] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner's alerts")] = None,
    as_json: JsonOption = False,
) -> None:
    """The alerts, newest first (without a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from controlplane.alert_queries import STATES, list_alerts
    from controlplane.db import open_database
    from domain.timestamps import format_rfc3339

    if state is not None and state not in STATES:
        raise fail(f"--state must be one of {', '.join(STATES)}, not {state!r}")
    engine = open_database(load_settings().database)
    rows: list[dict[str, object]] = [
        {
            "id": a.id,
            "state": a.state + (" (acked)" if a.acknowledged else ""),
            "partner": a.partner,
            "kind": a.kind,
            "subject": a.subject,
            "cause": a.cause,
            "since": format_rfc3339(a.since_ns),
            "resolved": format_rfc3339(a.resolved_ns) if a.resolved_ns else None,
            "devices": ",".join(a.devices) or None,
            "summary": a.summary if as_json else None,
        }
        for a in list_alerts(engine, partner=partner, state=state)
    ]
    if not as_json:
        for row in rows:
            del row["summary"]
    print_rows(rows, as_json)


@alerts_app.command("ack")
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="The alert's id")],
    comment: Annotated[str, typer.Option(help="Why, what is being done")],
) -> None:
    """Acknowledge an alert (as the operator at this console)."""
    from controlplane.alert_queries import acknowledge
    from controlplane.db import open_database

    engine = open_database(load_settings().database)
    if acknowledge(engine, alert_id, by="cli", comment=comment, at=datetime.now(UTC),
                   partner=None) is None:  # fmt: skip
        raise fail(f"no alert {alert_id!r}")
    typer.echo(f"acknowledged {alert_id}", err=True)


@receiver_app.command("add")
def receiver_add(
    kind: Annotated[str, typer.Argument(help="webhook or email")],
    target: Annotated[str, typer.Argument(help="The webhook's URL, or the e-mail address")],
    partner: Annotated[str | None, typer.Option(help="Only this partner's alerts")] = None,
) -> None:
    """Add a receiver; a webhook's signing secret is printed once, alone on stdout."""
    from alert.secrets import new_secret, seal
    from controlplane.alert_tables import alert_receivers
    from controlplane.db import open_database

    if kind not in KINDS:
        raise fail(f"receiver kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "webhook" and not target.startswith(("https://", "http://")):
        raise fail(f"a webhook target is an http(s) URL, not {target!r}")
    if kind == "email" and "@" not in target:
        raise fail(f"an e-mail target is an address, not {target!r}")
    settings = load_settings()
    engine = open_database(settings.database)
    secret = new_secret() if kind == "webhook" else None
    receiver_id = f"{kind}-{_secrets.token_hex(4)}"
    with engine.begin() as conn:
        conn.execute(
            insert(alert_receivers).values(
                id=receiver_id, kind=kind, partner=partner, target=target,
                secret=seal(settings.data_dir, secret) if secret else None, enabled=True,
                created_at=datetime.now(UTC),
            )
        )  # fmt: skip
    typer.echo(f"receiver {receiver_id} added ({kind} → {target})", err=True)
    if secret:
        typer.echo(secret)
