"""The SNMP collector's health per switch on the operator dashboard, in a real browser: the
collector's `_collector` reports, published with the `_network` login through the real broker,
stored by the ingest and answered by `GET /api/v1/network/switches`, appear on the overview
without a reload; a partner token neither sees the table nor may ask for it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, Request

from access.broker import NETWORK_ACCOUNT
from tests.integration.dashboard.dashboard_support import (
    LAB_SWITCH,
    PORT_SWITCHES,
    Console,
    DashboardSite,
    save_screenshot,
    wait_until,
)
from tests.integration.dashboard.test_dashboard import sign_in

CORE = PORT_SWITCHES[0]


def _report(site: DashboardSite, switch: str, payload: dict[str, Any]) -> None:
    """One `_collector` report, QoS 1, with the collector's own `_network` login."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dash-test-collector-{switch}")
    client.username_pw_set(NETWORK_ACCOUNT, site.broker.passwords[NETWORK_ACCOUNT])
    client.connect(site.broker.host, site.broker.port)
    client.loop_start()
    try:
        topic = f"mainport/_network/{switch}/_collector"
        client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _row(tab: Page, switch: str, col: str) -> dict[str, str]:
    node = tab.locator(f'#switches tbody tr[data-switch="{switch}"] [data-col="{col}"]')
    return {"value": node.get_attribute("data-value") or "", "text": node.inner_text().strip()}


def _api(site: DashboardSite) -> dict[str, dict[str, Any]]:
    return {s["switch"]: s for s in site.get("/api/v1/network/switches")}


def _assert_shown(tab: Page, site: DashboardSite) -> None:
    api = _api(site)
    assert api[CORE]["reachable"] is True and api[LAB_SWITCH]["reachable"] is False, api
    for switch, s in api.items():
        assert _row(tab, switch, "state")["value"] == json.dumps(s["reachable"]).replace(
            "null", ""
        ), switch
        assert _row(tab, switch, "ports")["value"] == str(s["ports"])
        assert _row(tab, switch, "lastPoll")["value"] == (s["last_poll"] or "")
        assert _row(tab, switch, "error")["value"] == (s["error"] or "")
        assert _row(tab, switch, "speed")["value"] == ",".join(
            f"{m['port']}={m['if_high_speed_mbps']}/{m['capacity_mbps']:g}"
            for m in s["speed_mismatches"]
        )


def test_collector_health_per_switch_shows_for_operators_only(
    site: DashboardSite, page: tuple[Page, Console]
) -> None:
    tab, console = page
    sign_in(tab, site, site.operator)
    tab.wait_for_selector(f'#switches tbody tr[data-switch="{CORE}"]')
    assert tab.locator("#switches-section").is_visible()
    rows = tab.locator("#switches tbody tr")
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.switch)")
    assert sorted(shown) == sorted((*PORT_SWITCHES, LAB_SWITCH))
    # No collector runs in this stack: no switch has a report yet, yet the simulator's counters are.
    assert _row(tab, CORE, "state")["text"] == "no report yet"
    assert _row(tab, LAB_SWITCH, "ports")["text"] == "0"
    assert _row(tab, CORE, "lastCounters")["value"] != ""
    tab.evaluate("window.__sameDocument = true")

    now_ms = int(time.time() * 1000)
    # xe-0-0-1 is 10,000 Mbit/s in the registry; the switch says 1,000.
    mismatch = {"xe-0-0-1": 1000}
    _report(
        site,
        CORE,
        {"ts": now_ms, "reachable": True, "latency_s": 0.042, "speed_mismatch": mismatch},
    )
    error = "no SNMP response received before timeout"
    _report(site, LAB_SWITCH, {"ts": now_ms, "reachable": False, "error": error})

    unreachable = f'#switches tbody tr[data-switch="{LAB_SWITCH}"].row-bad'
    tab.wait_for_selector(unreachable)
    core_state = f'#switches tbody tr[data-switch="{CORE}"] [data-col="state"]'
    tab.wait_for_selector(f'{core_state}[data-value="true"]')
    wait_until(lambda: _assert_shown(tab, site), 30, "the page showing the API's answer")
    assert _row(tab, CORE, "state")["text"] == "reachable"
    assert _row(tab, CORE, "latency")["text"] == "42 ms"
    assert _row(tab, LAB_SWITCH, "state")["text"] == "unreachable"
    assert _row(tab, LAB_SWITCH, "error")["text"] == error
    # The ifHighSpeed that differs from the registry's capacity, stored and answered per port.
    assert _api(site)[CORE]["speed_mismatches"] == [
        {"port": "xe-0-0-1", "if_high_speed_mbps": 1000, "capacity_mbps": 10000.0}
    ]
    speed = _row(tab, CORE, "speed")
    assert speed["value"] == "xe-0-0-1=1000/10000"
    assert speed["text"] == "xe-0-0-1: 1000 Mbit/s (registry 10000 Mbit/s)"
    assert _row(tab, LAB_SWITCH, "speed")["text"] == "—"  # never answered a poll
    # Unreachable first: the switch whose ports' time is unknown heads the table.
    first = tab.locator("#switches tbody tr").first.get_attribute("data-switch")
    assert first == LAB_SWITCH
    assert tab.evaluate("window.__sameDocument === true"), "the page was reloaded"
    save_screenshot(tab.screenshot(full_page=True), "switches.png")
    assert console.errors == []

    # A partner token: the API refuses, and the page neither shows nor requests the table.
    resp = httpx.get(
        f"{site.api}/api/v1/network/switches",
        headers={"Authorization": f"Bearer {site.partner}"},
        timeout=30,
    )
    assert resp.status_code == 403, resp.text
    asked: list[str] = []

    def on_request(request: Request) -> None:
        if "/network/switches" in request.url:
            asked.append(request.url)

    tab.on("request", on_request)
    tab.click("#signout")
    sign_in(tab, site, site.partner)
    tab.wait_for_selector("#partner-view:not([hidden])")
    tab.evaluate("location.hash = '#/'")
    tab.wait_for_selector("#overview tbody tr")
    # The platform-health loop (which refreshes the table for an operator) runs twice on the
    # overview: the second request starts only after the first round finished.
    for _ in range(2):
        with tab.expect_request(lambda r: r.url.endswith("/api/v1/platform")):
            pass
    assert tab.locator("#switches-section").is_hidden()
    assert tab.locator("#switches tbody tr").count() == 0
    assert asked == []
    assert console.errors == []
