"""ingest.spool: order, bounds, crash recovery (torn tails, damage, a lost cursor), locking."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.spool import HEADER, MAGIC, Spool, SpoolLocked, adopt_orphans

_open: list[Spool] = []


@pytest.fixture(autouse=True)
def _close_spools() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def opened(directory: Path, max_bytes: int = 1 << 20, segment_bytes: int = 1 << 16) -> Spool:
    spool = Spool(directory, max_bytes, segment_bytes)
    spool.open()
    _open.append(spool)
    return spool


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (record := spool.peek()) is not None:
        out.append(record)
        spool.advance()
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def test_records_come_back_oldest_first_across_segments(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=100)
    records = [f"batch {i} ".encode() * 5 for i in range(20)]

    for record in records:
        assert spool.append(record)

    assert len(segments(tmp_path)) > 3
    assert drain(spool) == records
    assert spool.empty() and spool.size == 0


def test_peek_without_advance_returns_the_same_record(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(b"a")
    spool.append(b"b")

    assert spool.peek() == spool.peek() == b"a"
    spool.advance()
    assert spool.peek() == b"b"


def test_advance_without_peek_is_an_error(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(b"a")

    with pytest.raises(RuntimeError):
        spool.advance()


def test_a_reopened_spool_resumes_where_draining_left_off(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=64)
    for i in range(10):
        spool.append(b"record %d" % i)
    for _ in range(4):
        spool.peek()
        spool.advance()
    spool.close()

    again = opened(tmp_path, segment_bytes=64)

    assert drain(again) == [b"record %d" % i for i in range(4, 10)]


def test_a_drained_spool_leaves_no_segment_files_and_takes_new_records(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=64)
    for i in range(5):
        spool.append(b"x" * 40 + bytes([i]))
    drain(spool)

    assert segments(tmp_path) == []
    spool.append(b"after")
    spool.close()
    assert drain(opened(tmp_path)) == [b"after"]


def test_append_is_refused_when_full_and_accepted_again_after_draining(tmp_path: Path) -> None:
    record = b"r" * 100
    size = HEADER.size + len(record)
    spool = opened(tmp_path, max_bytes=3 * size)

    assert [spool.append(record) for _ in range(4)] == [True, True, True, False]
    assert spool.size == 3 * size
    spool.peek()
    spool.advance()
    assert spool.append(record)


def test_a_record_larger_than_the_whole_spool_is_refused(tmp_path: Path) -> None:
    spool = opened(tmp_path, max_bytes=100)

    assert not spool.append(b"x" * 200)
    assert spool.empty()


def test_a_torn_last_record_is_cut_off_and_the_earlier_ones_survive(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(b"first")
    spool.append(b"second")
    spool.close()
    last = segments(tmp_path)[-1]
    whole = last.stat().st_size
    with last.open("ab") as f:  # a crash in the middle of an append: header and half a payload
        f.write(HEADER.pack(MAGIC, 1000, 0) + b"half")

    again = opened(tmp_path)

    assert last.stat().st_size == whole
    assert again.size == whole
    again.append(b"third")
    assert drain(again) == [b"first", b"second", b"third"]


@pytest.mark.parametrize("tail", [b"\x00", b"MPS", b"\xff" * 40, HEADER.pack(MAGIC, 3, 0) + b"bad"])
def test_any_garbage_after_the_last_whole_record_is_ignored(tmp_path: Path, tail: bytes) -> None:
    spool = opened(tmp_path)
    spool.append(b"kept")
    spool.close()
    with segments(tmp_path)[-1].open("ab") as f:
        f.write(tail)

    assert drain(opened(tmp_path)) == [b"kept"]


def test_a_damaged_record_in_an_older_segment_skips_the_rest_of_it_only(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=2 * (HEADER.size + 8))
    records = [b"rec-%04d" % i for i in range(6)]  # two records per segment
    for record in records:
        spool.append(record)
    spool.close()
    first = segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[HEADER.size + 2] ^= 0xFF  # flip a payload byte of the first record: CRC mismatch
    first.write_bytes(bytes(data))

    again = opened(tmp_path, segment_bytes=2 * (HEADER.size + 8))

    assert drain(again) == records[2:]
    assert again.skipped_bytes == 2 * (HEADER.size + 8)
    assert again.empty()


def test_a_cursor_naming_a_deleted_segment_starts_at_the_oldest_left(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=32)
    for i in range(6):
        spool.append(b"record-%d-xxxxxxxx" % i)
    spool.close()
    (tmp_path / "cursor").write_text("999 12\n")

    assert len(drain(opened(tmp_path, segment_bytes=32))) == 6


def test_segments_already_drained_but_not_deleted_are_not_replayed(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=20)
    for i in range(6):
        spool.append(b"record-%d-xxxxxxxx" % i)
    names = segments(tmp_path)
    second = int(names[1].stem)
    spool.close()
    assert len(names) == 6  # one record per segment
    (tmp_path / "cursor").write_text(f"{second} 0\n")  # as if deleting names[0] never happened

    again = opened(tmp_path, segment_bytes=20)

    assert not names[0].exists()
    assert drain(again) == [b"record-%d-xxxxxxxx" % i for i in range(1, 6)]


def test_a_second_owner_of_the_directory_is_refused(tmp_path: Path) -> None:
    opened(tmp_path)

    with pytest.raises(SpoolLocked):
        opened(tmp_path)


def test_the_lock_is_released_on_close(tmp_path: Path) -> None:
    opened(tmp_path).close()

    opened(tmp_path)


def test_appends_reach_the_disk_before_append_returns(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(b"durable")

    # Read through a fresh descriptor, as a restarted process would.
    fd = os.open(segments(tmp_path)[0], os.O_RDONLY)
    try:
        assert os.read(fd, 1024).endswith(b"durable")
    finally:
        os.close(fd)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.binary(min_size=0, max_size=60)),
        st.tuples(st.just("advance"), st.none()),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_the_spool_behaves_like_a_bounded_fifo_across_reopens(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, bytes | None]]
) -> None:
    directory = tmp_path_factory.mktemp("spool")
    max_bytes = 400
    spool = opened(directory, max_bytes=max_bytes, segment_bytes=90)
    model: deque[bytes] = deque()
    for op, payload in steps:
        if op == "append":
            assert payload is not None
            fits = sum(HEADER.size + len(r) for r in model) + HEADER.size + len(payload)
            assert spool.append(payload) == (fits <= max_bytes)
            if fits <= max_bytes:
                model.append(payload)
        elif op == "advance":
            assert spool.peek() == (model[0] if model else None)
            if model:
                spool.advance()
                model.popleft()
        else:
            spool.close()
            spool = opened(directory, max_bytes=max_bytes, segment_bytes=90)
        assert spool.size == sum(HEADER.size + len(r) for r in model)
    assert drain(spool) == list(model)
    spool.close()


def test_orphaned_spools_with_data_are_adopted_locked_ones_left_empty_ones_removed(
    tmp_path: Path,
) -> None:
    gone = opened(tmp_path / "ingest-gone")
    gone.append(b"left behind")
    gone.close()
    running = opened(tmp_path / "ingest-running")  # its process holds the lock
    running.append(b"not ours")
    opened(tmp_path / "ingest-empty").close()
    opened(tmp_path / "ingest-me")

    adopted = adopt_orphans(tmp_path, "ingest-me", 1 << 20)
    _open.extend(adopted)

    assert [s.directory.name for s in adopted] == ["ingest-gone"]
    assert adopted[0].peek() == b"left behind"
    assert not (tmp_path / "ingest-empty").exists()
    assert (tmp_path / "ingest-running").exists()


def test_adopting_from_a_spool_dir_that_does_not_exist_yet_finds_nothing(tmp_path: Path) -> None:
    assert adopt_orphans(tmp_path / "nope", "me", 1 << 20) == []


def test_spooled_telemetry_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # A spool an older version left readable to others is tightened on open.
    directory = tmp_path / "spool" / "ingest-1"
    directory.mkdir(parents=True, mode=0o755)
    stale = directory / f"{0:012d}.seg"
    stale.write_bytes(b"")
    stale.chmod(0o644)
    old = os.umask(0o022)  # the usual umask, whatever the test runner's
    try:
        spool = opened(directory, segment_bytes=64)
        for i in range(6):
            spool.append(b"telemetry of a partner %d" % i)
        spool.peek()
        spool.advance()  # writes the cursor
    finally:
        os.umask(old)

    assert directory.stat().st_mode & 0o777 == 0o700
    files = list(directory.iterdir())
    assert any(p.suffix == ".seg" for p in files) and (directory / "cursor").exists()
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path.name


def test_a_spool_drained_empty_then_refilled_keeps_every_record_across_a_reopen(
    tmp_path: Path,
) -> None:
    """Found by the FIFO property above: drained to nothing (its last segment deleted), reopened,
    then refilled past one segment — the old cursor must not make the next opening skip the
    refilled first segment."""
    spool = opened(tmp_path, max_bytes=400, segment_bytes=90)
    spool.append(b"")
    assert spool.peek() == b""
    spool.advance()
    spool.close()
    spool = opened(tmp_path, max_bytes=400, segment_bytes=90)
    records = [f"r{i}".encode() for i in range(9)]
    for record in records:
        assert spool.append(record)
    spool.close()
    spool = opened(tmp_path, max_bytes=400, segment_bytes=90)
    assert spool.size == sum(HEADER.size + len(r) for r in records)
    assert drain(spool) == records
    spool.close()
