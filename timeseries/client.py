"""A small client for InfluxDB's v1 HTTP API: `/write` (line protocol) and `/query` (InfluxQL).

Why v1 and not `influxdb-client`: Debian's InfluxDB is 1.6, which has no /api/v2, and the v1 API
is served by 1.x, 2.x (DBRP compat) and 3.x alike (SPEC). Errors are translated where they enter
into three exceptions, each saying whether a retry can help.

The write policy (which `/write` answer means what, and what the writer does about it) is
stated once, in timeseries/write_policy.py; `raise_for_write` applies it here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from timeseries.write_policy import WriteAction, write_action

ParamValue = str | int | float | bool


class StoreError(Exception):
    retryable = False


class StoreUnavailable(StoreError):
    """InfluxDB did not answer or answered that it cannot take the request now."""

    retryable = True

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreRejected(StoreError):
    """InfluxDB refused (part of) the data; repeating the same request cannot help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class StoreUnauthorized(StoreError):
    """Credentials are wrong or missing: an operator must act."""


class StoreForbidden(StoreUnauthorized):
    """The login is right but may not do this (403: e.g. a write-only login reading, or a
    non-admin creating a database)."""


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    columns: list[str]
    values: list[list[Any]]
    tags: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


def raise_for_write(status: int, body: bytes, headers: Mapping[str, str]) -> None:
    """Apply the write policy (timeseries/write_policy.py) to one `/write` response."""
    action = write_action(status)
    if action is WriteAction.STORED:
        return
    message = _error_text(body) or f"HTTP {status}"
    if action is WriteAction.FAIL_LOUDLY:
        if status == 403:
            raise StoreForbidden(f"InfluxDB refused the write to this login: {message}")
        raise StoreUnauthorized(f"InfluxDB refused the credentials: {message}")
    if action in (WriteAction.SPLIT, WriteAction.RECREATE_SCHEMA):
        raise StoreRejected(message, status)
    retry_after = _retry_after(headers.get("retry-after"))
    raise StoreUnavailable(f"InfluxDB answered {status}: {message}", retry_after)


def parse_query_response(status: int, body: bytes) -> list[list[Series]]:
    """Series per statement; an error in any statement raises."""
    if status == 403:
        raise StoreForbidden(f"InfluxDB refused this login the query: {_error_text(body)}")
    if status == 401:
        raise StoreUnauthorized(f"InfluxDB refused the credentials: {_error_text(body)}")
    if status >= 500 or status == 429:
        raise StoreUnavailable(f"InfluxDB answered {status}: {_error_text(body)}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise StoreUnavailable(f"InfluxDB sent a non-JSON answer ({status})") from exc
    if not isinstance(doc, dict):
        raise StoreUnavailable(f"InfluxDB sent an unexpected answer ({status}): {body[:100]!r}")
    if status >= 400 or "error" in doc:
        raise StoreRejected(str(doc.get("error", f"HTTP {status}")), status)
    results: list[list[Series]] = []
    for result in doc.get("results", []):
        if "error" in result:
            raise StoreRejected(str(result["error"]), status)
        results.append(
            [
                Series(
                    name=s.get("name", ""),
                    columns=s.get("columns", []),
                    values=s.get("values", []),
                    tags=s.get("tags") or {},
                )
                for s in result.get("series", [])
            ]
        )
    return results


def _error_text(body: bytes) -> str:
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and "error" in doc:
            return str(doc["error"])
    except orjson.JSONDecodeError:
        pass
    return body[:300].decode("utf-8", "replace").strip()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class _Base:
    def __init__(
        self,
        url: str,
        db: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.db = db
        self._auth = (username, password or "") if username else None
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))

    def _write_params(self, rp: str | None) -> dict[str, str]:
        params = {"db": self.db, "precision": "ns"}
        if rp:
            params["rp"] = rp
        return params

    def _query_params(
        self, q: str, params: Mapping[str, ParamValue] | None, epoch: str | None, db: bool
    ) -> dict[str, str]:
        # Bound parameters ($name) keep identifiers and values from the URL out of the query
        # text; InfluxDB substitutes them after parsing, so no quoting can break out.
        out = {"q": q}
        if db:
            out["db"] = self.db
        if epoch:
            out["epoch"] = epoch
        if params:
            out["params"] = orjson.dumps(dict(params)).decode()
        return out


