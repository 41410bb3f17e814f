"""In Chromium, a partner onboards a device alone: signs in with its token, registers the device,
copies the credentials shown once, and a publisher connects with them over TLS; the device's
page turns online, shows a malformed message's reason, and revoking the login disconnects that
device. Real stack (selfservice_support), Debian's chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.access_common import Session
from tests.integration.dashboard.dashboard_support import (
    CHROMIUM_ARGS,
    Console,
    require_browser,
    save_screenshot,
)
from tests.integration.selfservice.selfservice_support import HOST, PARTNER_ID, SelfServiceSite

ONLINE_WITHIN_MS = 5000  # the promise: online on the page within 5 s of connecting


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_browser()
    with sync_playwright() as playwright:
        yield playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page, Console(page)
    context.close()


def test_a_partner_onboards_a_device_alone_in_the_browser(
    site: SelfServiceSite, page: tuple[Page, Console]
) -> None:
    tab, console = page
    tab.goto(site.api + "/")
    tab.fill("#token", site.partner)
    tab.click("#signin button[type=submit]")
    tab.click("#nav-devices")
    expect(tab.locator("#self-title")).to_have_text(f"Devices of {PARTNER_ID}")

    # A kind the operator did not allow: refused with the reason, nothing registered.
    tab.fill("#reg-id", "browser-noise")
    tab.fill("#reg-kind", "noise")
    tab.click("#register button[type=submit]")
    expect(tab.locator("#register-message")).to_contain_text("kind 'noise' is not allowed")

    tab.fill("#reg-id", "browser-temp")
    tab.fill("#reg-kind", "temperature")
    tab.fill("#reg-interval", "30")
    tab.click("#register button[type=submit]")
    expect(tab.locator("#issued")).to_be_visible()
    username = tab.locator("[data-field=username]").inner_text()
    password = tab.locator("[data-field=password]").inner_text()
    telemetry = tab.locator("[data-field=topic-telemetry]").inner_text()
    status = tab.locator("[data-field=topic-status]").inner_text()
    assert username == f"{PARTNER_ID}.browser-temp"
    assert tab.locator("[data-field=tls_port]").inner_text() == str(site.tls_port)
    assert password in tab.locator("[data-field=mosquitto_pub]").inner_text()
    expect(tab.locator("#device-state")).to_have_attribute("data-state", "unknown")

    device = Session(HOST, site.tls_port, username, password, ca_file=site.ca_file)
    # A neighbour of the same partner, registered by the operator (outside the quota).
    devices = f"/api/v1/partners/{PARTNER_ID}/devices"
    made = site.call("POST", devices, json={"id": "browser-neighbour", "kind": "temperature"})
    assert made.status_code == 201, made.text
    neighbour_login = site.call("POST", f"{devices}/browser-neighbour/login").json()
    neighbour = Session(
        HOST,
        site.tls_port,
        neighbour_login["username"],
        neighbour_login["password"],
        ca_file=site.ca_file,
    )
    try:
        assert device.connect() == "Success"
        assert neighbour.connect() == "Success"
        assert device.publish(status, b"online", retain=True) == "Success"
        assert device.publish(telemetry, b'{"metrics": {"temperature": 20.5}}') == "Success"
        expect(tab.locator("#device-state")).to_have_attribute(
            "data-state", "online", timeout=ONLINE_WITHIN_MS
        )
        expect(tab.locator("#device-messages")).to_contain_text("temperature=20.5")

        assert device.publish(telemetry, b'{"metrics": 5}') == "Success"
        rejected = tab.locator("#device-rejected tr[data-reason=bad_shape]").first
        expect(rejected).to_contain_text("metrics: expected an object")
        expect(rejected).to_contain_text('{"metrics": 5}')
        save_screenshot(tab.screenshot(full_page=True), "devices-self.png")

        tab.click("#revoke-login")
        device.wait(lambda: bool(device.disconnects), "the revoked device disconnected")
        expect(tab.locator("#device-login")).to_contain_text("No MQTT login")
        assert neighbour.publish(neighbour_login["connect"]["topics"]["telemetry"], b"{}") == (
            "Success"
        )
        assert not neighbour.disconnects
    finally:
        device.close()
        neighbour.close()
    # Shown once: back on the page later, no password anywhere.
    tab.reload()
    expect(tab.locator("#device-facts")).to_contain_text("Last Will")
    assert password not in tab.content()
    assert not [e for e in console.errors if "devices_self" in e], console.errors


def test_another_partners_token_sees_none_of_it_in_the_browser(
    site: SelfServiceSite, page: tuple[Page, Console]
) -> None:
    tab, _console = page
    tab.goto(site.api + f"/#/devices/{PARTNER_ID}/browser-temp")
    tab.fill("#token", site.other)
    tab.click("#signin button[type=submit]")
    expect(tab.locator("#error")).to_contain_text("403")
    expect(tab.locator("#device-messages")).not_to_contain_text("temperature=")
    assert "browser-temp" not in tab.locator("#device-facts").inner_text()
