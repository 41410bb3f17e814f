"""Telling a broker restart from a dropped connection, from `$SYS/broker/uptime`.

Mosquitto publishes its uptime ("1234 seconds") every `sys_interval` (10 s by default). Our
estimate of when it started is `now − uptime`; an estimate clearly *later* than the one we hold
means the broker started again. Only live updates count: the retained copy a new subscription
gets is up to one interval old (or, after a crash, restored from the persistence file), which
would move the estimate later too. A restart matters because Mosquitto acknowledges QoS 1
messages before it writes them to disk: a crash loses what arrived after its last save
(docs/failures.md).
"""

from __future__ import annotations

UPTIME_TOPIC = "$SYS/broker/uptime"
TOLERANCE_S = 2.0
"""Uptime is whole seconds and a live update arrives with some delay; a restart moves the
estimate by the broker's whole previous run."""


def parse_uptime(payload: bytes | bytearray) -> int | None:
    """Seconds from Mosquitto's "1234 seconds"; None for anything else."""
    head = payload.split(b" ", 1)[0]
    return int(head) if head.isdigit() else None


class BrokerClock:
    """Holds the broker's estimated start time; `observe` says whether it restarted."""

    def __init__(self, started_s: float | None = None) -> None:
        """`started_s`: the estimate an earlier ingest process kept, so a broker that restarted
        while no ingest ran is noticed too."""
        self.started_s = started_s

    def observe(self, uptime_s: int, now_s: float) -> bool:
        estimate = now_s - uptime_s
        if self.started_s is None:
            self.started_s = estimate
            return False
        if estimate > self.started_s + TOLERANCE_S:
            self.started_s = estimate
            return True
        self.started_s = min(self.started_s, estimate)
        return False
