"""An API application on a fresh control-plane database (both kinds), called in process through
httpx's ASGI transport with its lifespan run, with an operator token and one per partner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from access.store import control_plane
from access.tokens import OPERATOR, PARTNER, TokenStore
from api.app import create_app
from controlplane.db import open_database
from controlplane.registry_store import apply
from core.settings import Settings
from domain.registry import Registry
from tests.conftest import PARTNERS_FILE
from timeseries.client import InfluxClient

T = TypeVar("T")
A, B = "gemeente-dordrecht", "woonbron"


@dataclass
class Api:
    settings: Settings
    registry: Registry
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def run(self, body: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        """Run `body(client)` against a started application (lifespan and all)."""

        async def main() -> T:
            app = create_app(self.settings, self.registry)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                    return await body(c)

        return asyncio.run(main())


def make_api(tmp_path: Path, control_db: str, registry: Registry, **settings: Any) -> Api:
    engine = open_database(control_db)
    try:
        apply(engine, registry, actor="test", at=datetime.now(UTC))
    finally:
        engine.dispose()
    config = Settings(data_dir=tmp_path / "var", database_url=control_db, **settings)
    store = TokenStore(control_plane(config))
    tokens = {p: store.issue(PARTNER, p, label=f"{p} app") for p in (A, B)}
    tokens["operator"] = store.issue(OPERATOR, label="ops desk")
    return Api(config, registry, tokens)


@pytest.fixture
def api(
    tmp_path: Path, control_db: str, registry: Registry, influx_db: InfluxClient
) -> Iterator[Api]:
    """Database source of truth (MAINPORT_PARTNERS_FILE not set): writes allowed. A real
    InfluxDB behind it: some writes (an erasure's confirmation) read figures first."""
    yield make_api(tmp_path, control_db, registry, influx_url=influx_db.url, influx_db=influx_db.db)


@pytest.fixture
def file_mode_api(tmp_path: Path, control_db: str, registry: Registry) -> Iterator[Api]:
    """The partners file set explicitly: it is the source of truth, writes are refused."""
    yield make_api(tmp_path, control_db, registry, partners_file=PARTNERS_FILE)
