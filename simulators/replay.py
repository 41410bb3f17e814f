"""`mainport replay`: publish a feed file again, with its original spacing scaled, or at max.

Each topic is published with credentials allowed to publish it: the scope is the topic's
second segment (`mainport/{partner}/…`, `mainport/_network/…`) and its login comes from the
same credentials map as the simulator's. One connection per scope; QoS 1 messages in flight
are bounded per connection (paho 2.2.0 stalls beyond 65,535 and slows with ~1000).

Order. Messages of one scope go out over one connection, in file order, so every topic keeps
its order. Across scopes the broker may interleave them differently at high speed; with
`strict_order` a message on another connection waits until the previous connection's
messages are acknowledged, which keeps the file's global order at the cost of a round trip
at each change of scope.

`rebase` shifts the timestamps inside payloads (JSON `ts`, SenML absolute `bt`/`t`) so the
first message lands at the time of the replay; payloads that do not parse stay as they are.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from domain.timestamps import MS_THRESHOLD, TimestampError, parse_rfc3339
from simulators.feed import Damaged, FeedReader, Record
from simulators.payloads import rfc3339_ms
from simulators.simulation import Credentials

DEFAULT_WINDOW = 64
_SENML_RELATIVE_S = 2**28


@dataclass
class ReplayStats:
    messages: int = 0
    """Published and (QoS 1) acknowledged by the broker."""
    sent: int = 0
    damaged: list[Damaged] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values()) + len(self.damaged)


class Replayer:
    def __init__(
        self,
        host: str,
        port: int,
        credentials: Credentials,
        *,
        speed: float | None = None,
        rebase: bool = False,
        strict_order: bool = False,
        window: int = DEFAULT_WINDOW,
        client_prefix: str = "replay",
        on_damaged: Callable[[Damaged], None] | None = None,
        progress: Callable[[FeedReader, ReplayStats], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.credentials = credentials
        self.speed = speed
        self.rebase = rebase
        self.strict_order = strict_order
        self.window = window
        self.client_prefix = f"{client_prefix}-{os.getpid()}"
        self.on_damaged = on_damaged
        self.progress = progress

    def run(self, path: Path, stop: threading.Event | None = None) -> ReplayStats:
        stats = ReplayStats()
        reader = FeedReader(path)
        links: dict[str, ScopeLink] = {}
        began = time.monotonic()
        t0: float | None = None
        shift_ms = 0
        previous: ScopeLink | None = None
        last_report = began
        try:
            for entry in reader:
                if entry.__class__ is Damaged:
                    assert isinstance(entry, Damaged)
                    stats.damaged.append(entry)
                    if self.on_damaged is not None:
                        self.on_damaged(entry)
                    continue
                assert isinstance(entry, Record)
                parts = entry.topic.split("/", 2)
                scope = parts[1] if len(parts) == 3 else ""
                link = links.get(scope)
                if link is None:
                    creds = self.credentials.get(scope)
                    if creds is None:
                        stats.errors[f"no credentials for scope {scope!r}"] += 1
                        continue
                    link = links[scope] = ScopeLink(
                        self.host, self.port, f"{self.client_prefix}-{scope}", creds, self.window
                    )
                if link.refused is not None:
                    stats.errors[f"{scope}: broker refused the login: {link.refused}"] += 1
                    continue
                if t0 is None:
                    t0 = entry.t
                    shift_ms = round((time.time() - t0) * 1000)
                if self.speed is not None:
                    due = began + (entry.t - t0) / self.speed
                    if (wait := due - time.monotonic()) > 0 and _sleep(stop, wait):
                        break
                if self.strict_order and previous is not None and previous is not link:
                    previous.drain()  # everything before is at the broker before we go on
                payload = rebase_payload(entry.payload, shift_ms) if self.rebase else entry.payload
                link.publish(entry.topic, payload, entry.qos, entry.retain)
                previous = link
                stats.sent += 1
                if stats.sent & 255 == 0:
                    if stop is not None and stop.is_set():
                        break
                    now = time.monotonic()
                    if self.progress is not None and now - last_report >= 0.2:
                        last_report = now
                        stats.messages = sum(lk.acked for lk in links.values())
                        self.progress(reader, stats)
            for link in links.values():
                link.drain()
        except BrokerStalled as exc:
            stats.errors[str(exc)] += 1
        finally:
            stats.elapsed_s = time.monotonic() - began
            for link in links.values():
                link.close()
                if link.outstanding:
                    stats.errors["not acknowledged by the broker"] += link.outstanding
            # A total, not an increment: progress reports may have set it on the way.
            stats.messages = sum(link.acked for link in links.values())
        if self.progress is not None:
            self.progress(reader, stats)
        return stats


def _sleep(stop: threading.Event | None, seconds: float) -> bool:
    """Sleep, or return True at once when asked to stop."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


