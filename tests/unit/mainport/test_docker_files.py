"""The broker's mosquitto.conf and the Dockerfile, read as text: what the SPEC and Settings ask of
them."""

from __future__ import annotations

import re

from tests.unit.mainport.compose_support import (
    DOCKERFILE,
    mosquitto_directives,
    mosquitto_listener_ports,
    setting_default,
)

# --- broker config -----------------------------------------------------------------------------


def test_broker_config_refuses_anonymous_clients() -> None:
    directives = mosquitto_directives()
    assert ("allow_anonymous", "false") in directives
    assert ("allow_anonymous", "true") not in directives


def test_broker_config_authenticates_from_the_file_and_authorises_by_the_plugin() -> None:
    keys = dict(mosquitto_directives())
    assert keys.get("password_file")
    assert keys.get("plugin", "").endswith("mosquitto_dynamic_security.so")
    assert "acl_file" not in keys  # it would grant every subscription (access/dynsec.py)


def test_broker_config_binds_client_ids_where_partners_connect_and_caps_packets() -> None:
    directives = mosquitto_directives()
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


def test_broker_config_persists_sessions_and_retained_messages() -> None:
    directives = dict(mosquitto_directives())
    assert directives.get("persistence") == "true"
    assert directives.get("persistence_location", "").startswith("/mosquitto/data")


def test_broker_config_listens_on_the_default_mqtt_port() -> None:
    assert setting_default("mqtt_port") in mosquitto_listener_ports()


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
