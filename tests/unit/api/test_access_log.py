"""The access log's file: rotation by size, newest first across files, paging and the
partner filter; and who a read is attributed to."""

from __future__ import annotations

import stat
from pathlib import Path

from access.tokens import OPERATOR, PARTNER, Principal
from api.access_log import ALL_PARTNERS, AccessLog, read_entry


def _entry(n: int, partner: str = "p-one") -> dict[str, object]:
    return {"time": f"2026-12-01T00:00:{n:02d}.000000Z", "partner": partner, "n": n}


def test_rotates_by_size_and_reads_newest_first_across_files(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "access" / "access.jsonl", max_bytes=200, keep=3)
    for n in range(12):
        log.append(_entry(n))
    assert log._numbered(1).exists()
    numbers = [e["n"] for e in log.newest_first()]
    assert numbers == sorted(numbers, reverse=True)
    assert numbers[0] == 11
    assert stat.S_IMODE(log._numbered(1).stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700


def test_pages_by_partner_and_window(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "access.jsonl")
    for n in range(10):
        log.append(_entry(n, "p-one" if n % 2 else "p-two"))
    log.append(_entry(10, ALL_PARTNERS))
    first, more = log.page("p-one", None, None, 0, 3)
    assert [e["n"] for e in first] == [10, 9, 7] and more
    rest, more = log.page("p-one", None, None, 3, 3)
    assert [e["n"] for e in rest] == [5, 3, 1] and not more
    window, _ = log.page(
        "p-one", "2026-12-01T00:00:03.000000Z", "2026-12-01T00:00:08.000000Z", 0, 10
    )
    assert [e["n"] for e in window] == [7, 5, 3]


def test_a_cut_line_is_skipped(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "access.jsonl")
    log.append(_entry(1))
    with log.path.open("a") as handle:
        handle.write('{"time": "2026-12-01T00:00:0')
    assert [e["n"] for e in log.newest_first()] == [1]


def _read(principal: Principal, route: str, status: int = 200) -> dict[str, object] | None:
    return read_entry(
        at="2026-12-01T00:00:00.000000Z",
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
    assert _read(Principal(OPERATOR, None, "t"), "/api/v1/platform") is None
    report = _read(Principal(OPERATOR, None, "t"), "/api/v1/report")
    assert report is not None and report["partner"] == ALL_PARTNERS
