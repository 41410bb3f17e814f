"""The self-service tests' stack: a broker listening plain and over TLS (local CA), a
control-plane database seeded from the partners file (database mode: writes allowed), and the
real `mainport ingest` and `mainport api` children, all under one data dir exactly as
`mainport up` lays it out, so the API reloads this very broker when a login changes.

woonbron may register devices itself (three more than it has, kinds temperature and
energy-meter);
gemeente-dordrecht is the other partner whose token must see none of it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from access.broker import INGEST_ACCOUNT, AccountStore, write_broker_files
from access.tls import ensure_local_tls
from access.tokens import OPERATOR, PARTNER, TokenStore
from controlplane.db import utcnow
from controlplane.registry_ops import set_partner
from controlplane.registry_store import seed
from core.processes import Child, free_port
from domain.registry import load_registry
from mainport.services import BrokerConfig, TlsListener, start_broker
from tests.conftest import PARTNERS_FILE, REPO, control_engine, wait_for
from tests.integration.conftest import Influx
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

HOST = "127.0.0.1"
PARTNER_ID = "woonbron"
OTHER_ID = "gemeente-dordrecht"
NEW_DEVICES = 3
"""How many more devices woonbron may register itself (its quota: what it has plus these)."""
KINDS = ["temperature", "energy-meter"]


@dataclass
class SelfServiceSite:
    api: str
    data_dir: Path
    tls_port: int
    plain_port: int
    ca_file: Path
    influx: InfluxClient
    operator: str
    partner: str
    other: str
    children: list[Child] = field(default_factory=list)

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.operator}"}
        return httpx.request(method, self.api + path, headers=headers, timeout=30, **kw)


@contextmanager
def selfservice_site(root: Path, influxd: Influx) -> Iterator[SelfServiceSite]:
    data_dir = root / "var"
    registry = load_registry(PARTNERS_FILE)
    files = ensure_local_tls(data_dir / "tls", [HOST])
    engine = control_engine(data_dir)
    store = AccountStore(engine)
    ingest_password = store.issue(INGEST_ACCOUNT)
    for partner in registry.partners:
        store.issue(partner.id)
    tls_port = free_port()
    cfg = BrokerConfig(
        HOST, free_port(), data_dir / "mosquitto", tls=TlsListener(tls_port, files.cert, files.key)
    )
    write_broker_files(store, registry, "mainport", cfg.directory)
    broker = start_broker(cfg, root / "log")
    children = [broker]
    seed(engine, registry, at=utcnow(), actor="test")
    quota = len(registry.by_id[PARTNER_ID].devices) + NEW_DEVICES
    set_partner(engine, PARTNER_ID, {"device_quota": quota, "allowed_kinds": KINDS}, actor="test")
    influx = influxd.client(f"self_{uuid.uuid4().hex[:12]}")
    ensure_schema(influx, "400d")
    tokens = TokenStore(engine)
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env |= {
        "MAINPORT_DATA_DIR": str(data_dir),
        "MAINPORT_MQTT_HOST": HOST,
        "MAINPORT_MQTT_PORT": str(cfg.port),
        "MAINPORT_MQTT_TLS_PORT": str(tls_port),
        "MAINPORT_MQTT_PASSWORD": ingest_password,
        "MAINPORT_INFLUX_URL": influxd.url,
        "MAINPORT_INFLUX_DB": influx.db,
        "MAINPORT_INGEST_GROUP": f"g{uuid.uuid4().hex[:8]}",
        "MAINPORT_INGEST_CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}",
        "MAINPORT_INGEST_BATCH_AGE_MS": "50",
        "MAINPORT_INGEST_METRICS_PORT": str(free_port()),
        "MAINPORT_API_PORT": str(api_port),
        "PYTHONUNBUFFERED": "1",
    }
    site = SelfServiceSite(
        api=f"http://{HOST}:{api_port}",
        data_dir=data_dir,
        tls_port=tls_port,
        plain_port=cfg.port,
        ca_file=files.ca_cert,
        influx=influx,
        operator=tokens.issue(OPERATOR, label="self-service test"),
        partner=tokens.issue(PARTNER, PARTNER_ID, label="self-service test"),
        other=tokens.issue(PARTNER, OTHER_ID, label="self-service test"),
        children=children,
    )
    try:
        for name in ("ingest", "api"):
            child = Child(
                name,
                [sys.executable, "-m", "mainport", name],
                log_file=root / f"{name}.log",
                env=env,
                cwd=REPO,
            )
            child.start()
            children.append(child)
        wait_for(
            lambda: bool(influx.query('SELECT last("connected") FROM "ingest_link"')[0]),
            60,
            "the ingest subscribed",
        )
        wait_for(lambda: httpx.get(f"{site.api}/readyz").status_code == 200, 60, "API ready")
        yield site
    finally:
        for child in reversed(children):
            child.stop()
        influx.query(f'DROP DATABASE "{influx.db}"', db=False)
        influx.close()


def site_env(site: SelfServiceSite) -> dict[str, str]:
    """Environment for a `mainport` CLI command against the site (its data dir, database mode)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env |= {"MAINPORT_DATA_DIR": str(site.data_dir), "MAINPORT_MQTT_PORT": str(site.plain_port)}
    return env
