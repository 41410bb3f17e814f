"""The Grafana dashboard shipped in docker/grafana: every panel's query runs on the real InfluxDB
of the dashboard's site, and the partner panels show every demo partner."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import REPO
from tests.integration.dashboard.dashboard_support import DashboardSite, demo_partners

GRAFANA = REPO / "docker" / "grafana"


GRAFANA_VARIABLES = {"$timeFilter": "time > now() - 6h", "$__interval": "1m", "$partner": ".*"}


def _grafana_dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (GRAFANA / "dashboards" / "mainport-overview.json").read_text()
    )
    return document


def test_grafana_dashboard_queries_run_on_real_influxdb(site: DashboardSite) -> None:
    dashboard = _grafana_dashboard()
    assert dashboard["uid"] == "mainport-overview"
    partners = set(demo_partners())
    seen_partners: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "mainport-influxdb", panel["title"]
        for target in panel["targets"]:
            query = target["query"]
            for name, value in GRAFANA_VARIABLES.items():
                query = query.replace(name, value)
            results = site.influx.query(query)  # raises on any InfluxQL error
            seen_partners |= {
                s.tags["partner"] for result in results for s in result if "partner" in s.tags
            }
    # With the simulated network running, the partner-level panels show every demo partner.
    assert seen_partners >= partners
