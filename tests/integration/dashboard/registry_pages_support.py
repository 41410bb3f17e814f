"""The registry pages' stack and browser helpers (test_registry_pages.py):
Mosquitto (the session's), ingest, API and influxd, with the registry in the control-plane
database (SQLite under the stack's data dir, seeded from config/partners.yaml as `mainport up`
seeds it), so the API takes writes."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page

from access.tokens import OPERATOR, PARTNER, TokenStore
from controlplane.registry_store import prepare_registry
from core.processes import Child, free_port
from tests.conftest import PARTNERS_FILE, REPO, control_engine, wait_for
from tests.integration.conftest import Broker, Influx, stack_env
from tests.integration.dashboard.dashboard_support import Console
from timeseries.schema import ensure_schema

PARTNER_ID = "woonbron"


@dataclass
class RegistryStack:
    api: str
    broker: Broker
    operator: str
    partner: str
    children: list[Child] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> httpx.Response:
        return httpx.request(
            method,
            self.api + path,
            json=body,
            headers={"Authorization": f"Bearer {token or self.operator}"},
            timeout=30,
        )

    def get(self, path: str, token: str | None = None) -> Any:
        resp = self.request("GET", path, token=token)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def device_ids(self, partner: str) -> list[str]:
        return [d["id"] for d in self.get(f"/api/v1/devices?partner={partner}&limit=5")["items"]]


@contextmanager
def registry_stack(root: Path, broker: Broker, influxd: Influx) -> Iterator[RegistryStack]:
    """Ingest and API as `mainport up` runs them with the database as the registry's source
    (MAINPORT_PARTNERS_FILE not set: the file only seeded the empty database)."""
    influx = influxd.client(f"regui_{uuid.uuid4().hex[:12]}")
    ensure_schema(influx, "400d")
    data_dir = root / "var"
    data_dir.mkdir()
    engine = control_engine(data_dir)
    prepare_registry(
        engine, source="database", partners_file=PARTNERS_FILE, actor="registry pages test"
    )
    tokens = TokenStore(engine)
    api_port = free_port()
    env = stack_env(
        broker,
        influx,
        data_dir,
        MAINPORT_API_PORT=str(api_port),
        MAINPORT_INGEST_METRICS_PORT=str(free_port()),
    )
    del env["MAINPORT_PARTNERS_FILE"]  # the database governs; the default file seeds only
    site = RegistryStack(
        api=f"http://127.0.0.1:{api_port}",
        broker=broker,
        operator=tokens.issue(OPERATOR, label="registry pages test"),
        partner=tokens.issue(PARTNER, PARTNER_ID, label="registry pages test"),
    )
    try:
        for name in ("ingest", "api"):
            child = Child(
                name,
                [sys.executable, "-m", "mainport", name],
                log_file=root / f"{name}.log",
                env=env,
                cwd=REPO,
            )
            child.start()
            site.children.append(child)
        wait_for(
            lambda: bool(influx.query('SELECT last("connected") FROM "ingest_link"')[0]),
            60,
            "the ingest subscribed",
        )
        wait_for(lambda: httpx.get(f"{site.api}/readyz").status_code == 200, 60, "API ready")
        yield site
    finally:
        for child in reversed(site.children):
            child.stop()
        influx.query(f'DROP DATABASE "{influx.db}"', db=False)
        influx.close()


def sign_in(tab: Page, stack: RegistryStack, token: str) -> None:
    tab.goto(stack.api + "/")
    tab.fill("#token", token)
    tab.click("#signin button[type=submit]")
    tab.wait_for_selector("#viewer:not(:empty)")


def open_partner_registry(tab: Page, partner: str = PARTNER_ID) -> None:
    """Through the navigation, as a person would: Registry, then the partner's row."""
    tab.click("#nav-registry")
    tab.click(f'#registry-partners tr[data-partner="{partner}"] th a')
    tab.wait_for_selector("#registry-devices tbody tr")


def add_device_in_ui(tab: Page, device: str, **fields: str) -> None:
    if not tab.locator("#device-add").is_visible():
        tab.click("#device-add-box summary")
    tab.fill("#device-add-id", device)
    for name, value in fields.items():
        tab.fill(f"#device-add-{name.replace('_', '-')}", value)
    tab.click("#device-add button[type=submit]")


def publish(broker: Broker, topic: str, payload: dict[str, Any]) -> None:
    """One QoS 1 message with the partner's own broker login, as its device would send it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"regui-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(PARTNER_ID, broker.passwords[PARTNER_ID])
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def no_page_errors(console: Console) -> None:
    """Uncaught exceptions only: Chromium logs every refused request (4xx) as a console error,
    and refusals are what some of these tests provoke."""
    assert [e for e in console.errors if e.startswith("pageerror")] == []


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def api_refusal(
    stack: RegistryStack, method: str, path: str, body: Any, token: str | None = None
) -> tuple[int, Any]:
    """What the API answers to the same request the page is about to make (it is refused, so
    asking changes nothing)."""
    resp = stack.request(method, path, body, token)
    return resp.status_code, resp.json()["detail"]


def field_error(tab: Page, input_id: str) -> str:
    error = tab.locator(f"#{input_id}-error")
    error.wait_for(state="visible")
    assert tab.locator(f"#{input_id}").get_attribute("aria-invalid") == "true"
    return error.inner_text().removeprefix("✕ ").strip()
