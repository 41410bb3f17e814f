"""The production compose file agrees with Settings and the SPEC: services and images, the
settings each service gets, start-up order and health, secrets and mounts.

Runs without a Docker engine: the file is read as YAML (the commands it runs, and `docker compose
config`: tests/integration/stack/test_compose_commands.py).
"""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import mainport.cli
from access.broker import AccountStore
from core.settings import Settings
from domain.registry import load_registry
from simulators.simulation import credentials_from_json
from tests.conftest import control_engine
from tests.unit.mainport.compose_support import (
    APP_SERVICES,
    EXPECTED_SERVICES,
    HEALTHY,
    INFLUX_LOGIN,
    INFLUXDB_HTTP_PORT,
    ONE_SHOT,
    PROFILES,
    READ_OUTSIDE_SETTINGS,
    READER,
    REQUIRED_REFERENCE,
    REQUIRED_SECRETS,
    ROOT,
    SECRET_NAME,
    SETTING_VAR,
    SPEC_IMAGES,
    Service,
    app_environment,
    command_program,
    container_ports,
    depends_on,
    environment_of,
    has_healthcheck,
    interpolate,
    is_one_shot,
    mosquitto_directives,
    mosquitto_listener_ports,
    setting_default,
    setting_variables,
    strings,
    volumes_of,
)

# --- services and images -----------------------------------------------------------------------


def test_compose_defines_every_service_of_the_production_stack(
    services: dict[str, Service],
) -> None:
    assert services.keys() >= EXPECTED_SERVICES, EXPECTED_SERVICES - services.keys()


def test_broker_and_time_series_run_the_images_the_spec_names(services: dict[str, Service]) -> None:
    for name, image in SPEC_IMAGES.items():
        assert services[name]["image"] == image


def test_app_services_share_one_buildable_image_and_run_their_cli_command(
    services: dict[str, Service],
) -> None:
    images = {str(services[name].get("image")) for name in APP_SERVICES}
    assert len(images) == 1, f"app services should share one image, got {images}"
    for name in APP_SERVICES:
        assert services[name].get("build"), f"{name} cannot build the app image"
    assert services["api"]["command"] == ["mainport", "api"]
    assert services["derive"]["command"] == ["mainport", "derive"]
    assert services["influx-setup"]["command"] == ["mainport", "influx-setup"]
    assert command_program(services["ingest"]).rstrip().endswith("exec mainport ingest")
    assert 'os.execvp("mainport", ["mainport", "provision"])' in command_program(
        services["provision"]
    )
    simulator = command_program(services["simulator"])
    assert 'scenario = "/app/simulators/scenarios/demo.yaml"' in simulator
    assert 'os.execvp("mainport", ["mainport", "simulate", scenario])' in simulator


def test_simulator_and_collector_start_only_with_their_profile(
    services: dict[str, Service],
) -> None:
    for name, profiles in PROFILES.items():
        assert services[name].get("profiles") == profiles, name
    for name in EXPECTED_SERVICES - PROFILES.keys():
        assert not services[name].get("profiles"), f"{name} would not start by default"


