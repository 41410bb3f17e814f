"""Batches points, stores them durably, and only then acks their messages.

Durably means: InfluxDB answered 2xx, or the batch is appended and fsync'd to the local spool.
A crash anywhere before that leaves the messages unacked, so the broker delivers them again, and
every point's key (measurement, tags, device time) makes the repeat harmless.

The order of work, one writer thread:
1. Spooled batches first, oldest first, while InfluxDB takes them ("drain"); then those in
   spools adopted from ingest processes that are gone (spool.adopt_orphans).
2. Then live batches, by size and age, straight to InfluxDB.
3. InfluxDB unavailable (no answer, 5xx, 429, 401/403): a live batch is retried for a short
   window (`retry_window_s`, exponential backoff with full jitter; Retry-After is honoured and
   ends the window), then spooled and acked. From then on batches go to the spool, and every
   backoff interval one write probes InfluxDB with the oldest spooled batch.
4. Spool full: the batch is held, unacked; the inbox fills up to its bound, then the MQTT
   thread stops reading and the broker keeps the rest (inbox.py). Memory stays bounded,
   nothing is dropped.
What each InfluxDB answer leads to is the write policy, stated in timeseries/write_policy.py;
this writer carries it out (`_store`, `_write_splitting`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.outage import Outage
from ingest import metrics
from ingest.deadletters import DeadLetterFile, refused_point
from ingest.inbox import Inbox, Pending
from ingest.points import dead_letter_line
from ingest.spool import Spool
from timeseries.client import (
    InfluxClient,
    StoreError,
    StoreRejected,
    StoreUnauthorized,
    StoreUnavailable,
)
from timeseries.markers import touched_lines
from timeseries.schema import MARKERS_RP
from timeseries.write_policy import WriteAction, write_action

log = logging.getLogger(__name__)

Acker = Callable[[list[Any]], None]


@dataclass
class Backoff:
    first_s: float = 0.2
    max_s: float = 30.0

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Full jitter (AWS architecture blog): spreads retries of many writers apart."""
        if retry_after_s is not None:
            return min(self.max_s, retry_after_s)
        return random.uniform(0, min(self.max_s, self.first_s * 2**attempt))


