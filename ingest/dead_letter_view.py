"""`mainport dead-letters`: the operator's view of the dead-letter store.

Reads InfluxDB (every ingest's dead letters) and falls back to the local files of this data
dir when InfluxDB does not answer, saying so on stderr. Data goes to stdout, one dead letter
per line (tab-separated, or JSON with `--json`), newest first.
"""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

from core.settings import Settings
from domain.timestamps import TimestampError, parse_rfc3339
from ingest.deadletters import (
    DeadLetter,
    count_letters,
    count_store,
    format_letter,
    letter_json,
    query_store,
    read_local,
)
from timeseries.client import InfluxClient, StoreError

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
HEADER = "time\tpartner\treason\ttopic\tdetail\texcerpt"


def parse_since(text: str, now_ns: int | None = None) -> int:
    """`30m`, `24h`, `7d`, `2w` ago, or an RFC 3339 time, as epoch nanoseconds."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    if match := _DURATION.fullmatch(text.strip()):
        return now_ns - int(match[1]) * _UNIT_S[match[2]] * 1_000_000_000
    try:
        return parse_rfc3339(text.strip())
    except TimestampError:
        raise ValueError(
            f"--since {text!r}: expected a duration like 30m, 24h, 7d or an RFC 3339 time"
        ) from None


def show(
    settings: Settings,
    *,
    partner: str | None,
    reason: str | None,
    since_ns: int,
    limit: int,
    local: bool,
    as_json: bool,
    counts: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> None:
    letters: list[DeadLetter] | None = None
    tally: dict[tuple[str, str], int] | None = None
    if not local:
        client = InfluxClient(
            settings.influx_url, settings.influx_db, **settings.influx_login("reader")
        )
        try:
            if counts:
                tally = count_store(client, partner=partner, reason=reason, since_ns=since_ns)
            else:
                letters = query_store(
                    client, partner=partner, reason=reason, since_ns=since_ns, limit=limit
                )
        except StoreError as exc:
            print(f"InfluxDB did not answer ({exc}); showing local files", file=err)
        finally:
            client.close()
    if letters is None and tally is None:
        print(f"local dead letters in {settings.dead_letter_dir}", file=err)
        found = read_local(
            settings.dead_letter_dir,
            partner=partner,
            reason=reason,
            since_ns=since_ns,
            limit=limit if not counts else sys.maxsize,
        )
        if counts:
            tally = count_letters(found)
        else:
            letters = found
    if tally is not None:
        print("partner\treason\tcount", file=out)
        for (who, why), n in sorted(tally.items()):
            print(f"{who}\t{why}\t{n}", file=out)
        return
    assert letters is not None
    if not as_json:
        print(HEADER, file=out)
    for letter in letters:
        print(letter_json(letter).decode() if as_json else format_letter(letter), file=out)
    if not letters:
        print("no dead letters", file=err)
