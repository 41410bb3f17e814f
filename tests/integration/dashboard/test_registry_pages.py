"""The registry and audit pages in a real browser (Debian chromium, Playwright) against a real
stack: Mosquitto, ingest, API and influxd, the registry in the control-plane database (SQLite
under the stack's data dir, seeded from config/partners.yaml as `mainport up` seeds it), so the
API takes writes. An operator adds a device in the UI, a real MQTT client publishes as it, and the
partner page shows it online without a reload; the API's validation messages appear next to the
field they name; a retirement from the UI; the audit page lists those changes as the API does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.integration.conftest import Broker, Influx
from tests.integration.dashboard.dashboard_support import Console, now_rfc3339, save_screenshot
from tests.integration.dashboard.registry_pages_support import (
    PARTNER_ID,
    RegistryStack,
    add_device_in_ui,
    api_refusal,
    field_error,
    new_id,
    no_page_errors,
    open_partner_registry,
    publish,
    registry_stack,
    sign_in,
)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, broker: Broker, influxd: Influx
) -> Iterator[RegistryStack]:
    with registry_stack(tmp_path_factory.mktemp("registry-pages"), broker, influxd) as s:
        yield s


def test_device_added_in_the_ui_shows_online_without_reload(
    stack: RegistryStack, page: tuple[Page, Console]
) -> None:
    tab, console = page
    device = new_id("ui-temp")
    sign_in(tab, stack, stack.operator)
    open_partner_registry(tab)
    tab.evaluate("window.__sameDocument = true")

    add_device_in_ui(tab, device, kind="temperature", interval_s="30")

    tab.wait_for_selector(f'#registry-devices tr[data-device="{device}"]')
    assert device in tab.locator("#registry-status").inner_text()
    registered = stack.get(f"/api/v1/partners/{PARTNER_ID}/devices/{device}")
    assert (registered["kind"], registered["interval_s"], registered["auto"]) == (
        "temperature",
        30,
        False,
    )
    row = tab.locator(f'#registry-devices tr[data-device="{device}"]').inner_text()
    assert "temperature" in row and "30 s" in row

    tab.click("#live-page-link")
    tab.wait_for_selector("#device-grid .tile")
    publish(
        stack.broker,
        f"mainport/{PARTNER_ID}/{device}/telemetry",
        {"ts": now_rfc3339(), "metrics": {"temperature": 19.5}},
    )
    tile = f'#device-grid .tile[data-device="{device}"]'
    tab.wait_for_selector(f'{tile}[data-status="online"]')
    assert tab.evaluate("window.__sameDocument === true"), "the page was reloaded"
    save_screenshot(tab.screenshot(full_page=True), "registry-added-device-online.png")
    no_page_errors(console)


def test_device_added_in_the_ui_shows_its_registered_kind_on_the_partner_page(
    stack: RegistryStack, page: tuple[Page, Console]
) -> None:
    tab, _console = page
    device = new_id("ui-kind")
    sign_in(tab, stack, stack.operator)
    open_partner_registry(tab)
    add_device_in_ui(tab, device, kind="noise", interval_s="30")
    tab.wait_for_selector(f'#registry-devices tr[data-device="{device}"]')
    tab.click("#live-page-link")
    tile = f'#device-grid .tile[data-device="{device}"]'
    tab.wait_for_selector(tile, timeout=10_000)
    assert "noise" in tab.locator(tile).inner_text()


def test_the_apis_validation_message_shows_next_to_the_field(
    stack: RegistryStack, page: tuple[Page, Console]
) -> None:
    tab, console = page
    sign_in(tab, stack, stack.operator)
    open_partner_registry(tab)
    devices = f"/api/v1/partners/{PARTNER_ID}/devices"

    # interval_s 0: the API's 422 names interval_s; the UI puts its message there, only there.
    good_id = new_id("ui-ok")
    status, detail = api_refusal(stack, "POST", devices, {"id": good_id, "interval_s": 0})
    assert status == 422 and detail[0]["loc"] == ["body", "interval_s"]
    add_device_in_ui(tab, good_id, interval_s="0")
    assert field_error(tab, "device-add-interval-s") == detail[0]["msg"]
    assert tab.locator("#device-add-id-error").is_hidden()
    assert tab.locator("#device-add-error").is_hidden()

    # A bad id: the message moves to the id field (the earlier one is cleared).
    status, detail = api_refusal(stack, "POST", devices, {"id": "bad id!"})
    assert status == 422 and detail[0]["loc"] == ["body", "id"]
    add_device_in_ui(tab, "bad id!", interval_s="")
    assert field_error(tab, "device-add-id") == detail[0]["msg"]
    assert tab.locator("#device-add-interval-s-error").is_hidden()

    # Not a number at all: FastAPI's own validation message, next to the field too.
    add_device_in_ui(tab, good_id, interval_s="often")
    assert "valid integer" in field_error(tab, "device-add-interval-s")

    # An id in use: the 409 names the field ("id: …"), so the message goes there as well.
    taken = stack.device_ids(PARTNER_ID)[0]
    add_device_in_ui(tab, taken, interval_s="")
    assert "already exists" in field_error(tab, "device-add-id")
    assert stack.request("GET", f"{devices}/{good_id}").status_code == 404, "nothing was added"

    # A partner with a bad id, on the partners list.
    tab.click("#nav-registry")
    tab.click("#partner-add-box summary")
    tab.fill("#partner-add-id", "Not A Slug")
    tab.fill("#partner-add-name", "Bad id")
    tab.click("#partner-add button[type=submit]")
    status, detail = api_refusal(
        stack, "POST", "/api/v1/partners", {"id": "Not A Slug", "name": "x"}
    )
    assert field_error(tab, "partner-add-id") == detail[0]["msg"]
    save_screenshot(tab.screenshot(full_page=True), "registry-validation.png")
    no_page_errors(console)


def test_edit_and_retire_in_the_ui_then_the_audit_lists_them(
    stack: RegistryStack, page: tuple[Page, Console]
) -> None:
    tab, console = page
    device = new_id("ui-retire")
    sign_in(tab, stack, stack.operator)
    open_partner_registry(tab)
    add_device_in_ui(tab, device, interval_s="30")
    row = f'#registry-devices tr[data-device="{device}"]'
    tab.wait_for_selector(row)

    tab.click(f'{row} button:has-text("Edit")')
    tab.fill("#device-edit-interval-s", "45")
    tab.click("#device-edit button[type=submit]")
    tab.wait_for_selector(f'{row}:has-text("45 s")')
    assert stack.get(f"/api/v1/partners/{PARTNER_ID}/devices/{device}")["interval_s"] == 45

    tab.click(f'{row} button:has-text("Retire")')
    tab.click("#device-retire button[type=submit]")
    tab.wait_for_selector(row, state="detached")
    retired = stack.get(f"/api/v1/partners/{PARTNER_ID}/devices/{device}")
    assert retired["retired_from"] is not None
    tab.check("#devices-retired")
    tab.wait_for_selector(f'{row}[data-retired="true"]')

    tab.click("#nav-audit")
    tab.wait_for_selector("#audit tbody tr[data-id]")
    api = stack.get("/api/v1/audit?limit=50")["items"]
    shown = tab.locator("#audit tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert shown == [str(e["id"]) for e in api], "the page lists the API's entries, newest first"
    entity = f"{PARTNER_ID}/{device}"
    ours = [e for e in api if e["entity_id"] == entity]
    assert [e["action"] for e in ours][1:] == ["update", "create"] and len(ours) == 3
    for e in ours:
        cells = tab.locator(f'#audit tbody tr[data-id="{e["id"]}"] td').all_inner_texts()
        assert e["action"] == cells[2] and entity in cells[3]
        assert "registry pages test" in cells[1], "who: the token's label"
    update = next(e for e in ours if e["action"] == "update")
    changes = tab.locator(f'#audit tbody tr[data-id="{update["id"]}"] td').last.inner_text()
    assert "interval_s: 30 → 45" in changes
    save_screenshot(tab.screenshot(), "registry-audit.png")
    no_page_errors(console)


def test_a_partner_token_sees_no_operator_forms(
    stack: RegistryStack, page: tuple[Page, Console]
) -> None:
    tab, console = page
    sign_in(tab, stack, stack.partner)
    tab.click("#nav-registry")
    tab.wait_for_selector(f'#registry-partners tr[data-partner="{PARTNER_ID}"]')
    assert tab.locator("#registry-partners tbody tr").count() == 1
    assert tab.locator("#partner-add-box").is_hidden()
    assert tab.locator("#maintenance-add-box").is_hidden()
    tab.click(f'#registry-partners tr[data-partner="{PARTNER_ID}"] th a')
    tab.wait_for_selector("#registry-devices tbody tr")
    assert tab.locator("#port-add-box").is_hidden()
    # Adding a device is the partner's own only with a quota; without one the API's 403 shows.
    device = new_id("self")
    status, detail = api_refusal(
        stack, "POST", f"/api/v1/partners/{PARTNER_ID}/devices", {"id": device}, stack.partner
    )
    assert status == 403
    add_device_in_ui(tab, device)
    error = tab.locator("#device-add-error")
    error.wait_for(state="visible")
    assert detail in error.inner_text()
    no_page_errors(console)


def test_ports_and_maintenance_windows_from_the_ui(
    stack: RegistryStack, page: tuple[Page, Console]
) -> None:
    tab, console = page
    sign_in(tab, stack, stack.operator)
    tab.click("#nav-registry")
    tab.wait_for_selector("#registry-maintenance tbody tr")

    # A window ending before it starts: the API's message (about no single field) above the
    # buttons; then a good one is listed, and cancelled from the list.
    tab.click("#maintenance-add-box summary")
    tab.fill("#maintenance-add-partner", PARTNER_ID)
    tab.fill("#maintenance-add-start", "2031-01-10T10:00")
    tab.fill("#maintenance-add-end", "2031-01-10T09:00")
    tab.fill("#maintenance-add-reason", "ui test window")
    tab.click("#maintenance-add button[type=submit]")
    status, detail = api_refusal(
        stack,
        "POST",
        "/api/v1/maintenance",
        {"partner": PARTNER_ID, "start": "2031-01-10T10:00:00Z", "end": "2031-01-10T09:00:00Z"},
    )
    assert status == 422
    error = tab.locator("#maintenance-add-error")
    error.wait_for(state="visible")
    assert detail[0]["msg"] in error.inner_text()
    tab.fill("#maintenance-add-end", "2031-01-10T12:00")
    tab.click("#maintenance-add button[type=submit]")
    row = tab.locator('#registry-maintenance tbody tr:has-text("ui test window")')
    row.wait_for()
    window_id = row.get_attribute("data-window")
    planned = [w for w in stack.get("/api/v1/maintenance") if str(w["id"]) == window_id]
    assert planned and planned[0]["partner"] == PARTNER_ID
    row.locator("button").click()
    tab.click("#maintenance-cancel button[type=submit]")
    row.wait_for(state="detached")
    assert all(str(w["id"]) != window_id for w in stack.get("/api/v1/maintenance"))

    # A port: a bad capacity refused at its field, then added, its capacity changed, a
    # retirement dated before its creation refused at the effective-time field, then retired.
    tab.click(f'#registry-partners tr[data-partner="{PARTNER_ID}"] th a')
    tab.wait_for_selector("#registry-ports tbody tr")
    existing = next(p for p in stack.get("/api/v1/ports") if p["partner"] == PARTNER_ID)
    port = new_id("ui-p")
    tab.click("#port-add-box summary")
    tab.fill("#port-add-switch", existing["switch"])
    tab.fill("#port-add-port", port)
    tab.fill("#port-add-capacity-mbps", "-5")
    tab.click("#port-add button[type=submit]")
    assert "greater than 0" in field_error(tab, "port-add-capacity-mbps")
    save_screenshot(tab.screenshot(full_page=True), "registry-partner.png")
    tab.fill("#port-add-capacity-mbps", "1000")
    tab.click("#port-add button[type=submit]")
    key = f"{existing['switch']}/{port}"
    port_row = f'#registry-ports tr[data-port="{key}"]'
    tab.wait_for_selector(port_row)

    tab.click(f'{port_row} button:has-text("Edit")')
    tab.fill("#port-edit-capacity-mbps", "2000")
    tab.click("#port-edit button[type=submit]")
    tab.wait_for_selector(f'{port_row}:has-text("2000 Mbit/s")')

    tab.click(f'{port_row} button:has-text("Retire")')
    tab.fill("#port-retire-effective-from", "2001-01-01T00:00")
    tab.click("#port-retire button[type=submit]")
    assert "after" in field_error(tab, "port-retire-effective-from")
    tab.fill("#port-retire-effective-from", "")
    tab.click("#port-retire button[type=submit]")
    tab.wait_for_selector(port_row, state="detached")
    assert all(f"{p['switch']}/{p['port']}" != key for p in stack.get("/api/v1/ports"))
    no_page_errors(console)


def test_partner_added_edited_and_retired_from_the_ui(
    stack: RegistryStack, page: tuple[Page, Console]
) -> None:
    tab, console = page
    partner = new_id("ui-partner")
    sign_in(tab, stack, stack.operator)
    tab.click("#nav-registry")
    tab.click("#partner-add-box summary")
    tab.fill("#partner-add-id", partner)
    tab.fill("#partner-add-name", "UI Partner")
    tab.fill("#partner-add-device-quota", "3")
    tab.fill("#partner-add-allowed-kinds", "temperature, noise")
    tab.click("#partner-add button[type=submit]")
    # Its own registry page, empty so far; then a device of it, added and listed.
    tab.wait_for_selector(f'#registry-partner-title:has-text("{partner}")')
    assert f"Partner {partner} added" in tab.locator("#registry-status").inner_text()
    tab.wait_for_selector('#registry-devices tbody tr:has-text("No devices.")')
    add_device_in_ui(tab, "probe-1", kind="noise")
    tab.wait_for_selector('#registry-devices tr[data-device="probe-1"]')
    assert stack.get(f"/api/v1/partners/{partner}/devices/probe-1")["kind"] == "noise"

    tab.click('a:has-text("← Registry")')
    row = f'#registry-partners tr[data-partner="{partner}"]'
    tab.click(f'{row} button:has-text("Edit")')
    tab.fill("#partner-edit-name", "UI Partner renamed")
    tab.fill("#partner-edit-sla-target-pct", "101")
    tab.click("#partner-edit button[type=submit]")
    assert field_error(tab, "partner-edit-sla-target-pct") != ""
    tab.fill("#partner-edit-sla-target-pct", "99.5")
    tab.click("#partner-edit button[type=submit]")
    tab.wait_for_selector("#partner-edit", state="detached")
    assert "UI Partner renamed" in tab.locator("#registry-status").inner_text()

    tab.click(f'{row} button:has-text("Retire")')
    tab.click("#partner-retire button[type=submit]")
    tab.wait_for_selector("#partner-retire", state="detached")
    gone = stack.get(f"/api/v1/partners/{partner}/devices/probe-1")
    assert gone["retired_from"] is not None, "retiring a partner retires its devices"
    entries = stack.get(f"/api/v1/audit?partner={partner}")["items"]
    partner_actions = [e["action"] for e in entries if e["entity"] == "partner"]
    assert partner_actions == ["retire", "update", "create"]
    update = next(e for e in entries if e["action"] == "update" and e["entity"] == "partner")
    assert (update["after"]["name"], update["after"]["sla_target_pct"]) == (
        "UI Partner renamed",
        99.5,
    )
    no_page_errors(console)
