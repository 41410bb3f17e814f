"""Which reads the access log records and who a read is attributed to (the store itself:
tests/integration/controlplane/test_access_log_store.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from access.tokens import OPERATOR, PARTNER, Principal
from api.access_log import grantee_entries, read_entry
from controlplane.access_log_tables import ALL_PARTNERS


def _read(principal: Principal, route: str, status: int = 200) -> dict[str, object] | None:
    return read_entry(
        at=datetime(2026, 12, 1, tzinfo=UTC),
        route_path=route,
        url_path="/x",
        path_params={"partner_id": "owner", "device_id": "dev-1"},
        query={"start": "2026-11-01T00:00:00Z", "secret": "not kept"},
        principal=principal,
        label="lbl",
        status=status,
    )


def test_who_read_is_named_by_role() -> None:
    route = "/api/v1/partners/{partner_id}/devices/{device_id}/telemetry"
    operator = _read(Principal(OPERATOR, None, "t-op"), route)
    owner = _read(Principal(PARTNER, "owner", "t-own"), route)
    grantee = _read(Principal(PARTNER, "other", "t-g"), route)
    refused = _read(Principal(PARTNER, "other", "t-g"), route, status=403)
    assert operator is not None and owner is not None and grantee is not None
    assert refused is not None
    roles = [e["role"] for e in (operator, owner, grantee, refused)]
    assert roles == ["operator", "partner", "grantee", "other partner"]
    assert owner["params"] == {"start": "2026-11-01T00:00:00Z"}
    assert owner["device"] == "dev-1"


def test_routes_without_partner_data_are_not_logged() -> None:
    assert _read(Principal(OPERATOR, None, "t"), "/healthz") is None
    assert _read(Principal(OPERATOR, None, "t"), "/api/v1/network/switches") is None
    report = _read(Principal(OPERATOR, None, "t"), "/api/v1/report")
    assert report is not None and report["partner"] == ALL_PARTNERS
    own = _read(Principal(PARTNER, "owner", "t"), "/api/v1/live")
    assert own is not None and (own["partner"], own["role"]) == ("owner", "partner")


def test_a_read_of_shared_devices_is_copied_to_each_owner() -> None:
    live = _read(Principal(PARTNER, "reader", "t"), "/api/v1/live")
    assert live is not None
    copies = grantee_entries(live, {"b-owner", "a-owner"})
    assert [(c["partner"], c["role"]) for c in copies] == [
        ("a-owner", "grantee"),
        ("b-owner", "grantee"),
    ]
