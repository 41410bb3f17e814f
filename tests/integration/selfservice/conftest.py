"""One self-service stack per package (tests/integration/selfservice/selfservice_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import Influx
from tests.integration.selfservice.selfservice_support import SelfServiceSite, selfservice_site


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory, influxd: Influx) -> Iterator[SelfServiceSite]:
    with selfservice_site(tmp_path_factory.mktemp("selfservice"), influxd) as s:
        yield s
