"""The dashboard's firing alerts, in headless Chromium: at the top of the overview and of a
partner's page, live (an alert that fires while the page is open appears without a reload), a
partner sees only its own, and acknowledging from the page records the comment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from core.processes import Child
from domain.alerts import Evaluation
from tests.integration.alert.dashboard_site import T0, A, Api, B, S, condition, start_api, turn
from tests.integration.dashboard.dashboard_support import CHROMIUM_ARGS, require_browser


@pytest.fixture
def api(tmp_path: Path, spawn: Callable[[str, list[str], dict[str, str]], Child]) -> Api:
    return start_api(f"sqlite:///{tmp_path / 'control' / 'mainport.db'}", tmp_path, spawn)


@pytest.fixture
def page() -> Iterator[Page]:
    executable = require_browser()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(30_000)
        yield context.new_page()
        context.close()
        browser.close()


def sign_in(page: Page, api: Api, token: str) -> None:
    page.goto(api.url + "/")
    page.fill("#token", token)
    page.click("#signin button[type=submit]")


def test_operator_sees_firing_alerts_live_and_acknowledges_one(page: Page, api: Api) -> None:
    sign_in(page, api, api.tokens["op"])
    banner = page.locator("#alerts")
    expect(banner).to_be_visible()
    expect(page.locator("#alerts-list li")).to_have_count(2)
    # fires while the page is open: shows without a reload
    new = condition(None, "ingest_down", "platform")
    keep = {c.key: c for c in (condition(A, "aq-1"), condition(B, "heat-1"), new)}
    turn(api.db_url, Evaluation(conditions=keep), T0 + 2 * S)
    expect(page.locator("#alerts-list li")).to_have_count(3)
    item = page.locator('#alerts-list li[data-kind="platform"]')
    item.locator("input[name=comment]").fill("restarting the ingest")
    item.locator("button[type=submit]").click()
    expect(item.locator(".ack")).to_contain_text("restarting the ingest")
    acked = api.get(api.tokens["op"], state="acknowledged").json()
    assert [a["subject"] for a in acked] == ["ingest_down"]
    # on a partner's page, that partner's alerts only
    page.goto(api.url + f"/#/partners/{B}")
    expect(page.locator("#alerts-list li")).to_have_count(1)
    expect(page.locator("#alerts-list li .summary")).to_have_text("heat-1 down")


def test_a_partner_sees_only_its_own_alerts(page: Page, api: Api) -> None:
    sign_in(page, api, api.tokens[A])
    expect(page.locator("#alerts-list li")).to_have_count(1)
    expect(page.locator("#alerts-list li .summary")).to_have_text("aq-1 down")
