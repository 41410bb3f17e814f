"""`mainport collect` as the operator runs it: the registry's switch, its credentials from the
0600 file, the `_network` login; it polls Debian's snmpd over SNMPv3 authPriv and publishes the
SPEC messages, serves its health on /metrics, and `--once` prints what it read."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from access.broker import NETWORK_ACCOUNT
from core.processes import Child, free_port
from tests.conftest import wait_for
from tests.integration.collector.snmp_agents import V3_PRIV, Snmpd, switch_files
from tests.integration.conftest import Broker, stack_env
from tests.integration.mqtt_support import Subscriber
from timeseries.client import InfluxClient


def test_collect_publishes_spec_messages_with_the_network_login(
    broker: Broker,
    influx_db: InfluxClient,
    snmpd: Snmpd,
    subscriber: Subscriber,
    spawn: Callable[..., Child],
    tmp_path: Path,
) -> None:
    partners, data = switch_files(tmp_path, snmpd)
    metrics_port = free_port()
    env = stack_env(
        broker,
        influx_db,
        data,
        MAINPORT_PARTNERS_FILE=str(partners),
        MAINPORT_COLLECTOR_MQTT_PASSWORD=broker.passwords[NETWORK_ACCOUNT],
        MAINPORT_COLLECTOR_METRICS_PORT=str(metrics_port),
    )
    spawn("collect", ["collect"], env)

    def seen() -> dict[str, dict[str, object]]:
        with subscriber.lock:
            return {t: orjson.loads(p) for t, p, _ in subscriber.messages}

    wait_for(lambda: len(seen()) >= 2, 30, "the first poll published")
    got = seen()
    counters = got["mainport/_network/local/lo/counters"]
    assert counters["oper_status"] == "up" and int(str(counters["in_octets"])) > 0
    assert abs(int(str(counters["ts"])) / 1000 - time.time()) < 30  # stamped when it answered
    assert got["mainport/_network/local/_collector"]["reachable"] is True
    assert set(got) == {"mainport/_network/local/lo/counters", "mainport/_network/local/_collector"}
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert 'mainport_collector_reachable{switch="local"} 1.0' in text


def test_once_prints_what_the_switch_answered_and_publishes_nothing(
    snmpd: Snmpd, tmp_path: Path
) -> None:
    partners, data = switch_files(tmp_path, snmpd)
    env = {
        "MAINPORT_PARTNERS_FILE": str(partners),
        "MAINPORT_DATA_DIR": str(data),
        "MAINPORT_MQTT_PORT": str(free_port()),  # no broker there: --once needs none
        "PATH": "/usr/bin:/bin",
    }
    run = subprocess.run(
        [sys.executable, "-m", "mainport", "collect", "--once", "--switch", "local"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("local: answered in")
    assert any(line.split()[1:4] == ["lo", "lo", "yes"] for line in lines[2:])
    assert V3_PRIV not in run.stdout + run.stderr
