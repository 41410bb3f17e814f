"""The collector's SNMP agents as fixtures (tests/integration/collector/snmp_agents.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.collector.snmp_agents import Snmpd


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """Debian's snmpd serving this machine's interfaces (v2c and v3 authPriv SHA/AES)."""
    agent = Snmpd(tmp_path_factory.mktemp("snmpd"))
    agent.start()
    yield agent
    agent.stop()
