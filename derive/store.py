"""The deriver's own reads and writes of InfluxDB, apart from the recompute reads (reads.py):
the next page of markers, the subjects found in raw data, its saved progress and marks, the
derived points it writes and the roll-ups it has InfluxDB compute. Every value is bound.
"""

from __future__ import annotations

from timeseries import derived
from timeseries.client import InfluxClient, Statements
from timeseries.derived import Marks, SubjectKey
from timeseries.markers import EVENTS, WRITER
from timeseries.markers import MEASUREMENT as MARKERS
from timeseries.schema import DERIVED_RP, MARKERS_RP, RAW_RP

PAGE = 500
"""Markers read per query."""
WRITE_CHUNK = 10_000
"""Derived points per write request."""

Marker = tuple[int, str, str]
"""(time, writer tag, events) of one marker point."""


def read_markers(client: InfluxClient, op: str, since_ns: int) -> list[Marker]:
    """Up to PAGE markers with `time <op> since`, oldest first (`op`: `>` or `>=`)."""
    query = (
        f'SELECT "{EVENTS}" FROM "{MARKERS_RP}"."{MARKERS}" WHERE time {op} $since '
        f'GROUP BY "{WRITER}" ORDER BY time ASC LIMIT {PAGE}'
    )
    found = client.query(query, {"since": since_ns})[0]
    rows = [
        (int(row[0]), series.tags.get(WRITER, ""), str(row[1]))
        for series in found
        for row in series.values
        if row[1] is not None
    ]
    rows.sort()
    return rows[:PAGE]


def subjects_in_raw(client: InfluxClient) -> set[SubjectKey]:
    """Every device and port the raw data has points of."""
    statements = Statements()
    devices = statements.add(
        f'SELECT last(*) FROM "{RAW_RP}"."telemetry" GROUP BY "partner", "device"'
    )
    ports = statements.add(
        f'SELECT last("up") FROM "{RAW_RP}"."counters" GROUP BY "partner", "switch", "port"'
    )
    results = statements.run(client)
    found: set[SubjectKey] = set()
    for series in results[devices]:
        found.add(("device", series.tags.get("partner", ""), series.tags.get("device", "")))
    for series in results[ports]:
        subject = f"{series.tags.get('switch', '')}/{series.tags.get('port', '')}"
        found.add(("port", series.tags.get("partner", ""), subject))
    return found


def load_progress(client: InfluxClient) -> tuple[int | None, dict[SubjectKey, Marks]]:
    """The saved cursor (None before the first save) and every subject's marks."""
    statements = Statements()
    statements.add(f'SELECT "{derived.CURSOR}" FROM "{DERIVED_RP}"."{derived.PROGRESS}"')
    statements.add(
        f'SELECT * FROM "{DERIVED_RP}"."{derived.MARKS}" GROUP BY "kind", "partner", "subject"'
    )
    progress, marks = statements.run(client)
    cursor_ns = None
    for series in progress:
        cursor_ns = int(series.values[-1][1])
    found: dict[SubjectKey, Marks] = {}
    for series in marks:
        tags = series.tags
        key = (tags.get("kind", ""), tags.get("partner", ""), tags.get("subject", ""))
        found[key] = derived.marks_of(series.records()[-1])
    return cursor_ns, found


def save_progress(client: InfluxClient, cursor_ns: int) -> None:
    client.write(derived.progress_line(cursor_ns).encode(), rp=DERIVED_RP)


def write_points(client: InfluxClient, points: list[str]) -> None:
    for start in range(0, len(points), WRITE_CHUNK):
        client.write("\n".join(points[start : start + WRITE_CHUNK]).encode(), rp=DERIVED_RP)


def roll_up(
    client: InfluxClient, hours: list[int], partner_buckets: dict[str, tuple[int, int]]
) -> None:
    """Hourly message and rejection counts, computed inside InfluxDB from raw data, and
    each partner's 5-minute traffic summed over its ports (what p95 is taken from)."""
    statements = Statements()
    for partner, (lo, hi) in sorted(partner_buckets.items()):
        derived.add_partner_traffic(statements, client.db, partner, lo, hi)
    for hour in hours:
        derived.add_hourly(statements, client.db, hour)
    statements.run(client)
