"""What the broker-access tests share: sessions on the broker a module's `broker` fixture names
(the attack tests point it at `bound_broker`, configured as in production), closed after each
test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.access_common import Session
from tests.integration.conftest import Broker


@pytest.fixture
def sessions(broker: Broker) -> Iterator[Callable[..., Session]]:
    """Open connected sessions by login name; all are closed when the test ends."""
    opened: list[Session] = []

    def open_session(login: str, **kwargs: Any) -> Session:
        session = Session(broker.host, broker.port, login, broker.passwords[login], **kwargs)
        assert session.connect() == "Success"
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.close()
