"""End to end through real parts: simulator → Mosquitto → ingest → InfluxDB → API."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from access.tokens import OPERATOR, PARTNER, TokenStore
from core.processes import Child, free_port
from simulators.scenario import Scenario
from simulators.simulation import Simulation
from tests.conftest import control_engine, wait_for
from tests.integration.conftest import Broker, stack_env
from timeseries.client import InfluxClient


def test_simulated_devices_show_online_through_the_api(
    broker: Broker,
    influx_db: InfluxClient,
    spawn: Callable[..., Child],
    tmp_path: Path,
) -> None:
    api_port = free_port()
    env = stack_env(broker, influx_db, tmp_path, MAINPORT_API_PORT=str(api_port))
    tokens = TokenStore(control_engine(tmp_path))
    operator = tokens.issue(OPERATOR)
    spawn("ingest", ["ingest"], env)
    spawn("api", ["api"], env)

    def ingest_connected() -> bool:
        # The ingest records its broker link right after subscribing; devices start after that.
        return bool(influx_db.query('SELECT last("connected") FROM "ingest_link"')[0])

    wait_for(ingest_connected, 60, "the ingest subscribed")

    scenario = Scenario(name="skeleton", partners=["woonbron"], speed=1.0, ports=False)
    credentials = {"woonbron": ("woonbron", broker.passwords["woonbron"])}
    sim = Simulation(scenario, broker.registry, broker.host, broker.port, credentials)
    stop = threading.Event()
    runner = threading.Thread(target=sim.run, args=(stop,))
    runner.start()
    base = f"http://127.0.0.1:{api_port}"
    auth = {"Authorization": f"Bearer {operator}"}
    try:

        def all_online() -> bool:
            resp = httpx.get(f"{base}/api/v1/partners/woonbron/devices", headers=auth)
            return resp.status_code == 200 and all(d["status"] == "online" for d in resp.json())

        def telemetry_stored() -> bool:
            series = influx_db.query(
                'SELECT count("bytes") FROM "messages" WHERE "type" = \'telemetry\' '
                'GROUP BY "device"'
            )[0]
            return len(series) == 4

        wait_for(all_online, 90, "woonbron's devices online")
        wait_for(telemetry_stored, 90, "a telemetry message of every device stored")
    finally:
        stop.set()
        runner.join(10)

    devices = httpx.get(f"{base}/api/v1/partners/woonbron/devices", headers=auth).json()
    assert [d["id"] for d in devices] == [
        "heat-crabbehof-01",
        "heat-crabbehof-02",
        "temp-sterrenburg-12",
        "temp-sterrenburg-14",
    ]
    assert all(d["last_seen"].endswith("Z") for d in devices)
    statuses = influx_db.query('SELECT last("online") FROM "status" GROUP BY "device"')[0]
    assert {s.tags["device"]: s.values[0][1] for s in statuses} == {
        d["id"]: 1 for d in devices
    }  # every device announced itself `online` on connect

    partners = httpx.get(f"{base}/api/v1/partners", headers=auth).json()
    woonbron = next(p for p in partners if p["id"] == "woonbron")
    assert woonbron["devices_online"] == woonbron["devices"] == 4

    # The same API answers a partner token for its own partner only.
    partner = tokens.issue(PARTNER, "woonbron")
    own = httpx.get(
        f"{base}/api/v1/partners/woonbron/devices", headers={"Authorization": f"Bearer {partner}"}
    )
    other = httpx.get(
        f"{base}/api/v1/partners/gemeente-dordrecht/devices",
        headers={"Authorization": f"Bearer {partner}"},
    )
    assert (own.status_code, other.status_code) == (200, 403)
    assert httpx.get(f"{base}/api/v1/partners").status_code == 401
    assert httpx.get(f"{base}/readyz").status_code == 200
