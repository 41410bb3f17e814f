"""ingest.writer: the write policy, one test per InfluxDB answer, and what each does to acks,
the spool and the dead-letter store.

InfluxDB is replaced by `httpx.MockTransport` here, so that every status can be produced on
demand; the end-to-end tests (tests/integration/ingest/) run the same writer against real influxd.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from ingest.deadletters import STORE_REFUSED, DeadLetterFile, read_local
from ingest.spool import Spool
from ingest.writer import Backoff, BatchWriter
from tests.conftest import wait_for
from timeseries.client import InfluxClient

Handler = Callable[[bytes], httpx.Response]
OK = httpx.Response(204)


class RecordingBackoff(Backoff):
    """Tiny real delays, and a record of every Retry-After the writer was told."""

    def __init__(self) -> None:
        super().__init__(first_s=0.005, max_s=0.02)
        self.retry_after: list[float | None] = []

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        self.retry_after.append(retry_after_s)
        return super().delay(attempt, None)


@dataclass
class Influx:
    """A stand-in InfluxDB: `answer(body)` decides each /write; every body is recorded."""

    answer: Handler
    markers_answer: Handler = field(default=lambda _body: httpx.Response(204))
    bodies: list[bytes] = field(default_factory=list)
    stored: list[bytes] = field(default_factory=list)
    markers: list[bytes] = field(default_factory=list)
    """The writes of batch markers (rp=markers), kept apart: the policy is about the data."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if request.url.params.get("rp") == "markers":
            answer = self.markers_answer(body)
            if answer.status_code == 204:
                with self.lock:
                    self.markers.append(body)
            return answer
        with self.lock:
            self.bodies.append(body)
        response = self.answer(body)
        if response.status_code == 204:
            with self.lock:
                self.stored.extend(body.split(b"\n"))
        return response


@dataclass
class Rig:
    influx: Influx
    writer: BatchWriter
    spool: Spool
    backoff: RecordingBackoff
    dead_dir: Path
    acked: list[object] = field(default_factory=list)
    schema_runs: list[int] = field(default_factory=list)

    def submit(self, *points: str) -> None:
        for i, point in enumerate(points):
            self.writer.submit([point], f"token-{point}-{i}")

    def all_acked(self, n: int) -> bool:
        return len(self.acked) >= n


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(
        answer: Handler,
        *,
        spool_bytes: int = 1 << 20,
        retry_window_s: float = 0.2,
        adopted: list[Spool] | None = None,
    ) -> Rig:
        influx = Influx(answer)
        client = InfluxClient(
            "http://influx.test", "db", transport=httpx.MockTransport(influx.handle)
        )
        spool = Spool(tmp_path / f"spool{len(made)}", spool_bytes)
        spool.open()
        backoff = RecordingBackoff()
        dead_dir = tmp_path / f"dead{len(made)}"
        rig = Rig(influx, None, spool, backoff, dead_dir)  # type: ignore[arg-type]
        rig.writer = BatchWriter(
            client,
            spool,
            max_points=100,
            max_age_s=0.02,
            retry_window_s=retry_window_s,
            backoff=backoff,
            dead_letters=DeadLetterFile(dead_dir / "w.jsonl", 1 << 20),
            ensure_store=lambda: rig.schema_runs.append(1),
            adopted=adopted,
        )
        rig.writer.start(rig.acked.extend)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.writer.stop()
        rig.spool.close()
        assert rig.writer.dead_letters is not None
        rig.writer.dead_letters.close()


def points(n: int, prefix: str = "p") -> list[str]:
    return [
        f"telemetry,device=d,partner=woonbron {prefix}=1.0 {1_700_000_000_000_000_000 + i}"
        for i in range(n)
    ]


def stored(rig: Rig, expected: list[str]) -> bool:
    with rig.influx.lock:
        return {p.encode() for p in expected} <= set(rig.influx.stored)


def test_2xx_stores_the_batch_in_one_request_and_acks_every_message(
    rig: Callable[..., Rig],
) -> None:
    r = rig(lambda _body: OK)
    batch = points(50)

    r.submit(*batch)

    wait_for(lambda: r.all_acked(50), what="acks")
    assert r.influx.stored == [p.encode() for p in batch]
    assert len(r.influx.bodies) == 1
    assert r.spool.empty()


