"""The operator dashboard in a real browser (Debian chromium, Playwright) against a real stack:
simulators → Mosquitto → ingest → InfluxDB → API. No mocks: every figure on screen is compared
with what the API answers for the same window.

Screenshots land in var/test-artifacts/dashboard/ (and in $MAINPORT_SCREENSHOTS_DIR, e.g.
docs/screenshots, when set).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page

from tests.integration.dashboard.dashboard_support import (
    PROBE,
    PROBE_PARTNER,
    SHARED_DEVICE,
    SHARED_OWNER,
    Console,
    DashboardSite,
    demo_partners,
    now_rfc3339,
    save_screenshot,
    wait_until,
)


def sign_in(page: Page, site: DashboardSite, token: str) -> None:
    page.goto(site.api + "/")
    page.fill("#token", token)
    page.click("#signin button[type=submit]")


def cell(page: Page, partner: str, col: str) -> dict[str, str]:
    node = page.locator(f'#overview tbody tr[data-partner="{partner}"] [data-col="{col}"]')
    return {"value": node.get_attribute("data-value") or "", "text": node.inner_text().strip()}


def pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} %"


def bps_text(value: float | None) -> str:
    """format.js bps(): SI bits per second, 0 decimals below 1 kbit/s or above 100 of a unit."""
    if value is None:
        return "—"
    units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"]
    v, i = value, 0
    while abs(v) >= 1000 and i < len(units) - 1:
        v, i = v / 1000, i + 1
    decimals = 0 if v >= 100 or i == 0 else 1
    # JS toFixed rounds half away from zero on the binary value; Python's format agrees
    # except on exact ties, which real rates do not hit.
    return f"{v:.{decimals}f} {units[i]}"


def rfc3339_s(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_start(ms: int) -> str:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return f"{d.year:04d}-{d.month:02d}-01T00:00:00Z"


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def same(a: float | None, b: float | None) -> bool:
    """Equal up to what moves between the page's request and the test's: both windows end at
    the API's own now, a moment apart, and a device that is down adds downtime meanwhile."""
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=0.01)


# --- overview ------------------------------------------------------------------------------------


def test_overview_lists_every_demo_partner_with_the_api_figures(
    site: DashboardSite, page: tuple[Page, Console]
) -> None:
    tab, console = page
    sign_in(tab, site, site.operator)
    partners = demo_partners()
    tab.wait_for_function(
        "n => document.querySelectorAll('#overview tbody tr').length === n", arg=len(partners)
    )
    rows = tab.locator("#overview tbody tr")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.partner)")) == sorted(partners)
    for pid, name in partners.items():
        assert name in tab.locator(f'#overview tbody tr[data-partner="{pid}"] th').inner_text()

    def devices_match() -> None:
        api = {p["id"]: p for p in site.get("/api/v1/partners")}
        for pid in partners:
            shown = cell(tab, pid, "online")
            expected = f"{api[pid]['devices_online']}/{api[pid]['devices']}"
            assert shown["value"] == expected, (pid, shown, expected)
            assert shown["text"] == expected.replace("/", " / ")

    wait_until(devices_match, 30, "device counts as the API gives them")

    def figures_match() -> None:
        tab.click("#refresh-overview")
        tab.wait_for_function(
            "prev => document.querySelector('#overview').dataset.figuresAt !== prev",
            arg=tab.locator("#overview").get_attribute("data-figures-at"),
        )
        at = int(tab.locator("#overview").get_attribute("data-figures-at") or "0")
        month = month_start(at)
        for pid in partners:
            base = f"/api/v1/partners/{pid}"
            # Windows up to now, as the page asks for them (so open incidents stay open).
            day = site.get(f"{base}/uptime")
            this_month = site.get(f"{base}/uptime", start=month)
            usage = site.get(f"{base}/usage", start=month)
            expected = {
                "uptime24": day["uptime_pct"],
                "uptimeMonth": this_month["uptime_pct"],
                "p95In": usage["p95_in_bps"],
                "p95Out": usage["p95_out_bps"],
                "openIncidents": sum(i["end"] is None for i in day["incidents"]),
            }
            for col, value in expected.items():
                shown = cell(tab, pid, col)
                assert same(number(shown["value"]), value), (pid, col, shown, value)
            assert cell(tab, pid, "uptime24")["text"] == pct_text(day["uptime_pct"])
            assert cell(tab, pid, "uptimeMonth")["text"] == pct_text(this_month["uptime_pct"])
            assert cell(tab, pid, "p95In")["text"] == bps_text(usage["p95_in_bps"])
            links = {f"{link['switch']}/{link['port']}" for link in day["links"]}
            down = sum(i["end"] is None and i["subject"] in links for i in day["incidents"])
            assert cell(tab, pid, "links")["value"] == f"{down}/{len(links)}"

    wait_until(figures_match, 90, "uptime, p95 and incidents as the API gives them")

    # Worst first by default; a header is a keyboard-operable sort button.
    severities = [float(v) for v in _column(tab, "severity")]
    assert severities == sorted(severities, reverse=True)
    name_header = tab.locator('#overview thead th[data-col="name"]')
    name_header.locator("button").focus()
    tab.keyboard.press("Enter")
    assert name_header.get_attribute("aria-sort") == "ascending"
    names = _column(tab, "name")
    assert names == sorted(names, key=lambda pid: partners[pid].lower())

    health = tab.locator("#health")
    for key in ("broker", "influxdb", "ingest", "rate", "rejected", "spool"):
        assert health.locator(f'li[data-key="{key}"]').count() == 1, key
    assert "up" in health.locator('li[data-key="broker"]').inner_text()
    assert site.operator not in tab.url
    save_screenshot(tab.screenshot(full_page=True), "overview.png")

    # The wall-screen switch scales the whole page up, and is remembered by this browser.
    tab.click("#wall")
    assert tab.locator("#wall").get_attribute("aria-pressed") == "true"
    assert tab.evaluate("getComputedStyle(document.documentElement).fontSize") == "22px"
    tab.set_viewport_size({"width": 1920, "height": 1080})
    save_screenshot(tab.screenshot(), "overview-wall.png")
    assert console.errors == []


