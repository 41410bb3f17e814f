"""The production compose file, broker config and Dockerfile agree with Settings and the SPEC.

Runs without a Docker engine: the files are read as YAML and text. `docker compose config`, which
needs no engine either, is run too when the compose CLI plugin is installed, and skipped if not.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import mainport.cli
from access.broker import AccountStore, hash_password
from core.settings import Settings
from domain.registry import load_registry
from simulators.simulation import credentials_from_json

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
MOSQUITTO_CONF = ROOT / "docker" / "mosquitto" / "mosquitto.conf"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = frozenset({"provision", "ingest", "derive", "api", "simulator"})
EXPECTED_SERVICES = APP_SERVICES | {"mosquitto", "influxdb", "grafana"}
SPEC_IMAGES = {"mosquitto": "eclipse-mosquitto:2", "influxdb": "influxdb:1.8"}
INFLUXDB_HTTP_PORT = 8086  # influxdb:1.8 serves its HTTP API here unless told otherwise
ONE_SHOT = "service_completed_successfully"
HEALTHY = "service_healthy"

SETTING_VAR = re.compile(r"\bMAINPORT_[A-Z0-9_]+\b")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")
REQUIRED_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Z_][A-Z0-9_]*):\?[^}]+\}$")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
# `mainport simulate` reads its logins straight from the environment, not through Settings.
READ_OUTSIDE_SETTINGS = frozenset({"MAINPORT_SIM_CREDENTIALS"})
# Values for the variables compose requires, as an operator would put them in .env.
REQUIRED_SECRETS = {
    "MAINPORT_MQTT_PASSWORD": "test-ingest-mqtt-secret",
    "MAINPORT_RETAIN_PASSWORD": "test-retain-guard-secret",
    "INFLUXDB_ADMIN_PASSWORD": "test-influx-admin-secret",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-admin-secret",
    "GRAFANA_INFLUX_PASSWORD": "test-grafana-influx-secret",
}

Service = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    found = compose.get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services"
    return found


def _environment(service: Service) -> dict[str, str]:
    """A service's environment as a mapping, whichever of compose's two forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {key: value for key, _, value in (str(item).partition("=") for item in env)}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _strings(node: object) -> Iterator[str]:
    """Every key and scalar of a YAML tree, as text."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif node is not None:
        yield str(node)


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """What compose makes of `${VAR}`, `${VAR:-default}` and `${VAR:?error}` given variables."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if variables.get(name):
            return variables[name]
        if op is not None and op.endswith("?"):
            raise LookupError(f"required variable {name} is not set")
        return arg or ""

    return INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


def _setting_variables() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    return {prefix + name.upper() for name in Settings.model_fields}


def _setting_default(name: str) -> Any:
    return Settings.model_fields[name].default


def _container_ports(service: Service) -> set[int]:
    """The container side of `ports:`, short ("[ip:]host:container[/proto]") or long syntax."""
    ports: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).rsplit(":", 1)[-1].split("/", 1)[0]))
    return ports


def _mosquitto_directives() -> list[tuple[str, str]]:
    directives = []
    for raw in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            directives.append((key, value.strip()))
    return directives


def _mosquitto_listener_ports() -> set[int]:
    return {int(value.split()[0]) for key, value in _mosquitto_directives() if key == "listener"}


def _script(service: Service) -> str:
    """The program of a `[interpreter, -c, program]` command."""
    command = service["command"]
    assert command[1] == "-c", command
    return str(command[2])


