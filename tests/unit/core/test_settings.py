"""core.settings: SPEC defaults, MAINPORT_ environment overrides, and refusals that name the
setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MAINPORT_ variable from the calling shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("MAINPORT_"):
            monkeypatch.delenv(name)


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    return str(info.value)


def test_defaults_match_the_spec() -> None:
    s = Settings()

    assert s.env == "development"
    assert s.partners_file == Path("config/partners.yaml")
    assert s.data_dir == Path("var")
    assert (s.mqtt_host, s.mqtt_port) == ("127.0.0.1", 1883)
    assert s.influx_url == "http://127.0.0.1:8086"
    assert s.influx_db == "mainport"
    assert (s.api_host, s.api_port) == ("127.0.0.1", 8000)
    assert s.mqtt_root == "mainport"
    assert s.grace_factor == 3.0


def test_secret_files_live_under_the_data_dir() -> None:
    s = Settings()

    assert s.tokens_file == Path("var/secrets/api-tokens.json")
    assert s.credentials_file == Path("var/secrets/mqtt-credentials.json")
    assert s.log_dir == Path("var/log")


def test_prefixed_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINPORT_MQTT_PORT", "11883")
    monkeypatch.setenv("MAINPORT_API_PORT", "18000")
    monkeypatch.setenv("MAINPORT_INFLUX_URL", "http://influx.internal:8086/")
    monkeypatch.setenv("MAINPORT_INFLUX_DB", "mainport_test")
    monkeypatch.setenv("MAINPORT_PARTNERS_FILE", "/etc/mainport/partners.yaml")
    monkeypatch.setenv("MAINPORT_DATA_DIR", "/srv/mainport")
    monkeypatch.setenv("MAINPORT_MQTT_PASSWORD", "pw")

    s = Settings()

    assert (s.mqtt_port, s.api_port) == (11883, 18000)
    assert s.influx_url == "http://influx.internal:8086"
    assert s.influx_db == "mainport_test"
    assert s.partners_file == Path("/etc/mainport/partners.yaml")
    assert s.tokens_file == Path("/srv/mainport/secrets/api-tokens.json")
    assert s.mqtt_password is not None
    assert s.mqtt_password.get_secret_value() == "pw"


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("mainport_api_port", "9000")

    assert Settings().api_port == 9000


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_PORT", "1")
    monkeypatch.setenv("API_PORT", "1")

    s = Settings()

    assert (s.mqtt_port, s.api_port) == (1883, 8000)


def test_password_is_not_shown_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINPORT_MQTT_PASSWORD", "hunter2")

    assert "hunter2" not in repr(Settings())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAINPORT_MQTT_PORT", "70000"),
        ("MAINPORT_MQTT_PORT", "0"),
        ("MAINPORT_API_PORT", "http"),
        ("MAINPORT_API_PORT", "-1"),
    ],
)
def test_bad_port_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    message = refusal(monkeypatch, **{name: value})

    assert name.removeprefix("MAINPORT_").lower() in message


def test_influx_url_without_scheme_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, MAINPORT_INFLUX_URL="127.0.0.1:8086")

    assert "influx_url" in message
    assert "http://" in message


def test_influx_db_that_is_not_an_identifier_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, MAINPORT_INFLUX_DB='main"; DROP')

    assert "influx_db" in message


def test_empty_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, MAINPORT_MQTT_HOST="  ")

    assert "mqtt_host" in message


def test_unknown_environment_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, MAINPORT_ENV="staging")

    assert "env" in message


def test_production_without_an_mqtt_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, MAINPORT_ENV="production")

    assert "MAINPORT_MQTT_PASSWORD" in message


def test_production_with_an_mqtt_password_and_local_influx_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAINPORT_ENV", "production")
    monkeypatch.setenv("MAINPORT_MQTT_PASSWORD", "pw")

    assert Settings().env == "production"


def test_production_with_remote_influx_needs_an_influx_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(
        monkeypatch,
        MAINPORT_ENV="production",
        MAINPORT_MQTT_PASSWORD="pw",
        MAINPORT_INFLUX_URL="http://influxdb:8086",
    )

    assert "MAINPORT_INFLUX_PASSWORD" in message


def test_production_with_remote_influx_and_its_password_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAINPORT_ENV", "production")
    monkeypatch.setenv("MAINPORT_MQTT_PASSWORD", "pw")
    monkeypatch.setenv("MAINPORT_INFLUX_URL", "http://influxdb:8086")
    monkeypatch.setenv("MAINPORT_INFLUX_PASSWORD", "ipw")

    assert Settings().influx_url == "http://influxdb:8086"


@pytest.mark.parametrize("url", ["http://localhost:8086", "https://127.0.0.5"])
def test_production_with_loopback_influx_needs_no_influx_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("MAINPORT_ENV", "production")
    monkeypatch.setenv("MAINPORT_MQTT_PASSWORD", "pw")
    monkeypatch.setenv("MAINPORT_INFLUX_URL", url)

    assert Settings().influx_url == url


@pytest.mark.parametrize("url", ["http://[::1]:8086", "http://127.0.0.1/influxdb"])
def test_production_with_other_loopback_urls_needs_no_influx_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("MAINPORT_ENV", "production")
    monkeypatch.setenv("MAINPORT_MQTT_PASSWORD", "pw")
    monkeypatch.setenv("MAINPORT_INFLUX_URL", url)

    assert Settings().influx_url == url
