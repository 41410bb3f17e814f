"""What every test shares: the repository's paths, the shipped registry and a polling helper.

Tests mirror the code: `unit/<package>/` holds the pure tests of each package (no service, no
child process), `integration/` the tests that start real Mosquitto, influxd, a browser or
`mainport` processes, with those fixtures in `integration/conftest.py`. Every test under
`integration/` carries the `integration` marker, so `pytest -m "not integration"` runs the unit
tests alone (`unit/test_layout.py` keeps the layout true).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from domain.registry import Registry, load_registry

REPO = Path(__file__).resolve().parent.parent
PARTNERS_FILE = REPO / "config" / "partners.yaml"
INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration/ as one, from its place alone."""
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(PARTNERS_FILE)


def control_engine(data_dir: Path, database_url: str | None = None) -> Engine:
    """The control-plane database a `mainport` process with MAINPORT_DATA_DIR=`data_dir` (and
    MAINPORT_DATABASE_URL=`database_url`, if given) opens: SQLite under the data dir by default.
    Where tests issue logins and tokens before they start the processes that read them."""
    from access.store import control_plane
    from core.settings import Settings

    return control_plane(Settings(data_dir=data_dir, database_url=database_url))


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll until `check()`; a behavioural deadline, generous for a noisy 2-core machine."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
