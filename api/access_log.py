"""The access log's entries: which reads are of a partner's data, and what an entry says.

Kept off InfluxDB on purpose: a read must not cost a write to the store it reads, and the log
must not vanish with the raw retention. The entries go to the control-plane database, shared by
every API host, in batches off the request path (controlplane/access_log.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from access.tokens import Principal
from controlplane.access_log_tables import ALL_PARTNERS

LOGGED_PREFIX = "/api/v1/partners/{partner_id}"
LOGGED_ROUTES = frozenset(
    (
        "/api/v1/report",
        "/api/v1/partners",
        "/api/v1/live",
        "/api/v1/platform",
        "/api/v1/grants",
        # The registry's reads: a partner's devices, ports, maintenance and audit are its data too.
        "/api/v1/devices",
        "/api/v1/ports",
        "/api/v1/maintenance",
        "/api/v1/audit",
        "/api/v1/alerts",
    )
)
"""Routes without a partner in their path that answer with partners' data: the caller's own
partner's (a partner token) or every partner's (the operator: partner "*")."""
WINDOW_PARAMS = ("start", "end", "month", "every", "metric", "kind", "device", "format")


def read_entry(
    *,
    at: datetime,
    route_path: str,
    url_path: str,
    path_params: dict[str, Any],
    query: dict[str, str],
    principal: Principal,
    label: str,
    status: int,
) -> dict[str, Any] | None:
    """The log entry of one GET, or None when the route returns no partner's data (a 304 Not
    Modified returns none either: the dashboard's live poll asks every 2 s)."""
    if status == 304:
        return None
    if route_path.startswith(LOGGED_PREFIX):
        partner = str(path_params.get("partner_id", ""))
    elif route_path in LOGGED_ROUTES or route_path.startswith("/api/v1/alerts/"):
        asked = query.get("partner")  # a listing narrowed to one partner (`?partner=`)
        partner = principal.partner or (asked[:32] if asked else ALL_PARTNERS)
    else:
        return None
    if principal.is_operator:
        role = "operator"
    elif principal.partner == partner or partner == ALL_PARTNERS:
        role = "partner"
    elif status < 400:
        role = "grantee"  # through a grant: the route let it through (api/deps.py)
    else:
        role = "other partner"  # refused; logged so the partner sees who tried
    device = path_params.get("device_id") or query.get("device")
    return {
        "at": at,
        "partner": partner,
        "token_id": principal.token_id,
        "label": label,
        "role": role,
        "reader_partner": principal.partner,
        "endpoint": route_path,
        "path": url_path,
        "device": None if device is None else str(device)[:200],
        "params": {k: query[k][:200] for k in WINDOW_PARAMS if k in query},
        "status": status,
    }


def grantee_entries(entry: dict[str, Any], owners: set[str]) -> list[dict[str, Any]]:
    """Copies of a partner's read of a route that also answers with devices shared with it
    (/live), one per owner of such a device: the owner sees the grantee's read."""
    return [{**entry, "partner": owner, "role": "grantee"} for owner in sorted(owners)]
