"""The deployment files the tests read as data: docker-compose.yml, the broker's mosquitto.conf
and the Dockerfile, with what compose itself would make of them (interpolation, the two forms of
`environment:` and `depends_on:`, ports). Shared by tests/unit/mainport/ and the tests that run
the compose commands (tests/integration/stack/test_compose_commands.py)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings
from tests.conftest import REPO

ROOT = REPO
ROOT = REPO
COMPOSE_FILE = ROOT / "docker-compose.yml"
MOSQUITTO_CONF = ROOT / "docker" / "mosquitto" / "mosquitto.conf"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = frozenset({"provision", "influx-setup", "ingest", "derive", "api", "simulator"})
EXPECTED_SERVICES = APP_SERVICES | {"mosquitto", "influxdb", "grafana", "collector", "postgres"}
# Services that start only with their compose profile.
PROFILES = {"simulator": ["simulate"], "collector": ["collect"]}
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
    "MAINPORT_COLLECTOR_MQTT_PASSWORD": "test-collector-mqtt-secret",
    "INFLUXDB_ADMIN_PASSWORD": "test-influx-admin-secret",
    "INFLUXDB_WRITE_PASSWORD": "test-influx-write-secret",
    "INFLUXDB_DERIVE_PASSWORD": "test-influx-derive-secret",
    "INFLUXDB_READ_PASSWORD": "test-influx-read-secret",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-admin-secret",
    "POSTGRES_PASSWORD": "test-postgres-secret",
}
# Each service's InfluxDB login (core/influx_logins.py): least privilege, admin for setup only.
INFLUX_LOGIN = {
    "ingest": ("mainport_ingest", "INFLUXDB_WRITE_PASSWORD"),
    "derive": ("mainport_derive", "INFLUXDB_DERIVE_PASSWORD"),
}
READER = ("mainport_read", "INFLUXDB_READ_PASSWORD")

Service = dict[str, Any]


def read_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def environment_of(service: Service) -> dict[str, str]:
    """A service's environment as a mapping, whichever of compose's two forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {key: value for key, _, value in (str(item).partition("=") for item in env)}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def strings(node: object) -> Iterator[str]:
    """Every key and scalar of a YAML tree, as text."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif node is not None:
        yield str(node)


def interpolate(value: str, variables: dict[str, str]) -> str:
    """What compose makes of `${VAR}`, `${VAR:-default}` and `${VAR:?error}` given variables."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if variables.get(name):
            return variables[name]
        if op is not None and op.endswith("?"):
            raise LookupError(f"required variable {name} is not set")
        return arg or ""

    return INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


def setting_variables() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    return {prefix + name.upper() for name in Settings.model_fields}


def setting_default(name: str) -> Any:
    return Settings.model_fields[name].default


def container_ports(service: Service) -> set[int]:
    """The container side of `ports:`, short ("[ip:]host:container[/proto]") or long syntax."""
    ports: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).rsplit(":", 1)[-1].split("/", 1)[0]))
    return ports


def mosquitto_directives() -> list[tuple[str, str]]:
    directives = []
    for raw in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            directives.append((key, value.strip()))
    return directives


def mosquitto_listener_ports() -> set[int]:
    return {int(value.split()[0]) for key, value in mosquitto_directives() if key == "listener"}


def command_program(service: Service) -> str:
    """The program of a `[interpreter, -c, program]` command."""
    command = service["command"]
    assert command[1] == "-c", command
    return str(command[2])


def app_environment(service: Service, data_dir: Path) -> dict[str, str]:
    """A service's environment as its container gets it, with paths of this checkout."""
    env = {k: interpolate(v, REQUIRED_SECRETS) for k, v in environment_of(service).items()}
    env.update(
        MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_PARTNERS_FILE=str(ROOT / "config" / "partners.yaml"),
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    path = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    return {**base, **env, "PATH": path}


def is_one_shot(service: Service) -> bool:
    return str(service.get("restart", "no")) == "no"


def has_healthcheck(service: Service) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def depends_on(service: Service) -> dict[str, Any]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # the short form has no condition: report it as such
        return {name: {} for name in depends}
    assert isinstance(depends, dict)
    return depends


def volumes_of(service: Service) -> list[str]:
    return [str(volume) for volume in service.get("volumes", [])]