@pytest.mark.parametrize("status", [400, 422])
def test_bad_data_is_split_off_dead_lettered_and_the_rest_stored(
    rig: Callable[..., Rig], status: int
) -> None:
    bad = 'telemetry,device=d,partner=woonbron p="text" 1700000000000000007'

    def answer(body: bytes) -> httpx.Response:
        if bad.encode() in body:
            return httpx.Response(status, json={"error": "partial write: field type conflict"})
        return OK

    r = rig(answer)
    good = points(20)
    r.submit(*good[:7], bad, *good[7:])

    wait_for(lambda: r.all_acked(21), what="acks")
    wait_for(lambda: any(b.startswith(b"rejected,") for b in r.influx.stored), what="letter")
    assert stored(r, good) and bad.encode() not in r.influx.stored
    letter = next(b for b in r.influx.stored if b.startswith(b"rejected,"))
    assert b"partner=woonbron" in letter and f"reason={STORE_REFUSED}".encode() in letter
    r.writer.dead_letters.flush()  # type: ignore[union-attr]
    [local] = read_local(r.dead_dir)
    assert (local.partner, local.reason, local.excerpt) == ("woonbron", STORE_REFUSED, bad)
    assert "field type conflict" in local.detail
    assert r.spool.empty()


def test_413_splits_the_batch_until_it_fits_and_drops_nothing(rig: Callable[..., Rig]) -> None:
    r = rig(lambda body: httpx.Response(413) if body.count(b"\n") >= 8 else OK)
    batch = points(60)

    r.submit(*batch)

    wait_for(lambda: r.all_acked(60), what="acks")
    assert sorted(r.influx.stored) == sorted(p.encode() for p in batch)
    assert read_local(r.dead_dir) == []


def test_404_recreates_the_database_and_keeps_the_data(rig: Callable[..., Rig]) -> None:
    answers = iter([httpx.Response(404, json={"error": 'database not found: "db"'})])
    r = rig(lambda _body: next(answers, OK))
    batch = points(10)

    r.submit(*batch)

    wait_for(lambda: r.all_acked(10), what="acks")
    assert stored(r, batch)
    assert r.schema_runs  # ensure_store ran again before the successful write
    assert read_local(r.dead_dir) == []


@pytest.mark.parametrize("status", [401, 403])
def test_bad_credentials_drop_nothing_batches_wait_in_the_spool(
    rig: Callable[..., Rig], status: int
) -> None:
    fixed = threading.Event()
    r = rig(lambda _body: OK if fixed.is_set() else httpx.Response(status, json={"error": "no"}))
    batch = points(30)

    r.submit(*batch)

    wait_for(lambda: r.all_acked(30), what="acks of spooled messages")
    assert not r.influx.stored and not r.spool.empty()
    assert not r.writer.store_up
    fixed.set()
    wait_for(lambda: stored(r, batch) and r.spool.empty(), what="spool drained")


def test_429_honours_retry_after_and_spools_meanwhile(rig: Callable[..., Rig]) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"})])
    r = rig(lambda _body: next(answers, OK))
    batch = points(10)

    r.submit(*batch)

    wait_for(lambda: r.all_acked(10) and stored(r, batch), what="stored after the 429")
    assert 7.0 in r.backoff.retry_after


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_and_stored_without_spooling(rig: Callable[..., Rig], status: int) -> None:
    answers = iter([httpx.Response(status, text="engine: error syncing wal")])
    r = rig(lambda _body: next(answers, OK), retry_window_s=30)
    batch = points(10)

    r.submit(*batch)

    wait_for(lambda: r.all_acked(10), what="acks")
    assert len(r.influx.bodies) == 2 and r.influx.bodies[0] == r.influx.bodies[1]
    assert stored(r, batch)
    assert r.spool.empty() and r.spool.directory.joinpath("cursor").exists() is False


def test_no_answer_spools_acks_and_drains_in_order_before_live_traffic(
    rig: Callable[..., Rig],
) -> None:
    up = threading.Event()

    def answer(_body: bytes) -> httpx.Response:
        if not up.is_set():
            raise httpx.ConnectError("connection refused")
        return OK

    r = rig(answer)
    old = points(40, "old")
    r.submit(*old)
    wait_for(lambda: r.all_acked(40), what="old messages acked from the spool")
    assert not r.spool.empty()

    up.set()
    new = points(40, "new")
    r.submit(*new)

    wait_for(lambda: r.all_acked(80) and stored(r, old + new), what="everything stored")
    order = [line for line in r.influx.stored if line]
    assert max(order.index(p.encode()) for p in old) < min(order.index(p.encode()) for p in new)
    assert r.spool.empty()


