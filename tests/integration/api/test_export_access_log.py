"""GET /partners/{id}/export and /access-log, and `mainport export`, against a real API process
and InfluxDB: the export equals what is stored (each kind compared with a direct query), it is
streamed, it keeps partners apart and gives a grantee its shared telemetry only; every GET
route under /partners/{id} writes an access-log entry, for the operator and the partner."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from access.grants import GrantLog
from alert import store
from api.app import create_app
from core.settings import Settings
from domain.alerts import Evaluation
from domain.registry import Registry
from domain.timestamps import format_rfc3339
from tests.conftest import PARTNERS_FILE, control_engine, wait_for
from tests.integration.access_common import A, B, C, Site, api_site, bearer
from tests.integration.alert.dashboard_site import T0 as T0_ALERT
from tests.integration.alert.dashboard_site import condition, turn
from tests.integration.conftest import Influx

SHARED = "aq-spuiboulevard"
OTHER = "aq-merwekade"
MIN = 60 * 10**9
HOUR = 60 * MIN
# Two days ago on an hour boundary; 12,000 telemetry points over 2 days: several 6 h chunks
# and, inside each, more than one page (api/export.py PAGE_ROWS).
T0 = (time.time_ns() // HOUR - 72) * HOUR
START, END = format_rfc3339(T0), format_rfc3339(T0 + 49 * HOUR)
KINDS = ("telemetry", "status", "messages", "counters", "rejected")
TAGS = {
    "telemetry": ("device",),
    "status": ("device",),
    "messages": ("device", "type"),
    "counters": ("switch", "port"),
    "rejected": ("reason",),
}


def _lines() -> list[str]:
    lines = []
    for i in range(6000):
        t = T0 + i * 28 * 10**9  # 6000 × 28 s ≈ 46.7 h
        lines.append(f"telemetry,partner={A},device={SHARED} pm25={i / 10},no2={i % 7}i {t}")
        lines.append(f"telemetry,partner={A},device={OTHER} pm25={i / 4} {t}")
    for i in range(20):
        t = T0 + i * HOUR
        lines += [
            f"status,partner={A},device={SHARED} online={i % 2}i {t}",
            f"messages,partner={A},device={SHARED},type=telemetry bytes={100 + i}i {t}",
            f"counters,partner={A},switch=dmd-core-1,port=xe-0-0-1 "
            f"in_octets={i * 1000}i,out_octets={i * 10}i,up=1i {t}",
            f'rejected,partner={A},reason=malformed_json topic="mainport/{A}/x",'
            f'excerpt="a, \\"quoted\\"\nline",detail="bad",bytes=12i {t + 1}',
        ]
    # Someone else's data in the same window, same device id: must never come out.
    lines += [
        f"telemetry,partner={C},device={SHARED} pm25=999 {T0 + MIN}",
        f"status,partner={C},device={SHARED} online=1i {T0 + MIN}",
        f"counters,partner={C},switch=dmd-core-1,port=xe-9 in_octets=5i {T0 + MIN}",
    ]
    return lines


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, influxd: Influx, registry: Registry
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("export")
    with api_site(root, influxd.url, registry) as running:
        lines = _lines()
        for k in range(0, len(lines), 5000):
            running.influx.write("\n".join(lines[k : k + 5000]).encode())
        GrantLog(control_engine(running.data_dir)).add(
            registry, A, B, [SHARED], "operator (test)", "export test", purpose="export tests"
        )
        # One alert of A's, so its detail route answers with data too.
        engine = control_engine(running.data_dir)
        turn_url = engine.url.render_as_string(hide_password=False)
        turn(turn_url, Evaluation(conditions={c.key: c for c in [condition(A, SHARED)]}), T0_ALERT)
        VALUES["alert_id"] = next(iter(store.load_open(engine).values())).id
        yield running


def _stored(site: Site, kind: str, partner: str = A) -> list[tuple[Any, ...]]:
    """What InfluxDB holds, asked directly, as (time, kind, tags…, field, value) rows."""
    series = site.influx.query(
        f'SELECT * FROM "raw"."{kind}" WHERE "partner" = $p AND time >= $s AND time < $e',  # noqa: S608
        {"p": partner, "s": T0, "e": T0 + 49 * HOUR},
    )[0]
    rows = []
    for s in series:
        for rec in s.records():
            for name, value in rec.items():
                if name in ("time", "partner", *TAGS[kind]) or value is None:
                    continue
                tags = tuple(rec[t] for t in TAGS[kind])
                rows.append((format_rfc3339(rec["time"]), kind, *tags, name, value))
    return sorted(rows, key=repr)


def _exported(records: list[dict[str, Any]], kind: str) -> list[tuple[Any, ...]]:
    return sorted(
        (
            (r["time"], r["kind"], *(r[t] for t in TAGS[kind]), r["field"], r["value"])
            for r in records
            if r["kind"] == kind
        ),
        key=repr,
    )


def _export(site: Site, who: str, partner: str = A, **params: str) -> httpx.Response:
    return site.get(f"/api/v1/partners/{partner}/export", who, start=START, end=END, **params)


def _ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_the_ndjson_export_equals_what_is_stored_for_every_kind(site: Site) -> None:
    answer = _export(site, "operator", format="ndjson")
    assert answer.status_code == 200, answer.text
    records = _ndjson(answer.text)
    for kind in KINDS:
        stored = _stored(site, kind)
        assert stored, kind
        assert _exported(records, kind) == stored, kind
    assert len(records) == sum(len(_stored(site, k)) for k in KINDS)  # nothing of C's


def test_the_csv_export_equals_what_is_stored(site: Site) -> None:
    answer = _export(site, A, format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    for kind in KINDS:
        exported = [
            (*(r[c] for c in ("time", "kind", *TAGS[kind], "field")), r["value"])
            for r in rows
            if r["kind"] == kind
        ]
        stored = [(*row[:-1], str(row[-1])) for row in _stored(site, kind)]
        assert sorted(exported, key=repr) == sorted(stored, key=repr), kind


def test_the_export_is_streamed_in_chunks(site: Site) -> None:
    url = f"{site.api}/api/v1/partners/{A}/export"
    params = {"start": START, "end": END, "format": "ndjson", "kind": "telemetry"}
    with httpx.stream("GET", url, params=params, headers=bearer(site.tokens[A])) as answer:
        assert answer.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in answer.headers
        chunks = sum(1 for _ in answer.iter_raw())
    assert chunks > 3  # pages of at most 5000 rows, not one body


def test_filters_by_kind_device_and_metric(site: Site) -> None:
    records = _ndjson(_export(site, A, format="ndjson", device=OTHER).text)
    assert {r["kind"] for r in records} == {"telemetry"}  # only per-device kinds with data
    assert {r["device"] for r in records} == {OTHER}
    records = _ndjson(_export(site, A, format="ndjson", metric="no2").text)
    assert {(r["kind"], r["field"]) for r in records} == {("telemetry", "no2")}
    assert len(records) == 6000
    records = _ndjson(_export(site, A, format="ndjson", kind="status,counters").text)
    assert _exported(records, "status") == _stored(site, "status")
    assert _exported(records, "counters") == _stored(site, "counters")


def test_another_partner_is_refused(site: Site) -> None:
    assert _export(site, C).status_code == 403


def test_a_grantee_exports_the_shared_devices_telemetry_only(site: Site) -> None:
    records = _ndjson(_export(site, B, format="ndjson").text)
    assert {(r["kind"], r["device"]) for r in records} == {("telemetry", SHARED)}
    assert _exported(records, "telemetry") == [
        row for row in _stored(site, "telemetry") if row[2] == SHARED
    ]
    assert _export(site, B, device=OTHER).status_code == 403
    assert _export(site, B, kind="status").status_code == 403


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"format": "xml"}, "format"),
        ({"kind": "everything"}, "kind"),
        ({"device": "bad id!"}, "device"),
        ({"metric": "x' OR '1'='1"}, "metric"),
        ({"metric": "pm25", "kind": "status"}, "metric"),
        ({"start": END, "end": START}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2000-01-01T00:00:00Z", "end": END}, "start"),  # longer than 400 days
    ],
)
def test_bad_parameters_are_422(site: Site, params: dict[str, str], says: str) -> None:
    query = {"start": START, "end": END, **params}
    answer = site.get(f"/api/v1/partners/{A}/export", A, **query)
    assert answer.status_code == 422
    assert says in answer.text


def test_the_window_defaults_to_the_last_24_hours(site: Site) -> None:
    answer = site.get(f"/api/v1/partners/{A}/export", A, format="ndjson")
    assert answer.status_code == 200
    assert answer.text == ""  # the stored points are older than a day


def test_the_cli_writes_the_same_export_to_stdout(site: Site) -> None:
    result = site.cli("export", A, "--start", START, "--end", END, "--format", "ndjson")
    api = _ndjson(_export(site, "operator", format="ndjson").text)
    assert _ndjson(result.stdout) == api


NO_PARTNER_DATA = {
    "/healthz",
    "/readyz",
    "/metrics",  # the process's own counters
    "/api/v1/metrics",
    "/api/v1/network/switches",  # operator only: switches' reachability, no partner's traffic
    "/api/v1/broker/ca.crt",  # the broker's public CA certificate
}
"""GET routes that answer with no partner's data; every other GET must be logged."""