def _app_environment(service: Service, data_dir: Path) -> dict[str, str]:
    """A service's environment as its container gets it, with paths of this checkout."""
    env = {k: _interpolate(v, REQUIRED_SECRETS) for k, v in _environment(service).items()}
    env.update(
        MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_PARTNERS_FILE=str(ROOT / "config" / "partners.yaml"),
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    path = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    return {**base, **env, "PATH": path}


def _is_one_shot(service: Service) -> bool:
    return str(service.get("restart", "no")) == "no"


def _has_healthcheck(service: Service) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def _depends_on(service: Service) -> dict[str, Any]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # the short form has no condition: report it as such
        return {name: {} for name in depends}
    assert isinstance(depends, dict)
    return depends


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
    assert _script(services["ingest"]).rstrip().endswith("exec mainport ingest")
    assert 'os.execvp("mainport", ["mainport", "provision"])' in _script(services["provision"])
    simulator = _script(services["simulator"])
    assert 'scenario = "/app/simulators/scenarios/demo.yaml"' in simulator
    assert 'os.execvp("mainport", ["mainport", "simulate", scenario])' in simulator


def test_simulator_starts_only_with_the_simulate_profile(services: dict[str, Service]) -> None:
    assert services["simulator"].get("profiles") == ["simulate"]
    for name in EXPECTED_SERVICES - {"simulator"}:
        assert not services[name].get("profiles"), f"{name} would not start by default"


# --- settings ----------------------------------------------------------------------------------


def test_every_mainport_variable_names_a_real_setting(compose: dict[str, Any]) -> None:
    used = {var for text in _strings(compose) for var in SETTING_VAR.findall(text)}
    assert used, "no MAINPORT_* variables found at all"
    unknown = used - _setting_variables() - READ_OUTSIDE_SETTINGS
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
    for var, value in _environment(services[name]).items():
        monkeypatch.setenv(var, _interpolate(value, REQUIRED_SECRETS))

    settings = Settings()

    assert settings.env == "production"
    assert settings.mqtt_password is not None
    assert settings.mqtt_password.get_secret_value() == REQUIRED_SECRETS["MAINPORT_MQTT_PASSWORD"]
    assert settings.influx_password is not None


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_reach_broker_and_influxdb_on_the_ports_they_listen_on(
    name: str, services: dict[str, Service]
) -> None:
    env = {k: _interpolate(v, REQUIRED_SECRETS) for k, v in _environment(services[name]).items()}

    assert env["MAINPORT_MQTT_HOST"] == "mosquitto"
    mqtt_port = int(env.get("MAINPORT_MQTT_PORT", _setting_default("mqtt_port")))
    assert mqtt_port in _mosquitto_listener_ports()

    influx = urlsplit(env["MAINPORT_INFLUX_URL"])
    assert influx.hostname == "influxdb"
    assert influx.port == INFLUXDB_HTTP_PORT
    bind = _environment(services["influxdb"]).get("INFLUXDB_HTTP_BIND_ADDRESS", ":8086")
    assert bind.endswith(f":{INFLUXDB_HTTP_PORT}")


def test_app_services_write_to_the_influx_database_that_influxdb_creates(
    services: dict[str, Service],
) -> None:
    created = _interpolate(_environment(services["influxdb"])["INFLUXDB_DB"], REQUIRED_SECRETS)
    admin = _interpolate(_environment(services["influxdb"])["INFLUXDB_ADMIN_USER"], {})
    for name in APP_SERVICES:
        env = {
            k: _interpolate(v, REQUIRED_SECRETS) for k, v in _environment(services[name]).items()
        }
        assert env.get("MAINPORT_INFLUX_DB", _setting_default("influx_db")) == created
        assert env["MAINPORT_INFLUX_USERNAME"] == admin


def test_broker_publishes_only_ports_it_listens_on(services: dict[str, Service]) -> None:
    published = _container_ports(services["mosquitto"])
    assert published == {_setting_default("mqtt_tls_port")}  # plain MQTT stays internal
    assert published <= _mosquitto_listener_ports()


def test_api_publishes_the_default_api_port_on_all_interfaces(
    services: dict[str, Service],
) -> None:
    api = services["api"]
    env = _environment(api)
    port = int(env.get("MAINPORT_API_PORT", _setting_default("api_port")))

    assert port == _setting_default("api_port")
    assert port in _container_ports(api)
    assert env["MAINPORT_API_HOST"] == "0.0.0.0"


def _ingest_client_id(services: dict[str, Service], **env: str) -> str:
    """The client id the ingest's start command hands to `mainport ingest`, given its env."""
    script = _script(services["ingest"]).replace("$$", "$")
    script = script.replace("exec mainport ingest", 'echo "${MAINPORT_INGEST_CLIENT_ID:-default}"')
    base = {k: v for k, v in os.environ.items() if k != "MAINPORT_INGEST_CLIENT_ID"}
    base.pop("INGEST_REPLICAS", None)
    result = subprocess.run(
        ["/bin/sh", "-c", script],
        env={**base, "HOSTNAME": "3f2a9c1d4e5b", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


def test_single_ingest_keeps_the_settings_default_client_id(services: dict[str, Service]) -> None:
    # A stable id lets the one ingest resume its persistent session after re-creation.
    assert _ingest_client_id(services) == "default"
    assert _ingest_client_id(services, INGEST_REPLICAS="1") == "default"


def test_ingest_replicas_get_distinct_client_ids_from_their_hostname(
    services: dict[str, Service],
) -> None:
    client_id = _ingest_client_id(services, INGEST_REPLICAS="3")

    assert client_id == "mainport-ingest-3f2a9c1d4e5b"
    assert Settings.model_validate({"ingest_client_id": client_id}).ingest_client_id == client_id


def test_explicit_ingest_client_id_wins(services: dict[str, Service]) -> None:
    assert _ingest_client_id(services, INGEST_REPLICAS="3", MAINPORT_INGEST_CLIENT_ID="x") == "x"


def test_ingest_replica_count_comes_from_one_variable(services: dict[str, Service]) -> None:
    ingest = services["ingest"]

    # A fixed id in the environment would be the same in every replica: the broker would then
    # keep disconnecting one replica for the next.
    assert "MAINPORT_INGEST_CLIENT_ID" not in _environment(ingest)
    assert ingest["deploy"]["replicas"] == _environment(ingest)["INGEST_REPLICAS"]
    assert "container_name" not in ingest
    assert not ingest.get("ports"), "replicas cannot share a published port"


# --- the bootstrap code in the provision and simulator commands ---------------------------------


def test_provision_gives_the_ingest_account_the_password_from_the_environment(
    services: dict[str, Service], tmp_path: Path
) -> None:
    env = _app_environment(services["provision"], tmp_path)
    partner_store = AccountStore(tmp_path / "secrets" / "mqtt-credentials.json")
    partner_store.issue("woonbron")
    command = [sys.executable, "-c", _script(services["provision"])]

    for _ in range(2):  # every `docker compose up` runs it again
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)

    passwd = (tmp_path / "mosquitto" / "passwd").read_text().splitlines()
    hashes = dict(line.split(":", 1) for line in passwd)
    assert set(hashes) == {"_admin", "_ingest", "_retain", "woonbron"}  # _admin: access.dynsec
    salt = base64.b64decode(hashes["_ingest"].split("$")[3])
    password = REQUIRED_SECRETS["MAINPORT_MQTT_PASSWORD"]
    assert hash_password(password, salt=salt) == hashes["_ingest"]
    rights = json.loads((tmp_path / "mosquitto" / "dynamic-security.json").read_text())
    ingest = next(r for r in rights["roles"] if r["rolename"] == "_ingest")
    assert {"acltype": "subscribePattern", "topic": "$share/+/mainport/#", "allow": True} in (
        ingest["acls"]
    )


class _Exec(Exception):
    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self.argv = argv


def test_simulator_mints_sim_logins_without_touching_partner_passwords(
    services: dict[str, Service], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in _app_environment(services["simulator"], tmp_path).items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("MAINPORT_SIM_CREDENTIALS", "")
    store = AccountStore(tmp_path / "secrets" / "mqtt-credentials.json")
    store.issue("woonbron")
    partner_hash = {a.username: a.password_hash for a in store.load()}["woonbron"]

    def fake_exec(_file: str, argv: list[str]) -> None:
        raise _Exec(argv)

    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(os, "execvp", fake_exec)
    with pytest.raises(_Exec) as started:
        exec(compile(_script(services["simulator"]), "simulator", "exec"), {})  # noqa: S102

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
        for target, spec in _depends_on(service).items():
            condition = spec.get("condition")
            assert condition in {HEALTHY, ONE_SHOT}, f"{name} -> {target}: {condition!r}"
            if condition == HEALTHY:
                assert _has_healthcheck(services[target]), f"{target} has no healthcheck"
            else:
                assert _is_one_shot(services[target]), f"{target} is not a one-shot service"


def test_broker_starts_after_provisioning_and_apps_after_a_healthy_backend(
    services: dict[str, Service],
) -> None:
    assert _depends_on(services["mosquitto"])["provision"]["condition"] == ONE_SHOT
    for name in ("ingest", "api"):
        depends = _depends_on(services[name])
        assert depends["mosquitto"]["condition"] == HEALTHY
        assert depends["influxdb"]["condition"] == HEALTHY


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Service]) -> None:
    for name, service in services.items():
        assert _has_healthcheck(service) or _is_one_shot(service), f"{name} has no healthcheck"
    assert _is_one_shot(services["provision"])


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
        for var, value in _environment(service).items():
            if SECRET_NAME.search(var):
                secrets[f"{name}.{var}"] = value
                assert REQUIRED_REFERENCE.match(value), f"{name}.{var} is not ${{VAR:?message}}"

    required = {match["name"] for v in secrets.values() if (match := REQUIRED_REFERENCE.match(v))}
    assert required == REQUIRED_SECRETS.keys()
    assert {"api.MAINPORT_MQTT_PASSWORD", "api.MAINPORT_INFLUX_PASSWORD"} <= secrets.keys()
    assert "influxdb.INFLUXDB_ADMIN_PASSWORD" in secrets


def test_influxdb_requires_authentication(services: dict[str, Service]) -> None:
    env = _environment(services["influxdb"])
    assert env["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    assert env["INFLUXDB_ADMIN_USER"]


# --- mounts ------------------------------------------------------------------------------------


def _volumes(service: Service) -> list[str]:
    return [str(volume) for volume in service.get("volumes", [])]


def test_partner_config_is_mounted_read_only_into_app_services(
    services: dict[str, Service],
) -> None:
    for name in APP_SERVICES:
        assert "./config:/app/config:ro" in _volumes(services[name]), name


def test_broker_mounts_its_config_read_only_and_persists_its_data(
    services: dict[str, Service],
) -> None:
    volumes = _volumes(services["mosquitto"])
    assert "./docker/mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes
    assert any(v.endswith(":/mosquitto/data") and not v.startswith(".") for v in volumes)
    assert any(v.endswith(":/var/lib/influxdb") for v in _volumes(services["influxdb"]))


def test_broker_reads_the_auth_files_that_provision_writes_to_the_shared_volume(
    services: dict[str, Service],
) -> None:
    data_dir = _environment(services["provision"])["MAINPORT_DATA_DIR"]
    provision_volume = next(
        v.split(":")[0] for v in _volumes(services["provision"]) if v.split(":")[1] == data_dir
    )
    broker_mount = next(
        v.split(":") for v in _volumes(services["mosquitto"]) if v.startswith(provision_volume)
    )
    assert broker_mount[2:] == ["ro"]
    script = "\n".join(services["mosquitto"]["entrypoint"])
    assert f"src={broker_mount[1]}/mosquitto" in script
    assert "dst=/mosquitto/auth" in script
    assert "install_auth passwd dynamic-security.json" in script
    directives = dict(_mosquitto_directives())
    assert directives["password_file"] == "/mosquitto/auth/passwd"
    assert directives["plugin_opt_config_file"] == "/mosquitto/auth/dynamic-security.json"


# --- broker config -----------------------------------------------------------------------------


def test_broker_config_refuses_anonymous_clients() -> None:
    directives = _mosquitto_directives()
    assert ("allow_anonymous", "false") in directives
    assert ("allow_anonymous", "true") not in directives


def test_broker_config_authenticates_from_the_file_and_authorises_by_the_plugin() -> None:
    keys = dict(_mosquitto_directives())
    assert keys.get("password_file")
    assert keys.get("plugin", "").endswith("mosquitto_dynamic_security.so")
    assert "acl_file" not in keys  # it would grant every subscription (access/dynsec.py)


def test_broker_config_binds_client_ids_where_partners_connect_and_caps_packets() -> None:
    directives = _mosquitto_directives()
    per_listener: dict[str, dict[str, str]] = {}
    for key, value in directives:
        if key == "listener":
            current = per_listener.setdefault(value, {})
        elif per_listener:
            current[key] = value
    assert sorted(per_listener) == ["1883", "8883"]
    # 8883 is the one partners reach (1883 is not published: test below).
    assert per_listener["8883"].get("use_username_as_clientid") == "true"
    assert "certfile" in per_listener["8883"]
    assert dict(directives)["max_packet_size"] == str(64 * 1024 + 1024)


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


def test_broker_config_persists_sessions_and_retained_messages() -> None:
    directives = dict(_mosquitto_directives())
    assert directives.get("persistence") == "true"
    assert directives.get("persistence_location", "").startswith("/mosquitto/data")


def test_broker_config_listens_on_the_default_mqtt_port() -> None:
    assert _setting_default("mqtt_port") in _mosquitto_listener_ports()


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_builds_a_non_root_image_that_serves_the_api() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)

    assert bases
    assert all(base == "python:3.11-slim" for base in bases)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^WORKDIR /app$", text, re.MULTILINE)
    assert re.search(r'^CMD \["mainport", "api"\]$', text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK (?:.*\\\n)*.*/healthz", text, re.MULTILINE)


def test_dockerfile_uses_requirements_lock_only_when_present() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "requirements.lock*" in text  # the COPY glob tolerates a missing lock file
    assert "[ -f requirements.lock ]" in text
    assert re.search(r"pip install -c \S+ \.", text)


# --- docker compose itself ---------------------------------------------------------------------


def _compose_cli() -> list[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker client not installed: cannot run `docker compose config`")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not installed: `docker compose version` failed")
    return [docker, "compose"]


def _run_compose_config(*args: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_SECRETS}
    env.update(variables)
    command = [
        *_compose_cli(),
        "--project-directory",
        str(ROOT),
        "-f",
        str(COMPOSE_FILE),
        # Hermetic: an operator's .env beside the compose file must not supply the secrets.
        "--env-file",
        os.devnull,
        "--profile",
        "simulate",
        "config",
        *args,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=env, cwd=ROOT
    )


def test_docker_compose_accepts_the_file_when_secrets_are_set() -> None:
    result = _run_compose_config("-q", variables=REQUIRED_SECRETS)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_the_required_secrets() -> None:
    result = _run_compose_config("-q", variables={})
    assert result.returncode != 0
    assert "MAINPORT_MQTT_PASSWORD" in result.stderr or "INFLUXDB_ADMIN_PASSWORD" in result.stderr


def test_docker_compose_scales_ingest_from_ingest_replicas() -> None:
    result = _run_compose_config(
        "--format", "json", variables={**REQUIRED_SECRETS, "INGEST_REPLICAS": "3"}
    )
    assert result.returncode == 0, result.stderr
    rendered = json.loads(result.stdout)
    assert rendered["services"]["ingest"]["deploy"]["replicas"] == 3
    assert rendered["services"]["ingest"]["environment"]["INGEST_REPLICAS"] == "3"
    api_env = rendered["services"]["api"]["environment"]
    assert api_env["MAINPORT_MQTT_PASSWORD"] == REQUIRED_SECRETS["MAINPORT_MQTT_PASSWORD"]