def test_a_full_spool_stops_acking_until_influxdb_is_back(rig: Callable[..., Rig]) -> None:
    up = threading.Event()

    def answer(_body: bytes) -> httpx.Response:
        return OK if up.is_set() else httpx.Response(503)

    r = rig(answer, spool_bytes=2000)
    first = points(10, "first")  # ~700 bytes: fits
    r.submit(*first)
    wait_for(lambda: r.all_acked(10), what="first batch spooled")
    more = points(60, "more")  # ~4 KB: does not fit
    r.submit(*more)
    wait_for(lambda: len(r.influx.bodies) >= 3, what="probes while the spool is full")
    assert len(r.acked) == 10

    up.set()

    wait_for(lambda: r.all_acked(70), what="acks after InfluxDB is back")
    assert stored(r, first + more)


def test_stop_spools_what_is_in_hand_when_influxdb_is_down(rig: Callable[..., Rig]) -> None:
    r = rig(lambda _body: httpx.Response(503), retry_window_s=0)
    r.writer.max_age_s = 60.0  # nothing would be flushed by age before the stop
    r.submit(*points(5))

    r.writer.stop()

    assert len(r.acked) == 5
    payload = r.spool.peek()
    assert payload is not None and payload.count(b"\n") == 4


def test_heartbeat_points_are_written_but_ack_nothing(rig: Callable[..., Rig]) -> None:
    r = rig(lambda _body: OK)

    r.writer.submit(["ingest_link,client=c connected=1i 1"], None, bounded=False)

    wait_for(lambda: r.influx.stored == [b"ingest_link,client=c connected=1i 1"], what="stored")
    assert r.acked == []


def test_a_refused_dead_letter_is_kept_in_the_file_only(rig: Callable[..., Rig]) -> None:
    letter = 'rejected,partner=woonbron,reason=bad_topic topic="t" 1'
    r = rig(
        lambda body: httpx.Response(400, json={"error": "no"}) if body == letter.encode() else OK
    )

    r.writer.submit([letter], "t1")

    wait_for(lambda: r.all_acked(1), what="ack")
    r.writer.dead_letters.flush()  # type: ignore[union-attr]
    assert [d.excerpt for d in read_local(r.dead_dir)] == [letter]
    assert len(r.influx.bodies) == 1  # and no second dead letter about the first


def test_dead_letter_file_records_are_json_lines(tmp_path: Path) -> None:
    from ingest.deadletters import refused_point

    store = DeadLetterFile(tmp_path / "x.jsonl", 1 << 20)
    store.add(refused_point("telemetry,partner=woonbron x=1 1", "bad", 5))
    store.close()

    row = orjson.loads((tmp_path / "x.jsonl").read_bytes())
    assert row["partner"] == "woonbron" and row["reason"] == STORE_REFUSED


def test_an_adopted_orphan_spool_is_drained_and_released(
    rig: Callable[..., Rig], tmp_path: Path
) -> None:
    orphan = Spool(tmp_path / "orphan", 1 << 20)
    orphan.open()
    left = points(3, "orphaned")
    orphan.append("\n".join(left).encode())

    r = rig(lambda _body: OK, adopted=[orphan])

    wait_for(lambda: stored(r, left), what="the orphan's batch written")
    wait_for(lambda: not r.writer.adopted, what="the orphan released")
    assert orphan.empty()


def test_a_batch_is_acked_only_once_its_markers_are_stored_too(
    rig: Callable[..., Rig],
) -> None:
    """Without its marker the deriver would never see the batch: a failed marker write fails
    the batch, which is then spooled and written again (harmless: same points)."""
    r = rig(lambda _body: OK)
    markers_down = threading.Event()
    markers_down.set()
    r.influx.markers_answer = lambda _body: (
        httpx.Response(503) if markers_down.is_set() else httpx.Response(204)
    )
    batch = points(10)
    r.submit(*batch)
    wait_for(lambda: not r.spool.empty(), what="the batch spooled, not acked as stored")
    assert not r.influx.markers
    markers_down.clear()
    wait_for(lambda: r.all_acked(10) and r.spool.empty() and bool(r.influx.markers), what="m")
    assert b"device|woonbron|d|" in r.influx.markers[-1]
