"""Uptime, usage and the report through the API, against figures computed from the raw events.

Two days of a partner's devices and ports (with silences, offline events, a link outage, a
counter reset and a glitch, a maintenance window and a platform outage) go through the
ingest's writer and the deriver into a real InfluxDB. The API answers from the derived
records; the test computes the same windows from every raw event with `domain` directly.
The two must agree exactly: that is what makes the derived storage layout trustworthy.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from access.tokens import OPERATOR, PARTNER, TokenStore
from core.processes import free_port
from core.settings import Settings
from derive.deriver import Deriver
from domain.intervals import Interval, merge_intervals
from domain.registry import Registry
from domain.timestamps import format_rfc3339
from domain.uptime import (
    datetime_ns,
    device_availability,
    incidents,
    link_availability,
    partner_uptime_pct,
    timeout_ns,
)
from domain.usage import bucket_octets, p95, port_deltas, window_octets
from tests.conftest import PARTNERS_FILE, control_engine
from tests.integration.access_common import start_api
from tests.integration.api.analytics_history import (
    BASE,
    DEVICES,
    END,
    GAP,
    PARTNER_ID,
    PORT_OF,
    PORTS,
    SWITCH,
    History,
    S,
    make_history,
)
from tests.integration.conftest import Influx
from tests.integration.raw_store import Store
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema


@dataclass
class Api:
    client: httpx.Client
    operator: dict[str, str]
    partner: dict[str, str]
    other: dict[str, str]


@pytest.fixture(scope="module")
def history() -> History:
    return make_history()


@pytest.fixture(scope="module")
def api(
    influxd: Influx,
    tmp_path_factory: pytest.TempPathFactory,
    registry: Registry,
    history: History,
) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("analytics")
    url = influxd.url
    client = InfluxClient(url, f"test_{uuid.uuid4().hex[:12]}", timeout_s=60)
    ensure_schema(client, "INF")
    store = Store(client, root / "spool")
    deriver = Deriver(client, registry, grace_factor=3.0, lag_s=5.0)
    for k in range(0, len(history.lines), 2000):
        store.put(history.lines[k : k + 2000])
        while deriver.step():
            pass
    store.writer.stop()
    settings = Settings(partners_file=PARTNERS_FILE, data_dir=root / "var")
    tokens = TokenStore(control_engine(settings.data_dir))
    bearer = {
        who: {"Authorization": f"Bearer {tok}"}
        for who, tok in (
            ("operator", tokens.issue(OPERATOR)),
            ("partner", tokens.issue(PARTNER, PARTNER_ID)),
            ("other", tokens.issue(PARTNER, "woonbron")),
        )
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE),
        MAINPORT_DATA_DIR=str(settings.data_dir),
        MAINPORT_INFLUX_URL=url,
        MAINPORT_INFLUX_DB=client.db,
        MAINPORT_MQTT_PORT=str(free_port()),  # nothing there: these endpoints need no broker
        PYTHONUNBUFFERED="1",
    )
    child, base = start_api(env, root / "log")
    with httpx.Client(base_url=base, timeout=30) as http:
        yield Api(http, bearer["operator"], bearer["partner"], bearer["other"])
    child.stop()
    client.query(f'DROP DATABASE "{client.db}"', db=False)
    client.close()


WINDOWS = [
    (BASE, END),
    (BASE + 7 * 3600 * S + 123 * S, BASE + 31 * 3600 * S + 17 * S),  # mid-hour, mid-bucket
    (BASE + 20 * 3600 * S, BASE + 20 * 3600 * S + 299 * S),  # inside one bucket
    (END - 3600 * S, END + 86_400 * S),
]


def unknown_time(registry: Registry) -> list[Interval]:
    maintenance = [
        Interval(datetime_ns(w.start), datetime_ns(w.end))
        for w in registry.maintenance
        if w.covers(PARTNER_ID)
    ]
    return merge_intervals([*maintenance, Interval(*GAP)])


@pytest.mark.parametrize("window", WINDOWS, ids=["whole", "unaligned", "one-bucket", "past-end"])
def test_uptime_equals_the_figures_from_every_raw_event(
    api: Api, history: History, registry: Registry, window: tuple[int, int]
) -> None:
    start, end = window
    now = END + 86_400 * S * 1000  # the windows lie in the past
    unknown = unknown_time(registry)
    ports = {}
    for port, rows in history.samples.items():
        ports[port] = link_availability(
            [r[0] for r in rows],
            [r[3] for r in rows],
            timeout_ns=timeout_ns(60),
            start_ns=start,
            end_ns=end,
            now_ns=now,
            unknown=unknown,
        )
    devices = {}
    expected_incidents = []
    for device, interval in DEVICES.items():
        a = device_availability(
            history.obs[device],
            history.off[device],
            timeout_ns=timeout_ns(interval),
            start_ns=start,
            end_ns=end,
            now_ns=now,
            unknown=unknown,
        )
        devices[device] = a
        behind = PORT_OF.get(device)
        expected_incidents += incidents(device, a, ports[behind].down if behind else ())
    for port, a in ports.items():
        expected_incidents += incidents(f"{SWITCH}/{port}", a)

    got = api.client.get(
        f"/api/v1/partners/{PARTNER_ID}/uptime",
        params={"start": format_rfc3339(start), "end": format_rfc3339(end)},
        headers=api.operator,
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["uptime_pct"] == pytest.approx(partner_uptime_pct(devices.values()), abs=1e-9)
    assert body["link_uptime_pct"] == pytest.approx(partner_uptime_pct(ports.values()), abs=1e-9)
    by_id = {d["id"]: d for d in body["devices"]}
    listed = {"aq-merwekade", "noise-grotekerk", "parking-weeskinderendijk"}
    assert set(by_id) == set(DEVICES) | listed
    for device, a in devices.items():
        assert by_id[device]["downtime_s"] == a.downtime_s
        assert by_id[device]["uptime_pct"] == pytest.approx(a.uptime_pct, abs=1e-9)
    for silent in listed:
        assert by_id[silent]["uptime_pct"] is None
    expected_incidents.sort(key=lambda i: (i.start_ns, i.subject))
    assert [(i["subject"], i["start"], i["end"], i["cause"]) for i in body["incidents"]] == [
        (
            i.subject,
            format_rfc3339(i.start_ns),
            format_rfc3339(i.end_ns) if i.end_ns is not None else None,
            i.cause,
        )
        for i in expected_incidents
    ]
    if start == BASE:
        causes = {i["cause"] for i in body["incidents"]}
        assert causes == {"offline", "timeout", "link"}, "the history exercises every cause"
        assert {u["reason"] for u in body["unknown"]} == {"maintenance", "platform"}


@pytest.mark.parametrize("window", WINDOWS, ids=["whole", "unaligned", "one-bucket", "past-end"])
def test_usage_equals_the_figures_from_every_raw_sample(
    api: Api, history: History, window: tuple[int, int]
) -> None:
    start, end = window
    inbound, outbound = [], []
    per_port = {}
    for port, rows in history.samples.items():
        d = port_deltas(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], PORTS[port]
        )
        inbound.append(d.inbound)
        outbound.append(d.outbound)
        per_port[port] = (
            window_octets([d.inbound], start, end),
            window_octets([d.outbound], start, end),
        )
    in_buckets = bucket_octets(inbound, start, end)
    out_buckets = bucket_octets(outbound, start, end)

    got = api.client.get(
        f"/api/v1/partners/{PARTNER_ID}/usage",
        params={"start": format_rfc3339(start), "end": format_rfc3339(end), "samples": "true"},
        headers=api.partner,
    )
    assert got.status_code == 200, got.text
    body = got.json()
    in_window = [b for t, b in history.msgs if start <= t < end]
    assert body["messages"] == len(in_window)
    assert body["mqtt_bytes"] == sum(in_window)
    assert body["rejected"] == sum(start <= t < end for t in history.rejected)
    assert {p["port"]: (p["bytes_in"], p["bytes_out"]) for p in body["ports"]} == per_port
    assert body["bytes_in"] == sum(v[0] for v in per_port.values())
    assert body["p95_in_bps"] == p95(in_buckets).bps
    assert body["p95_out_bps"] == p95(out_buckets).bps
    assert [b["start"] for b in body["buckets"]] == [
        format_rfc3339(t) for t in in_buckets.start_ns.tolist()
    ]
    assert [b["in_bps"] for b in body["buckets"]] == in_buckets.rates_bps.tolist()
    if start == BASE:
        assert body["p95"]["index"] == (95 * len(body["buckets"]) + 99) // 100 - 1
    # Without samples the API reads only the largest buckets: the same p95.
    lean = api.client.get(
        f"/api/v1/partners/{PARTNER_ID}/usage",
        params={"start": format_rfc3339(start), "end": format_rfc3339(end)},
        headers=api.partner,
    ).json()
    assert "buckets" not in lean
    assert (lean["p95_in_bps"], lean["p95_out_bps"]) == (body["p95_in_bps"], body["p95_out_bps"])
    assert lean["bytes_in"] == body["bytes_in"]


def test_report_has_a_row_per_partner_as_json_and_csv(api: Api) -> None:
    rows = api.client.get("/api/v1/report", params={"month": "2026-11"}, headers=api.operator)
    assert rows.status_code == 200, rows.text
    ids = [r["partner"] for r in rows.json()]
    assert PARTNER_ID in ids and "woonbron" in ids
    mine = next(r for r in rows.json() if r["partner"] == PARTNER_ID)
    usage = api.client.get(
        f"/api/v1/partners/{PARTNER_ID}/usage",
        params={"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
        headers=api.operator,
    ).json()
    assert mine["bytes_in"] == usage["bytes_in"] and mine["messages"] == usage["messages"]
    csv = api.client.get(
        "/api/v1/report",
        params={"month": "2026-11"},
        headers={**api.operator, "Accept": "text/csv"},
    )
    assert csv.headers["content-type"].startswith("text/csv")
    header, *lines = csv.text.strip().split("\n")
    assert header.split(",")[:3] == ["partner", "name", "uptime_pct"]
    assert len(lines) == len(ids)
    own = api.client.get("/api/v1/report", params={"month": "2026-11"}, headers=api.partner)
    assert [r["partner"] for r in own.json()] == [PARTNER_ID]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start": "yesterday"}, "start:"),
        ({"end": "2026-13-01T00:00:00Z"}, "end:"),
        ({"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "before end"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "at most 400 days"),
    ],
)
def test_bad_windows_are_422_with_the_reason(api: Api, params: dict[str, str], says: str) -> None:
    for what in ("uptime", "usage", "rejected"):
        got = api.client.get(
            f"/api/v1/partners/{PARTNER_ID}/{what}", params=params, headers=api.operator
        )
        assert got.status_code == 422, got.text
        assert says in got.json()["detail"]


@pytest.mark.parametrize(
    "month",
    [
        "2026-13",
        "26-11",
        "2026-1",
        "2026-11-01",
        "november",
        "2099-01",
        "0000-01",
        "1677-01",
        "9999-12",
    ],
)
def test_bad_month_is_422(api: Api, month: str) -> None:
    got = api.client.get("/api/v1/report", params={"month": month}, headers=api.operator)
    assert got.status_code == 422


def test_another_partner_cannot_read_uptime_usage_or_rejections(api: Api) -> None:
    for what in ("uptime", "usage", "rejected"):
        got = api.client.get(f"/api/v1/partners/{PARTNER_ID}/{what}", headers=api.other)
        assert got.status_code == 403


def test_rejected_messages_are_listed_newest_first(api: Api, history: History) -> None:
    got = api.client.get(
        f"/api/v1/partners/{PARTNER_ID}/rejected",
        params={"start": format_rfc3339(BASE), "end": format_rfc3339(END), "limit": 10},
        headers=api.partner,
    )
    assert got.status_code == 200
    times = [r["time"] for r in got.json()]
    assert times == [format_rfc3339(t) for t in sorted(history.rejected, reverse=True)[:10]]
    assert {r["reason"] for r in got.json()} == {"bad_shape"}


def test_openapi_documents_every_analytics_endpoint_with_examples(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path in (
        "/api/v1/partners/{partner_id}/uptime",
        "/api/v1/partners/{partner_id}/usage",
        "/api/v1/partners/{partner_id}/rejected",
        "/api/v1/report",
    ):
        assert path in spec["paths"]
    for model in ("UptimeOut", "UsageOut", "ReportRowOut", "RejectedOut"):
        assert spec["components"]["schemas"][model].get("examples"), model
