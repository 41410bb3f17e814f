"""Erasure end to end: the partner asks through the API, the operator confirms, a real
`mainport derive` erases. Afterwards no measurement of any retention policy, no spool segment,
dead-letter file or feed file under the data dir holds the device's data (searched whole); the
other device's data is all still there; the closed month's report is unchanged (frozen at the
confirmation); and the audit records the erasure — who asked, who confirmed, when — not the data.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from api.closed_months import closed_months
from controlplane import audit
from controlplane.monthly_reports import frozen
from core.processes import Child
from domain.registry import Registry
from tests.conftest import wait_for
from tests.integration.access_common import A, Site, api_site, bearer
from tests.integration.conftest import Influx

GONE = "aq-spuiboulevard"  # the device whose data is erased
KEPT = "aq-merwekade"  # another device of the same partner
S = 10**9


@pytest.fixture
def site(tmp_path: Path, influxd: Influx, registry: Registry) -> Iterator[Site]:
    with api_site(tmp_path, influxd.url, registry) as running:
        yield running


def _closed_month_time() -> tuple[str, int]:
    year, month = closed_months(time.time_ns(), 1)[0]
    at = int(datetime(year, month, 10, 12, tzinfo=UTC).timestamp()) * S
    return f"{year:04d}-{month:02d}", at


def _load(site: Site, t_closed: int) -> None:
    recent = time.time_ns() - 3600 * S
    lines = []
    for device, value in ((GONE, 41.5), (KEPT, 7.25)):
        for t in (t_closed, recent):
            lines += [
                f"telemetry,partner={A},device={device} pm25={value} {t}",
                f"status,partner={A},device={device} online=1i {t}",
                f"messages,partner={A},device={device},type=telemetry bytes=120i {t}",
            ]
        lines.append(
            f'rejected,partner={A},reason=malformed_json topic="mainport/{A}/{device}/telemetry",'
            f'excerpt="{{pm25: {value}",detail="bad",bytes=12i {t_closed + 1}'
        )
    site.influx.write("\n".join(lines).encode())
    hour = t_closed // 3600 // S * 3600 * S
    site.influx.write(
        "\n".join(
            f"activity,partner={A},device={d} messages=1i,bytes=120i {hour}" for d in (GONE, KEPT)
        ).encode(),
        rp="derived",
    )
    site.influx.write(
        f"silence,kind=device,partner={A},subject={GONE} since={t_closed}i {t_closed + S}\n"
        f"marks,kind=device,partner={A},subject={GONE} first={t_closed}i,last={recent}i 0".encode(),
        rp="derived",
    )
    site.influx.write(
        f'touched,writer=w1 events="device|{A}|{GONE}|{recent}|;device|{A}|{KEPT}|{recent}|" '
        f"{time.time_ns()}".encode(),
        rp="markers",
    )
    letters = site.data_dir / "dead-letters"
    letters.mkdir(parents=True, exist_ok=True)
    (letters / "ingest-1.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "time_ns": t_closed,
                    "partner": A,
                    "reason": "malformed_json",
                    "topic": f"mainport/{A}/{d}/telemetry",
                    "excerpt": f"{{pm25: {v}",
                    "detail": "bad",
                    "bytes": 12,
                }
            )
            + "\n"
            for d, v in ((GONE, 41.5), (KEPT, 7.25))
        )
    )
    feeds = site.data_dir / "feeds"
    feeds.mkdir()
    (feeds / "recorded.jsonl.gz").write_bytes(
        gzip.compress(
            b"".join(
                json.dumps(
                    {"t": 1.0, "topic": f"mainport/{A}/{d}/telemetry", "payload": "e30="}
                ).encode()
                + b"\n"
                for d in (GONE, KEPT)
            ),
            mtime=0,
        )
    )
    spool = site.data_dir / "spool" / "ingest-1"
    spool.mkdir(parents=True)
    (spool / "000000000001.seg").write_bytes(  # only the other device's points are waiting
        f"telemetry,partner={A},device={KEPT} pm25=1 {recent}\n".encode()
    )


def _holding(site: Site, needle: str) -> list[str]:
    """Every place in InfluxDB (all policies, all measurements, tags and fields) naming it."""
    found = []
    for rp in ("raw", "derived", "markers"):
        for s in site.influx.query("SHOW MEASUREMENTS")[0]:
            for (name,) in s.values:
                for series in site.influx.query(f'SELECT * FROM "{rp}"."{name}"')[0]:  # noqa: S608
                    for row in series.values:
                        if any(isinstance(v, str) and needle in v for v in row):
                            found.append(f"{rp}.{name}")
    return found


def _files_holding(root: Path, needle: bytes) -> list[str]:
    """Every file under the data dir holding it (gzip read decompressed), but the control-plane
    database (erasure requests and the audit name the device, on purpose), the logs, the
    broker's and the secrets' configuration (logins)."""
    skip = ("mainport.db", "log", "secrets", "mosquitto", "tls")
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0].startswith(skip):
            continue
        body = path.read_bytes()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        if needle in body:
            found.append(str(rel))
    return found


def _post(site: Site, path: str, who: str, body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(f"{site.api}{path}", json=body, headers=bearer(site.tokens[who]), timeout=60)


def test_an_erased_device_leaves_nothing_and_closed_months_stay(
    site: Site, spawn: Callable[..., Child]
) -> None:
    month, t_closed = _closed_month_time()
    _load(site, t_closed)
    before = site.get("/api/v1/report", "operator", month=month).json()
    assert _holding(site, GONE) and _files_holding(site.data_dir, GONE.encode())

    base = f"/api/v1/partners/{A}/erasure-requests"
    asked = _post(site, base, A, {"device": GONE, "reason": "sensor sold"})
    assert asked.status_code == 201, asked.text
    rid = asked.json()["id"]
    assert asked.json()["state"] == "requested"
    assert _post(site, f"{base}/{rid}/confirm", A).status_code == 403  # the operator confirms
    confirmed = _post(site, f"{base}/{rid}/confirm", "operator")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "confirmed"
    assert _post(site, f"{base}/{rid}/confirm", "operator").status_code == 409

    spawn("derive", ["derive"], site.env)

    def done() -> bool:
        return bool(site.get(base, A).json()[0]["state"] == "done")

    wait_for(done, 90, "the deriver to carry out the erasure")

    assert _holding(site, GONE) == []
    assert _files_holding(site.data_dir, GONE.encode()) == []
    assert _holding(site, KEPT)  # the other device's data is all still there
    assert set(_files_holding(site.data_dir, KEPT.encode())) == {
        "dead-letters/ingest-1.jsonl",
        "feeds/recorded.jsonl.gz",
        "spool/ingest-1/000000000001.seg",
    }
    kept = site.influx.query(
        'SELECT count("pm25") FROM "raw"."telemetry" WHERE "device" = $d', {"d": KEPT}
    )[0]
    assert kept[0].values[0][1] == 2
    assert site.get("/api/v1/report", "operator", month=month).json() == before

    engine = create_engine(f"sqlite:///{site.data_dir / 'mainport.db'}")
    try:
        assert A in frozen(engine, month, [A])
        with engine.connect() as conn:
            erased = [e for e in audit.entries(conn, partner=A) if e.action == "erase"]
    finally:
        engine.dispose()
    (entry,) = erased
    assert (entry.entity, entity_id := entry.entity_id) == ("device", f"{A}/{GONE}"), entity_id
    assert entry.after is not None
    assert entry.after["requested_by"].startswith(f"partner {A}")
    assert entry.after["confirmed_by"].startswith("operator")
    assert "41.5" not in json.dumps(entry.after)  # what and who, never the data


def test_the_cli_erases_all_of_a_partners_data(site: Site) -> None:
    _month, t_closed = _closed_month_time()
    _load(site, t_closed)
    site.influx.write(f"telemetry,partner=woonbron,device=x pm25=1 {t_closed}".encode())
    rid = site.cli("erase", "request", A, "--reason", "leaving the network").stdout.strip()
    assert f"{rid}  requested" in site.cli("erase", "list", A).stdout
    (spool := site.data_dir / "spool" / "ingest-1" / "000000000001.seg").unlink()
    result = site.cli("erase", "confirm", rid, "--now")
    assert "erased" in result.stdout, result.stdout
    assert _holding(site, A) == []
    assert _holding(site, "woonbron")  # another partner's data stays
    assert _files_holding(site.data_dir, f"mainport/{A}/".encode()) == []
    assert not spool.exists()
    assert f"{rid}  done" in site.cli("erase", "list", A).stdout


def test_the_spool_holding_the_data_holds_the_erasure_back(site: Site) -> None:
    _month, t_closed = _closed_month_time()
    _load(site, t_closed)
    rid = site.cli("erase", "request", A, "--device", KEPT, "--reason", "x").stdout.strip()
    result = site.cli("erase", "confirm", rid, "--now", check=False)
    assert result.returncode != 0 and "spool" in result.stderr
    assert f"{rid}  confirmed" in site.cli("erase", "list", A).stdout