class ScopeLink:
    """One connection per topic scope, with paho's own network thread.

    A replay has a handful of connections (one per partner, one for the network), so a
    thread each is cheap — and it lets acknowledgements be read while the next message is
    being decoded and sent. In flight is bounded by a semaphore of `window` permits: taken
    per publish, given back in `on_publish` (ack for QoS 1, written for QoS 0).
    """

    def __init__(
        self, host: str, port: int, client_id: str, creds: tuple[str, str], window: int
    ) -> None:
        self.window = window
        self.room = threading.Semaphore(window)
        self.acked = 0
        self.sent = 0
        self.refused: str | None = None
        self._answered = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        client.username_pw_set(*creds)
        client.max_inflight_messages_set(window)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        self.client = client
        try:
            client.connect(host, port, keepalive=30)
        except OSError as exc:
            self.refused = f"cannot connect: {exc}"
            return
        client.loop_start()
        if not self._answered.wait(STALL_S):
            self.refused = f"no answer to CONNECT in {STALL_S:.0f} s"

    @property
    def outstanding(self) -> int:
        return self.sent - self.acked

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if not self.room.acquire(timeout=STALL_S):
            raise BrokerStalled(f"no acknowledgement from the broker for {STALL_S:.0f} s")
        self.sent += 1
        self.client.publish(topic, payload, qos, retain)

    def drain(self) -> None:
        """Wait until every message sent is acknowledged."""
        for taken in range(self.window):
            if not self.room.acquire(timeout=STALL_S):
                for _ in range(taken):
                    self.room.release()
                raise BrokerStalled(f"no acknowledgement from the broker for {STALL_S:.0f} s")
        self.room.release(self.window)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            self.client.disconnect()  # no retries with a login the broker refuses
        self._answered.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, _r: Any, _p: Any) -> None:
        self.acked += 1
        self.room.release()


class BrokerStalled(RuntimeError):
    """The broker stopped acknowledging; replay cannot make progress."""


STALL_S = 30.0


def rebase_payload(payload: bytes, shift_ms: int) -> bytes:
    """The payload with its timestamps moved by `shift_ms`, in the form they had."""
    if payload[:1] not in (b"{", b"["):
        return payload
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if isinstance(doc, dict) and "ts" in doc:
        shifted = _shift(doc["ts"], shift_ms)
        if shifted is None:
            return payload
        doc["ts"] = shifted
        return orjson.dumps(doc)
    if isinstance(doc, list):
        changed = False
        for rec in doc:
            if not isinstance(rec, dict):
                return payload
            for key in ("bt", "t"):
                value = rec.get(key)
                if not isinstance(value, int | float) or isinstance(value, bool):
                    continue
                if key == "bt" or value >= _SENML_RELATIVE_S:
                    rec[key] = round(value + shift_ms / 1000, 6)
                    changed = True
        return orjson.dumps(doc) if changed else payload
    return payload


def _shift(ts: object, shift_ms: int) -> object | None:
    if isinstance(ts, bool):
        return None
    if isinstance(ts, str):
        try:
            return rfc3339_ms(parse_rfc3339(ts) // 1_000_000 + shift_ms)
        except TimestampError:
            return None
    if isinstance(ts, int):
        return ts + shift_ms if ts > MS_THRESHOLD else ts + round(shift_ms / 1000)
    if isinstance(ts, float):
        return round(ts + shift_ms / 1000, 6)
    return None