class InfluxClient(_Base):
    """Blocking client, one kept-alive connection; for the ingest writer and the CLI."""

    def __init__(
        self, url: str, db: str, *, transport: httpx.BaseTransport | None = None, **kwargs: Any
    ) -> None:
        """`transport` replaces the network, for tests of the write policy only."""
        super().__init__(url, db, **kwargs)
        self._http = httpx.Client(timeout=self._timeout, auth=self._auth, transport=transport)

    def close(self) -> None:
        self._http.close()

    def ping(self) -> bool:
        try:
            return self._http.get(f"{self.url}/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def write(self, body: bytes, *, rp: str | None = None) -> None:
        try:
            resp = self._http.post(f"{self.url}/write", params=self._write_params(rp), content=body)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc!r}") from exc
        raise_for_write(resp.status_code, resp.content, resp.headers)

    def query(
        self,
        q: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        epoch: str | None = "ns",
        db: bool = True,
    ) -> list[list[Series]]:
        try:
            resp = self._http.post(
                f"{self.url}/query", data=self._query_params(q, params, epoch, db)
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc!r}") from exc
        return parse_query_response(resp.status_code, resp.content)


class AsyncInfluxClient(_Base):
    """Non-blocking twin for the API; lives on `app.state` for the app's lifetime."""

    def __init__(self, url: str, db: str, **kwargs: Any) -> None:
        super().__init__(url, db, **kwargs)
        self._http = httpx.AsyncClient(timeout=self._timeout, auth=self._auth)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ping(self) -> bool:
        try:
            return (await self._http.get(f"{self.url}/ping")).status_code == 204
        except httpx.HTTPError:
            return False

    async def query(
        self,
        q: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        epoch: str | None = "ns",
    ) -> list[list[Series]]:
        try:
            resp = await self._http.post(
                f"{self.url}/query", data=self._query_params(q, params, epoch, True)
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc!r}") from exc
        return parse_query_response(resp.status_code, resp.content)


def first_series(results: Sequence[list[Series]]) -> list[Series]:
    return results[0] if results else []


class Statements:
    """Many InfluxQL statements, each with its own bound parameters, sent in a few requests.

    One round trip instead of one per statement is what keeps the deriver and the analytics
    fast. Each statement's `$name`s are renamed `$name_<k>` (k: its number), so statements
    never see each other's values.
    """

    def __init__(self, per_request: int = 400) -> None:
        self.per_request = per_request
        self._statements: list[tuple[str, dict[str, ParamValue]]] = []

    def __len__(self) -> int:
        return len(self._statements)

    def add(self, statement: str, **params: ParamValue) -> int:
        """Queue one statement; returns the index of its result."""
        self._statements.append((statement, params))
        return len(self._statements) - 1

    def requests(self) -> Iterator[tuple[str, dict[str, ParamValue]]]:
        """(query text, parameters) of each request, in order."""
        for a in range(0, len(self._statements), self.per_request):
            texts, merged = [], {}
            for k, (text, params) in enumerate(self._statements[a : a + self.per_request]):
                for name in sorted(params, key=len, reverse=True):
                    text = re.sub(rf"\${name}(?![A-Za-z0-9_])", f"${name}_{k}", text)
                    merged[f"{name}_{k}"] = params[name]
                texts.append(text)
            yield "; ".join(texts), merged

    def run(self, client: InfluxClient) -> list[list[Series]]:
        return [result for q, params in self.requests() for result in client.query(q, params)]

    async def run_async(self, client: AsyncInfluxClient) -> list[list[Series]]:
        results: list[list[Series]] = []
        for q, params in self.requests():
            results += await client.query(q, params)
        return results
