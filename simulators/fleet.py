"""Many MQTT connections in one thread: paho clients driven by one selector (epoll on Linux).

A thread per client (paho's `loop_start`) does not scale to a network's worth of devices: a
thousand threads spend their time in the scheduler. Here each paho client is driven through
its external-loop interface (`loop_read`, `loop_write`, `loop_misc`): the selector reports
which sockets are readable or writable and only those clients are touched. Publishing writes
straight to the socket (paho does that when no loop thread runs), so a publish costs one
`send`.

QoS 1 messages in flight are counted per connection (acks arrive through `on_publish`), so
callers can bound them: paho 2.2.0 stalls silently beyond 65,535 unacknowledged messages on
one connection and slows down badly with about a thousand.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0


@dataclass(eq=False)
class Link:
    """One MQTT connection of the fleet (a device, the collector, or a replay scope)."""

    key: str
    client_id: str
    username: str
    password: str
    will: tuple[str, bytes] | None
    client: mqtt.Client | None = None
    mids: set[int] = field(default_factory=set)
    """Message ids of QoS 1+ publishes not acknowledged yet."""
    connected: bool = False
    closing: bool = False
    """A close or drop was asked for: losing the connection is expected."""
    writing: bool = False
    retry_at: float | None = None
    backoff: float = RECONNECT_MIN_S
    refused: str | None = None
    lost: int = 0
    connections: int = 0

    @property
    def pending(self) -> int:
        return len(self.mids)


class Fleet:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        keepalive_s: int = 60,
        inflight: int = 20,
        on_reconnect: Callable[[str], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.keepalive_s = keepalive_s
        self.inflight = inflight
        self.on_reconnect = on_reconnect
        self.selector = selectors.DefaultSelector()
        self.links: dict[str, Link] = {}
        self.pending = 0
        self.published = 0
        self.acked = 0
        self.errors: Counter[str] = Counter()
        self._last_misc = time.monotonic()

    # --- connections -------------------------------------------------------------------

    def open(
        self,
        key: str,
        client_id: str,
        credentials: tuple[str, str],
        will: tuple[str, bytes] | None = None,
    ) -> Link:
        """Connect (a fresh session, with this Last Will: retained, QoS 1).

        A key used before gets a new connection with client id `client_id.N`: a new session
        under the old id could take over one the broker has not finished closing, and a
        takeover fires the old Last Will. A dropped connection is first waited out (until
        the broker closes it, after publishing its will), so the will precedes what follows.
        """
        old = self.links.get(key)
        connections = 1
        if old is not None:
            connections = old.connections + 1
            deadline = time.monotonic() + 5.0
            while old.client is not None and old.client.socket() is not None:
                if time.monotonic() > deadline:
                    self.errors["old connection did not close"] += 1
                    break
                self.service(0.01)
        cid = client_id if connections == 1 else f"{client_id}.{connections}"
        link = Link(key, cid, credentials[0], credentials[1], will, connections=connections)
        self.links[key] = link
        self._connect(link, self._new_client(link))
        return link

    def close(self, key: str) -> None:
        """Clean disconnect: DISCONNECT is sent, so the broker discards the Last Will. What was
        published is acknowledged first, so it is delivered before anything that follows."""
        link = self.links[key]
        deadline = time.monotonic() + 5.0
        while link.mids and link.client and link.client.socket() and time.monotonic() < deadline:
            self.service(0.01)
        link.closing = True
        link.retry_at = None
        if link.client is not None:
            link.client.disconnect()
            self._write_interest(link)
        self._forget_pending(link)

    def drop(self, key: str, timeout_s: float = 5.0) -> None:
        """Unclean disconnect: what was published is flushed, then the socket is shut without
        DISCONNECT, so the broker publishes the Last Will (after the earlier messages)."""
        link = self.links[key]
        link.closing = True
        link.retry_at = None
        client = link.client
        if client is None or client.socket() is None:
            return
        deadline = time.monotonic() + timeout_s
        while client.want_write() and time.monotonic() < deadline:
            client.loop_write()
            if client.want_write():
                time.sleep(0.001)
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Half-close: our data and then FIN reach the broker in order; it sees the stream
            # end without DISCONNECT and fires the will. (A plain close() with unread acks in
            # the buffer would send RST and could lose data.)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        self._forget_pending(link)

    def is_up(self, key: str) -> bool:
        link = self.links.get(key)
        return link is not None and link.connected

    def alive(self, key: str) -> bool:
        """Open or opening, and not refused: acks may still come."""
        link = self.links.get(key)
        return (
            link is not None
            and link.client is not None
            and link.refused is None
            and (link.client.socket() is not None or link.retry_at is not None)
        )

    def close_all(self, timeout_s: float = 10.0) -> None:
        for link in self.links.values():
            if link.client is not None and link.client.socket() is not None and not link.closing:
                self.close(link.key)
        deadline = time.monotonic() + timeout_s
        while self.selector.get_map() and time.monotonic() < deadline:
            self.service(0.05)
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()

    # --- publishing --------------------------------------------------------------------

    def publish(
        self, key: str, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> bool:
        """Queue and (normally at once) send a message; False if the link cannot take it."""
        link = self.links.get(key)
        if link is None or link.client is None or link.closing or link.refused:
            self.errors["not connected"] += 1
            return False
        info = link.client.publish(topic, payload, qos, retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self.errors[f"publish: {mqtt.error_string(info.rc)}"] += 1
            return False
        self.published += 1
        if qos:
            link.mids.add(info.mid)
            self.pending += 1
        if not link.writing and link.client.want_write():
            self._write_interest(link)
        return True

    def pending_of(self, key: str) -> int:
        link = self.links.get(key)
        return link.pending if link is not None else 0

    # --- the loop ----------------------------------------------------------------------

    def service(self, timeout: float) -> None:
        """Wait up to `timeout` for socket events and handle them; keepalive and reconnects
        are looked after about once a second."""
        if self.selector.get_map():
            events = self.selector.select(timeout)
        else:
            events = []
            if timeout > 0:
                time.sleep(timeout)
        for sel_key, mask in events:
            link: Link = sel_key.data
            client = link.client
            if client is None:
                continue
            if mask & selectors.EVENT_READ:
                client.loop_read()
            if client.socket() is not None and (
                mask & selectors.EVENT_WRITE or client.want_write()
            ):
                client.loop_write()
            if client.socket() is not None:
                self._write_interest(link)
        now = time.monotonic()
        if now - self._last_misc >= 1.0:
            self._last_misc = now
            self._housekeeping(now)

    def flush(self, timeout_s: float) -> bool:
        """Service until every QoS 1 message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.pending > 0 and time.monotonic() < deadline:
            self.service(0.05)
        return self.pending == 0

    def _housekeeping(self, now: float) -> None:
        for link in list(self.links.values()):
            client = link.client
            if client is None:
                continue
            if client.socket() is not None:
                client.loop_misc()
                if client.socket() is not None:
                    self._write_interest(link)
            elif link.retry_at is not None and now >= link.retry_at:
                self._reconnect(link)

    # --- paho plumbing -----------------------------------------------------------------

    def _new_client(self, link: Link) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=link.client_id, clean_session=True
        )
        client.username_pw_set(link.username, link.password)
        client.max_inflight_messages_set(self.inflight)
        if link.will is not None:
            client.will_set(link.will[0], link.will[1], qos=1, retain=True)
        client.user_data_set(link)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _connect(self, link: Link, client: mqtt.Client) -> None:
        link.client = client
        try:
            client.connect(self.host, self.port, keepalive=self.keepalive_s)
        except OSError as exc:
            self.errors[f"connect: {exc.strerror or exc}"] += 1
            self._retry_later(link)
            return
        self._write_interest(link)

    def _reconnect(self, link: Link) -> None:
        link.retry_at = None
        assert link.client is not None
        try:
            # The same client: paho sends its unacknowledged QoS 1 messages again.
            link.client.reconnect()
        except OSError as exc:
            self.errors[f"connect: {exc.strerror or exc}"] += 1
            self._retry_later(link)
            return
        self._write_interest(link)

    def _retry_later(self, link: Link) -> None:
        link.retry_at = time.monotonic() + link.backoff
        link.backoff = min(RECONNECT_MAX_S, link.backoff * 2)

    def _write_interest(self, link: Link) -> None:
        client = link.client
        if client is None or (sock := client.socket()) is None:
            return
        want = client.want_write()
        if want != link.writing:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            try:
                self.selector.modify(sock, events, link)
            except (KeyError, ValueError):
                return
            link.writing = want

    def _forget_pending(self, link: Link) -> None:
        # Acks for these will not come: the session ends with this connection.
        self.pending -= len(link.mids)
        link.mids.clear()

    def _on_socket_open(self, client: mqtt.Client, link: Link, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, link)
        link.writing = False

    def _on_socket_close(self, client: mqtt.Client, link: Link, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        link.writing = False

    def _on_connect(
        self, client: mqtt.Client, link: Link, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            link.refused = str(reason)
            self._forget_pending(link)
            self.errors[f"refused: {reason}"] += 1
            log.error("broker refused %s (user %s): %s", link.client_id, link.username, reason)
            return
        reconnected = link.lost > 0
        link.connected = True
        link.backoff = RECONNECT_MIN_S
        if reconnected and self.on_reconnect is not None:
            self.on_reconnect(link.key)

    def _on_disconnect(
        self, client: mqtt.Client, link: Link, flags: Any, reason: Any, props: Any
    ) -> None:
        link.connected = False
        if link.closing or link.refused:
            return
        link.lost += 1
        self.errors["connection lost"] += 1
        log.warning("%s lost its connection (%s); reconnecting", link.client_id, reason)
        self._retry_later(link)

    def _on_publish(
        self, client: mqtt.Client, link: Link, mid: int, reason: Any, props: Any
    ) -> None:
        if mid in link.mids:
            link.mids.remove(mid)
            self.pending -= 1
            self.acked += 1
