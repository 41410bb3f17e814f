"""The compose file, read once per module, for the tests of the deployment files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.mainport.compose_support import Service, read_compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return read_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    found = compose.get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services"
    return found
