"""The dashboard's site (a simulated network through the real stack) shared by the dashboard and
Grafana tests, and a headless Debian chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from domain.registry import Registry
from tests.integration.conftest import Broker, Influx
from tests.integration.dashboard.dashboard_support import (
    CHROMIUM_ARGS,
    Console,
    DashboardSite,
    dashboard_site,
    require_browser,
)

VIEWPORT = {"width": 1440, "height": 900}


UI_TIMEOUT_MS = 30_000


@pytest.fixture(scope="package")
def site(
    tmp_path_factory: pytest.TempPathFactory, broker: Broker, influxd: Influx, registry: Registry
) -> Iterator[DashboardSite]:
    with dashboard_site(tmp_path_factory.mktemp("dashboard"), broker, influxd, registry) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_browser()
    with sync_playwright() as playwright:
        yield _launch(playwright, executable)


def _launch(playwright: Playwright, executable: Path) -> Browser:
    return playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    console = Console(page)
    yield page, console
    context.close()
