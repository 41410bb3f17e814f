"""The access log: who read which partner's data through the API, when and through what.

Kept off InfluxDB on purpose: a read must not cost a write to the store it reads, and the log
must not vanish with the raw retention. One JSON line per read, appended (O_APPEND, one write,
no fsync: a crash may lose the last lines, never corrupt earlier ones) to
`<data dir>/access/access.jsonl`, owner-only (0600). Past `max_bytes` the file is rotated
(`.1` … `.<keep>`, oldest dropped) under the file's lock, so several API processes share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from access.tokens import Principal
from core.files import locked, private_dir

ALL_PARTNERS = "*"
"""The partner of a read that covered every partner (the operator's monthly report)."""


class AccessLog:
    def __init__(self, path: Path, *, max_bytes: int = 10_000_000, keep: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep

    def append(self, entry: dict[str, Any]) -> None:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, orjson.dumps(entry) + b"\n")
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        with locked(self.path):
            try:
                if self.path.stat().st_size <= self.max_bytes:
                    return  # another process rotated it meanwhile
            except FileNotFoundError:
                return
            for n in range(self.keep - 1, 0, -1):
                older = self._numbered(n)
                if older.exists():
                    older.replace(self._numbered(n + 1))
            self.path.replace(self._numbered(1))

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def newest_first(self) -> Iterator[dict[str, Any]]:
        """Every entry, newest first: the current file, then `.1`, `.2` …"""
        for path in (self.path, *(self._numbered(n) for n in range(1, self.keep + 1))):
            try:
                lines = path.read_bytes().splitlines()
            except FileNotFoundError:
                continue
            for line in reversed(lines):
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut by a crash; the others stand
                if isinstance(entry, dict):
                    yield entry

    def page(
        self, partner: str, start: str | None, end: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Entries about `partner` (or all partners) with start <= time < end, newest first;
        and whether more follow. Times compare as RFC 3339 UTC text of one fixed width."""
        out: list[dict[str, Any]] = []
        skipped = 0
        for entry in self.newest_first():
            if entry.get("partner") not in (partner, ALL_PARTNERS):
                continue
            at = str(entry.get("time", ""))
            if end is not None and at >= end:
                continue
            if start is not None and at < start:
                break
            if skipped < offset:
                skipped += 1
                continue
            if len(out) == limit:
                return out, True
            out.append(entry)
        return out, False


LOGGED_PREFIX = "/api/v1/partners/{partner_id}"
LOGGED_ROUTES = frozenset(("/api/v1/report",))
WINDOW_PARAMS = ("start", "end", "month", "every", "metric", "kind", "device", "format")


def read_entry(
    *,
    at: str,
    route_path: str,
    url_path: str,
    path_params: dict[str, Any],
    query: dict[str, str],
    principal: Principal,
    label: str,
    status: int,
) -> dict[str, Any] | None:
    """The log entry of one GET, or None when the route returns no partner's data."""
    if route_path.startswith(LOGGED_PREFIX):
        partner = str(path_params.get("partner_id", ""))
    elif route_path in LOGGED_ROUTES:
        partner = principal.partner or ALL_PARTNERS
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
        "time": at,
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
