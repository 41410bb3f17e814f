"""The "how to connect" guide: exactly this login's topics, a payload the ingest accepts for the
kind, and snippets that carry the password only when it was just issued."""

from __future__ import annotations

import json

import pytest

from domain.connect_guide import (
    BrokerAddress,
    ConnectGuide,
    device_topics,
    example_payload,
    guide,
    shell_quote,
)
from domain.messages import Rejected, parse_message

BROKER = BrokerAddress("mqtt.example.net", 8883, "https://api.example.net/api/v1/broker/ca.crt")


def _guide(password: str | None, broker: BrokerAddress = BROKER) -> ConnectGuide:
    topics = device_topics("mainport", "woonbron", "meter-7")
    return guide(
        broker,
        username="woonbron.meter-7",
        password=password,
        telemetry_topic=topics["telemetry"],
        status_topic=topics["status"],
        topics=topics,
        kind="energy-meter",
    )


@pytest.mark.parametrize("kind", ["temperature", "energy-meter", "a-kind-nobody-knows"])
def test_the_example_payload_is_a_valid_telemetry_message(kind: str) -> None:
    payload = example_payload(kind)
    assert json.loads(payload)["metrics"]
    parsed = parse_message("mainport/woonbron/meter-7/telemetry", payload.encode(), 10**18)
    assert not isinstance(parsed, Rejected), parsed


def test_snippets_carry_the_new_password_and_this_devices_topic() -> None:
    found = _guide("s3cr3t-_AbC")
    assert "-P 's3cr3t-_AbC'" in found.mosquitto_pub
    assert "-t 'mainport/woonbron/meter-7/telemetry'" in found.mosquitto_pub
    assert "PASSWORD = 's3cr3t-_AbC'" in found.python
    compile(found.python, "<snippet>", "exec")


def test_without_the_password_the_snippets_read_it_from_the_environment() -> None:
    found = _guide(None)
    assert '-P "$MQTT_PASSWORD"' in found.mosquitto_pub
    assert 'os.environ["MQTT_PASSWORD"]' in found.python


def test_a_public_certificate_needs_no_download() -> None:
    found = _guide(None, BrokerAddress("mqtt.example.net", 8883, None))
    assert "--capath /etc/ssl/certs" in found.mosquitto_pub
    assert "client.tls_set()" in found.python


def test_text_a_shell_would_change_is_refused() -> None:
    with pytest.raises(ValueError, match="pasted snippet"):
        shell_quote("it's $(rm -rf /)")
