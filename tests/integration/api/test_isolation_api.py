"""Injection strings in every path, query and body parameter of every /api/v1 endpoint, as the
operator and as partner B (who holds a grant on one of A's sensors), against a real API process
and InfluxDB.

Every answer must be a 4xx, or a 2xx only where the value is a well-formed identifier that just
names nothing (a device called `SELECT` is a legal device id) — never a 5xx, and B never sees
anything of A's beyond the shared sensor. `attack_matrix` returns every attempt with its answer,
so the same table can be printed for a review.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from access.grants import GrantLog
from api.app import create_app
from core.settings import Settings
from domain.registry import Registry
from tests.conftest import PARTNERS_FILE, control_engine
from tests.integration.access_common import A, B, C, Site, api_site, bearer
from tests.integration.conftest import Influx

SHARED = "aq-spuiboulevard"
STORED = {(A, SHARED): 11.5, (A, "aq-merwekade"): 42.0, (C, SHARED): 77.0}  # C: same device id

INJECTIONS: dict[str, str] = {
    "single quote": "x' OR '1'='1",
    "double quote": 'x" OR "1"="1',
    "statement separator": "x; DROP DATABASE mainport",
    "InfluxQL statement": 'SELECT * FROM "telemetry"',
    "InfluxQL keyword": "SELECT",
    "InfluxQL keyword, lower case": "drop",
    "tag condition": f"{SHARED}' OR partner='{C}",
    "regex": "/.*/",
    "regex match": "=~ /.*/",
    "wildcard": "*",
    "bound parameter": "$partner",
    "now() arithmetic": "now() - 1h",
    "backslash": "x\\",
    "comment": "x -- ",
    "newline": "x\nSHOW DATABASES",
    "NUL byte": "x\x00",
    "unicode hyphen": "gemeente\u2010dordrecht",
    "unicode letters": "üñíçødé",
    "emoji": "📡",
    "fullwidth letters": "ｇｅｍｅｅｎｔｅ",
    "other partner upper case": A.upper(),
    "other partner": C,
    "path traversal": f"../{C}",
    "encoded path traversal": "%2e%2e%2f" + C,
    "dot dot": "..",
    "overlong": "a" * 300,
    "empty": "",
}


@dataclass(frozen=True)
class Attempt:
    who: str
    method: str
    path: str
    param: str
    injection: str
    status: int
    body: Any


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    spec: dict[str, Any] = create_app(Settings(partners_file=PARTNERS_FILE)).openapi()
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in ops.items()
    ]


def _defaults(grant_id: str) -> dict[str, str]:
    """A valid value for each parameter, so one parameter at a time carries the attack."""
    return {
        "partner_id": A,
        "device_id": SHARED,
        "grant_id": grant_id,
        "request_id": "er-000000000000",  # an erasure request (none such: 404 past the checks)
        "metric": "pm25",
        "grantee": B,
        "devices": SHARED,
        "note": "attack matrix",
        "switch": "dmd-core-1",
        "port": "xe-0-0-1",
        "window_id": "1",
        "purpose": "attack matrix",
        "alert_id": "0" * 40,  # no such alert: 404 past the checks
        "comment": "attack matrix",
        "label": "gw",  # a gateway login's label (api/routes/gateways.py)
    }


def _request(
    http: httpx.Client,
    site: Site,
    who: str,
    method: str,
    path: str,
    op: dict[str, Any],
    values: dict[str, str],
) -> httpx.Response:
    url = site.api + re.sub(
        r"\{(\w+)\}", lambda m: quote(values[m[1]], safe="").replace(".", "%2E"), path
    )
    query = {
        p["name"]: values[p["name"]]
        for p in op.get("parameters", [])
        if p["in"] == "query" and p["name"] in values
    }
    body = None
    if "requestBody" in op:
        body = {
            "grantee": values["grantee"],
            "devices": [values["devices"]],
            "note": values["note"],
            "purpose": values["purpose"],
        }
    return http.request(method, url, params=query, json=body, headers=bearer(site.tokens[who]))


def attack_matrix(site: Site) -> list[Attempt]:
    grant_id = GrantLog(control_engine(site.data_dir)).active()[0].id
    attempts = []
    with httpx.Client() as http:
        for method, path, op in _operations():
            attempts += _attack_operation(http, site, grant_id, method, path, op)
    return attempts


def _attack_operation(
    http: httpx.Client, site: Site, grant_id: str, method: str, path: str, op: dict[str, Any]
) -> list[Attempt]:
    names = [p["name"] for p in op.get("parameters", [])]
    if "requestBody" in op:
        names += ["grantee", "devices", "note"]
    attempts = []
    for name in names:
        for label, value in INJECTIONS.items():
            for who in ("operator", B):
                values = {**_defaults(grant_id), name: value}
                answer = _request(http, site, who, method, path, op, values)
                is_json = answer.headers.get("content-type") == "application/json"
                body = answer.json() if is_json else answer.text
                attempts.append(Attempt(who, method, path, name, label, answer.status_code, body))
    return attempts


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, influxd: Influx, registry: Registry
) -> Iterator[Site]:
    with api_site(tmp_path_factory.mktemp("inject"), influxd.url, registry) as running:
        now = time.time_ns()
        running.influx.write(
            "\n".join(
                f"telemetry,partner={partner},device={device} pm25={value} {now - 60 * 10**9}"
                for (partner, device), value in STORED.items()
            ).encode()
        )
        GrantLog(control_engine(running.data_dir)).add(
            registry, A, B, [SHARED], "setup", purpose="isolation tests"
        )
        yield running


@pytest.fixture(scope="module")
def attempts(site: Site) -> list[Attempt]:
    return attack_matrix(site)


def test_every_endpoint_and_parameter_was_attacked(attempts: list[Attempt]) -> None:
    attacked = {(a.method, a.path, a.param) for a in attempts}
    assert (
        "GET",
        "/api/v1/partners/{partner_id}/devices/{device_id}/telemetry",
        "every",
    ) in attacked
    assert ("POST", "/api/v1/partners/{partner_id}/grants", "devices") in attacked
    assert len(attempts) == len(attacked) * len(INJECTIONS) * 2


def test_no_injection_gets_a_server_error(attempts: list[Attempt]) -> None:
    errors = [a for a in attempts if a.status >= 500]
    assert errors == []


def test_only_well_formed_values_are_accepted(attempts: list[Attempt]) -> None:
    patterns = {
        "partner_id": r"[a-z0-9][a-z0-9-]{1,31}",
        "device_id": r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
        "devices": r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
        "grantee": r"[a-z0-9][a-z0-9-]{1,31}",
        "metric": r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}",
        "grant_id": r"g-[0-9a-f]{12}",
        "device": r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",  # export: a comma list of device ids
        "partner": r"[a-z0-9][a-z0-9-]{1,31}",  # registry listings and the audit
        "after": r"[a-z0-9][a-z0-9-]{1,31}/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",  # device pages
        "switch": r"[a-z0-9][a-z0-9-]{1,31}",
        "port": r"[a-z0-9][a-z0-9-]{1,31}",
    }
    # 2xx only: an empty grant id ends the path in '/', which gets a 307 to the list route
    # (not followed, and the list route checks the token like every other).
    accepted = [a for a in attempts if a.status < 300]
    for attempt in accepted:
        value = INJECTIONS[attempt.injection]
        if attempt.param == "note":  # free text, stored as a JSON string
            continue
        assert re.fullmatch(patterns[attempt.param], value), attempt


def test_partner_b_never_sees_data_of_a_beyond_the_shared_sensor(attempts: list[Attempt]) -> None:
    for attempt in (a for a in attempts if a.who == B and a.status < 300):
        if attempt.path.endswith("/telemetry"):
            assert (attempt.body["partner"], attempt.body["device"]) == (A, SHARED)
            assert {v for _, v in attempt.body["points"]} <= {11.5}
        elif attempt.path.endswith("/export"):  # CSV by default: the shared sensor's telemetry
            rows = list(csv.DictReader(io.StringIO(attempt.body)))
            assert {(r["kind"], r["device"]) for r in rows} <= {("telemetry", SHARED)}
            assert {float(r["value"]) for r in rows} <= {11.5}
        elif (attempt.method, attempt.path) == ("GET", "/api/v1/grants"):
            assert all(B in (g["owner"], g["grantee"]) for g in attempt.body)
        elif (attempt.method, attempt.path) == ("GET", "/api/v1/devices"):
            assert all(d["partner"] == B for d in attempt.body["items"])
        elif (attempt.method, attempt.path) == ("GET", "/api/v1/audit"):
            assert all(e["partner"] == B for e in attempt.body["items"])
        elif (attempt.method, attempt.path) == ("GET", "/api/v1/ports"):
            assert all(p["partner"] == B for p in attempt.body)
        elif (attempt.method, attempt.path) == ("GET", "/api/v1/maintenance"):
            assert all(w["partner"] in (B, "*") for w in attempt.body)
        else:
            raise AssertionError(f"B was answered {attempt.status} on {attempt}")


def test_a_query_never_mixes_partners_or_metrics(attempts: list[Attempt]) -> None:
    for attempt in (a for a in attempts if a.status == 200 and a.path.endswith("/telemetry")):
        body = attempt.body
        values = {v for _, v in body["points"]}
        stored = STORED.get((body["partner"], body["device"])) if body["metric"] == "pm25" else None
        # C's sensor has the same id as A's: each answer holds one partner's values only.
        assert values == ({stored} if stored is not None else set()), attempt
