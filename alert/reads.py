"""What the evaluator reads from InfluxDB each turn, in one round trip: every subject's live
state (the deriver's `marks` and open `held` runs, timeseries/derived.py), how far the platform
is proven to have been receiving, its outages (`ingest_link`), ingest heartbeats, and rejected
messages per partner. Query text from constants only; values are bound `$parameters`."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.alerts import LiveState
from domain.spans import LinkRecord
from domain.timestamps import NS_PER_S
from timeseries import derived
from timeseries.client import InfluxClient, Series, Statements
from timeseries.markers import EVENTS
from timeseries.markers import MEASUREMENT as MARKERS
from timeseries.schema import DERIVED_RP, MARKERS_RP, RAW_RP

HEARTBEAT_STALE_S = 45
"""The ingest writes a heartbeat every 15 s: three missed mean it is gone (as in the API)."""
HEARTBEAT_SETTLE_NS = 2 * NS_PER_S
"""A heartbeat proves reception up to its time once this old: a restarted ingest beats before
it has written the messages the broker kept for it."""
LINK_LOOKBACK_NS = 24 * 3600 * NS_PER_S


@dataclass(slots=True)
class Observed:
    devices: dict[tuple[str, str], LiveState] = field(default_factory=dict)
    """(partner, device) → live state."""
    ports: dict[str, LiveState] = field(default_factory=dict)
    """`switch/port` → live state."""
    alive_ns: int = 0
    """Up to when the platform is proven to have received and derived everything."""
    heartbeat_ns: int | None = None
    """The newest heartbeat of a connected ingest in the last 45 s (None: no ingest)."""
    derive_lag_s: float | None = None
    links: list[LinkRecord] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)


_TAGS = '"kind", "partner", "subject"'


def read_observed(client: InfluxClient, now_ns: int, rejected_window_s: int) -> Observed:
    q = Statements()
    # The tags as columns of one series, not one series per subject: 10,000 subjects answer
    # in a fifth of the time (bench/alerts.py).
    marks = q.add(
        f'SELECT "{derived.FIRST}", "{derived.LAST}", {_TAGS} FROM "{DERIVED_RP}"."{derived.MARKS}"'
    )
    held = q.add(
        f'SELECT "{derived.UNTIL}", {_TAGS} FROM "{DERIVED_RP}"."{derived.HELD}" '
        f'WHERE "{derived.UNTIL}" = 0'
    )
    newest = q.add(
        f'SELECT last("{EVENTS}") FROM "{MARKERS_RP}"."{MARKERS}" WHERE time > $since',
        since=now_ns - 3600 * NS_PER_S,
    )
    cursor = q.add(f'SELECT "{derived.CURSOR}" FROM "{DERIVED_RP}"."{derived.PROGRESS}"')
    beats = q.add(
        f'SELECT last("connected") FROM "{RAW_RP}"."ingest_heartbeat" WHERE time > $since '
        'GROUP BY "client"',
        since=now_ns - HEARTBEAT_STALE_S * NS_PER_S,
    )
    link_before = q.add(
        f'SELECT last("connected") FROM "{RAW_RP}"."ingest_link" WHERE time < $s GROUP BY "client"',
        s=now_ns - LINK_LOOKBACK_NS,
    )
    link_in = q.add(
        f'SELECT "connected" FROM "{RAW_RP}"."ingest_link" WHERE time >= $s GROUP BY "client"',
        s=now_ns - LINK_LOOKBACK_NS,
    )
    rejected = q.add(
        f'SELECT count("bytes") FROM "{RAW_RP}"."rejected" WHERE time > $s GROUP BY "partner"',
        s=now_ns - rejected_window_s * NS_PER_S,
    )
    res = q.run(client)
    out = Observed()
    open_runs: dict[tuple[str, str, str], int] = {}
    for series in res[held]:
        for start, _until, kind, partner, subject in series.values:
            key = (kind or "", partner or "", subject or "")
            open_runs[key] = max(int(start), open_runs.get(key, 0))
    for series in res[marks]:
        for _time, first, last, kind, partner, subject in series.values:
            key = (kind or "", partner or "", subject or "")
            state = LiveState(
                first_ns=first or None, last_ns=last or None, held_since_ns=open_runs.get(key)
            )
            if kind == "device":
                out.devices[(partner or "", subject or "")] = state
            elif kind == "port":
                out.ports[subject or ""] = state
    newest_ns = _first_time(res[newest])
    cursor_ns = _first_value(res[cursor])
    connected = [
        int(row[0])
        for series in res[beats]
        for row in series.values
        if row[1] is not None and row[1]
    ]
    out.heartbeat_ns = max(connected) if connected else None
    caught_up = newest_ns is None or (cursor_ns is not None and cursor_ns >= newest_ns)
    alive = [cursor_ns or 0]
    if caught_up and out.heartbeat_ns is not None:
        alive.append(min(out.heartbeat_ns, now_ns - HEARTBEAT_SETTLE_NS))
    out.alive_ns = max(alive)
    if newest_ns is None:
        out.derive_lag_s = 0.0
    elif cursor_ns is not None:
        out.derive_lag_s = max(0, newest_ns - cursor_ns) / NS_PER_S
    out.links = [
        LinkRecord(series.tags.get("client", ""), int(row[0]), bool(row[1]))
        for i in (link_before, link_in)
        for series in res[i]
        for row in series.values
        if row[1] is not None
    ]
    out.rejected = {
        series.tags.get("partner", ""): int(series.values[0][1])
        for series in res[rejected]
        if series.values
    }
    return out


def _first_time(result: list[Series]) -> int | None:
    for series in result:
        for row in series.values:
            return int(row[0])
    return None


def _first_value(result: list[Series]) -> int | None:
    for series in result:
        for row in series.values:
            return int(row[1]) if row[1] is not None else None
    return None
