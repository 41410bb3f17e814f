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


def test_local_and_compose_brokers_save_every_10000_changes_and_log_unbuffered(
    tmp_path: Path,
) -> None:
    """The loss bound docs/failures.md states, and log lines that survive a crash."""
    compose = Path(__file__).resolve().parents[3] / "docker" / "mosquitto" / "mosquitto.conf"
    for conf in (mosquitto_conf(BrokerConfig("127.0.0.1", 1883, tmp_path)), compose.read_text()):
        lines = [line for line in conf.splitlines() if line and not line.startswith("#")]
        assert "autosave_on_changes true" in lines
        assert [line for line in lines if line.startswith("autosave_interval")] == [
            "autosave_interval 10000"
        ]
        assert [line for line in lines if line.startswith("log_dest")] == ["log_dest stderr"]
