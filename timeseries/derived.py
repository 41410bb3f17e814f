"""The derived records: their one owner. The deriver (derive/) writes them with the line
builders and roll-up statements here; the deriver's reads (derive/reads.py) and the API
(api/analytics_store.py) read them with the names and decoders here.

They live in the `derived` retention policy (timeseries/schema.py; kept forever: they are
small), computed from raw data and markers, so that a 30-day question reads a few hundred
points, not millions:

| measurement     | tags                   | fields                        | one point per       |
|-----------------|------------------------|-------------------------------|---------------------|
| silence         | partner, kind, subject | since (int ns)                | silence > T, at end |
| held            | partner, kind, subject | until (int ns; 0: still down) | run, at its start   |
| marks           | partner, kind, subject | first, last, state_* (ns)     | subject, at time 0  |
| traffic         | partner, subject       | in_octets, out_octets, deltas | port × 5 minutes    |
| partner_traffic | partner                | in_octets, out_octets, deltas | partner × 5 minutes |
| activity        | partner, device        | messages, bytes               | device × hour       |
| rejections      | partner                | rejected                      | partner × hour      |
| progress        | (none)                 | cursor (int ns)               | deriver, at time 0  |

`kind` is `device` or `port`; a port's subject is `switch/port`. A port no partner owns has
no `partner` tag. `silence`, `held`, `marks`, `traffic` and `progress` are written as points
(the builders below); `partner_traffic` (the sum over a partner's ports, what p95 is taken
from), `activity` and `rejections` are computed inside InfluxDB (`SELECT … INTO`, below).

A record the deriver no longer holds true is overwritten with an emptied one, since InfluxDB
1.x cannot delete a single point cheaply: a silence with `since` = its time, a held-down run
with `until` = its start, a traffic bucket with every field 0. Readers skip emptied records
(`silence_of`, `held_of`); a traffic bucket of zeros adds nothing.

`marks` holds a subject's first and last sample/observation (0: none) and, when the deriver
knows it exactly, the state its next events continue from (`domain.spans.SpanState`):
`state_last`, `state_reset`, `state_held` (0: none); `state_last` = -1 says the state is not
known and the next events are derived again from raw data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.lineprotocol import line
from domain.spans import Held, Silence, SpanState
from domain.timestamps import HOUR_NS
from timeseries.client import Statements
from timeseries.schema import DERIVED_RP, RAW_RP

# --- measurements ----------------------------------------------------------------------------
SILENCE = "silence"
HELD = "held"
MARKS = "marks"
TRAFFIC = "traffic"
PARTNER_TRAFFIC = "partner_traffic"
ACTIVITY = "activity"
REJECTIONS = "rejections"
PROGRESS = "progress"

# --- fields ----------------------------------------------------------------------------------
SINCE = "since"
UNTIL = "until"
FIRST = "first"
LAST = "last"
STATE_LAST = "state_last"
STATE_RESET = "state_reset"
STATE_HELD = "state_held"
IN_OCTETS = "in_octets"
OUT_OCTETS = "out_octets"
DELTAS = "deltas"
MESSAGES = "messages"
BYTES = "bytes"
REJECTED = "rejected"
CURSOR = "cursor"

STATE_UNKNOWN = -1
"""`state_last` of a subject whose state the deriver does not know exactly."""

SubjectKey = tuple[str, str, str]
"""(kind, partner, subject): kind `device` or `port`; a port's subject is `switch/port`."""


@dataclass(slots=True)
class Marks:
    """A subject's first and last sample/observation, and its state when that is known."""

    first: int | None = None
    last: int | None = None
    state: SpanState | None = None


def subject_tags(key: SubjectKey) -> dict[str, str]:
    return {"kind": key[0], "partner": key[1], "subject": key[2]}


# --- writing ---------------------------------------------------------------------------------


def silence_line(key: SubjectKey, since_ns: int, until_ns: int) -> str:
    return line(SILENCE, subject_tags(key), {SINCE: since_ns}, until_ns)


def emptied_silence_line(key: SubjectKey, until_ns: int) -> str:
    return silence_line(key, until_ns, until_ns)


def held_line(key: SubjectKey, start_ns: int, until_ns: int | None) -> str:
    return line(HELD, subject_tags(key), {UNTIL: 0 if until_ns is None else until_ns}, start_ns)


def emptied_held_line(key: SubjectKey, start_ns: int) -> str:
    return held_line(key, start_ns, start_ns)


