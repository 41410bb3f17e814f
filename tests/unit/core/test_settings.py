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


# (the environment, the setting the message names, what it says)
REFUSALS = [
    pytest.param(
        {"MAINPORT_MQTT_PORT": "70000"},
        "mqtt_port",
        "less than or equal to 65535",
        id="mqtt port above 65535",
    ),
    pytest.param(
        {"MAINPORT_MQTT_PORT": "0"}, "mqtt_port", "greater than or equal to 1", id="mqtt port 0"
    ),
    pytest.param(
        {"MAINPORT_API_PORT": "http"}, "api_port", "valid integer", id="api port not a number"
    ),
    pytest.param(
        {"MAINPORT_API_PORT": "-1"},
        "api_port",
        "greater than or equal to 1",
        id="api port negative",
    ),
    pytest.param(
        {"MAINPORT_INFLUX_URL": "127.0.0.1:8086"},
        "influx_url",
        "must start with http:// or https://",
        id="influx url without scheme",
    ),
    pytest.param(
        {"MAINPORT_INFLUX_DB": 'main"; DROP'},
        "influx_db",
        "should match pattern",
        id="influx db not an identifier",
    ),
    pytest.param({"MAINPORT_MQTT_HOST": "  "}, "mqtt_host", "must not be empty", id="empty host"),
    pytest.param(
        {"MAINPORT_ENV": "staging"},
        "env",
        "'development' or 'production'",
        id="unknown environment kind",
    ),
    pytest.param(
        {"MAINPORT_ENV": "production"},
        "MAINPORT_MQTT_PASSWORD",
        "must be set when MAINPORT_ENV=production",
        id="production without an mqtt password",
    ),
    pytest.param(
        {
            "MAINPORT_ENV": "production",
            "MAINPORT_MQTT_PASSWORD": "pw",
            "MAINPORT_INFLUX_URL": "http://influxdb:8086",
        },
        "MAINPORT_INFLUX_PASSWORD",
        "must be set for a non-loopback InfluxDB in production",
        id="production with remote influx without its password",
    ),
]


@pytest.mark.parametrize(("env", "field", "reason"), REFUSALS)
def test_a_bad_setting_is_refused_naming_the_field_and_why(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, reason: str
) -> None:
    message = refusal(monkeypatch, **env)

    assert field in message, message
    assert reason in message, message


def test_production_with_an_mqtt_password_and_local_influx_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAINPORT_ENV", "production")
    monkeypatch.setenv("MAINPORT_MQTT_PASSWORD", "pw")

    assert Settings().env == "production"


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


def test_an_influx_login_comes_from_the_process_then_the_role_then_the_local_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.influx_logins import ensure_logins

    monkeypatch.setenv("MAINPORT_DATA_DIR", str(tmp_path))
    assert Settings().influx_login("reader")["username"] is None  # no file: InfluxDB without auth
    generated = ensure_logins(Settings().influx_logins_file)
    assert Settings().influx_login("reader")["password"] == generated["reader"].password
    assert Settings().influx_login("writer")["username"] == generated["writer"].username
    monkeypatch.setenv("MAINPORT_INFLUX_READER_PASSWORD", "configured")
    assert Settings().influx_login("reader")["password"] == "configured"
    monkeypatch.setenv("MAINPORT_INFLUX_USERNAME", "explicit")
    monkeypatch.setenv("MAINPORT_INFLUX_PASSWORD", "pw")
    login = Settings().influx_login("reader")
    assert (login["username"], login["password"]) == ("explicit", "pw")


def test_an_influx_user_name_outside_the_safe_pattern_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, MAINPORT_INFLUX_READER_USERNAME='x" WITH ALL PRIVILEGES')
    assert "influx_reader_username" in message
