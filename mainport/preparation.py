"""What `mainport up` prepares before it starts a child: free ports, the broker's TLS listener,
the run-time logins of the simulator, and InfluxDB's schema and role users.

Apart from the supervisor (mainport/up.py) so that each reads on its own; compose's simulator
service and `mainport influx-setup` use these too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from access.broker import NETWORK_ACCOUNT, AccountStore, account_username
from core.influx_logins import InfluxUser, Role
from core.processes import port_in_use
from core.settings import Settings
from domain.registry import Registry
from mainport.services import TlsListener
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema
from timeseries.users import ensure_admin, ensure_users

DEMO_SCENARIO = Path(__file__).parent.parent / "simulators/scenarios/demo.yaml"


class StackError(RuntimeError):
    """A one-line reason the stack cannot start."""


# Settings that carry InfluxDB passwords: never inherited by a child, which gets its own login.
INFLUX_SECRETS = (
    "MAINPORT_INFLUX_USERNAME",
    "MAINPORT_INFLUX_PASSWORD",
    "MAINPORT_INFLUX_ADMIN_",
    "MAINPORT_INFLUX_WRITER_",
    "MAINPORT_INFLUX_DERIVER_",
    "MAINPORT_INFLUX_READER_",
)


def influx_env(user: InfluxUser) -> dict[str, str]:
    return {"MAINPORT_INFLUX_USERNAME": user.username, "MAINPORT_INFLUX_PASSWORD": user.password}


def influx_client(settings: Settings, user: InfluxUser) -> InfluxClient:
    return InfluxClient(
        settings.influx_url,
        settings.influx_db,
        username=user.username,
        password=user.password,
        timeout_s=settings.influx_timeout_s,
    )


def setup_influx(settings: Settings, logins: Mapping[Role, InfluxUser]) -> None:
    """As InfluxDB's admin (created if InfluxDB has no user yet): the database and retention
    policies, then the writer, deriver and reader users with their privileges. Idempotent."""
    admin = logins["admin"]
    ensure_admin(settings.influx_url, admin, settings.influx_timeout_s)
    client = influx_client(settings, admin)
    try:
        ensure_schema(client, settings.influx_raw_retention)
    finally:
        client.close()
    ensure_users(settings.influx_url, settings.influx_db, admin, logins, settings.influx_timeout_s)


def influx_endpoint(settings: Settings) -> tuple[str, int]:
    parts = urlsplit(settings.influx_url)
    return parts.hostname or "127.0.0.1", parts.port or 8086


def check_ports(settings: Settings) -> None:
    influx_host, influx_port = influx_endpoint(settings)
    for what, env, host, port in (
        ("MQTT", "MAINPORT_MQTT_PORT", settings.mqtt_host, settings.mqtt_port),
        (
            "MQTT over TLS",
            "MAINPORT_MQTT_TLS_PORT",
            settings.mqtt_tls_host or settings.mqtt_host,
            settings.mqtt_tls_port,
        ),
        ("InfluxDB", "MAINPORT_INFLUX_URL", influx_host, influx_port),
        ("API", "MAINPORT_API_PORT", settings.api_host, settings.api_port),
    ):
        if port and port_in_use(host, port):
            raise StackError(
                f"port {port} ({what}) is already in use on {host}; "
                f"stop what holds it or choose another with {env}"
            )


def broker_tls(settings: Settings) -> TlsListener | None:
    """The TLS listener: the operator's certificate, else a local CA's (made on first use)."""
    if not settings.mqtt_tls_port:
        return None
    port, host = settings.mqtt_tls_port, settings.mqtt_tls_host
    if settings.mqtt_tls_certfile is not None and settings.mqtt_tls_keyfile is not None:
        return TlsListener(port, settings.mqtt_tls_certfile, settings.mqtt_tls_keyfile, host)
    from access.tls import ensure_local_tls

    files = ensure_local_tls(settings.tls_dir, [settings.mqtt_host, host or ""])
    return TlsListener(port, files.cert, files.key, host)


def simulator_logins(
    store: AccountStore, registry: Registry, scenario: Path, root: str
) -> dict[str, tuple[str, str]]:
    """Run-time logins for the simulator (MAINPORT_SIM_CREDENTIALS): one device login per
    simulated device (the broker binds client ids to logins, so each connection needs its
    own), `_network.sim` for the collector, and a `partner.sim` gateway login for devices whose
    id cannot name a login. Also used by compose's simulator service."""
    from access.broker import LABEL_RE
    from domain.registry import RegistryError
    from simulators.scenario import ScenarioError, load_scenario_file
    from simulators.simulation import make_world

    try:
        world = make_world(load_scenario_file(scenario), registry, root)
    except (ScenarioError, RegistryError) as exc:
        raise StackError(f"scenario {scenario}: {exc}") from None
    logins = {
        NETWORK_ACCOUNT: (
            account_username(NETWORK_ACCOUNT, "sim"),
            store.issue(NETWORK_ACCOUNT, label="sim", runtime=True),
        )
    }
    for partner in registry.partners:
        logins[partner.id] = (
            account_username(partner.id, "sim"),
            store.issue(partner.id, label="sim", runtime=True),
        )
    for device in world.devices:
        if LABEL_RE.fullmatch(device.id) and registry.partner(device.partner) is not None:
            password = store.issue_device(device.partner, device.id, runtime=True)
            logins[device.key] = (account_username(device.partner, device.id), password)
    return logins