def marks_line(key: SubjectKey, marks: Marks) -> str:
    fields: dict[str, int] = {FIRST: marks.first or 0, LAST: marks.last or 0}
    if marks.state is not None:
        fields[STATE_LAST] = marks.state.last_ns or 0
        fields[STATE_RESET] = marks.state.last_reset_ns or 0
        fields[STATE_HELD] = marks.state.held_since_ns or 0
    else:
        fields[STATE_LAST] = STATE_UNKNOWN
    return line(MARKS, subject_tags(key), fields, 0)


def traffic_line(
    partner: str, subject: str, bucket_ns: int, in_octets: int, out_octets: int, deltas: int
) -> str:
    fields = {IN_OCTETS: in_octets, OUT_OCTETS: out_octets, DELTAS: deltas}
    return line(TRAFFIC, {"partner": partner, "subject": subject}, fields, bucket_ns)


def emptied_traffic_line(partner: str, subject: str, bucket_ns: int) -> str:
    return traffic_line(partner, subject, bucket_ns, 0, 0, 0)


def progress_line(cursor_ns: int) -> str:
    return line(PROGRESS, {}, {CURSOR: cursor_ns}, 0)


def add_partner_traffic(q: Statements, db: str, partner: str, lo_ns: int, hi_ns: int) -> None:
    """Queue the roll-up of one partner's 5-minute traffic over its ports in `[lo, hi)`
    (`db`: the database name, as it is)."""
    q.add(
        f'SELECT sum("{IN_OCTETS}") AS "{IN_OCTETS}", sum("{OUT_OCTETS}") AS "{OUT_OCTETS}", '
        f'sum("{DELTAS}") AS "{DELTAS}" INTO {_in(db, PARTNER_TRAFFIC)} FROM {_in(db, TRAFFIC)} '
        'WHERE "partner" = $p AND time >= $lo AND time < $hi '
        'GROUP BY time(5m), "partner" fill(none)',
        p=partner,
        lo=lo_ns,
        hi=hi_ns,
    )


def add_hourly(q: Statements, db: str, hour_ns: int) -> None:
    """Queue the roll-ups of one hour's messages (`activity`) and dead letters (`rejections`)
    from the raw `messages` and `rejected` points."""
    q.add(
        f'SELECT count("bytes") AS "{MESSAGES}", sum("bytes") AS "{BYTES}" '
        f"INTO {_in(db, ACTIVITY)} FROM {_raw(db, 'messages')} "
        'WHERE time >= $lo AND time < $hi GROUP BY time(1h), "partner", "device"',
        lo=hour_ns,
        hi=hour_ns + HOUR_NS,
    )
    q.add(
        f'SELECT count("bytes") AS "{REJECTED}" '
        f"INTO {_in(db, REJECTIONS)} FROM {_raw(db, 'rejected')} "
        'WHERE time >= $lo AND time < $hi GROUP BY time(1h), "partner"',
        lo=hour_ns,
        hi=hour_ns + HOUR_NS,
    )


def _in(db: str, measurement: str) -> str:
    return f'"{_quoted(db)}"."{DERIVED_RP}"."{measurement}"'


def _raw(db: str, measurement: str) -> str:
    return f'"{_quoted(db)}"."{RAW_RP}"."{measurement}"'


def _quoted(db: str) -> str:
    # A database name cannot be a bound parameter; it comes from the operator's settings.
    return db.replace('"', '\\"')


# --- reading ---------------------------------------------------------------------------------


def silence_of(until_ns: int, since_ns: int) -> Silence | None:
    """The silence a `silence` point (time, since) holds; None when it was emptied."""
    return None if since_ns == until_ns else Silence(since_ns, until_ns)


def held_of(start_ns: int, until_ns: int) -> Held | None:
    """The run a `held` point (time, until) holds; None when it was emptied."""
    if until_ns == start_ns:
        return None
    return Held(start_ns, None if until_ns == 0 else until_ns)


def marks_of(record: Mapping[str, Any]) -> Marks:
    """A `marks` point, as a record (column → value), decoded."""
    state = None
    if record.get(STATE_LAST) not in (None, STATE_UNKNOWN):
        state = SpanState(
            last_reset_ns=record.get(STATE_RESET) or None,
            held_since_ns=record.get(STATE_HELD) or None,
            last_ns=record.get(STATE_LAST) or None,
            first_reset_ns=record.get(FIRST) or None,
        )
    return Marks(record.get(FIRST) or None, record.get(LAST) or None, state)
