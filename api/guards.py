"""Defences that act before a route runs: security headers on every answer, and a
per-address count of failed logins.

The request-body limit is FastAPI's own (`FastAPI(max_body_size=...)`, Starlette's
RequestBodyLimitMiddleware, set in api/app.py): it sits outside every route, so it acts before
authentication, which matters because FastAPI reads a route's JSON body *before* it solves the
route's dependencies — two unauthenticated 250 MB POSTs once took the API to 1.3 GB. A declared
Content-Length over the limit is answered 413 at the first read, before a byte of the body is
taken; a chunked body is counted as it streams and cut off at the limit.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What the dashboard needs and nothing more: its own scripts, styles, images and fetches;
# no inline script or style (the pages have none), no plug-ins, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP level 2
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP answer: pages, JSON, errors and 404s alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AttemptLimiter:
    """At most `max_attempts` counted events per key in a sliding `window_s`.

    Keyed by the client's address, it limits failed logins: past the limit that address gets
    429 until its oldest failure leaves the window — on every request, a correct token
    included, or a guesser would learn which guess was right. Other addresses are untouched, so
    an attacker can lock out only itself. IPv6 clients count per /64, the block one host
    usually holds. Memory is bounded: at most `max_keys` addresses, least recent dropped first.
    """

    def __init__(
        self,
        max_attempts: int,
        window_s: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_attempts = max_attempts
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until `key` may try again, or None when it may now."""
        events = self._recent(key)
        if events is None or len(events) < self.max_attempts:
            return None
        return max(1, math.ceil(events[0] + self.window_s - self._clock()))

    def record(self, key: str) -> None:
        events = self._recent(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self.max_attempts)
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        events.append(self._clock())
        self._events.move_to_end(key)

    def _recent(self, key: str) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        horizon = self._clock() - self.window_s
        while events and events[0] <= horizon:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events


def client_key(host: str | None) -> str:
    """The address a limit counts against: IPv4 as is, IPv6 by its /64."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
