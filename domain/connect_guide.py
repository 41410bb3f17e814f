""" "How to connect", filled in for one login: the broker, its CA, the device's topics, a payload
valid for its kind, and `mosquitto_pub` and Python paho snippets that work when pasted.

Pure: the caller (api/routes/selfservice.py) says where the broker is and what the login is;
this only writes text. The password goes into the snippets only when it was just issued (the one
answer that shows it); otherwise they read it from the `MQTT_PASSWORD` environment variable.
Passwords are `secrets.token_urlsafe` (letters, digits, `-`, `_`) and ids are slugs, so single
shell quotes and Python string literals hold them without escaping; `shell_quote` still
refuses anything else rather than emit a snippet that breaks when pasted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Example readings per kind (the simulators' metric names, so a pasted message looks like the
# demo's); any other kind gets one generic `value`. Every value is a finite number (SPEC).
EXAMPLE_METRICS: dict[str, dict[str, float]] = {
    "temperature": {"temperature": 21.5, "humidity": 48.0},
    "air-quality": {"pm25": 8.4, "no2": 21.0},
    "water-level": {"level_m": 1.234},
    "energy-meter": {"energy_kwh": 1523.25, "power_kw": 3.4},
    "footfall": {"count": 12},
    "occupancy": {"occupancy_pct": 64.5},
    "noise": {"laeq_db": 55.2},
    "vibration": {"ppv_mm_s": 0.42},
}
GENERIC_METRICS = {"value": 1.0}
PASSWORD_ENV = "MQTT_PASSWORD"  # noqa: S105 (the name of a variable, not a secret)
CA_FILE = "mainport-ca.crt"
_SAFE = re.compile(r"[A-Za-z0-9._/:@=+-]*")


def shell_quote(text: str) -> str:
    """`'text'` for a POSIX shell; only for the characters ids, hosts and passwords use."""
    if not _SAFE.fullmatch(text):
        raise ValueError(f"{text!r} has characters a pasted snippet would not keep as they are")
    return f"'{text}'"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    tls_port: int
    ca_url: str | None
    """Where to download the broker's CA certificate; None: a publicly trusted certificate."""


@dataclass(frozen=True, slots=True)
class ConnectGuide:
    username: str
    host: str
    tls_port: int
    ca_url: str | None
    get_ca: str
    topics: dict[str, str]
    example_payload: str
    mosquitto_pub: str
    python: str


def example_payload(kind: str) -> str:
    """A telemetry message valid for `kind` (no `ts`: the ingest stamps the arrival time)."""
    return json.dumps({"metrics": EXAMPLE_METRICS.get(kind, GENERIC_METRICS)})


def device_topics(root: str, partner: str, device: str) -> dict[str, str]:
    base = f"{root}/{partner}/{device}"
    return {"telemetry": f"{base}/telemetry", "status": f"{base}/status"}


def gateway_topics(root: str, partner: str) -> dict[str, str]:
    base = f"{root}/{partner}"
    return {
        "telemetry": f"{base}/{{device}}/telemetry",
        "status": f"{base}/{{device}}/status",
        "subscribe": f"{base}/#",
    }


def guide(
    broker: BrokerAddress,
    *,
    username: str,
    password: str | None,
    telemetry_topic: str,
    status_topic: str,
    topics: dict[str, str],
    kind: str,
) -> ConnectGuide:
    """The whole guide for one login publishing on `telemetry_topic` and `status_topic`."""
    payload = example_payload(kind)
    if broker.ca_url is not None:
        get_ca = f"curl -fsS -o {CA_FILE} {shell_quote(broker.ca_url)}"
        ca_pub = f"--cafile {CA_FILE}"
        ca_py = f'client.tls_set(ca_certs="{CA_FILE}")'
    else:
        get_ca = "nothing to download: the broker's certificate is from a public CA"
        ca_pub = "--capath /etc/ssl/certs"
        ca_py = "client.tls_set()  # the system's trusted CAs"
    secret_sh = shell_quote(password) if password is not None else f'"${PASSWORD_ENV}"'
    pub = (
        f"mosquitto_pub -h {shell_quote(broker.host)} -p {broker.tls_port} {ca_pub} "
        f"-u {shell_quote(username)} -P {secret_sh} -q 1 "
        f"-t {shell_quote(telemetry_topic)} -m '{payload}'"
    )
    secret_py = repr(password) if password is not None else f'os.environ["{PASSWORD_ENV}"]'
    return ConnectGuide(
        username=username,
        host=broker.host,
        tls_port=broker.tls_port,
        ca_url=broker.ca_url,
        get_ca=get_ca,
        topics=topics,
        example_payload=payload,
        mosquitto_pub=pub,
        python=_PYTHON.format(
            host=repr(broker.host),
            port=broker.tls_port,
            username=repr(username),
            secret=secret_py,
            telemetry=repr(telemetry_topic),
            status=repr(status_topic),
            payload=repr(payload),
            tls=ca_py,
        ),
    )


_PYTHON = """\
# pip install "paho-mqtt>=2"
import os
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

USERNAME = {username}
PASSWORD = {secret}
TELEMETRY = {telemetry}
STATUS = {status}

connected = threading.Event()
answers = []


def on_connect(client, userdata, flags, reason_code, properties):
    answers.append(reason_code)
    connected.set()


client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=USERNAME)
client.username_pw_set(USERNAME, PASSWORD)
{tls}
# If the connection drops without a goodbye, the broker says so for the device (its Last Will).
client.will_set(STATUS, "offline", qos=1, retain=True)
client.on_connect = on_connect
client.connect({host}, {port})
client.loop_start()
if not connected.wait(15):
    sys.exit("no answer from the broker")
if answers[0].is_failure:
    sys.exit(f"refused by the broker: {{answers[0]}}")
client.publish(STATUS, "online", qos=1, retain=True).wait_for_publish(15)
# A real device keeps the connection open and publishes one reading per interval.
client.publish(TELEMETRY, {payload}, qos=1).wait_for_publish(15)
print("published to", TELEMETRY)
client.disconnect()
client.loop_stop()
"""
