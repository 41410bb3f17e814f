"""`mainport`: the CLI of SPEC. Secrets go alone to stdout, everything else to stderr."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from domain.registry import Registry, RegistryError, load_registry
from stack.settings import Settings

app = typer.Typer(
    help="Mainport: telemetry platform for open fibre networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
credentials_app = typer.Typer(help="Broker credentials (MQTT passwords).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")
app.add_typer(token_app, name="token")


def fail(message: str) -> typer.Exit:
    typer.echo(f"mainport: {message}", err=True)
    return typer.Exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MAINPORT_{'_'.join(map(str, e['loc'])).upper() or '(settings)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise fail(f"bad settings: {problems}") from None


def load_partners(settings: Settings) -> Registry:
    try:
        return load_registry(settings.partners_file)
    except RegistryError as exc:
        raise fail(str(exc)) from None


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("MAINPORT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def up(
    simulate: Annotated[bool, typer.Option(help="Also run the simulators")] = False,
    scenario: Annotated[Path | None, typer.Option(help="Scenario for --simulate")] = None,
) -> None:
    """Run broker, InfluxDB, ingest and API (and simulators) in the foreground."""
    from stack.up import Stack

    settings = load_settings()
    registry = load_partners(settings)
    from stack.up import StackError

    try:
        code = Stack(settings, registry, simulate=simulate, scenario=scenario).run()
    except StackError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def ingest() -> None:
    """Run one ingest process (several share the load through the shared subscription)."""
    from ingest.service import run_ingest

    _logging()
    settings = load_settings()
    load_partners(settings)
    raise typer.Exit(run_ingest(settings, settings.ingest_metrics_port))


@app.command()
def api() -> None:
    """Serve the HTTP API and the dashboard."""
    import uvicorn

    from api.app import create_app

    _logging()
    settings = load_settings()
    registry = load_partners(settings)
    uvicorn.run(
        create_app(settings, registry),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
    )


@app.command()
def simulate(scenario: Path) -> None:
    """Simulate the devices and fibre ports of a scenario against the broker."""
    import signal

    from simulators.network import Simulation, credentials_from_json
    from simulators.scenario import ScenarioError, load_scenario

    _logging()
    settings = load_settings()
    try:
        spec = load_scenario(scenario)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    registry = (
        load_partners(settings) if spec.partners_file is None else load_registry(spec.partners_file)
    )
    raw = os.environ.get("MAINPORT_SIM_CREDENTIALS")
    if not raw:
        raise fail(
            "MAINPORT_SIM_CREDENTIALS is not set: a JSON object of partner id (and _network) "
            'to [username, password], e.g. {"woonbron": ["woonbron", "…"]}'
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim = Simulation(
        spec,
        registry,
        settings.mqtt_host,
        settings.mqtt_port,
        credentials_from_json(raw),
        root=settings.mqtt_root,
    )
    sim.run(stop)


@app.command()
def provision() -> None:
    """Write the broker's password and ACL files from the partners file and reload the broker."""
    from stack.broker_access import AccountStore, reload_broker, write_broker_files

    settings = load_settings()
    registry = load_partners(settings)
    broker_dir = settings.data_dir / "mosquitto"
    write_broker_files(
        AccountStore(settings.credentials_file), registry, settings.mqtt_root, broker_dir
    )
    reloaded = reload_broker(broker_dir / "mosquitto.pid")
    typer.echo(
        f"wrote {broker_dir}/passwd and acl" + ("; broker reloaded" if reloaded else ""), err=True
    )


@credentials_app.command("issue")
def credentials_issue(
    partner: Annotated[str, typer.Argument(help="Partner id, or _network / _ingest")],
) -> None:
    """Create or rotate an MQTT password and print it once, alone on stdout."""
    from stack.broker_access import AccountStore, reload_broker, validate_scope, write_broker_files

    settings = load_settings()
    registry = load_partners(settings)
    try:
        validate_scope(partner, registry)
    except ValueError as exc:
        raise fail(str(exc)) from None
    store = AccountStore(settings.credentials_file)
    password = store.issue(partner)
    broker_dir = settings.data_dir / "mosquitto"
    write_broker_files(store, registry, settings.mqtt_root, broker_dir)
    reloaded = reload_broker(broker_dir / "mosquitto.pid")
    typer.echo(
        f"issued MQTT credentials: username {partner!r}"
        + ("; running broker reloaded" if reloaded else ""),
        err=True,
    )
    typer.echo(password)


@token_app.command("issue")
def token_issue(
    operator: Annotated[
        bool, typer.Option("--operator", help="A token that sees everything")
    ] = False,
    partner: Annotated[
        str | None, typer.Option("--partner", help="A token for one partner")
    ] = None,
    label: Annotated[str, typer.Option(help="A note to recognise the token by")] = "",
) -> None:
    """Create an API token and print it once, alone on stdout."""
    from api.tokens import OPERATOR, PARTNER, TokenStore

    if operator == (partner is not None):
        raise fail("give exactly one of --operator or --partner ID")
    settings = load_settings()
    if partner is not None and load_partners(settings).partner(partner) is None:
        raise fail(f"unknown partner {partner!r}: not in {settings.partners_file}")
    token = TokenStore(settings.tokens_file).issue(
        OPERATOR if operator else PARTNER, partner, label
    )
    typer.echo(f"issued {'an operator' if operator else f'a {partner}'} API token", err=True)
    typer.echo(token)