class BatchWriter:
    def __init__(
        self,
        client: InfluxClient,
        spool: Spool,
        *,
        max_points: int,
        max_age_s: float,
        max_pending_bytes: int = 16 * 1024 * 1024,
        retry_window_s: float = 2.0,
        backoff: Backoff | None = None,
        dead_letters: DeadLetterFile | None = None,
        ensure_store: Callable[[], None] | None = None,
        adopted: list[Spool] | None = None,
    ) -> None:
        """`adopted`: spools of ingest processes that are gone, drained after our own."""
        self.client = client
        self.spool = spool
        self.adopted = adopted or []
        self.max_points = max_points
        self.max_age_s = max_age_s
        self.retry_window_s = retry_window_s
        self.backoff = backoff or Backoff()
        self.dead_letters = dead_letters
        self._ensure_store = ensure_store
        self.inbox = Inbox(max_pending_bytes)
        self._acker: Acker = lambda _tokens: None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._up = True
        self.outage = Outage("InfluxDB (ingest writes)", log)
        self._schema_ok = ensure_store is None
        self._probe_attempt = 0
        self._next_probe = 0.0
        self._held: tuple[list[Pending], bytes] | None = None
        self._extra: list[str] = []  # dead letters of refused points, for the next batch
        metrics.PENDING_MESSAGES.set_function(self.pending_messages)
        metrics.PENDING_BYTES.set_function(lambda: self.inbox.size)
        metrics.SPOOL_BYTES.set(self._spooled_bytes())

    # --- the other threads' side -----------------------------------------------------------

    def start(self, acker: Acker) -> None:
        """`acker(tokens)` acknowledges messages; called from the writer thread."""
        self._acker = acker
        self._thread.start()

    def submit(self, lines: list[str], token: object | None, *, bounded: bool = True) -> bool:
        """Hand over one message's points (blocks only past the inbox bound; see inbox.py)."""
        return self.inbox.put(lines, token, bounded=bounded)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Store what is queued (InfluxDB or spool) and ack it, then stop. A batch held
        because the spool is full stays unacked, so the broker delivers it again. The
        timeout outlasts one InfluxDB request timeout plus the retry window."""
        self._stopping.set()
        self.inbox.close()
        self._thread.join(timeout_s)

    @property
    def store_up(self) -> bool:
        return self._up

    def pending_messages(self) -> int:
        """Messages received and not yet stored: in the inbox, or held for a full spool."""
        held = self._held
        return len(self.inbox) + (len(held[0]) if held is not None else 0)

    # --- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:  # a bug must not silently stop all acking
                log.exception("writer failed; going on in 1 s")
                if self._stopping.wait(1.0):
                    return

    def _step(self) -> bool:
        """One unit of work; False when stopped and nothing is left to do."""
        if not self.spool.empty() and self._may_write():
            self._drain_one(self.spool)
            return True
        if self.adopted and self._may_write():
            self._drain_one(self.adopted[0])
            if self.adopted[0].empty():
                self.adopted.pop(0).close()
            return True
        if self._held is not None:
            if self._stopping.is_set():
                return False
            batch, body = self._held
        else:
            batch = self.inbox.take(self.max_points, self.max_age_s, wait_s=0.25)
            if not batch and not self._extra:
                if self.dead_letters is not None:
                    self.dead_letters.flush()
                return not (self._stopping.is_set() and len(self.inbox) == 0)
            body = self._body(batch)
        self._dispose(batch, body)
        return True

    def _dispose(self, batch: list[Pending], body: bytes) -> None:
        tokens = [item.token for item in batch if item.token is not None]
        if not body:  # only messages that leave no point (a rate-limited flood): ack them
            self._done(tokens)
            return
        if self.spool.empty() and self._may_write() and self._store(body, retry=self._up):
            self._done(tokens)
            return
        if self.spool.append(body):
            metrics.SPOOLED_BATCHES.inc()
            metrics.SPOOL_BYTES.set(self._spooled_bytes())
            self._done(tokens)
            return
        if self._held is None:
            log.warning(
                "spool full (%d bytes): not acking until InfluxDB is back; the broker holds "
                "the backlog",
                self.spool.size,
            )
            metrics.SPOOL_FULL.set(1)
        self._held = (batch, body)
        self._stopping.wait(max(0.0, self._next_probe - time.monotonic()))

    def _done(self, tokens: list[object]) -> None:
        self._held = None
        metrics.SPOOL_FULL.set(0)
        if tokens:
            self._acker(tokens)
            metrics.ACKED.inc(len(tokens))
        if self.dead_letters is not None:
            self.dead_letters.flush()

    def _drain_one(self, spool: Spool) -> None:
        body = spool.peek()
        if body is None:
            metrics.SPOOL_BYTES.set(self._spooled_bytes())
            return
        if self._store(body, retry=False):
            spool.advance()
            metrics.DRAINED_BATCHES.inc()
            metrics.SPOOL_BYTES.set(self._spooled_bytes())
            if spool.empty():
                log.info("spool %s drained", spool.directory)

    def _spooled_bytes(self) -> int:
        return self.spool.size + sum(spool.size for spool in self.adopted)

    def _body(self, batch: list[Pending]) -> bytes:
        lines = [ln for item in batch for ln in item.lines]
        if self._extra:
            lines += self._extra
            self._extra = []
        return "\n".join(lines).encode()

    # --- talking to InfluxDB ---------------------------------------------------------------

    def _may_write(self) -> bool:
        """True while InfluxDB is up, and once per backoff interval (a probe) while down."""
        return self._up or time.monotonic() >= self._next_probe

    def _store(self, body: bytes, *, retry: bool) -> bool:
        """Store `body`, splitting around refused points. False: InfluxDB is unavailable."""
        started = time.perf_counter()
        give_up = time.monotonic() + (self.retry_window_s if retry else 0.0)
        attempt = 0
        while True:
            try:
                if not self._schema_ok and self._ensure_store is not None:
                    self._ensure_store()
                    self._schema_ok = True
                self._write_splitting(body)
                self._write_markers(body)
            except (StoreUnavailable, StoreUnauthorized) as exc:  # BACK_OFF, RETRY, FAIL_LOUDLY
                metrics.WRITE_RETRIES.inc()
                retry_after = exc.retry_after_s if isinstance(exc, StoreUnavailable) else None
                delay = self.backoff.delay(attempt, retry_after)
                attempt += 1
                stop_trying = retry_after is not None or time.monotonic() + delay > give_up
                if stop_trying or self._stopping.wait(delay):
                    self._went_down(exc, retry_after)
                    return False
                continue
            except StoreError as exc:  # ensure_store refused (e.g. no admin rights)
                self._went_down(exc, None)
                return False
            self._came_up()
            metrics.WRITE_SECONDS.observe(time.perf_counter() - started)
            lines = body.count(b"\n") + 1
            metrics.POINTS_WRITTEN.inc(lines)
            metrics.BATCH_POINTS.observe(lines)
            return True

    def _write_markers(self, body: bytes) -> None:
        """Tell the deriver what this batch touched; a failure to store them fails the
        batch (it is written again, harmlessly), so the derived data cannot miss it."""
        points = touched_lines(body, time.time_ns())
        if not points:
            return
        try:
            self.client.write(points, rp=MARKERS_RP)
        except StoreRejected as exc:  # a bug, not bad data: say so, keep the raw data
            if write_action(exc.status) is WriteAction.RECREATE_SCHEMA:
                raise self._schema_missing(exc) from exc
            log.error("InfluxDB refused the batch's markers; derived data misses it: %s", exc)

    def _write_splitting(self, body: bytes) -> None:
        try:
            self.client.write(body)
        except StoreRejected as exc:  # SPLIT, unless the database is missing
            if write_action(exc.status) is WriteAction.RECREATE_SCHEMA:
                raise self._schema_missing(exc) from exc
            lines = body.split(b"\n")
            if len(lines) == 1:
                self._dead_point(body.decode("utf-8", "replace"), str(exc))
                return
            middle = len(lines) // 2
            self._write_splitting(b"\n".join(lines[:middle]))
            self._write_splitting(b"\n".join(lines[middle:]))

    def _schema_missing(self, exc: StoreRejected) -> StoreUnavailable:
        """RECREATE_SCHEMA: never drop data for a missing database; create it on the next
        try (a StoreUnavailable, so the batch is retried or spooled meanwhile)."""
        self._schema_ok = False
        return StoreUnavailable(f"InfluxDB database missing: {exc}")

    def _dead_point(self, point: str, error: str) -> None:
        metrics.POINTS_DEAD.inc()
        letter = refused_point(point, error, time.time_ns())
        metrics.REJECTED.labels(letter.partner, letter.reason).inc()
        log.error("InfluxDB refused a point (dead-lettered): %s (%s)", point[:300], error)
        if self.dead_letters is not None:
            self.dead_letters.add(letter)
        if not point.startswith("rejected,"):  # a refused dead letter is kept in the file only
            self._extra.append(dead_letter_line(letter))

    def _went_down(self, exc: StoreError, retry_after_s: float | None) -> None:
        delay = self.backoff.delay(self._probe_attempt, retry_after_s)
        self._probe_attempt += 1
        self._next_probe = time.monotonic() + delay
        metrics.STORE_UP.set(0)
        if isinstance(exc, StoreUnauthorized):  # FAIL_LOUDLY: a person must mend the login
            log.error("InfluxDB refused the ingest's login (%s); spooling batches", exc)
        self.outage.failed(exc, f"spooling batches to {self.spool.directory}")
        self._up = False

    def _came_up(self) -> None:
        if not self._up:
            self.outage.ok(f"draining {self._spooled_bytes()} spooled bytes first")
        self._up = True
        self._probe_attempt = 0
        metrics.STORE_UP.set(1)
