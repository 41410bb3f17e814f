"""The dead-letter store: every message the ingest rejected, and every point InfluxDB refused.

A dead letter is kept twice, for two readers:
- in InfluxDB, measurement `rejected` (tags partner, reason): the record of the platform, written
  and spooled like any other point before the message is acked, counted per partner by the API;
- in a local JSON-lines file per ingest process under `<data dir>/dead-letters/`, so an operator
  can still look when InfluxDB is down, and so a point InfluxDB refused is kept whole even if
  InfluxDB refuses its dead letter too. The file is size-bounded: past half its budget it is
  renamed to `<name>.1.jsonl` (replacing the previous one) and a new one begun.

`mainport dead-letters` reads either (`query_store`, `read_local`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import orjson

from core.files import open_private, private_dir
from domain.timestamps import format_rfc3339
from timeseries.client import InfluxClient

log = logging.getLogger(__name__)

EXCERPT_CHARS = 200
STORE_REFUSED = "store_refused"
"""Reason of a point InfluxDB refused after its batch was split down to that point."""
INTERNAL_ERROR = "internal_error"
"""Reason of a message the ingest could not process because of a bug (logged with a trace)."""
_SELECT_LETTERS = (
    'SELECT "partner", "reason", "topic", "excerpt", "detail", "bytes" FROM "rejected"'
)
_COUNT_LETTERS = 'SELECT count("bytes") FROM "rejected"'
_PARTNER_TAG = re.compile(r",partner=([a-z0-9][a-z0-9-]{1,31}|_network|_unknown)[, ]")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    time_ns: int
    partner: str
    reason: str
    topic: str
    excerpt: str
    detail: str
    bytes: int


def refused_point(point: str, error: str, now_ns: int) -> DeadLetter:
    """A dead letter for a line-protocol point InfluxDB would not store."""
    match = _PARTNER_TAG.search(point)
    return DeadLetter(
        time_ns=now_ns,
        partner=match.group(1) if match else "_unknown",
        reason=STORE_REFUSED,
        topic="",
        excerpt=point[:EXCERPT_CHARS],
        detail=error[:EXCERPT_CHARS],
        bytes=len(point),
    )


class DeadLetterFile:
    """Appends dead letters as JSON lines; thread-safe, buffered until `flush`."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._handle: IO[bytes] | None = None
        self._size = 0

    def add(self, letter: DeadLetter) -> None:
        record = orjson.dumps(asdict(letter)) + b"\n"
        with self._lock:
            try:
                if self._handle is None or self._size + len(record) > self.max_bytes // 2:
                    self._rotate()
                assert self._handle is not None
                self._handle.write(record)
                self._size += len(record)
            except OSError as exc:  # the InfluxDB copy still exists; never stop the ingest
                log.warning("could not write dead letter to %s: %s", self.path, exc)

    def flush(self) -> None:
        with self._lock:
            if self._handle is not None:
                try:
                    self._handle.flush()
                except OSError as exc:
                    log.warning("could not flush %s: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def _rotate(self) -> None:
        if self._handle is None:
            private_dir(self.path.parent)
            self._size = self.path.stat().st_size if self.path.exists() else 0
        if self._handle is not None or self._size > self.max_bytes // 2:
            if self._handle is not None:
                self._handle.close()
            self.path.replace(self.path.with_suffix(".1.jsonl"))
            self._size = 0
        # Partner payload excerpts: readable by the ingest's user only.
        self._handle = open_private(self.path)


def read_local(
    directory: Path,
    *,
    partner: str | None = None,
    reason: str | None = None,
    since_ns: int = 0,
    limit: int = 50,
) -> list[DeadLetter]:
    """The newest dead letters in the local files of every ingest sharing `directory`."""
    letters: list[DeadLetter] = []
    for path in sorted(directory.glob("*.jsonl")):
        try:
            lines = path.read_bytes().splitlines()
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            continue
        for raw in lines:
            try:
                letter = DeadLetter(**orjson.loads(raw))
            except (orjson.JSONDecodeError, TypeError):
                continue  # a line cut short by a crash
            if letter.time_ns < since_ns:
                continue
            if partner is not None and letter.partner != partner:
                continue
            if reason is not None and letter.reason != reason:
                continue
            letters.append(letter)
    letters.sort(key=lambda letter: letter.time_ns, reverse=True)
    return letters[:limit]


def query_store(
    client: InfluxClient,
    *,
    partner: str | None = None,
    reason: str | None = None,
    since_ns: int = 0,
    limit: int = 50,
) -> list[DeadLetter]:
    """The newest dead letters in InfluxDB (every ingest process's)."""
    where, params = _where(partner, reason, since_ns)
    # `where` is built from constants; every value in it is a bound parameter.
    q = " ".join((_SELECT_LETTERS, "WHERE", where, "ORDER BY time DESC LIMIT", str(int(limit))))
    letters = []
    for series in client.query(q, params)[0]:
        for rec in series.records():
            letters.append(
                DeadLetter(
                    time_ns=int(rec["time"]),
                    partner=rec["partner"] or "",
                    reason=rec["reason"] or "",
                    topic=rec["topic"] or "",
                    excerpt=rec["excerpt"] or "",
                    detail=rec["detail"] or "",
                    bytes=int(rec["bytes"] or 0),
                )
            )
    return letters


def count_store(
    client: InfluxClient,
    *,
    partner: str | None = None,
    reason: str | None = None,
    since_ns: int = 0,
) -> dict[tuple[str, str], int]:
    """Dead letters per (partner, reason) since `since_ns`."""
    where, params = _where(partner, reason, since_ns)
    q = " ".join((_COUNT_LETTERS, "WHERE", where, 'GROUP BY "partner", "reason"'))
    return {
        (s.tags.get("partner", ""), s.tags.get("reason", "")): int(s.values[0][1])
        for s in client.query(q, params)[0]
    }


def count_letters(letters: Iterable[DeadLetter]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for letter in letters:
        key = (letter.partner, letter.reason)
        counts[key] = counts.get(key, 0) + 1
    return counts


def format_letter(letter: DeadLetter) -> str:
    """One line per dead letter, tab-separated, for a terminal or `cut`. Partner bytes are
    escaped (`terminal_safe`), so a payload cannot move the cursor, recolour or retitle the
    operator's terminal, or fake a line."""
    cells = [
        format_rfc3339(letter.time_ns),
        letter.partner,
        letter.reason,
        letter.topic or "-",
        letter.detail,
        letter.excerpt,
    ]
    return "\t".join(terminal_safe(cell) for cell in cells)


def letter_json(letter: DeadLetter) -> bytes:
    """One JSON line; characters a terminal would act on are `\\uXXXX` escapes (JSON escapes
    only those below 0x20 itself)."""
    doc = asdict(letter)
    doc["time"] = format_rfc3339(letter.time_ns)
    return _UNSAFE.sub(_json_escape, orjson.dumps(doc).decode()).encode()


# Control characters (C0, DEL, C1: ESC starts ANSI sequences, 0x9B is an 8-bit CSI), the
# Unicode format characters (bidi overrides, zero-width) and line/paragraph separators.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def terminal_safe(text: str) -> str:
    """`text` with every character a terminal would act on shown as an escape (`\\x1b`,
    `\\u202e`), and the backslash doubled so an escape in the data cannot pass as one of ours."""
    return _UNSAFE.sub(_text_escape, text.replace("\\", "\\\\"))


def _text_escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _where(
    partner: str | None, reason: str | None, since_ns: int
) -> tuple[str, dict[str, str | int]]:
    clauses = ["time >= $since"]
    params: dict[str, str | int] = {"since": since_ns}
    if partner is not None:
        clauses.append('"partner" = $partner')
        params["partner"] = partner
    if reason is not None:
        clauses.append('"reason" = $reason')
        params["reason"] = reason
    return " AND ".join(clauses), params
