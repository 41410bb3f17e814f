"""Helpers for test_consistency.py: the partners file with a maintenance window placed
in the run, knowing when the stack has ingested and derived everything, and both sides'
figures in one comparable shape.

Waiting is behavioural: the ingest acks a message only after it (and the batch's marker for
the deriver) is stored, so "acked as many as the broker delivered" means every raw point is
in InfluxDB; the deriver saves its cursor (the newest marker it processed) only after writing
what those markers imply, so "cursor at the newest marker" means every derived record is too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from domain.timestamps import format_rfc3339
from timeseries import derived
from timeseries.client import InfluxClient

MS = 1_000_000
"""ns per ms."""
Incident = tuple[str, str, str | None, float, str]
"""(subject, start, end, duration_s, cause), both sides alike."""


def write_partners(source: Path, target: Path, start_ms: int, end_ms: int) -> None:
    """`source` with its maintenance replaced by one network-wide window [start, end)."""
    doc = yaml.safe_load(source.read_text())
    doc["maintenance"] = [
        {
            "partner": "*",
            "start": iso(start_ms),
            "end": iso(end_ms),
            "reason": "consistency test: unknown time",
        }
    ]
    target.write_text(yaml.safe_dump(doc, sort_keys=False))


def iso(ms: int) -> str:
    return format_rfc3339(ms * MS)


def delivered(truth: dict[str, Any]) -> int:
    """Messages the broker delivered to the ingest: each is in exactly one of the truth's
    counts (simulators/README.md, "Ground truth")."""
    total: int = sum(
        p.get("messages", 0) + p["duplicates"] + sum(p["rejected"].values())
        for p in truth["partners"]
    )
    samples: int = sum(port["samples"] for port in truth["ports"])
    return total + samples


_ACKED = re.compile(r"^mainport_ingest_acked_total (\S+)$", re.MULTILINE)


def ingest_acked(metrics_url: str) -> int:
    """Messages the ingest acked after storing them (its Prometheus counter)."""
    found = _ACKED.search(httpx.get(metrics_url, timeout=5).text)
    return int(float(found[1])) if found else 0


def derived_up_to_date(influx: InfluxClient) -> bool:
    """Whether the deriver has processed the newest marker the ingest wrote."""
    markers = influx.query('SELECT last("events") FROM "markers"."touched"')[0]
    progress = influx.query(f'SELECT "cursor" FROM "derived"."{derived.PROGRESS}"')[0]  # noqa: S608
    if not markers or not progress:
        return False
    newest = int(markers[0].values[0][0])
    return int(progress[0].values[-1][1]) >= newest


@dataclass(frozen=True)
class Figures:
    """One subject's uptime figures, as both sides report them."""

    uptime_pct: float | None
    downtime_s: float
    incidents: int


def truth_incidents(truth: dict[str, Any], partner: str, window_end: str) -> list[Incident]:
    """The partner's device and link incidents from the truth, in the API's order (start,
    subject). The truth writes `end: null` for an incident open when the run ended; for a
    window that ended before now the API writes the window's end (simulators/README.md,
    "Ground truth")."""
    subjects = [d for d in truth["devices"] if d["partner"] == partner]
    subjects += [p for p in truth["ports"] if p["partner"] == partner]
    rows = [
        (i["subject"], i["start"], i["end"] or window_end, i["duration_s"], i["cause"])
        for s in subjects
        for i in s["incidents"]
    ]
    return sorted(rows, key=lambda r: (r[1], r[0]))


def api_incidents(uptime: dict[str, Any]) -> list[Incident]:
    return [
        (i["subject"], i["start"], i["end"], i["duration_s"], i["cause"])
        for i in uptime["incidents"]
    ]


def truth_subjects(truth: dict[str, Any], partner: str) -> dict[str, Figures]:
    """Devices by id and ports by `switch/port`, as the API lists them."""
    out = {
        d["device"]: Figures(d["uptime_pct"], d["downtime_s"], len(d["incidents"]))
        for d in truth["devices"]
        if d["partner"] == partner
    }
    out.update(
        {
            f"{p['switch']}/{p['port']}": Figures(
                p["uptime_pct"], p["downtime_s"], len(p["incidents"])
            )
            for p in truth["ports"]
            if p["partner"] == partner
        }
    )
    return out


def api_subjects(uptime: dict[str, Any]) -> dict[str, Figures]:
    out = {
        d["id"]: Figures(d["uptime_pct"], d["downtime_s"], d["incidents"])
        for d in uptime["devices"]
    }
    out.update(
        {
            f"{p['switch']}/{p['port']}": Figures(p["uptime_pct"], p["downtime_s"], p["incidents"])
            for p in uptime["links"]
        }
    )
    return out


def close_pct(a: float | None, b: float | None, tolerance: float = 0.01) -> bool:
    """Percentages within `tolerance` percentage points (None only equals None)."""
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance
