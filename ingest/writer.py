"""Batches points by size and age and writes them to InfluxDB, acking messages only after.

A message is acknowledged to the broker only once every point it produced is stored, so a crash
anywhere before that means the broker delivers it again; the point keys make that harmless.
When InfluxDB is down the writer keeps retrying the same batch (exponential backoff, jitter) and
stops taking new work; the bounded queue then blocks the MQTT loop, and the broker holds the rest.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest import metrics
from stack.influx import InfluxClient, StoreRejected, StoreUnauthorized, StoreUnavailable

log = logging.getLogger(__name__)

Ack = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Pending:
    lines: list[str]
    ack: Ack | None


@dataclass(frozen=True, slots=True)
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
        *,
        max_points: int,
        max_age_s: float,
        max_pending_messages: int = 20_000,
        backoff: Backoff | None = None,
        on_dead_point: Callable[[str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.max_points = max_points
        self.max_age_s = max_age_s
        self.backoff = backoff or Backoff()
        self.on_dead_point = on_dead_point or _log_dead_point
        self._queue: queue.Queue[Pending] = queue.Queue(maxsize=max_pending_messages)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, lines: list[str], ack: Ack | None) -> None:
        """Queue one message's points; blocks while the queue is full (back-pressure)."""
        self._queue.put(Pending(lines, ack))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Flush what is queued if InfluxDB answers, then stop; unflushed work stays unacked."""
        self._stop.set()
        self._thread.join(timeout_s)

    def backlog(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._collect()
            if batch and not self._flush(batch):
                return

    def _collect(self) -> list[Pending]:
        batch: list[Pending] = []
        points = 0
        deadline = time.monotonic() + self.max_age_s
        while points < self.max_points:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                item = self._queue.get(timeout=min(timeout, 0.1))
            except queue.Empty:
                if self._stop.is_set():
                    break
                continue
            batch.append(item)
            points += len(item.lines)
        return batch

    def _flush(self, batch: list[Pending]) -> bool:
        lines = [ln for item in batch for ln in item.lines]
        started = time.perf_counter()
        if lines and not self._write_all(lines):
            return False  # stopping while InfluxDB is down: left unacked, so redelivered
        metrics.WRITE_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_POINTS.observe(len(lines))
        metrics.POINTS_WRITTEN.inc(len(lines))
        for item in batch:
            if item.ack is not None:
                item.ack()
        return True

    def _write_all(self, lines: list[str]) -> bool:
        """Store `lines`, splitting around points InfluxDB refuses. False if told to stop."""
        try:
            return self._write_retrying(lines)
        except StoreRejected as exc:
            if len(lines) == 1:
                self.on_dead_point(lines[0], str(exc))
                return True
            middle = len(lines) // 2
            return self._write_all(lines[:middle]) and self._write_all(lines[middle:])

    def _write_retrying(self, lines: list[str]) -> bool:
        body = "\n".join(lines).encode()
        attempt = 0
        while True:
            try:
                self.client.write(body)
                metrics.STORE_UP.set(1)
                return True
            except (StoreUnavailable, StoreUnauthorized) as exc:
                metrics.STORE_UP.set(0)
                metrics.WRITE_RETRIES.inc()
                retry_after = exc.retry_after_s if isinstance(exc, StoreUnavailable) else None
                delay = self.backoff.delay(attempt, retry_after)
                if attempt == 0 or attempt % 10 == 0:
                    log.warning(
                        "write of %d points failed (%s); retrying in %.1fs", len(lines), exc, delay
                    )
                attempt += 1
                if self._stop.wait(delay):
                    return False


def _log_dead_point(point: str, reason: str) -> None:
    metrics.POINTS_DEAD.inc()
    log.error("InfluxDB refused a point, dropped: %s (%s)", point[:300], reason)
