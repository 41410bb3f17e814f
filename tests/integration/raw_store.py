"""Raw points stored the way the ingest stores them, for the tests that need history in a real
InfluxDB (the deriver, the analytics API)."""

from __future__ import annotations

import threading
from pathlib import Path

from ingest.spool import Spool
from ingest.writer import BatchWriter
from timeseries.client import InfluxClient


class Store:
    """The ingest's own writer (raw points + markers), batches of at most 500 points;
    `put` returns once everything given is stored and acked."""

    def __init__(self, client: InfluxClient, spool_dir: Path) -> None:
        self.acked = 0
        self.sent = 0
        self.done = threading.Condition()
        self.writer = BatchWriter(
            client, Spool(spool_dir, 64 * 1024**2), max_points=500, max_age_s=0.02
        )
        self.writer.start(self._ack)

    def _ack(self, tokens: list[object]) -> None:
        with self.done:
            self.acked += len(tokens)
            self.done.notify_all()

    def put(self, lines: list[str]) -> None:
        for ln in lines:
            self.sent += 1
            self.writer.submit([ln], self.sent)
        with self.done:
            assert self.done.wait_for(lambda: self.acked == self.sent, timeout=60)
