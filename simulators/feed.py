"""Feed files: MQTT traffic as gzip-compressed JSON lines, written by `mainport record` and by
`mainport simulate --dry-run`, read by `mainport replay`.

One message per line, so a damaged line costs that line only:

    {"t": 1767225600.123456, "topic": "mainport/woonbron/heat-1/telemetry", "qos": 1,
     "retain": false, "payload": "<base64>"}

`t` is the receive time (recording) or the simulated send time (dry run), epoch seconds.
Payloads are base64 because MQTT payloads are bytes, not text. The first line may be a header
`{"format": "mainport-feed", "version": 1, ...}`; readers skip it. Unknown keys are ignored.
Written with gzip mtime 0, so the same messages give the same file, byte for byte. Plain
(uncompressed) JSON lines are read too.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

FORMAT = "mainport-feed"
VERSION = 1
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Record:
    t: float
    topic: str
    payload: bytes
    qos: int
    retain: bool
    line: int


@dataclass(frozen=True, slots=True)
class Damaged:
    line: int
    reason: str


class FeedWriter:
    """Appends records to a feed file (`-` writes plain JSON lines to a binary stream)."""

    def __init__(self, target: Path | IO[bytes], header: dict[str, Any] | None = None) -> None:
        self._raw: IO[bytes] | None = None
        if isinstance(target, Path):
            self._raw = target.open("wb")
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=3)
            self._out: IO[bytes] = gz  # type: ignore[assignment]
        else:
            self._out = target
        self.count = 0
        if header is not None:
            self._out.write(orjson.dumps({"format": FORMAT, "version": VERSION, **header}) + b"\n")

    def write(self, t: float, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        line = orjson.dumps(
            {
                "t": t,
                "topic": topic,
                "qos": qos,
                "retain": retain,
                "payload": base64.b64encode(payload).decode("ascii"),
            }
        )
        self._out.write(line + b"\n")
        self.count += 1

    def flush(self) -> None:
        self._out.flush()

    def __enter__(self) -> FeedWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._raw is not None:
            self._out.close()
            self._raw.close()
        else:
            self._out.flush()


class FeedReader:
    """Every line of a feed as a Record, or a Damaged saying which line and why; never raises
    for bad content. A truncated or corrupt gzip stream ends the feed with one Damaged entry.
    `position` / `size` (compressed bytes) measure progress without a first pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._raw: IO[bytes] | None = None

    @property
    def position(self) -> int:
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    def __iter__(self) -> Iterator[Record | Damaged]:
        with self.path.open("rb") as raw:
            self._raw = raw
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream: Iterable[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            number = 0
            try:
                for number, text in enumerate(stream, start=1):
                    entry = parse_line(text, number)
                    if entry is not None:
                        yield entry
            except (EOFError, OSError, zlib.error) as exc:
                yield Damaged(number + 1, f"file is damaged from here on ({_why(exc)})")


def read_feed(path: Path) -> Iterator[Record | Damaged]:
    return iter(FeedReader(path))


def parse_line(text: bytes, number: int) -> Record | Damaged | None:
    """A record, what is wrong with the line, or None for a header line."""
    if not text.strip():
        return Damaged(number, "empty line")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Damaged(number, f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return Damaged(number, "not a JSON object")
    if doc.get("format") == FORMAT:
        if doc.get("version") != VERSION:
            return Damaged(number, f"feed version {doc.get('version')!r}, expected {VERSION}")
        return None
    try:
        t, topic, payload = doc["t"], doc["topic"], doc["payload"]
        qos, retain = doc.get("qos", 1), doc.get("retain", False)
    except KeyError as exc:
        return Damaged(number, f"missing field {exc.args[0]!r}")
    if type(t) not in (int, float) or not isinstance(topic, str) or not topic:
        return Damaged(number, "t must be a number and topic a non-empty string")
    if qos not in (0, 1, 2) or not isinstance(retain, bool) or not isinstance(payload, str):
        return Damaged(number, "qos must be 0, 1 or 2, retain a boolean, payload base64 text")
    try:
        data = binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        return Damaged(number, "payload is not valid base64")
    return Record(float(t), topic, data, qos, retain, number)


def _why(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "compressed stream ends early: truncated file"
    return str(exc) or type(exc).__name__