def _column(tab: Page, col: str) -> list[str]:
    values: list[str] = tab.locator(f'#overview tbody [data-col="{col}"]').evaluate_all(
        "cells => cells.map(c => c.dataset.value)"
    )
    return values


# --- live updates --------------------------------------------------------------------------------


def _publish(site: DashboardSite, topic: str, payload: dict[str, Any]) -> None:
    """One QoS 1 message with the probe's partner's own broker login, as its device would."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dash-test-{PROBE}")
    client.username_pw_set(PROBE_PARTNER, site.broker.passwords[PROBE_PARTNER])
    client.connect(site.broker.host, site.broker.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_device_going_offline_turns_its_tile_offline_without_reload(
    site: DashboardSite, page: tuple[Page, Console]
) -> None:
    tab, console = page
    topic = f"mainport/{PROBE_PARTNER}/{PROBE}"
    _publish(site, f"{topic}/telemetry", {"ts": now_rfc3339(), "metrics": {"temperature": 20.5}})
    sign_in(tab, site, site.operator)
    tab.wait_for_selector("#overview tbody tr")
    tab.click(f'#overview tbody tr[data-partner="{PROBE_PARTNER}"] th a')
    tile = f'#device-grid .tile[data-device="{PROBE}"]'
    tab.wait_for_selector(f'{tile}[data-status="online"]')
    tab.evaluate("window.__sameDocument = true")

    _publish(site, f"{topic}/status", {"state": "offline", "ts": now_rfc3339()})

    tab.wait_for_selector(f'{tile}[data-status="offline"]')
    assert tab.evaluate("window.__sameDocument === true"), "the page was reloaded"
    assert "offline" in tab.locator(tile).inner_text()
    devices = site.get(f"/api/v1/partners/{PROBE_PARTNER}/devices")
    assert next(d for d in devices if d["id"] == PROBE)["status"] == "offline"

    # The rest of the page: incidents timeline, traffic with its p95, telemetry, rejections.
    tab.wait_for_function("() => document.querySelector('#partner-view').dataset.figuresAt")
    tab.wait_for_selector("#traffic-chart .uplot")
    tab.wait_for_selector("#timeline .timeline .bar")
    tab.wait_for_selector("#timeline .shade.maintenance", state="attached")
    tab.wait_for_selector("#rejected tbody tr[data-reason]")
    tab.click('#device-grid .tile[data-device="heat-crabbehof-01"]')
    tab.wait_for_function("() => +document.querySelector('#telemetry-chart').dataset.points > 0")
    save_screenshot(tab.screenshot(full_page=True), "partner.png")

    # Back on the overview (no reload either), the partner's row counts the probe as offline.
    tab.click("text=← Network overview")
    wait_until(
        lambda: _assert_offline_counted(tab, site), 30, "the overview counting the probe offline"
    )
    # Its outage is an open incident (end null, cause offline), in the API and on the row.
    wait_until(lambda: _assert_open_incident(tab, site), 60, "the probe's open incident shown")
    assert tab.evaluate("window.__sameDocument === true")
    assert console.errors == []


def _assert_open_incident(tab: Page, site: DashboardSite) -> None:
    day = site.get(f"/api/v1/partners/{PROBE_PARTNER}/uptime")
    still_open = [i for i in day["incidents"] if i["end"] is None]
    assert any(i["subject"] == PROBE and i["cause"] == "offline" for i in still_open), still_open
    tab.click("#refresh-overview")
    shown = cell(tab, PROBE_PARTNER, "openIncidents")
    assert number(shown["value"]) == len(still_open), (shown, still_open)


def _assert_offline_counted(tab: Page, site: DashboardSite) -> None:
    api = next(p for p in site.get("/api/v1/partners") if p["id"] == PROBE_PARTNER)
    shown = cell(tab, PROBE_PARTNER, "online")
    assert shown["value"] == f"{api['devices_online']}/{api['devices']}"
    assert api["devices_online"] < api["devices"]


def test_live_feed_answers_not_modified_for_an_unchanged_etag(site: DashboardSite) -> None:
    auth = {"Authorization": f"Bearer {site.operator}"}
    answers = []
    for _ in range(20):  # devices report every 30 s or more: most pairs see no change
        first = httpx.get(f"{site.api}/api/v1/live", headers=auth)
        again = httpx.get(
            f"{site.api}/api/v1/live", headers={**auth, "If-None-Match": first.headers["ETag"]}
        )
        answers.append(again.status_code)
        if again.status_code == 304:
            assert again.content == b""
            assert again.headers["ETag"] == first.headers["ETag"]
            break
        assert again.headers["ETag"] != first.headers["ETag"]
    assert 304 in answers


def _assert_derived_current(site: DashboardSite) -> None:
    lag = site.get("/api/v1/platform")["derive_lag_s"]
    assert lag is not None and 0 <= lag < 10, lag


def test_platform_health_is_scoped_to_the_token(site: DashboardSite) -> None:
    operator = site.get("/api/v1/platform")
    assert operator["viewer"] == {"role": "operator", "partner": None}
    assert (operator["broker"], operator["influxdb"], operator["ingest_connected"]) == (
        True,
        True,
        True,
    )
    assert operator["messages_per_s"] > 0
    assert operator["spool_bytes"] == 0
    assert operator["ingest"]["received_total"] >= operator["ingest"]["accepted_total"] > 0
    # The deriver keeps up with a live stack: the figures trail the raw data by seconds.
    wait_until(lambda: _assert_derived_current(site), 30, "the derived figures to be current")

    partner = site.get("/api/v1/platform", token=site.partner)
    assert partner["viewer"] == {"role": "partner", "partner": PROBE_PARTNER}
    assert partner["spool_bytes"] is None and partner["ingest"] is None
    # The simulator sends malformed messages for the probe's partner only: its count is all.
    assert partner["rejected_24h"] == operator["rejected_24h"] > 0

    live = site.get("/api/v1/live", token=site.partner)
    assert [p["id"] for p in live["partners"]] == [PROBE_PARTNER]
    assert [(d["partner"], d["id"]) for d in live["shared"]] == [(SHARED_OWNER, SHARED_DEVICE)]
    assert site.get("/api/v1/live")["shared"] == []


# --- access --------------------------------------------------------------------------------------


def test_partner_token_sees_only_its_partner_and_the_devices_shared_with_it(
    site: DashboardSite, page: tuple[Page, Console]
) -> None:
    tab, console = page
    requests: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    sign_in(tab, site, site.partner)
    tab.wait_for_url(f"**/#/partners/{PROBE_PARTNER}")
    tab.wait_for_selector("#device-grid .tile")
    own = {d["id"] for d in site.get(f"/api/v1/partners/{PROBE_PARTNER}/devices")}
    shown = set(
        tab.locator("#device-grid .tile").evaluate_all("ts => ts.map(t => t.dataset.device)")
    )
    assert shown == own
    shared = tab.locator("#shared-grid .tile")
    shared.first.wait_for()
    assert shared.evaluate_all("ts => ts.map(t => [t.dataset.partner, t.dataset.device])") == [
        [SHARED_OWNER, SHARED_DEVICE]
    ]
    shared.first.click()
    tab.wait_for_function("() => +document.querySelector('#telemetry-chart').dataset.points > 0")
    assert tab.locator("#health").get_by_text("Spool").count() == 0  # operator-only figure

    tab.click("text=← Network overview")
    tab.wait_for_selector("#overview tbody tr")
    rows = tab.locator("#overview tbody tr").evaluate_all("rs => rs.map(r => r.dataset.partner)")
    assert rows == [PROBE_PARTNER]

    # Typing another partner's address shows nothing of it and asks the API nothing about it.
    tab.evaluate(f"location.hash = '#/partners/{SHARED_OWNER}'")
    tab.wait_for_selector("#not-visible")
    for url in requests:
        path = url.removeprefix(site.api)
        assert not path.startswith(f"/api/v1/partners/{SHARED_OWNER}/") or path.startswith(
            f"/api/v1/partners/{SHARED_OWNER}/devices/{SHARED_DEVICE}/telemetry"
        ), path
    # The token lives in this tab's sessionStorage and in Authorization headers only.
    assert all(site.partner not in url for url in requests)
    assert tab.evaluate("sessionStorage.getItem('mainport-token')") == site.partner
    assert tab.evaluate("localStorage.getItem('mainport-token')") is None
    assert console.errors == []


# --- Grafana --------------------------------------------------------------------------------------
