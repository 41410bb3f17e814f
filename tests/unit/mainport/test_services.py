"""mainport.services: the Mosquitto configuration it generates for `mainport up` and the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainport.services import BrokerConfig, TlsListener, mosquitto_conf


@pytest.mark.parametrize("tls", [False, True])
def test_every_generated_config_refuses_anonymous_clients(tls: bool, tmp_path: Path) -> None:
    listener = TlsListener(8883, tmp_path / "c.crt", tmp_path / "c.key") if tls else None
    conf = mosquitto_conf(BrokerConfig("127.0.0.1", 1883, tmp_path, tls=listener))
    lines = conf.splitlines()
    # One global setting, not per listener: a later listener cannot switch anonymous back on.
    assert "per_listener_settings false" in lines
    assert [line for line in lines if line.startswith("allow_anonymous")] == [
        "allow_anonymous false"
    ]
    assert sum(line.startswith("listener ") for line in lines) == (2 if tls else 1)
