"""`mainport up`: the whole local stack as one foreground process, as an operator runs it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from access.broker import AccountStore
from core.processes import free_port
from tests.conftest import PARTNERS_FILE, REPO, control_engine, wait_for


def _env(data_dir: Path, mqtt: int, influx: int, api: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE),
        MAINPORT_MQTT_PORT=str(mqtt),
        MAINPORT_MQTT_TLS_PORT=str(free_port()),
        MAINPORT_INFLUX_URL=f"http://127.0.0.1:{influx}",
        MAINPORT_API_PORT=str(api),
        PYTHONUNBUFFERED="1",
    )
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited but not been reaped yet: it is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], Path]]:
    env = _env(tmp_path / "var", free_port(), free_port(), free_port())
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            # The demo's past has its own test (test_up_history.py): this one is about the
            # supervisor, so it goes live at once.
            [sys.executable, "-m", "mainport", "up", "--simulate", "--no-history"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
    yield proc, env, log
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def test_up_serves_every_demo_partner_online_and_ctrl_c_leaves_nothing_running(
    stack: tuple[subprocess.Popen[str], dict[str, str], Path],
) -> None:
    proc, env, log = stack
    api = f"http://127.0.0.1:{env['MAINPORT_API_PORT']}"
    wait_for(lambda: httpx.get(f"{api}/readyz").status_code == 200, 60, "readyz 200")
    token = subprocess.run(
        [sys.executable, "-m", "mainport", "token", "issue", "--operator"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert token.startswith("mp_") and "\n" not in token  # the secret alone on stdout
    auth = {"Authorization": f"Bearer {token}"}

    def every_device_online() -> bool:
        partners = httpx.get(f"{api}/api/v1/partners", headers=auth).json()
        return len(partners) == 5 and all(p["devices_online"] == p["devices"] for p in partners)

    wait_for(every_device_online, 60, "every demo device online")

    # InfluxDB answers nobody without a login; each child has its own, kept 0600.
    influx = env["MAINPORT_INFLUX_URL"]
    assert httpx.post(f"{influx}/query", data={"q": "SHOW DATABASES"}).status_code == 401
    write = httpx.post(f"{influx}/write", params={"db": "mainport"}, content=b"telemetry v=1")
    assert write.status_code == 401
    logins = Path(env["MAINPORT_DATA_DIR"]) / "secrets" / "influxdb-logins.json"
    assert logins.stat().st_mode & 0o077 == 0

    # The ingest writes and the deriver derives with their own logins: uptime is computed (once
    # the first observations are more than an instant old, so the monitored time is not zero).
    def uptime_computed() -> bool:
        uptime = httpx.get(f"{api}/api/v1/partners/woonbron/uptime", headers=auth)
        assert uptime.status_code == 200, uptime.text
        return uptime.json()["uptime_pct"] is not None

    wait_for(uptime_computed, 60, "woonbron's uptime computed")
    # `mainport dead-letters` by hand finds the reader's login: InfluxDB, not the local files.
    letters = subprocess.run(
        [sys.executable, "-m", "mainport", "dead-letters", "--counts"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "showing local files" not in letters.stderr

    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", log.read_text())]
    # broker, influxd, ingest, retain guard, deriver, api, alert evaluator, simulator
    assert len(set(pids)) == 8
    assert all(_alive(pid) for pid in pids)

    # A crashed child is reported with its exit code and restarted, not hidden.
    ingest_pid = int(re.findall(r"ingest started \(pid (\d+)\)", log.read_text())[0])
    os.kill(ingest_pid, signal.SIGKILL)
    wait_for(lambda: "ingest restarted" in log.read_text(), 30, "the ingest restarted")
    assert f"ingest (pid {ingest_pid}) exited with code -9" in log.read_text()
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", log.read_text())]
    pids = [pid for pid in pids if pid != ingest_pid]

    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert not [pid for pid in pids if _alive(pid)]
    assert "stopped" in log.read_text().splitlines()[-1]
    # Run-time broker passwords are for one run only: no account survives the stop.
    accounts = AccountStore(control_engine(Path(env["MAINPORT_DATA_DIR"]))).load()
    assert [a.username for a in accounts if a.runtime] == []


def test_up_names_the_port_already_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = _env(tmp_path / "var", port, free_port(), free_port())
        result = subprocess.run(
            [sys.executable, "-m", "mainport", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"mainport: port {port} (MQTT) is already in use on 127.0.0.1; "
        "stop what holds it or choose another with MAINPORT_MQTT_PORT"
    ]