def _data_get_routes() -> list[tuple[str, dict[str, Any]]]:
    spec: dict[str, Any] = create_app(Settings(partners_file=PARTNERS_FILE)).openapi()
    return [
        (path, ops["get"])
        for path, ops in spec["paths"].items()
        if "get" in ops and path not in NO_PARTNER_DATA
    ]


VALUES = {
    "partner_id": A,
    "device_id": SHARED,
    "metric": "pm25",
    "start": START,
    "end": END,
    "month": format_rfc3339(T0)[:7],
}


def _call(site: Site, who: str, path: str, op: dict[str, Any]) -> httpx.Response:
    url = site.api + re.sub(r"\{(\w+)\}", lambda m: quote(VALUES[m[1]], safe=""), path)
    query = {
        p["name"]: VALUES[p["name"]]
        for p in op.get("parameters", [])
        if p["in"] == "query" and p["name"] in VALUES
    }
    return httpx.get(url, params=query, headers=bearer(site.tokens[who]), timeout=60)


def _log(site: Site, partner: str, who: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = site.get(
            f"/api/v1/partners/{partner}/access-log", who, offset=str(offset), limit="7"
        )
        assert page.status_code == 200, page.text
        entries += page.json()["entries"]
        offset = page.json()["next_offset"]
    return entries


def test_every_route_with_partner_data_writes_an_access_log_entry(site: Site) -> None:
    routes = _data_get_routes()
    assert {p.rsplit("/", 1)[-1] for p, _ in routes} >= {"export", "access-log", "telemetry"}
    assert {"/api/v1/report", "/api/v1/live", "/api/v1/partners"} <= {p for p, _ in routes}
    for who in ("operator", A, B):
        for path, op in routes:
            answer = _call(site, who, path, op)
            if who != B:
                assert answer.status_code == 200, (who, path, answer.text)
    entries = _log(site, A, A)
    seen = {(e["role"], e["endpoint"]) for e in entries}
    for path, _ in routes:
        assert ("operator", path) in seen, path
        if path.startswith("/api/v1/partners/{partner_id}"):
            assert ("partner", path) in seen, path
            # The grantee: let through (its shared device's telemetry, its export) or refused.
            assert {e["role"] for e in entries if e["endpoint"] == path} & {
                "grantee",
                "other partner",
            }, path
    own = {e["endpoint"] for e in entries if e["role"] == "partner"}
    assert {"/api/v1/report", "/api/v1/live", "/api/v1/partners", "/api/v1/platform"} <= own
    shared = {e["endpoint"] for e in entries if e["role"] == "grantee"}
    assert {
        "/api/v1/partners/{partner_id}/devices/{device_id}/telemetry",
        "/api/v1/partners/{partner_id}/export",
        "/api/v1/live",  # B's live view holds A's shared device
    } <= shared
    assert [e["time"] for e in entries] == sorted((e["time"] for e in entries), reverse=True)
    export_entry = next(e for e in entries if e["endpoint"].endswith("/export"))
    assert export_entry["params"]["start"] == START
    operator = next(e for e in entries if e["role"] == "operator")
    assert operator["token_id"] and operator["reader_partner"] is None
    assert not (site.data_dir / "access").exists()  # in the database, no file beside it


def test_a_grantee_read_is_logged_as_such_and_others_cannot_read_the_log(site: Site) -> None:
    path = f"/api/v1/partners/{A}/devices/{SHARED}/telemetry"
    assert site.get(path, B, metric="pm25", start=START, end=END).status_code == 200
    body = site.get(f"/api/v1/partners/{A}/access-log", "operator", limit="1").json()
    # The operator's read of the log is logged too, after its answer: the newest is B's.
    (entry,) = body["entries"]
    assert (entry["role"], entry["reader_partner"], entry["device"]) == ("grantee", B, SHARED)
    assert body["direct_readers"][0]["privilege"] == "READ on the database"
    assert site.get(f"/api/v1/partners/{A}/access-log", C).status_code == 403
    newest = site.get(f"/api/v1/partners/{A}/access-log", A, limit="1").json()["entries"][0]
    assert (newest["role"], newest["reader_partner"], newest["status"]) == ("other partner", C, 403)
    site.get(f"/api/v1/partners/{C}/access-log", C)
    (own,) = site.get(f"/api/v1/partners/{C}/access-log", C, limit="1").json()["entries"]
    assert (own["role"], own["reader_partner"], own["endpoint"]) == (
        "partner",
        C,
        "/api/v1/partners/{partner_id}/access-log",
    )


def _held_export(site: Site, partner: str) -> socket.socket:
    """An export request whose answer is left unread: a raw socket with a tiny receive buffer,
    so the stream cannot finish into the sockets' buffers and stays an InfluxDB reader."""
    host, port = site.api.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    query = urlencode({"start": START, "end": END, "format": "ndjson"})
    sock.sendall(
        f"GET /api/v1/partners/{partner}/export?{query} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {site.tokens[partner]}\r\n\r\n".encode()
    )
    assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    return sock


def test_a_partner_running_too_many_exports_is_answered_429(site: Site) -> None:
    """Two exports held open; the third of the same partner is refused with a message, another
    partner's is not; once the held ones are closed, the partner may export again."""
    held = [_held_export(site, A) for _ in range(2)]
    try:
        refused = _export(site, A, format="ndjson", kind="status")
        assert refused.status_code == 429
        assert "exports of" in refused.json()["detail"]
        assert _export(site, C, partner=C, kind="status").status_code == 200
    finally:
        for sock in held:
            sock.close()
    wait_for(
        lambda: _export(site, A, format="ndjson", kind="status").status_code == 200,
        what="a slot given back when the held exports were closed",
    )
