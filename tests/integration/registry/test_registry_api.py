"""The registry's API on both databases: every write route leaves an audit entry (enumerated from
the OpenAPI document, so a new write route without a case here fails), scopes, the answers
404/409/422 naming the field, paging, and file mode refusing writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.app import create_app
from tests.integration.registry.conftest import A, Api, B

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
NEW = "acme-fibre"
SOON = datetime.now(UTC) + timedelta(days=7)

Call = Callable[[httpx.AsyncClient, dict[str, str], dict[str, Any]], Awaitable[httpx.Response]]


def write_routes(api: Api) -> set[tuple[str, str]]:
    spec = create_app(api.settings, api.registry).openapi()
    return {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if method.upper() in WRITE_METHODS
    }


# One call per write route, in an order where each finds what it needs. `ctx` carries ids.
async def _window_add(c: httpx.AsyncClient, h: dict[str, str], ctx: dict[str, Any]) -> Any:
    r = await c.post(
        "/api/v1/maintenance",
        headers=h,
        json={
            "partner": NEW,
            "start": SOON.isoformat(),
            "end": (SOON + timedelta(hours=1)).isoformat(),
        },
    )
    ctx["window"] = r.json().get("id")
    return r


async def _grant_add(c: httpx.AsyncClient, h: dict[str, str], ctx: dict[str, Any]) -> Any:
    r = await c.post(
        f"/api/v1/partners/{A}/grants",
        headers=h,
        json={"grantee": B, "devices": ["aq-spuiboulevard"], "purpose": "audit test"},
    )
    ctx["grant"] = r.json()["created"][0]["id"]
    return r


async def _erasure_ask(c: httpx.AsyncClient, h: dict[str, str], ctx: dict[str, Any]) -> Any:
    r = await c.post(
        f"/api/v1/partners/{A}/erasure-requests",
        headers=h,
        json={"device": "aq-spuiboulevard", "reason": "audit test"},
    )
    ctx["erasure"] = r.json()["id"]
    return r


LOGIN = f"/api/v1/partners/{A}/devices/aq-spuiboulevard/login"

CASES: list[tuple[str, str, Call]] = [
    (
        "POST",
        "/api/v1/partners/{partner_id}/devices/{device_id}/login",
        lambda c, h, x: c.post(LOGIN, headers=h),
    ),
    (
        "DELETE",
        "/api/v1/partners/{partner_id}/devices/{device_id}/login",
        lambda c, h, x: c.delete(LOGIN, headers=h),
    ),
    (
        "POST",
        "/api/v1/partners/{partner_id}/device-logins",
        lambda c, h, x: c.post(
            f"/api/v1/partners/{A}/device-logins", headers=h, json={"devices": ["aq-merwekade"]}
        ),
    ),
    (
        "POST",
        "/api/v1/partners/{partner_id}/gateways",
        lambda c, h, x: c.post(
            f"/api/v1/partners/{A}/gateways", headers=h, json={"label": "gw-audit"}
        ),
    ),
    (
        "DELETE",
        "/api/v1/partners/{partner_id}/gateways/{label}",
        lambda c, h, x: c.delete(f"/api/v1/partners/{A}/gateways/gw-audit", headers=h),
    ),
    ("POST", "/api/v1/partners/{partner_id}/erasure-requests", _erasure_ask),
    (
        "POST",
        "/api/v1/partners/{partner_id}/erasure-requests/{request_id}/confirm",
        lambda c, h, x: c.post(
            f"/api/v1/partners/{A}/erasure-requests/{x['erasure']}/confirm", headers=h
        ),
    ),
    (
        "POST",
        "/api/v1/partners",
        lambda c, h, x: c.post(
            "/api/v1/partners", headers=h, json={"id": NEW, "name": "Acme Fibre"}
        ),
    ),
    (
        "PATCH",
        "/api/v1/partners/{partner_id}",
        lambda c, h, x: c.patch(f"/api/v1/partners/{NEW}", headers=h, json={"device_quota": 5}),
    ),
    (
        "POST",
        "/api/v1/ports",
        lambda c, h, x: c.post(
            "/api/v1/ports",
            headers=h,
            json={"switch": "acme-sw-1", "port": "ge-0-0-1", "partner": NEW, "capacity_mbps": 100},
        ),
    ),
    (
        "PATCH",
        "/api/v1/ports/{switch}/{port}",
        lambda c, h, x: c.patch(
            "/api/v1/ports/acme-sw-1/ge-0-0-1", headers=h, json={"capacity_mbps": 1000}
        ),
    ),
    (
        "POST",
        "/api/v1/partners/{partner_id}/devices",
        lambda c, h, x: c.post(
            f"/api/v1/partners/{NEW}/devices", headers=h, json={"id": "meter-1", "port": "ge-0-0-1"}
        ),
    ),
    (
        "PATCH",
        "/api/v1/partners/{partner_id}/devices/{device_id}",
        lambda c, h, x: c.patch(
            f"/api/v1/partners/{NEW}/devices/meter-1", headers=h, json={"interval_s": 300}
        ),
    ),
    (
        "DELETE",
        "/api/v1/partners/{partner_id}/devices/{device_id}",
        lambda c, h, x: c.delete(f"/api/v1/partners/{NEW}/devices/meter-1", headers=h),
    ),
    (
        "DELETE",
        "/api/v1/ports/{switch}/{port}",
        lambda c, h, x: c.delete("/api/v1/ports/acme-sw-1/ge-0-0-1", headers=h),
    ),
    ("POST", "/api/v1/maintenance", _window_add),
    (
        "PATCH",
        "/api/v1/maintenance/{window_id}",
        lambda c, h, x: c.patch(
            f"/api/v1/maintenance/{x['window']}", headers=h, json={"reason": "splicing"}
        ),
    ),
    (
        "DELETE",
        "/api/v1/maintenance/{window_id}",
        lambda c, h, x: c.delete(f"/api/v1/maintenance/{x['window']}", headers=h),
    ),
    (
        "DELETE",
        "/api/v1/partners/{partner_id}",
        lambda c, h, x: c.delete(f"/api/v1/partners/{NEW}", headers=h),
    ),
    ("POST", "/api/v1/partners/{partner_id}/grants", _grant_add),
    (
        "DELETE",
        "/api/v1/partners/{partner_id}/grants/{grant_id}",
        lambda c, h, x: c.delete(f"/api/v1/partners/{A}/grants/{x['grant']}", headers=h),
    ),
]


NOT_REGISTRY_CHANGES = {
    ("POST", "/api/v1/alerts/{alert_id}/ack"): "kept in the alert's own history (who, when, "
    "comment: GET /api/v1/alerts/{id}), tested in tests/integration/alert/",
}
"""Write routes that change no control-plane record the audit is for, and where their trail is."""


def test_every_write_route_is_audited(api: Api) -> None:
    covered = {(method, path) for method, path, _ in CASES} | set(NOT_REGISTRY_CHANGES)
    missing = write_routes(api) - covered
    assert not missing, f"write routes without an audit case here: {sorted(missing)}"

    async def body(c: httpx.AsyncClient) -> None:
        h = api.headers("operator")
        ctx: dict[str, Any] = {}
        for method, path, call in CASES:
            before = (await c.get("/api/v1/audit", headers=h, params={"limit": 1})).json()
            response = await call(c, h, ctx)
            assert response.status_code in (200, 201), (method, path, response.text)
            after = (await c.get("/api/v1/audit", headers=h, params={"limit": 1})).json()
            newest = after["items"][0]
            assert not before["items"] or newest["id"] > before["items"][0]["id"], (method, path)
            assert "operator" in newest["actor"] and "ops desk" in newest["actor"]

    api.run(body)


def test_device_lifecycle_and_answers(api: Api) -> None:
    async def body(c: httpx.AsyncClient) -> None:
        h = api.headers("operator")
        base = f"/api/v1/partners/{A}/devices"
        made = await c.post(
            base, headers=h, json={"id": "aq-new", "kind": "air-quality", "port": "xe-0-0-2"}
        )
        assert made.status_code == 201 and made.json()["port"] == "xe-0-0-2"
        bad = await c.post(base, headers=h, json={"id": "aq-bad", "port": "xe-9-9-9"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "port"]
        assert "not one of" in bad.json()["detail"][0]["msg"]
        shape = await c.post(base, headers=h, json={"id": "aq-x", "colour": "red"})
        assert shape.status_code == 422
        again = await c.post(base, headers=h, json={"id": "aq-new"})
        assert again.status_code == 409 and "already exists" in again.json()["detail"]
        unknown = await c.post("/api/v1/partners/nobody-here/devices", headers=h, json={"id": "x"})
        assert unknown.status_code == 404
        later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        moved = await c.patch(
            f"{base}/aq-new", headers=h, json={"interval_s": 120, "effective_from": later}
        )
        assert moved.status_code == 200 and "interval_s 60 → 120" in moved.json()["changes"][0]
        detail = (await c.get(f"{base}/aq-new", headers=h)).json()
        assert detail["interval_s"] == 60  # not yet
        assert [t["interval_s"] for t in detail["history"]] == [60, 120]
        early = await c.delete(f"{base}/aq-new", headers=h)
        assert early.status_code == 409 and "after it" in early.json()["detail"]
        gone = await c.delete(
            f"{base}/aq-new",
            headers=h,
            params={"effective_from": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
        )
        assert gone.status_code == 200
        reuse_after = await c.post(base, headers=h, json={"id": "aq-new"})
        assert reuse_after.status_code == 409

    api.run(body)


def test_partner_scopes(api: Api) -> None:
    async def body(c: httpx.AsyncClient) -> None:
        a, b, op = api.headers(A), api.headers(B), api.headers("operator")
        # Partner A: no quota set → no self-service.
        r = await c.post(f"/api/v1/partners/{A}/devices", headers=a, json={"id": "own-1"})
        assert r.status_code == 403
        # Another partner's devices: 403 whether they exist or not.
        r = await c.post(f"/api/v1/partners/{B}/devices", headers=a, json={"id": "x-1"})
        assert r.status_code == 403
        r = await c.get(f"/api/v1/partners/{B}/devices/heat-crabbehof-01", headers=a)
        assert r.status_code == 403
        r = await c.post("/api/v1/partners", headers=a, json={"id": "mine-too", "name": "M"})
        assert r.status_code == 403
        r = await c.post(
            "/api/v1/ports",
            headers=a,
            json={"switch": "s-1", "port": "p-1", "partner": A, "capacity_mbps": 1},
        )
        assert r.status_code == 403
        # The operator allows up to 6 devices in all (5 listed), of one kind.
        r = await c.patch(
            f"/api/v1/partners/{A}",
            headers=op,
            json={"device_quota": 6, "allowed_kinds": ["noise"]},
        )
        assert r.status_code == 200
        r = await c.post(
            f"/api/v1/partners/{A}/devices", headers=a, json={"id": "own-1", "kind": "noise"}
        )
        assert r.status_code == 201
        r = await c.post(
            f"/api/v1/partners/{A}/devices", headers=a, json={"id": "own-2", "kind": "camera"}
        )
        # A kind the partner may not register: a body it can fix, 422 naming the field.
        assert r.status_code == 422 and "kind" in str(r.json()["detail"])
        r = await c.post(
            f"/api/v1/partners/{A}/devices", headers=a, json={"id": "own-3", "kind": "noise"}
        )
        assert r.status_code == 403 and "quota" in r.json()["detail"]  # 5 listed + own-1 = 6
        r = await c.delete(f"/api/v1/partners/{A}/devices/own-1", headers=a)
        assert r.status_code == 200
        # Listing and audit: own only.
        page = (await c.get("/api/v1/devices", headers=b, params={"limit": 1000})).json()
        assert page["items"] and {d["partner"] for d in page["items"]} == {B}
        assert (await c.get("/api/v1/devices", headers=b, params={"partner": A})).status_code == 403
        logged = (await c.get("/api/v1/audit", headers=a, params={"limit": 1000})).json()["items"]
        assert logged and {e["partner"] for e in logged} == {A}
        assert (await c.get("/api/v1/audit", headers=a, params={"partner": B})).status_code == 403
        assert (await c.post("/api/v1/audit", headers=op)).status_code == 405  # never editable

    api.run(body)


def test_device_listing_pages(api: Api) -> None:
    async def body(c: httpx.AsyncClient) -> None:
        h = api.headers("operator")
        seen: list[str] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 4}
            if after:
                params["after"] = after
            page = (await c.get("/api/v1/devices", headers=h, params=params)).json()
            seen += [f"{d['partner']}/{d['id']}" for d in page["items"]]
            after = page["next_after"]
            if after is None:
                break
        expected = sorted(f"{p.id}/{d.id}" for p, d in api.registry.devices())
        assert seen == expected

    api.run(body)


def test_file_mode_refuses_writes(file_mode_api: Api) -> None:
    async def body(c: httpx.AsyncClient) -> None:
        h = file_mode_api.headers("operator")
        r = await c.post(f"/api/v1/partners/{A}/devices", headers=h, json={"id": "x-1"})
        assert r.status_code == 409
        assert "partners file" in r.json()["detail"] and "registry apply" in r.json()["detail"]
        r = await c.delete(f"/api/v1/partners/{B}", headers=h)
        assert r.status_code == 409
        assert (await c.get("/api/v1/devices", headers=h)).status_code == 200  # reads still fine

    file_mode_api.run(body)
