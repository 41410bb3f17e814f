"""The on-disk spool: batches the ingest has acked but InfluxDB has not stored yet.

While InfluxDB is unreachable the writer appends each batch here and acks its messages only
after the append is fsync'd, so an acked message is always on a disk: in InfluxDB or here.
When InfluxDB answers again the spool drains oldest first.

Format: numbered segment files `<seq>.seg`, each a run of records
`magic (4 bytes) | payload length (u32) | crc32 of payload (u32) | payload`.
A crash can leave a torn record at the end of the newest segment; it was never fsync'd, so its
messages were never acked and the broker delivers them again. Opening the spool therefore cuts
the newest segment back to its last whole record. A bad record anywhere else (disk damage) ends
that segment for the reader, which logs what it skips and goes on with the next segment: the
ingest never stops over a damaged spool.

The read position is kept in `cursor` (segment, offset), replaced atomically after each drained
record but not fsync'd: after a crash a few records may be written to InfluxDB again, which is
harmless because every point's key is its identity.

One process owns a spool directory (an exclusive `flock`); each ingest process has its own.
Not thread-safe: the writer thread is its only user.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from core.files import open_private, private_dir
from core.outage import Outage

log = logging.getLogger(__name__)

MAGIC = b"MPS1"
HEADER = struct.Struct("!4sII")
MAX_RECORD_BYTES = 256 * 1024 * 1024
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024


class SpoolLocked(Exception):
    """Another process already uses this spool directory."""


class Spool:
    def __init__(
        self, directory: Path, max_bytes: int, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.append_outage = Outage("spool disk", log)
        """One line when appends start failing (disk full), one when they work again."""
        self.skipped_bytes = 0
        """Bytes of damaged records the reader had to skip since opening (should stay 0)."""
        self._lock_fd: int | None = None
        self._segments: list[int] = []  # sequence numbers on disk, oldest first
        self._sizes: dict[int, int] = {}  # whole-record bytes per segment
        self._writer: BinaryIO | None = None
        self._read_seq = 0
        self._read_pos = 0
        self._reader: BinaryIO | None = None
        self._peeked: tuple[bytes, int] | None = None  # payload, bytes it takes on disk
        self._bytes = 0

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Lock the directory, cut a torn tail, and find where draining left off."""
        private_dir(self.directory)  # spooled telemetry: the ingest's user only
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolLocked(f"spool {self.directory} is in use by another process") from None
        self._lock_fd = fd
        self._segments = sorted(
            int(p.stem) for p in self.directory.glob("*.seg") if p.stem.isdigit()
        )
        self._sizes = {seq: self._path(seq).stat().st_size for seq in self._segments}
        if self._segments:
            self._recover_tail(self._segments[-1])
        self._read_seq, self._read_pos = self._load_cursor()
        self._bytes = sum(self._sizes.values()) - self._read_pos
        if self._bytes:
            log.info("spool %s holds %d bytes to drain", self.directory, self._bytes)

    def close(self) -> None:
        for handle in (self._writer, self._reader):
            if handle is not None:
                handle.close()
        self._writer = self._reader = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- state -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes on disk not yet drained (records and their headers)."""
        return self._bytes

    def empty(self) -> bool:
        return self._bytes == 0

    # --- writing ---------------------------------------------------------------------------

    def append(self, payload: bytes) -> bool:
        """Append one record and fsync it. False (nothing written) when it would not fit."""
        size = HEADER.size + len(payload)
        if len(payload) > MAX_RECORD_BYTES or self._bytes + size > self.max_bytes:
            return False
        writer = self._active_writer()
        seq = self._segments[-1]
        record = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
        try:
            writer.write(record)
            writer.flush()
            os.fdatasync(writer.fileno())
        except OSError as exc:  # disk full or failing: undo, and let the caller hold the batch
            self.append_outage.failed(exc, f"appending to {self.directory}")
            try:
                os.ftruncate(writer.fileno(), self._sizes[seq])
            except OSError:
                log.exception("could not cut back spool segment %s", self._path(seq))
            self._close_writer()
            return False
        self._sizes[seq] += size
        self._bytes += size
        self.append_outage.ok()
        return True

    def _active_writer(self) -> BinaryIO:
        if self._writer is not None and self._sizes[self._segments[-1]] < self.segment_bytes:
            return self._writer
        self._close_writer()
        if not self._segments or self._sizes[self._segments[-1]] >= self.segment_bytes:
            # With no segment left, the reader already waits for number `_read_seq`.
            seq = self._segments[-1] + 1 if self._segments else self._read_seq
            self._segments.append(seq)
            self._sizes[seq] = 0
            self._path(seq).touch(mode=0o600)
            _fsync_dir(self.directory)  # the new file's name must survive a crash too
        self._writer = open_private(self._path(self._segments[-1]))
        return self._writer

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # --- reading ---------------------------------------------------------------------------

    def peek(self) -> bytes | None:
        """The oldest record not yet drained, or None when the spool is empty."""
        if self._peeked is not None:
            return self._peeked[0]
        while self._segments:
            seq = self._read_seq
            if self._read_pos < self._sizes[seq]:
                record = self._read_record(seq)
                if record is not None:
                    self._peeked = record
                    return record[0]
                damaged = self._sizes[seq] - self._read_pos
                log.error(
                    "spool segment %s is damaged at byte %d: skipping its last %d bytes",
                    self._path(seq),
                    self._read_pos,
                    damaged,
                )
                self.skipped_bytes += damaged
                self._bytes -= damaged
                self._read_pos = self._sizes[seq]
            if seq == self._segments[-1]:
                self._reset_if_drained()
                return None
            self._drop_segment(seq)
        return None

    def advance(self) -> None:
        """Mark the record returned by `peek` as stored; drained segments are deleted."""
        if self._peeked is None:
            raise RuntimeError("advance() without a record from peek()")
        _, size = self._peeked
        self._peeked = None
        self._read_pos += size
        self._bytes -= size
        seq = self._read_seq
        if self._read_pos >= self._sizes[seq]:
            if seq != self._segments[-1]:
                self._drop_segment(seq)
            else:
                self._reset_if_drained()
        self._save_cursor()

    def _read_record(self, seq: int) -> tuple[bytes, int] | None:
        if self._reader is None or self._reader.name != str(self._path(seq)):
            if self._reader is not None:
                self._reader.close()
            self._reader = self._path(seq).open("rb")
        return _read_at(self._reader, self._read_pos, self._sizes[seq])

    def _drop_segment(self, seq: int) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._path(seq).unlink(missing_ok=True)
        self._segments.remove(seq)
        del self._sizes[seq]
        self._read_seq = self._segments[0] if self._segments else seq + 1
        self._read_pos = 0

    def _reset_if_drained(self) -> None:
        """Everything is stored: remove the last segment too, so an outage leaves no files."""
        if self._bytes == 0 and self._segments:
            seq = self._segments[-1]
            self._close_writer()
            self._drop_segment(seq)
            self._save_cursor()

    # --- recovery --------------------------------------------------------------------------

    def _recover_tail(self, seq: int) -> None:
        path = self._path(seq)
        size = self._sizes[seq]
        good = 0
        with path.open("rb") as handle:
            while good < size and (record := _read_at(handle, good, size)) is not None:
                good += record[1]
        if good < size:
            log.warning(
                "spool %s ends in %d bytes of a torn write (never acked; the broker redelivers "
                "those messages): cutting them off",
                path,
                size - good,
            )
            os.truncate(path, good)
            self._sizes[seq] = good

    def _load_cursor(self) -> tuple[int, int]:
        first = self._segments[0] if self._segments else 1
        try:
            seq_text, pos_text = (self.directory / "cursor").read_text().split()
            seq, pos = int(seq_text), int(pos_text)
        except (OSError, ValueError):
            return first, 0
        if seq not in self._sizes:  # that segment was drained and deleted
            # With no segment left, new ones continue from the cursor's number: were they to
            # start again at 1, the next opening would take this stale cursor for a position
            # further on and delete every segment before it unread.
            return (first, 0) if self._segments else (max(seq, first), 0)
        for older in [s for s in self._segments if s < seq]:  # drained but not yet deleted
            self._path(older).unlink(missing_ok=True)
            self._segments.remove(older)
            del self._sizes[older]
        return seq, min(pos, self._sizes[seq])

    def _save_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        with open_private(tmp, append=False) as handle:
            handle.write(f"{self._read_seq} {self._read_pos}\n".encode())
        tmp.replace(self.directory / "cursor")

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:012d}.seg"


def _read_at(handle: BinaryIO, pos: int, end: int) -> tuple[bytes, int] | None:
    """The whole, intact record at `pos` (payload, size on disk), else None."""
    if end - pos < HEADER.size:
        return None
    handle.seek(pos)
    magic, length, crc = HEADER.unpack(handle.read(HEADER.size))
    if magic != MAGIC or length > MAX_RECORD_BYTES or pos + HEADER.size + length > end:
        return None
    payload = handle.read(length)
    if len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return payload, HEADER.size + length


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def adopt_orphans(root: Path, own: str, max_bytes: int) -> list[Spool]:
    """Spools left by ingest processes that are gone (their lock is free), to drain as well.

    An ingest's spool is named after its client id; a replica that never comes back under the
    same id (scaled down, or re-created with a new hostname-derived id) would otherwise leave
    acked batches on disk for good. Empty orphans are removed.
    """
    adopted: list[Spool] = []
    if not root.is_dir():
        return adopted
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and p.name != own):
        spool = Spool(directory, max_bytes)
        try:
            spool.open()
        except (SpoolLocked, OSError):
            continue  # its ingest is running (or the directory is not ours to read)
        if not spool.empty():
            log.info("adopting %d spooled bytes of %s", spool.size, directory.name)
            adopted.append(spool)
            continue
        for name in ("cursor", "cursor.tmp", "lock"):
            (directory / name).unlink(missing_ok=True)
        spool.close()
        with contextlib.suppress(OSError):  # someone started using it meanwhile
            directory.rmdir()
    return adopted
