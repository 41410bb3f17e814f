"""Who may ask the API what: 401 without a valid token, 403 for another partner's resources, and
the one exception, a device shared with the caller. Against a real API process.

The routes are read from the app's OpenAPI document, so an endpoint added later under
/api/v1/partners/{partner_id}/ is covered without touching this file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

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
NOT_SHARED = "aq-merwekade"


def partner_routes() -> list[tuple[str, str]]:
    """(method, path) of every endpoint under /api/v1/partners/{partner_id}."""
    spec: dict[str, Any] = create_app(Settings(partners_file=PARTNERS_FILE)).openapi()
    return sorted(
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if path.startswith("/api/v1/partners/{partner_id}")
        for method in operations
    )


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, influxd: Influx, registry: Registry
) -> Iterator[Site]:
    with api_site(tmp_path_factory.mktemp("auth"), influxd.url, registry) as running:
        minute_ago = time.time_ns() - 60 * 10**9
        running.influx.write(
            f"telemetry,partner={A},device={SHARED} pm25=11.5 {minute_ago}".encode()
        )
        GrantLog(control_engine(running.data_dir)).add(
            registry, A, B, [SHARED], "test setup", purpose="auth tests"
        )
        yield running


def _call(site: Site, method: str, path: str, token: str, device: str = SHARED) -> int:
    grant_id = GrantLog(control_engine(site.data_dir)).active()[0].id
    url = site.api + path.format(
        partner_id=A,
        device_id=device,
        grant_id=grant_id,
        request_id="er-000000000000",
        label="gw",
        alert_id="0" * 40,
    )
    body = {"grantee": B, "devices": [SHARED], "purpose": "auth"} if method == "POST" else None
    answer = httpx.request(method, url, params={"metric": "pm25"}, json=body, headers=bearer(token))
    return answer.status_code


def test_the_partner_routes_are_the_ones_this_file_expects() -> None:
    # A guard, not the point: if this list grows, the loops below already cover the new route.
    assert {
        ("GET", "/api/v1/partners/{partner_id}/devices"),
        ("GET", "/api/v1/partners/{partner_id}/devices/{device_id}/telemetry"),
        ("GET", "/api/v1/partners/{partner_id}/grants"),
        ("POST", "/api/v1/partners/{partner_id}/grants"),
        ("DELETE", "/api/v1/partners/{partner_id}/grants/{grant_id}"),
    } <= set(partner_routes())


def test_another_partners_token_gets_403_on_every_route_but_the_shared_device(site: Site) -> None:
    answers = {
        (method, path): _call(site, method, path, site.tokens[B])
        for method, path in partner_routes()
    }
    shared = ("GET", "/api/v1/partners/{partner_id}/devices/{device_id}/telemetry")
    assert answers.pop(shared) == 200
    # The export of the shared device's telemetry (test_export_access_log.py checks its rows).
    assert answers.pop(("GET", "/api/v1/partners/{partner_id}/export")) == 200
    assert set(answers.values()) == {403}, answers
    assert _call(site, *shared, site.tokens[B], device=NOT_SHARED) == 403


def test_a_partner_without_a_grant_gets_403_everywhere_under_another_partner(site: Site) -> None:
    answers = {route: _call(site, *route, site.tokens[C]) for route in partner_routes()}
    assert set(answers.values()) == {403}, answers


def test_the_operator_and_the_owner_are_let_through(site: Site) -> None:
    for who in ("operator", A):
        gets = [r for r in partner_routes() if r[0] == "GET"]
        assert {r: _call(site, *r, site.tokens[who]) for r in gets} == dict.fromkeys(gets, 200)


def test_the_partner_list_shows_a_partner_token_its_own_entry_only(site: Site) -> None:
    own = site.get("/api/v1/partners", B)
    assert own.status_code == 200
    assert [p["id"] for p in own.json()] == [B]


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no Authorization header", {}),
        ("scheme without a token", {"Authorization": "Bearer"}),
        ("not a token", {"Authorization": "Bearer hello"}),
        ("token id with a wrong secret", None),
        ("token id alone", None),
        ("Basic auth with the token as password", None),
        ("SQL-ish token", {"Authorization": "Bearer mp_' OR '1'='1_x"}),
    ],
)
def test_no_valid_token_gets_401(site: Site, case: str, headers: dict[str, str] | None) -> None:
    token = site.tokens[A]
    prefix, token_id, _secret = token.split("_", 2)
    crafted = {
        "token id with a wrong secret": {"Authorization": f"Bearer {prefix}_{token_id}_AAAA"},
        "token id alone": {"Authorization": f"Bearer {prefix}_{token_id}_"},
        "Basic auth with the token as password": {},
    }
    auth = httpx.BasicAuth("x", token) if case.startswith("Basic") else None
    answer = httpx.get(
        f"{site.api}/api/v1/partners/{A}/devices",
        headers=headers if headers is not None else crafted[case],
        auth=auth,
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_is_refused_from_the_next_request_on(site: Site) -> None:
    token = site.cli("token", "issue", "--partner", A, "--label", "to revoke").stdout.strip()
    assert site.cli("token", "list").stdout.count(token.split("_")[1]) == 1
    assert httpx.get(f"{site.api}/api/v1/partners", headers=bearer(token)).status_code == 200

    site.cli("token", "revoke", token)

    assert httpx.get(f"{site.api}/api/v1/partners", headers=bearer(token)).status_code == 401
    assert token.split("_")[1] not in site.cli("token", "list").stdout
    assert site.cli("token", "revoke", token, check=False).returncode == 1


def test_token_list_never_shows_secrets_or_hashes(site: Site) -> None:
    listing = site.cli("token", "list", "--json").stdout
    for token in site.tokens.values():
        assert token.split("_", 2)[2] not in listing
    assert "sha256" not in listing
