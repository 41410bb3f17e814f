"""A partner onboards a device alone through the API: registers it within its quota and kinds,
gets its own login once, pastes the "how to connect" snippets (run here for real, over TLS,
against the real broker and ingest), sees its messages and rejections on the debug view; its
login rotated or revoked disconnects that device only; another partner sees none of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import wait_for
from tests.integration.access_common import Session
from tests.integration.selfservice.selfservice_support import (
    HOST,
    OTHER_ID,
    PARTNER_ID,
    SelfServiceSite,
    site_env,
)

DEVICES = f"/api/v1/partners/{PARTNER_ID}/devices"


def register(site: SelfServiceSite, device: str, kind: str = "energy-meter") -> None:
    resp = site.call("POST", DEVICES, site.partner, json={"id": device, "kind": kind})
    assert resp.status_code == 201, resp.text


def issue_login(site: SelfServiceSite, device: str, token: str | None = None) -> dict[str, Any]:
    resp = site.call("POST", f"{DEVICES}/{device}/login", token or site.partner)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    assert body["broker_updated"] is True
    return body


def debug(site: SelfServiceSite, device: str, token: str | None = None) -> dict[str, Any]:
    resp = site.call("GET", f"{DEVICES}/{device}/debug", token or site.partner)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def device_session(site: SelfServiceSite, username: str, password: str) -> Session:
    session = Session(HOST, site.tls_port, username, password, ca_file=site.ca_file)
    assert session.connect() == "Success"
    return session


def test_the_pasted_snippets_publish_over_tls_and_the_device_turns_online(
    site: SelfServiceSite, tmp_path: Path
) -> None:
    register(site, "meter-new-1")
    issued = issue_login(site, "meter-new-1")
    guide = issued["connect"]
    assert issued["username"] == f"{PARTNER_ID}.meter-new-1"
    assert guide["tls_port"] == site.tls_port
    assert guide["topics"]["telemetry"] == f"mainport/{PARTNER_ID}/meter-new-1/telemetry"
    assert issued["password"] in guide["mosquitto_pub"]
    assert debug(site, "meter-new-1")["state"] == "unknown"

    fetched = shell(guide["get_ca"], tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "mainport-ca.crt").read_bytes() == site.ca_file.read_bytes()
    published = shell(guide["mosquitto_pub"], tmp_path)
    assert published.returncode == 0, published.stderr
    script = subprocess.run(
        [sys.executable, "-c", guide["python"]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert script.returncode == 0, script.stderr

    def counted() -> bool:
        view = debug(site, "meter-new-1")
        telemetry = [m for m in view["messages"] if m["type"] == "telemetry"]
        return view["state"] == "online" and len(telemetry) == 2

    wait_for(counted, 30, "both pasted messages stored and the device online")
    view = debug(site, "meter-new-1")
    assert view["login"]["username"] == f"{PARTNER_ID}.meter-new-1"
    assert view["last_status"]["online"] is True
    assert view["messages"][0]["metrics"] == {"energy_kwh": 1523.25, "power_kw": 3.4}
    # Shown once: the guide asked for again names the password's variable, not the password.
    again = site.call("GET", f"{DEVICES}/meter-new-1/connect", site.partner).json()
    assert issued["password"] not in str(again)
    assert '"$MQTT_PASSWORD"' in again["mosquitto_pub"]


def test_a_rejected_message_shows_its_reason_and_the_last_will_shows(
    site: SelfServiceSite,
) -> None:
    register(site, "meter-new-2")
    issued = issue_login(site, "meter-new-2")
    session = device_session(site, issued["username"], issued["password"])
    try:
        assert session.publish(issued["connect"]["topics"]["telemetry"], b'{"metrics": 5}') == (
            "Success"
        )
        session.publish(issued["connect"]["topics"]["status"], b"offline")
    finally:
        session.close()

    def rejected() -> bool:
        view = debug(site, "meter-new-2")
        return bool(view["rejected"]) and view["last_will"] is not None

    wait_for(rejected, 30, "the dead letter and the offline status on the debug view")
    view = debug(site, "meter-new-2")
    letter = view["rejected"][0]
    assert letter["reason"] == "bad_shape"
    assert "metrics: expected an object" in letter["detail"]
    assert letter["excerpt"] == '{"metrics": 5}'
    assert view["state"] == "offline"


def test_revoking_one_login_disconnects_that_device_only_and_rotating_replaces_it(
    site: SelfServiceSite,
) -> None:
    first = issue_login(site, "meter-new-1")
    second = issue_login(site, "meter-new-2")
    one = device_session(site, first["username"], first["password"])
    two = device_session(site, second["username"], second["password"])
    try:
        revoked = site.call("DELETE", f"{DEVICES}/meter-new-1/login", site.partner)
        assert revoked.status_code == 200, revoked.text
        one.wait(lambda: bool(one.disconnects), "the revoked device disconnected")
        assert two.publish(second["connect"]["topics"]["telemetry"], b'{"metrics": {"a": 1}}') == (
            "Success"
        )
        assert not two.disconnects
        refused = Session(
            HOST, site.tls_port, first["username"], first["password"], ca_file=site.ca_file
        )
        assert refused.connect() == "Not authorized"
        refused.close()
        # Rotating: the new password works, the session on the old one is dropped.
        rotated = issue_login(site, "meter-new-2")
        two.wait(lambda: bool(two.disconnects), "the session on the old password dropped")
        device_session(site, rotated["username"], rotated["password"]).close()
    finally:
        one.close()
        two.close()


def test_gateway_logins_are_created_listed_and_revoked(site: SelfServiceSite) -> None:
    gateways = f"/api/v1/partners/{PARTNER_ID}/gateways"
    made = site.call("POST", gateways, site.partner, json={"label": "lorawan-ns"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["username"] == f"{PARTNER_ID}.lorawan-ns" and body["kind"] == "gateway"
    session = device_session(site, body["username"], body["password"])
    try:
        assert session.publish(f"mainport/{PARTNER_ID}/any-sensor/telemetry", b"{}") == "Success"
    finally:
        session.close()
    listed = site.call("GET", gateways, site.partner).json()
    assert f"{PARTNER_ID}.lorawan-ns" in [g["username"] for g in listed]
    clash = site.call("POST", gateways, site.partner, json={"label": "meter-new-1"})
    assert clash.status_code == 409
    gone = site.call("DELETE", f"{gateways}/lorawan-ns", site.partner)
    assert gone.status_code == 200, gone.text
    listed = site.call("GET", gateways, site.partner).json()
    assert f"{PARTNER_ID}.lorawan-ns" not in [g["username"] for g in listed]


def test_another_partner_sees_none_of_it(site: SelfServiceSite) -> None:
    for method, path in [
        ("GET", f"{DEVICES}/meter-new-1/debug"),
        ("GET", f"{DEVICES}/meter-new-1/connect"),
        ("POST", f"{DEVICES}/meter-new-1/login"),
        ("DELETE", f"{DEVICES}/meter-new-1/login"),
        ("GET", f"/api/v1/partners/{PARTNER_ID}/logins"),
        ("GET", f"/api/v1/partners/{PARTNER_ID}/gateways"),
        ("POST", DEVICES),
    ]:
        resp = site.call(method, path, site.other, json={"id": "x1", "kind": "temperature"})
        assert resp.status_code == 403, (method, path, resp.text)
    own = site.call("GET", f"/api/v1/audit?partner={OTHER_ID}", site.other).json()["items"]
    assert all(e["partner"] == OTHER_ID for e in own)


def test_every_login_change_is_audited_without_its_secret(site: SelfServiceSite) -> None:
    issued = issue_login(site, "meter-new-1")
    entries = site.call("GET", "/api/v1/audit", site.partner).json()["items"]
    logins = [e for e in entries if e["entity"] == "login"]
    assert {e["action"] for e in logins} >= {"create", "rotate", "revoke"}
    assert logins[0]["entity_id"] == f"{PARTNER_ID}.meter-new-1"
    assert f"partner {PARTNER_ID}" in logins[0]["actor"]
    assert issued["password"] not in str(entries)


def test_quota_and_kinds_are_enforced_with_a_message(site: SelfServiceSite) -> None:
    wrong = site.call("POST", DEVICES, site.partner, json={"id": "noise-x", "kind": "noise"})
    assert wrong.status_code == 422
    assert "kind 'noise' is not allowed" in wrong.text
    made = []
    for n in range(10):
        body = {"id": f"q-{n}", "kind": "temperature"}
        resp = site.call("POST", DEVICES, site.partner, json=body)
        if resp.status_code != 201:
            break
        made.append(f"q-{n}")
    assert resp.status_code == 403
    assert "quota" in resp.json()["detail"]
    # The operator is not bound by it; retiring frees a place (history kept).
    assert site.call("POST", DEVICES, json={"id": "op-1", "kind": "noise"}).status_code == 201
    for device in [*made, "op-1"]:
        assert site.call("DELETE", f"{DEVICES}/{device}", site.partner).status_code == 200


def test_the_cli_prints_the_device_secret_alone(site: SelfServiceSite) -> None:
    env = site_env(site)
    added = subprocess.run(
        [
            *(sys.executable, "-m", "mainport", "device", "add", PARTNER_ID, "cli-meter"),
            *("--kind", "energy-meter", "--interval", "30"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    login = subprocess.run(
        [sys.executable, "-m", "mainport", "device", "login", f"{PARTNER_ID}/cli-meter"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    password = login.stdout.strip()
    assert "\n" not in password and len(password) >= 24
    device_session(site, f"{PARTNER_ID}.cli-meter", password).close()
    assert site.call("DELETE", f"{DEVICES}/cli-meter").status_code == 200


def test_many_device_logins_at_once_each_shown_once(site: SelfServiceSite) -> None:
    for device in ("bulk-1", "bulk-2"):
        assert site.call("POST", DEVICES, json={"id": device}).status_code == 201
    path = f"/api/v1/partners/{PARTNER_ID}/device-logins"
    refused = site.call("POST", path, site.other, json={"devices": ["bulk-1"]})
    assert refused.status_code == 403
    unknown = site.call("POST", path, json={"devices": ["bulk-1", "no-such-device"]})
    assert unknown.status_code == 404  # all or none: bulk-1 got no login either
    made = site.call("POST", path, json={"devices": ["bulk-1", "bulk-2"]})
    assert made.status_code == 201, made.text
    logins = made.json()["logins"]
    assert [x["username"] for x in logins] == [f"{PARTNER_ID}.bulk-1", f"{PARTNER_ID}.bulk-2"]
    for login in logins:
        device_session(site, login["username"], login["password"]).close()
    for device in ("bulk-1", "bulk-2"):
        assert site.call("DELETE", f"{DEVICES}/{device}").status_code == 200
