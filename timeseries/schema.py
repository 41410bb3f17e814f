"""The InfluxDB database, its retention policies and the measurements the platform writes.

Raw data, in the `raw` retention policy (the database default), written by the ingest:

| measurement | tags                  | fields                                | one point per  |
|-------------|-----------------------|---------------------------------------|----------------|
| telemetry   | partner, device       | one float field per metric            | telemetry msg  |
| status      | partner, device       | online (int 1/0)                      | status msg     |
| messages    | partner, device, type | bytes (int)                           | accepted msg   |
| counters    | partner, switch, port | in_octets, out_octets, up (int)       | counters msg   |
| collector   | switch                | reachable (int 1/0), latency_s,       | `_collector` msg |
|             |                       | error, speed_mismatch (str)           |                |
| rejected    | partner, reason       | topic, excerpt, detail (str), bytes   | dead letter    |
| ingest_link | client                | connected (int 1/0)                   | (dis)connect   |
| ingest_heartbeat | client           | connected (int 1), accepted (int)     | 15 s, while up |
| ingest_broker_events | client, kind | n (int 1); kind restart, session_lost | event          |

Every point's key is (measurement, tags, device timestamp), so a redelivered message overwrites
itself instead of counting twice: that is what makes the ingest's retries safe to repeat.

Markers, in `markers` (7 days): `touched`, what each stored batch touched, stamped at write
time; their format has one owner, timeseries/markers.py.

Derived data, in `derived` (kept forever: it is small), written by the deriver (derive/):
silences, held-down runs, marks, traffic, activity, rejections and the deriver's progress.
Their layout has one owner, timeseries/derived.py, which documents it.
"""

from __future__ import annotations

from dataclasses import dataclass

from timeseries.client import InfluxClient, StoreRejected

# The retention policies, named here once (markers, derived records and readers import them).
RAW_RP = "raw"
COLLECTOR_MEASUREMENT = "collector"
"""The SNMP collector's reports per switch (ingest writes, API reads: unknown time, health)."""
DERIVED_RP = "derived"
MARKERS_RP = "markers"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    name: str
    duration: str
    default: bool


def desired_policies(
    raw_retention: str, derived_retention: str = "INF", markers_retention: str = "7d"
) -> list[RetentionPolicy]:
    return [
        RetentionPolicy(RAW_RP, raw_retention, default=True),
        RetentionPolicy(DERIVED_RP, derived_retention, default=False),
        RetentionPolicy(MARKERS_RP, markers_retention, default=False),
    ]


def plan_statements(
    db: str, existing: dict[str, tuple[str, bool]], desired: list[RetentionPolicy]
) -> list[str]:
    """InfluxQL that turns the existing policies (name -> (duration, default)) into the desired.

    Durations compare as InfluxDB prints them ("9600h0m0s"): a policy already as desired needs
    no statement, so a login that may only read (not create) passes when the schema is in place;
    missing ones are created, others altered.
    """
    statements = []
    for rp in desired:
        if existing.get(rp.name, ("", None)) == (_as_printed(rp.duration), rp.default):
            continue
        default = " DEFAULT" if rp.default else ""
        verb = "ALTER" if rp.name in existing else "CREATE"
        replication = "" if verb == "ALTER" else " REPLICATION 1"
        statements.append(
            f'{verb} RETENTION POLICY "{rp.name}" ON "{db}" '
            f"DURATION {rp.duration}{replication}{default}"
        )
    return statements


def _as_printed(duration: str) -> str:
    """A duration as SHOW RETENTION POLICIES prints it: 400d -> 9600h0m0s, INF -> 0s."""
    if duration == "INF":
        return "0s"
    hours = int(duration[:-1]) * {"h": 1, "d": 24, "w": 168}[duration[-1]]
    return f"{hours}h0m0s"


def ensure_schema(client: InfluxClient, raw_retention: str) -> None:
    """Create the database and retention policies; safe to run at every start.

    Only what is missing or different is changed, and only that needs an admin login (InfluxDB
    1.x lets admins alone create databases and policies): with the schema in place, a login
    that may read the database passes; one that may not raises StoreForbidden.
    """
    db = client.db
    try:
        series = client.query(f'SHOW RETENTION POLICIES ON "{db}"', db=False, epoch=None)[0]
    except StoreRejected as exc:
        if "database not found" not in str(exc):
            raise
        client.query(f'CREATE DATABASE "{db}"', db=False)
        series = client.query(f'SHOW RETENTION POLICIES ON "{db}"', db=False, epoch=None)[0]
    existing = {
        rec["name"]: (rec["duration"], bool(rec["default"])) for s in series for rec in s.records()
    }
    for statement in plan_statements(db, existing, desired_policies(raw_retention)):
        client.query(statement, db=False)