def test_collector_polls_with_its_own_broker_login_and_a_read_only_secrets_file(
    services: dict[str, Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = services["collector"]
    assert collector["command"] == ["mainport", "collect"]
    assert depends_on(collector)["mosquitto"]["condition"] == HEALTHY
    for var in list(os.environ):
        if var.startswith("MAINPORT_"):
            monkeypatch.delenv(var)
    env = {k: interpolate(v, REQUIRED_SECRETS) for k, v in environment_of(collector).items()}
    for var, value in env.items():
        monkeypatch.setenv(var, value)

    settings = Settings()

    own = REQUIRED_SECRETS["MAINPORT_COLLECTOR_MQTT_PASSWORD"]
    assert settings.env == "production"
    assert settings.collector_mqtt_username == "_network"
    assert settings.collector_mqtt_password is not None
    assert settings.collector_mqtt_password.get_secret_value() == own
    # No other service's secret: not the ingest's broker password, no InfluxDB login at all.
    assert settings.mqtt_password is not None and settings.mqtt_password.get_secret_value() == own
    assert settings.influx_password is None
    assert settings.mqtt_host == "mosquitto"
    assert settings.mqtt_port in mosquitto_listener_ports()
    # The SNMP secrets: a host file bound read-only where the settings look for it, never
    # created as a directory when missing.
    (mount,) = [v for v in collector["volumes"] if isinstance(v, dict)]
    assert mount["type"] == "bind" and mount["read_only"] is True
    assert mount["bind"]["create_host_path"] is False
    assert mount["target"] == str(settings.snmp_credentials_path)
    assert "./config:/app/config:ro" in volumes_of(collector)
    # Provision hashes the same password into the `_network` account it logs in with.
    provision = environment_of(services["provision"])
    assert (
        provision["MAINPORT_COLLECTOR_MQTT_PASSWORD"]
        == (environment_of(collector)["MAINPORT_COLLECTOR_MQTT_PASSWORD"])
    )


# --- settings ----------------------------------------------------------------------------------


def test_every_mainport_variable_names_a_real_setting(compose: dict[str, Any]) -> None:
    used = {var for text in strings(compose) for var in SETTING_VAR.findall(text)}
    assert used, "no MAINPORT_* variables found at all"
    unknown = used - setting_variables() - READ_OUTSIDE_SETTINGS
    assert not unknown, f"not fields of core.settings.Settings: {sorted(unknown)}"


def test_variables_read_outside_settings_are_really_read_by_the_cli() -> None:
    cli_source = inspect.getsource(mainport.cli)
    for var in READ_OUTSIDE_SETTINGS:
        assert f'os.environ.get("{var}")' in cli_source, f"mainport/cli.py no longer reads {var}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service_environment_is_accepted_by_settings(
    name: str, services: dict[str, Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in list(os.environ):
        if var.startswith("MAINPORT_"):
            monkeypatch.delenv(var)
    for var, value in environment_of(services[name]).items():
        monkeypatch.setenv(var, interpolate(value, REQUIRED_SECRETS))

    settings = Settings()

    assert settings.env == "production"
    assert settings.mqtt_password is not None
    assert settings.mqtt_password.get_secret_value() == REQUIRED_SECRETS["MAINPORT_MQTT_PASSWORD"]
    assert settings.influx_password is not None


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_reach_broker_and_influxdb_on_the_ports_they_listen_on(
    name: str, services: dict[str, Service]
) -> None:
    env = {k: interpolate(v, REQUIRED_SECRETS) for k, v in environment_of(services[name]).items()}

    assert env["MAINPORT_MQTT_HOST"] == "mosquitto"
    mqtt_port = int(env.get("MAINPORT_MQTT_PORT", setting_default("mqtt_port")))
    assert mqtt_port in mosquitto_listener_ports()

    influx = urlsplit(env["MAINPORT_INFLUX_URL"])
    assert influx.hostname == "influxdb"
    assert influx.port == INFLUXDB_HTTP_PORT
    bind = environment_of(services["influxdb"]).get("INFLUXDB_HTTP_BIND_ADDRESS", ":8086")
    assert bind.endswith(f":{INFLUXDB_HTTP_PORT}")


def test_app_services_use_the_influx_database_that_influxdb_creates_each_with_its_login(
    services: dict[str, Service],
) -> None:
    created = interpolate(environment_of(services["influxdb"])["INFLUXDB_DB"], REQUIRED_SECRETS)
    for name in APP_SERVICES:
        env = {
            k: interpolate(v, REQUIRED_SECRETS) for k, v in environment_of(services[name]).items()
        }
        assert env.get("MAINPORT_INFLUX_DB", setting_default("influx_db")) == created
        username, password = INFLUX_LOGIN.get(name, READER)
        assert env["MAINPORT_INFLUX_USERNAME"] == username, name
        assert env["MAINPORT_INFLUX_PASSWORD"] == REQUIRED_SECRETS[password], name
    grafana = {
        k: interpolate(v, REQUIRED_SECRETS) for k, v in environment_of(services["grafana"]).items()
    }
    assert grafana["GRAFANA_INFLUX_USER"] == READER[0]


def test_only_influx_setup_holds_the_influx_admin_password(services: dict[str, Service]) -> None:
    holders = {
        name
        for name, service in services.items()
        for value in environment_of(service).values()
        if "INFLUXDB_ADMIN_PASSWORD" in value
    }
    assert holders == {"influxdb", "influx-setup"}
    setup = environment_of(services["influx-setup"])
    env = {k: interpolate(v, REQUIRED_SECRETS) for k, v in setup.items()}
    assert env["MAINPORT_INFLUX_ADMIN_USERNAME"] == interpolate(
        environment_of(services["influxdb"])["INFLUXDB_ADMIN_USER"], {}
    )
    for role in ("WRITER", "DERIVER", "READER"):
        assert env[f"MAINPORT_INFLUX_{role}_PASSWORD"]


def test_apps_start_after_influx_setup_made_the_schema_and_users(
    services: dict[str, Service],
) -> None:
    assert depends_on(services["influx-setup"])["influxdb"]["condition"] == HEALTHY
    for name in ("ingest", "derive", "api", "grafana"):
        assert depends_on(services[name])["influx-setup"]["condition"] == ONE_SHOT


def test_broker_publishes_only_ports_it_listens_on(services: dict[str, Service]) -> None:
    published = container_ports(services["mosquitto"])
    assert published == {setting_default("mqtt_tls_port")}  # plain MQTT stays internal
    assert published <= mosquitto_listener_ports()


def test_api_publishes_the_default_api_port_on_all_interfaces(
    services: dict[str, Service],
) -> None:
    api = services["api"]
    env = environment_of(api)
    port = int(env.get("MAINPORT_API_PORT", setting_default("api_port")))

    assert port == setting_default("api_port")
    assert port in container_ports(api)
    assert env["MAINPORT_API_HOST"] == "0.0.0.0"


def test_ingest_replica_count_comes_from_one_variable(services: dict[str, Service]) -> None:
    ingest = services["ingest"]

    # A fixed id in the environment would be the same in every replica: the broker would then
    # keep disconnecting one replica for the next.
    assert "MAINPORT_INGEST_CLIENT_ID" not in environment_of(ingest)
    assert ingest["deploy"]["replicas"] == environment_of(ingest)["INGEST_REPLICAS"]
    assert "container_name" not in ingest
    assert not ingest.get("ports"), "replicas cannot share a published port"


# --- the bootstrap code of the simulator command ------------------------------------------------


class _Exec(Exception):
    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self.argv = argv


def test_simulator_mints_sim_logins_without_touching_partner_passwords(
    services: dict[str, Service], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in app_environment(services["simulator"], tmp_path).items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("MAINPORT_SIM_CREDENTIALS", "")
    # compose's PostgreSQL is not here: the data dir's SQLite stands in for it.
    monkeypatch.delenv("MAINPORT_DATABASE_URL")
    store = AccountStore(control_engine(tmp_path))
    store.issue("woonbron")
    partner_hash = {a.username: a.password_hash for a in store.load()}["woonbron"]

    def fake_exec(_file: str, argv: list[str]) -> None:
        raise _Exec(argv)

    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(os, "execvp", fake_exec)
    with pytest.raises(_Exec) as started:
        exec(compile(command_program(services["simulator"]), "simulator", "exec"), {})  # noqa: S102

    assert started.value.argv == ["mainport", "simulate", "/app/simulators/scenarios/demo.yaml"]
    logins = credentials_from_json(os.environ["MAINPORT_SIM_CREDENTIALS"])
    partners = load_registry(ROOT / "config" / "partners.yaml").partners
    devices = {key for key in logins if "/" in key}  # one device login per simulated device
    assert set(logins) - devices == {"_network"} | {p.id for p in partners}
    assert devices
    assert all(logins[key][0] == key.replace("/", ".") for key in devices)
    assert all(logins[s][0] == f"{s}.sim" for s in set(logins) - devices)
    passwd = (tmp_path / "mosquitto" / "passwd").read_text()
    assert all(f"\n{username}:" in f"\n{passwd}" for username, _ in logins.values())
    assert {a.username: a.password_hash for a in store.load()}["woonbron"] == partner_hash


# --- start-up order and health -----------------------------------------------------------------


def test_dependencies_wait_for_health_or_successful_completion(
    services: dict[str, Service],
) -> None:
    for name, service in services.items():
        for target, spec in depends_on(service).items():
            condition = spec.get("condition")
            assert condition in {HEALTHY, ONE_SHOT}, f"{name} -> {target}: {condition!r}"
            if condition == HEALTHY:
                assert has_healthcheck(services[target]), f"{target} has no healthcheck"
            else:
                assert is_one_shot(services[target]), f"{target} is not a one-shot service"


def test_broker_starts_after_provisioning_and_apps_after_a_healthy_backend(
    services: dict[str, Service],
) -> None:
    assert depends_on(services["mosquitto"])["provision"]["condition"] == ONE_SHOT
    for name in ("ingest", "api"):
        depends = depends_on(services[name])
        assert depends["mosquitto"]["condition"] == HEALTHY
        assert depends["influxdb"]["condition"] == HEALTHY


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Service]) -> None:
    for name, service in services.items():
        assert has_healthcheck(service) or is_one_shot(service), f"{name} has no healthcheck"
    assert is_one_shot(services["provision"])


def test_influxdb_healthcheck_ignores_the_loopback_only_init_server(
    services: dict[str, Service],
) -> None:
    test = " ".join(services["influxdb"]["healthcheck"]["test"])
    assert "/ping" in test
    assert "127.0.0.1" not in test
    assert "localhost" not in test


# --- secrets -----------------------------------------------------------------------------------


def test_secrets_are_required_variables_never_literal_values(
    services: dict[str, Service],
) -> None:
    secrets: dict[str, str] = {}
    for name, service in services.items():
        for var, value in environment_of(service).items():
            if SECRET_NAME.search(var):
                secrets[f"{name}.{var}"] = value
                assert REQUIRED_REFERENCE.match(value), f"{name}.{var} is not ${{VAR:?message}}"

    required = {match["name"] for v in secrets.values() if (match := REQUIRED_REFERENCE.match(v))}
    assert required == REQUIRED_SECRETS.keys()
    assert {"api.MAINPORT_MQTT_PASSWORD", "api.MAINPORT_INFLUX_PASSWORD"} <= secrets.keys()
    assert "influxdb.INFLUXDB_ADMIN_PASSWORD" in secrets


def test_influxdb_requires_authentication(services: dict[str, Service]) -> None:
    env = environment_of(services["influxdb"])
    assert env["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    assert env["INFLUXDB_ADMIN_USER"]


# --- mounts ------------------------------------------------------------------------------------


def test_partner_config_is_mounted_read_only_into_app_services(
    services: dict[str, Service],
) -> None:
    for name in APP_SERVICES:
        assert "./config:/app/config:ro" in volumes_of(services[name]), name


def test_broker_mounts_its_config_read_only_and_persists_its_data(
    services: dict[str, Service],
) -> None:
    volumes = volumes_of(services["mosquitto"])
    assert "./docker/mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes
    assert any(v.endswith(":/mosquitto/data") and not v.startswith(".") for v in volumes)
    assert any(v.endswith(":/var/lib/influxdb") for v in volumes_of(services["influxdb"]))


def test_broker_reads_the_auth_files_that_provision_writes_to_the_shared_volume(
    services: dict[str, Service],
) -> None:
    data_dir = environment_of(services["provision"])["MAINPORT_DATA_DIR"]
    provision_volume = next(
        v.split(":")[0] for v in volumes_of(services["provision"]) if v.split(":")[1] == data_dir
    )
    broker_mount = next(
        v.split(":") for v in volumes_of(services["mosquitto"]) if v.startswith(provision_volume)
    )
    assert broker_mount[2:] == ["ro"]
    script = "\n".join(services["mosquitto"]["entrypoint"])
    assert f"src={broker_mount[1]}/mosquitto" in script
    assert "dst=/mosquitto/auth" in script
    assert "install_auth passwd dynamic-security.json" in script
    directives = dict(mosquitto_directives())
    assert directives["password_file"] == "/mosquitto/auth/passwd"
    assert directives["plugin_opt_config_file"] == "/mosquitto/auth/dynamic-security.json"


def test_compose_publishes_only_tls_mqtt_and_the_api(services: dict[str, Service]) -> None:
    published = {
        name: [str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])]
        for name, service in services.items()
        if name != "grafana"
    }
    assert {name: ports for name, ports in published.items() if ports} == {
        "mosquitto": ["8883"],
        "api": ["8000"],
    }
