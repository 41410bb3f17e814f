"""Two API processes sharing one PostgreSQL control plane, as several API hosts do: the reads
made on either are in the one access log that both answer, and a clean stop of a process right
after its reads loses none of them (its queued entries are written on the way out)."""

from __future__ import annotations

from pathlib import Path

import httpx

from controlplane.access_log import count
from controlplane.db import make_engine
from domain.registry import Registry
from tests.integration.access_common import A, api_site, bearer, start_api
from tests.integration.conftest import Influx
from tests.integration.postgres_support import Postgres

READS = 25


def test_two_api_hosts_share_one_log_and_a_clean_stop_loses_no_entry(
    tmp_path: Path, influxd: Influx, registry: Registry, postgres: Postgres
) -> None:
    url = postgres.new_database()
    with api_site(tmp_path, influxd.url, registry, MAINPORT_DATABASE_URL=url) as site:
        second, base = start_api(site.env, site.data_dir / "log-2")
        try:
            for _ in range(READS):
                answer = httpx.get(
                    f"{base}/api/v1/partners/{A}/devices", headers=bearer(site.tokens[A])
                )
                assert answer.status_code == 200
        finally:
            second.stop()  # SIGTERM: a clean stop (uvicorn shuts the app down, then exits)
        engine = make_engine(url)
        try:
            assert count(engine) == READS  # every one, though the stop came right after
        finally:
            engine.dispose()
        assert site.get(f"/api/v1/partners/{A}/uptime", "operator").status_code == 200
        entries = site.get(f"/api/v1/partners/{A}/access-log", A, limit="100").json()["entries"]
        devices = [e for e in entries if e["endpoint"].endswith("/devices")]
        assert len(devices) == READS  # written by the other host, answered by this one
        assert any(e["role"] == "operator" for e in entries)
        assert not (site.data_dir / "mainport.db").exists()  # PostgreSQL, not the SQLite default
