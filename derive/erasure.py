"""Erasing a device's data, or a whole partner's, everywhere Mainport wrote it.

Run by the deriver (derive/service.py) between two of its steps, once the operator has
confirmed a request (controlplane/erasure_requests.py): the deriver holds the InfluxDB login
that may delete, owns the derived records it must then recompute, and shares the data dir with
the ingest under `mainport up`.

Where the data is, and what is done there:
- raw measurements (telemetry, status, messages; for a partner also counters and rejected):
  `DELETE … WHERE partner = $p [AND device = $d]`;
- rejected messages of a device: `rejected` has no device tag, so each dead letter whose topic
  names the device is overwritten in place (same series and time) with its topic, excerpt and
  detail emptied; that a message was rejected stays counted, what it said goes;
- derived records (silence, held, marks of the device, its hourly activity; for a partner every
  derived measurement) are deleted, and the deriver forgets the subject's marks: derived figures
  are recomputed without it (the partner's port traffic does not depend on a device);
- markers (`touched`, 7 days): the device's entries are cut out of each marker that names it;
- dead-letter files (<data dir>/dead-letters/*.jsonl) and feed files under the data dir
  (gzip or plain JSON lines with a `topic`, `mainport record`/`simulate --dry-run`): rewritten
  without the device's (or partner's) lines, in place, so an ingest appending keeps its handle;
- the spool: not rewritten under a running ingest (its cursor holds byte offsets). It holds only
  what InfluxDB has not stored yet; while it holds any of the data, the erasure waits
  (`ErasureBlocked`) and is retried, and once drained, the DELETEs above catch it.

Kept: the audit of the erasure (what, when, by whom, never the data), the closed months'
frozen report rows (the bill), and the access log (who read what: the partner's own record).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from domain.lineprotocol import line
from timeseries import derived
from timeseries.client import InfluxClient, ParamValue
from timeseries.markers import EVENTS
from timeseries.markers import MEASUREMENT as MARKERS
from timeseries.schema import MARKERS_RP, RAW_RP

log = logging.getLogger(__name__)

DEVICE_RAW = ("telemetry", "status", "messages")
PARTNER_RAW = (*DEVICE_RAW, "counters", "rejected")
DEVICE_DERIVED = (
    (derived.SILENCE, "subject"),
    (derived.HELD, "subject"),
    (derived.MARKS, "subject"),
    (derived.ACTIVITY, "device"),
)
PARTNER_DERIVED = (
    derived.SILENCE,
    derived.HELD,
    derived.MARKS,
    derived.TRAFFIC,
    derived.PARTNER_TRAFFIC,
    derived.ACTIVITY,
    derived.REJECTIONS,
)
ERASED = "erased on request"
PAGE = 5000


class ErasureBlocked(Exception):
    """The data is somewhere it cannot be erased yet (the spool): retry later."""


def topic_prefix(partner: str, device: str | None) -> str:
    return f"mainport/{partner}/" + (f"{device}/" if device is not None else "")


def erase(
    client: InfluxClient,
    partner: str,
    device: str | None,
    *,
    data_dir: Path,
    dead_letter_dir: Path,
    spool_dir: Path,
) -> dict[str, Any]:
    """Erase; returns what was done where (counts, never the data)."""
    spooled = spool_holding(spool_dir, partner, device)
    if spooled:
        raise ErasureBlocked(f"{spooled} spool segments still hold the data; retried once drained")
    outcome: dict[str, Any] = {}
    params: dict[str, ParamValue] = {"partner": partner}
    where = '"partner" = $partner'
    if device is not None:
        params["device"] = device
    for measurement in DEVICE_RAW if device is not None else PARTNER_RAW:
        cond = where + (' AND "device" = $device' if device is not None else "")
        client.query(f'DELETE FROM "{measurement}" WHERE {cond}', params)  # noqa: S608
    if device is not None:
        outcome["dead_letters_emptied_in_store"] = _empty_rejected(client, partner, device)
        for measurement, tag in DEVICE_DERIVED:
            client.query(
                f'DELETE FROM "{measurement}" WHERE "partner" = $partner AND "{tag}" = $device',  # noqa: S608
                params,
            )
    else:
        for measurement in PARTNER_DERIVED:
            client.query(f'DELETE FROM "{measurement}" WHERE {where}', params)  # noqa: S608
    outcome["markers_rewritten"] = _cut_markers(client, partner, device)
    prefix = topic_prefix(partner, device)
    outcome["dead_letter_lines_removed"] = sum(
        rewrite_lines(p, lambda r: _letter_matches(r, partner, device, prefix))
        for p in sorted(dead_letter_dir.glob("*.jsonl"))
    )
    outcome["feed_lines_removed"] = sum(
        rewrite_lines(p, lambda r: str(r.get("topic", "")).startswith(prefix))
        for p in feed_files(data_dir)
    )
    outcome["raw_measurements"] = list(DEVICE_RAW if device is not None else PARTNER_RAW)
    return outcome


def spool_holding(spool_dir: Path, partner: str, device: str | None) -> int:
    """How many spool segments hold a point of the partner (and device): line protocol tags."""
    needle = f",partner={partner}".encode()
    device_tag = None if device is None else f",device={device}".encode()
    count = 0
    for segment in spool_dir.rglob("*.seg") if spool_dir.is_dir() else ():
        try:
            body = segment.read_bytes()
        except OSError:
            continue
        if any(
            needle in ln and (device_tag is None or device_tag in ln) for ln in body.split(b"\n")
        ):
            count += 1
    return count


def _empty_rejected(client: InfluxClient, partner: str, device: str) -> int:
    """Overwrite each dead letter of the device in InfluxDB with its content emptied."""
    prefix = topic_prefix(partner, device)
    points = []
    for rec in _all(client, f'"{RAW_RP}"."rejected"', partner):
        if str(rec.get("topic") or "").startswith(prefix) and rec.get("detail") != ERASED:
            tags = {"partner": partner, "reason": str(rec["reason"])}
            fields = {"topic": "", "excerpt": "", "detail": ERASED}
            points.append(line("rejected", tags, fields, int(rec["time"])))
    for k in range(0, len(points), PAGE):
        client.write("\n".join(points[k : k + PAGE]).encode(), rp=RAW_RP)
    return len(points)


def _cut_markers(client: InfluxClient, partner: str, device: str | None) -> int:
    """Rewrite each marker naming the partner's (device's) subjects without those entries."""
    head = f"|{partner}|" + (f"{device}|" if device is not None else "")
    points = []
    for rec in _all(client, f'"{MARKERS_RP}"."{MARKERS}"', None):
        events = str(rec.get(EVENTS) or "")
        if head not in events:
            continue
        kept = ";".join(e for e in events.split(";") if head not in e) or "-"
        tags = {
            k: str(v) for k, v in rec.items() if k not in ("time", EVENTS) and isinstance(v, str)
        }
        points.append(line(MARKERS, tags, {EVENTS: kept}, int(rec["time"])))
    for k in range(0, len(points), PAGE):
        client.write("\n".join(points[k : k + PAGE]).encode(), rp=MARKERS_RP)
    return len(points)


def _all(client: InfluxClient, source: str, partner: str | None) -> Iterator[dict[str, Any]]:
    """Every point of a measurement (of one partner), by time cursor in pages."""
    cursor = 0
    where = '"partner" = $partner AND ' if partner is not None else ""
    while True:
        params: dict[str, ParamValue] = {"cursor": cursor, "limit": PAGE}
        if partner is not None:
            params["partner"] = partner
        series = client.query(
            f"SELECT * FROM {source} WHERE {where}time >= $cursor "  # noqa: S608
            "ORDER BY time ASC LIMIT $limit",
            params,
        )[0]
        records = [r for s in series for r in s.records()]
        if len(records) < PAGE:
            yield from records
            return
        last = int(records[-1]["time"])
        if int(records[0]["time"]) == last:
            raise RuntimeError(f"more than {PAGE} points at one instant in {source}")
        yield from (r for r in records if int(r["time"]) < last)
        cursor = last


def _letter_matches(record: dict[str, Any], partner: str, device: str | None, prefix: str) -> bool:
    if record.get("partner") != partner:
        return False
    if device is None:
        return True
    text = f"{record.get('topic', '')} {record.get('excerpt', '')}"
    return str(record.get("topic", "")).startswith(prefix) or f"device={device}" in text


def feed_files(data_dir: Path) -> list[Path]:
    """Feed files Mainport wrote under the data dir (`*.jsonl.gz`, `*.feed`, `*.feed.gz`)."""
    if not data_dir.is_dir():
        return []
    found = {*data_dir.rglob("*.jsonl.gz"), *data_dir.rglob("*.feed"), *data_dir.rglob("*.feed.gz")}
    return sorted(found)


def rewrite_lines(path: Path, drop: Any) -> int:
    """Rewrite a (gzip or plain) JSON-lines file without the records `drop` says; in place for a
    plain file (an appender keeps its handle), via a replaced temporary file for gzip. Lines
    that are not JSON objects are kept as they are. Returns how many were removed."""
    try:
        raw = path.read_bytes()
    except OSError:
        return 0
    packed = raw[:2] == b"\x1f\x8b"
    text = gzip.decompress(raw) if packed else raw
    kept, removed = [], 0
    for ln in text.splitlines(keepends=True):
        try:
            record = orjson.loads(ln)
        except orjson.JSONDecodeError:
            kept.append(ln)
            continue
        if isinstance(record, dict) and drop(record):
            removed += 1
        else:
            kept.append(ln)
    if not removed:
        return 0
    body = b"".join(kept)
    if packed:
        tmp = path.with_name(path.name + ".erasing")
        tmp.write_bytes(gzip.compress(body, mtime=0))
        tmp.chmod(path.stat().st_mode & 0o777)
        tmp.replace(path)
    else:
        with path.open("r+b") as handle:
            handle.write(body)
            handle.truncate()
    return removed
