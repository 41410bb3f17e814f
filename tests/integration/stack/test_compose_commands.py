"""The commands of the compose file, run: the ingest's client-id shell line, the provision
step's Python program against this checkout, and `docker compose config` when the compose CLI
plugin is installed (skipped if not; no Docker engine is needed)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from access.broker import AccountStore, hash_password
from core.settings import Settings
from tests.conftest import control_engine
from tests.integration.postgres_support import Postgres
from tests.unit.mainport.compose_support import (
    COMPOSE_FILE,
    REQUIRED_SECRETS,
    ROOT,
    Service,
    app_environment,
    command_program,
    read_compose,
)


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    found = read_compose().get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services"
    return found


def _ingest_client_id(services: dict[str, Service], **env: str) -> str:
    """The client id the ingest's start command hands to `mainport ingest`, given its env."""
    script = command_program(services["ingest"]).replace("$$", "$")
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


# --- the bootstrap code in the provision and simulator commands ---------------------------------


def test_provision_gives_the_ingest_account_the_password_from_the_environment(
    services: dict[str, Service], tmp_path: Path, postgres: Postgres
) -> None:
    env = app_environment(services["provision"], tmp_path)
    # compose's `postgres` service: a real PostgreSQL here, as MAINPORT_DATABASE_URL names one.
    env["MAINPORT_DATABASE_URL"] = postgres.new_database()
    partner_store = AccountStore(control_engine(tmp_path, env["MAINPORT_DATABASE_URL"]))
    partner_store.issue("woonbron")
    command = [sys.executable, "-c", command_program(services["provision"])]

    for _ in range(2):  # every `docker compose up` runs it again
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)

    passwd = (tmp_path / "mosquitto" / "passwd").read_text().splitlines()
    hashes = dict(line.split(":", 1) for line in passwd)
    # _admin: access.dynsec; _network: the SNMP collector's login
    assert set(hashes) == {"_admin", "_ingest", "_retain", "_network", "woonbron"}
    for username, secret in (
        ("_ingest", "MAINPORT_MQTT_PASSWORD"),
        ("_network", "MAINPORT_COLLECTOR_MQTT_PASSWORD"),
    ):
        salt = base64.b64decode(hashes[username].split("$")[3])
        assert hash_password(REQUIRED_SECRETS[secret], salt=salt) == hashes[username]
    rights = json.loads((tmp_path / "mosquitto" / "dynamic-security.json").read_text())
    ingest = next(r for r in rights["roles"] if r["rolename"] == "_ingest")
    assert {"acltype": "subscribePattern", "topic": "$share/+/mainport/#", "allow": True} in (
        ingest["acls"]
    )


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
