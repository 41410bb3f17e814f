"""Grafana's provisioning: the datasource reads the compose InfluxDB over InfluxQL as the
read-only user (its dashboard's queries run on real InfluxDB in
tests/integration/dashboard/test_grafana.py)."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO

GRAFANA = REPO / "docker" / "grafana"


def test_grafana_datasource_speaks_influxql_to_the_compose_influxdb() -> None:
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "mainport.yaml").read_text()
    )
    (source,) = provisioning["datasources"]
    assert source["type"] == "influxdb"
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["version"] == "InfluxQL"
    # Grafana reads as the read-only user influx-setup creates (the API's), not as the admin.
    assert source["user"] == "${GRAFANA_INFLUX_USER}"
    assert source["secureJsonData"]["password"] == "${GRAFANA_INFLUX_PASSWORD}"

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana-oss:")
    assert grafana["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert "./docker/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    # Every variable the provisioning files expand is in Grafana's environment.
    text = "".join(p.read_text() for p in (GRAFANA / "provisioning").rglob("*.yaml"))
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used <= grafana["environment"].keys(), used - grafana["environment"].keys()
    influx_env = compose["services"]["influxdb"]["environment"]
    assert grafana["environment"]["INFLUXDB_DB"] == influx_env["INFLUXDB_DB"]
    setup_env = compose["services"]["influx-setup"]["environment"]
    reader = (
        setup_env["MAINPORT_INFLUX_READER_USERNAME"],
        setup_env["MAINPORT_INFLUX_READER_PASSWORD"],
    )
    assert (
        grafana["environment"]["GRAFANA_INFLUX_USER"],
        grafana["environment"]["GRAFANA_INFLUX_PASSWORD"],
    ) == reader
    assert not any("INFLUXDB_ADMIN" in str(v) for v in grafana["environment"].values())
