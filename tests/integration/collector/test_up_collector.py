"""`mainport up` with switches in the registry and their SNMP credentials in place: it starts the
collector with its own `_network` login, and the switch's health reaches the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from core.processes import free_port
from tests.conftest import REPO, wait_for
from tests.integration.collector.snmp_agents import Snmpd, switch_files


def test_up_starts_the_collector_and_the_api_shows_the_switch(snmpd: Snmpd, tmp_path: Path) -> None:
    partners, data = switch_files(tmp_path, snmpd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_DATA_DIR=str(data),
        MAINPORT_PARTNERS_FILE=str(partners),
        MAINPORT_MQTT_PORT=str(free_port()),
        MAINPORT_MQTT_TLS_PORT=str(free_port()),
        MAINPORT_INFLUX_URL=f"http://127.0.0.1:{free_port()}",
        MAINPORT_API_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mainport", "up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
    try:
        api = f"http://127.0.0.1:{env['MAINPORT_API_PORT']}"
        wait_for(lambda: httpx.get(f"{api}/readyz").status_code == 200, 90, "readyz 200")
        assert "collector started" in log.read_text()
        token = subprocess.run(
            [sys.executable, "-m", "mainport", "token", "issue", "--operator"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}

        def switch_seen() -> bool:
            (local,) = httpx.get(f"{api}/api/v1/network/switches", headers=auth).json()
            return bool(local["reachable"]) and local["last_counters"] is not None

        wait_for(switch_seen, 60, "the switch's health in the API")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
