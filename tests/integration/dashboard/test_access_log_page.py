"""The partner's access-log page in a real browser (Debian's chromium): reached from the
partner page, it lists the reads of the partner's data — the operator's and a grantee's among
them, as the API logged them — and InfluxDB's standing direct reader, with no console error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from access.grants import GrantLog
from domain.registry import Registry
from tests.conftest import control_engine
from tests.integration.access_common import A, B, Site, api_site
from tests.integration.conftest import Influx
from tests.integration.dashboard.dashboard_support import Console, save_screenshot

SHARED = "aq-spuiboulevard"


@pytest.fixture
def small_site(tmp_path: Path, influxd: Influx, registry: Registry) -> Iterator[Site]:
    with api_site(tmp_path, influxd.url, registry) as running:
        GrantLog(control_engine(running.data_dir)).add(
            registry, A, B, [SHARED], "operator (test)", purpose="access log page test"
        )
        yield running


def test_the_partner_sees_who_read_its_data(small_site: Site, browser: Browser) -> None:
    site = small_site
    assert site.get(f"/api/v1/partners/{A}/uptime", "operator").status_code == 200
    path = f"/api/v1/partners/{A}/devices/{SHARED}/telemetry"
    assert site.get(path, B, metric="pm25").status_code == 200
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    console = Console(tab)
    try:
        tab.goto(site.api + "/")
        tab.fill("#token", site.tokens[A])
        tab.click("#signin button[type=submit]")
        tab.click("#access-log-link")  # from the partner page the partner lands on
        tab.wait_for_selector('#access-log tbody tr[data-role="grantee"]')
        roles = tab.eval_on_selector_all(
            "#access-log tbody tr", "rows => rows.map(r => r.dataset.role)"
        )
        assert {"operator", "grantee", "partner"} <= set(roles), roles
        grantee = tab.locator('#access-log tbody tr[data-role="grantee"]').first
        assert grantee.locator('[data-col="device"]').inner_text() == SHARED
        assert tab.locator("#direct-readers li").count() >= 1
        save_screenshot(tab.screenshot(full_page=True), "access-log.png")
        assert console.errors == []
    finally:
        context.close()
