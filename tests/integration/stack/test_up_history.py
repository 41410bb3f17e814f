"""`mainport up --simulate` on a fresh data dir tells a story: the scenario's recent past, faults
and a maintenance window included, is backfilled through the real broker, ingest, InfluxDB and
deriver before the network goes live, so the API has incidents with causes, unknown time and
traffic with a p95 to show at once; a second start of the same data dir goes live at once.

A small scenario and three hours of past keep it quick; the default (7 days of
simulators/scenarios/demo.yaml) takes the same path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.processes import free_port
from tests.conftest import PARTNERS_FILE, REPO, wait_for

pytestmark = pytest.mark.integration

# Offsets from the history's start, which is a whole hour; its maintenance window is hour 1–2.
SCENARIO = """\
name: history-test
seed: 11
partners: [gemeente-dordrecht, woonbron]
payload_format: mixed
ports: true
faults:
  - {kind: offline, device: woonbron/heat-crabbehof-02, at: 20m, for: 10m}
  - {kind: counter_reset, port: dmd-dist-2/ge-0-0-7, at: 30m}
  # Inside the maintenance window: unknown time, no incident.
  - {kind: silent, device: gemeente-dordrecht/aq-merwekade, at: 70m, for: 20m}
  # After it: the port's own incident, and the devices behind it down with cause link.
  - {kind: port_down, port: dmd-core-1/xe-0-0-2, at: 140m, for: 12m}
  - {kind: silent, device: gemeente-dordrecht/noise-grotekerk, at: 160m, for: 10m}
"""


class Up:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.scenario = root / "history-test.yaml"
        self.scenario.write_text(SCENARIO)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
        self.env.update(
            MAINPORT_DATA_DIR=str(root / "var"),
            MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE),
            MAINPORT_MQTT_PORT=str(free_port()),
            MAINPORT_MQTT_TLS_PORT=str(free_port()),
            MAINPORT_INFLUX_URL=f"http://127.0.0.1:{free_port()}",
            MAINPORT_API_PORT=str(free_port()),
            PYTHONUNBUFFERED="1",
        )
        self.api = f"http://127.0.0.1:{self.env['MAINPORT_API_PORT']}"
        self.proc: subprocess.Popen[str] | None = None
        self.log = root / "up.log"
        self.token = ""

    def start(self) -> None:
        args = ["up", "--simulate", "--scenario", str(self.scenario), "--history", "3h"]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mainport", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=REPO,
            )
        wait_for(lambda: httpx.get(f"{self.api}/readyz").status_code == 200, 90, "readyz 200")
        if not self.token:
            self.token = subprocess.run(
                [sys.executable, "-m", "mainport", "token", "issue", "--operator"],
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            assert self.proc.wait(60) == 0

    def get(self, path: str, **params: str) -> Any:
        resp = httpx.get(
            self.api + path,
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def text(self) -> str:
        return self.log.read_text()

    def state(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.root / "var" / "demo" / "history.json").read_text())
        return doc


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    stack = Up(tmp_path)
    yield stack
    if stack.proc is not None and stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGINT)
        stack.proc.wait(60)


def _causes(uptime: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["subject"], i["cause"]) for i in uptime["incidents"]}


def test_first_start_backfills_a_past_with_its_faults_and_a_second_start_goes_live(
    up: Up,
) -> None:
    up.start()
    wait_for(lambda: "demo history backfilled" in up.text(), 120, "the history backfilled")
    state = up.state()
    assert state["completed"] is True
    start, end = state["start"], state["end"]
    (window,) = state["maintenance"]
    assert start.endswith(":00:00Z")

    def derived_caught_up() -> bool:
        lag = up.get("/api/v1/platform")["derive_lag_s"]
        return lag is not None and lag <= 2.0

    wait_for(derived_caught_up, 60, "the deriver caught up with the history")

    # The incident timeline, with causes, read where each incident starts (SPEC).
    def history_incidents() -> bool:
        town = up.get("/api/v1/partners/gemeente-dordrecht/uptime", start=start, end=end)
        return {
            ("dmd-core-1/xe-0-0-2", "offline"),
            ("parking-weeskinderendijk", "link"),
            ("noise-grotekerk", "timeout"),
        } <= _causes(town)

    wait_for(history_incidents, 60, "the history's incidents")
    town = up.get("/api/v1/partners/gemeente-dordrecht/uptime", start=start, end=end)
    # The silence inside the maintenance window is unknown time, not an incident.
    assert "aq-merwekade" not in {subject for subject, _ in _causes(town)}
    assert {"start": window["start"], "end": window["end"], "reason": "maintenance"} in town[
        "unknown"
    ]
    merwekade = next(d for d in town["devices"] if d["id"] == "aq-merwekade")
    assert merwekade["uptime_pct"] == 100.0
    assert town["uptime_pct"] < 100.0

    homes = up.get("/api/v1/partners/woonbron/uptime", start=start, end=end)
    assert ("heat-crabbehof-02", "offline") in _causes(homes)

    # The traffic chart and its p95, over 5-minute buckets of the fibre counters.
    usage = up.get("/api/v1/partners/woonbron/usage", start=start, end=end, samples="true")
    assert usage["p95_in_bps"] > 0 and usage["p95_out_bps"] > 0
    assert usage["bytes_in"] > 0 and usage["messages"] > 0

    month = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC)
    report = {r["partner"]: r for r in up.get("/api/v1/report", month=month.strftime("%Y-%m"))}
    assert report["gemeente-dordrecht"]["incidents"] >= 3
    assert report["woonbron"]["p95_in_bps"] > 0

    # Live from where the history ended, without a gap: every simulated device comes online
    # and nothing went down at the seam.
    def simulated_online() -> bool:
        partners = {p["id"]: p for p in up.get("/api/v1/partners")}
        return all(
            partners[p]["devices_online"] == partners[p]["devices"]
            for p in ("gemeente-dordrecht", "woonbron")
        )

    wait_for(simulated_online, 60, "the simulated devices online")
    seam = up.get("/api/v1/partners/woonbron/uptime", start=end)
    assert seam["incidents"] == []

    up.stop()
    up.start()
    wait_for(lambda: "simulator started" in up.text(), 60, "the live simulator")
    text = up.text()
    assert f"demo history {start} – {end} already backfilled; going live" in text
    assert "history started" not in text
    assert up.state() == state
    up.stop()
